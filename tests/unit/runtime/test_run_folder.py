"""What synthpriv may write into and delete from an output folder (issue 15, must-have 1).

Real folders, real files and real symbolic links; every test that expects a refusal checks
that what was there is still there, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from synthpriv import __version__
from synthpriv.errors import StageError
from synthpriv.runtime.run_folder import (
    check_output_folder,
    first_foreign_entry,
    remove_stage_folder,
)
from synthpriv.stages.execute import clear_staging, staging_dir
from tests.conftest import snapshot


def marked_run(folder: Path, kind: str = "pipeline") -> Path:
    """A synthpriv run folder: its manifest, an index, and a train stage whose stage.json lists its files."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(
        json.dumps({"kind": kind, "synthpriv_version": __version__, "stages": {}})
    )
    (folder / "index.html").write_text("<html></html>")
    stage = folder / "train"
    (stage / "model").mkdir(parents=True)
    (stage / "model" / "weights.pt").write_bytes(b"\x00weights")
    (stage / "summary.json").write_text("{}")
    (stage / "report.html").write_text("<html></html>")
    outputs = [{"path": p, "sha256": "x"} for p in ("model/weights.pt", "summary.json")]
    (stage / "stage.json").write_text(json.dumps({"name": "train", "outputs": outputs}))
    return folder


def refused(run_dir: Path, *needles: str, inputs: tuple = (), kind: str = "pipeline") -> str:
    with pytest.raises(StageError) as caught:
        check_output_folder(run_dir, inputs, kind=kind)
    line = str(caught.value)
    assert "\n" not in line
    for needle in needles:
        assert needle in line, line
    return line


# -- what counts as synthpriv's ----------------------------------------------------------------


def test_absent_and_empty_folders_are_accepted(tmp_path: Path) -> None:
    check_output_folder(tmp_path / "new" / "run", kind="pipeline")
    assert not (tmp_path / "new").exists()  # the check writes nothing
    (tmp_path / "empty").mkdir()
    check_output_folder(tmp_path / "empty", kind="pipeline")


def test_a_run_folder_synthpriv_wrote_is_accepted(tmp_path: Path) -> None:
    run = marked_run(tmp_path / "run")
    (run / ".lock").write_text("4242")
    (run / ".staging" / "train").mkdir(parents=True)
    (run / ".index.html.tmp-77").write_text("half")
    (run / "train" / ".report.html.tmp-77").write_text("half")  # an interrupted `synthpriv report`
    assert first_foreign_entry(run) is None
    check_output_folder(run, kind="pipeline")


def test_what_a_run_killed_before_its_manifest_leaves_is_accepted(tmp_path: Path) -> None:
    (tmp_path / ".lock").write_text("123")
    (tmp_path / ".manifest.json.tmp-123").write_text("{")
    assert first_foreign_entry(tmp_path) is None


@pytest.mark.parametrize(
    "entry",
    [
        "train",
        "synthesize",
        "validate",
        "attack",
        "export",
        ".staging",
        "index.html",
        "manifest.json",
        "notes.txt",
    ],
)
def test_a_folder_not_marked_as_a_run_is_refused_naming_the_first_foreign_entry(
    tmp_path: Path, entry: str
) -> None:
    """The issue's case: `mkdir train && cp base.csv train/`, then a run into that folder."""
    if entry.endswith((".html", ".json", ".txt")):
        (tmp_path / entry).write_text('{"the user": "wrote this"}')
    else:
        (tmp_path / entry).mkdir()
        (tmp_path / entry / "base.csv").write_text("a,b\n1,2\n")
    before = snapshot(tmp_path)
    refused(tmp_path, f"'{entry}'", "synthpriv did not write")
    assert snapshot(tmp_path) == before


def test_a_manifest_that_is_not_synthpriv_s_does_not_mark_the_folder(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "pipeline"}))  # no synthpriv_version
    (tmp_path / "train").mkdir()
    assert first_foreign_entry(tmp_path) == "manifest.json"
    (tmp_path / "manifest.json").write_text(json.dumps([1, 2]))
    assert first_foreign_entry(tmp_path) == "manifest.json"


def test_a_lock_file_with_content_of_the_user_s_is_foreign(tmp_path: Path) -> None:
    (tmp_path / ".lock").write_text("my notes about locks, not a pid")
    assert first_foreign_entry(tmp_path) == ".lock"


def test_in_a_run_folder_a_file_of_the_user_s_is_refused(tmp_path: Path) -> None:
    run = marked_run(tmp_path / "run")
    (run / "notes.txt").write_text("mine")
    before = snapshot(run)
    refused(run, "'notes.txt'")
    assert snapshot(run) == before


def test_in_a_run_folder_a_file_its_stage_json_does_not_list_is_refused(tmp_path: Path) -> None:
    run = marked_run(tmp_path / "run")
    (run / "train" / "model" / "base.csv").write_text("a\n1\n")
    before = snapshot(run)
    refused(run, "'train/model/base.csv'")
    assert snapshot(run) == before


def test_a_stage_folder_without_its_stage_json_is_not_synthpriv_s(tmp_path: Path) -> None:
    run = marked_run(tmp_path / "run")
    (run / "export").mkdir()
    (run / "export" / "synthetic.parquet").write_bytes(b"PAR1")
    assert first_foreign_entry(run) == "export/synthetic.parquet"


def test_a_stage_json_that_lists_paths_outside_its_folder_does_not_make_them_ours(tmp_path: Path) -> None:
    run = marked_run(tmp_path / "run")
    (run / "train" / "stage.json").write_text(
        json.dumps({"outputs": [{"path": "../notes.txt"}, {"path": "summary.json"}]})
    )
    (run / "notes.txt").write_text("mine")
    assert first_foreign_entry(run) == "notes.txt"


@pytest.mark.parametrize(
    "where", [".staging", "train", "index.html", "train/model/weights.pt", "train/extra"]
)
def test_a_symbolic_link_anywhere_in_a_run_folder_is_refused(tmp_path: Path, where: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "train").mkdir(parents=True)
    (elsewhere / "train" / "keep.csv").write_text("precious")
    run = marked_run(tmp_path / "run")
    link = run / where
    if os.path.lexists(link):
        link.unlink() if link.is_file() else shutil.rmtree(link)
    link.symlink_to(elsewhere)
    before, target = snapshot(run), snapshot(elsewhere)
    refused(run, where)
    assert snapshot(run) == before and snapshot(elsewhere) == target


# -- places that are never output folders ------------------------------------------------------


def test_the_root_folder_is_refused() -> None:
    refused(Path("/"), "root folder")


def test_the_home_folder_is_refused_also_through_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    refused(home, "home folder")
    link = tmp_path / "link-to-home"
    link.symlink_to(home)
    refused(link, "home folder")


def test_a_folder_holding_an_input_is_refused_however_it_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "p" / "train" / "base.csv"
    data.parent.mkdir(parents=True)
    data.write_text("a\n1\n")
    inputs = (("data.path", data),)
    refused(data.parent, "holds the input", "data.path", inputs=inputs)  # its folder
    refused(tmp_path / "p", "holds the input", inputs=inputs)  # an ancestor (`-o .` inside the project)
    monkeypatch.chdir(tmp_path / "p")
    refused(Path("."), "holds the input", inputs=inputs)  # `-o .`
    (tmp_path / "alias").symlink_to(tmp_path / "p")
    refused(tmp_path / "alias", "holds the input", inputs=inputs)
    check_output_folder(tmp_path / "p" / "train" / "out", inputs, kind="pipeline")  # below it: fine
    assert data.read_text() == "a\n1\n"


def test_a_run_folder_of_the_other_kind_is_refused(tmp_path: Path) -> None:
    run = marked_run(tmp_path / "run", kind="pipeline")
    refused(run, "pipeline run", "synthpriv evaluate", kind="evaluation")
    evaluation = marked_run(tmp_path / "evaluation", kind="evaluation")
    refused(evaluation, "evaluation run", kind="pipeline")


# -- deleting --------------------------------------------------------------------------------


def test_a_stage_folder_is_removed_with_exactly_its_listed_files(tmp_path: Path) -> None:
    run = marked_run(tmp_path / "run")
    remove_stage_folder(run / "train")
    assert not (run / "train").exists()
    assert (run / "manifest.json").exists()


def test_removal_refuses_a_stage_folder_holding_an_unlisted_file(tmp_path: Path) -> None:
    run = marked_run(tmp_path / "run")
    (run / "train" / "base.csv").write_text("a\n1\n")
    before = snapshot(run)
    with pytest.raises(StageError, match="base.csv"):
        remove_stage_folder(run / "train")
    assert snapshot(run) == before


def test_removal_never_follows_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.csv").write_text("precious")
    run = marked_run(tmp_path / "run")
    (run / "train" / "model" / "weights.pt").unlink()
    (run / "train" / "model" / "weights.pt").symlink_to(elsewhere / "keep.csv")
    with pytest.raises(StageError, match="weights.pt"):
        remove_stage_folder(run / "train")
    (run / "export").symlink_to(elsewhere)
    with pytest.raises(StageError):
        remove_stage_folder(run / "export")
    assert snapshot(elsewhere) == {"keep.csv": hashlib.sha256(b"precious").hexdigest()}


def test_a_staging_link_is_replaced_without_touching_its_target(tmp_path: Path) -> None:
    """The issue's case: `.staging` -> another folder made the run delete `<target>/train`."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "train").mkdir(parents=True)
    (elsewhere / "train" / "keep.csv").write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    (run / ".staging").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    fresh = staging_dir(run, "train")
    assert fresh.is_dir() and not (run / ".staging").is_symlink() and not any(fresh.iterdir())
    assert snapshot(elsewhere) == before
    clear_staging(run)
    (run / ".staging").symlink_to(elsewhere)
    clear_staging(run)
    assert not os.path.lexists(run / ".staging")
    assert snapshot(elsewhere) == before
