"""synthpriv deletes only what it wrote (issue 15, must-have 1), through the real command.

Each test puts real files in and around an output folder, runs `synthpriv run` or
`synthpriv evaluate` into it, and checks the refusal (one line, exit 7) and that every file
is still there, byte for byte.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.data.io import builtin_table_path
from tests.conftest import one_line_error, quick_demo_config, snapshot

runner = CliRunner()
FOREIGN = ["train", "synthesize", "validate", "attack", "export", ".staging", "index.html", "manifest.json"]


def pipeline_file(folder: Path, data: str = "builtin:student_placements", name: str = "p.yaml") -> Path:
    config = quick_demo_config()
    config["data"]["path"] = data
    config["train"]["epochs"] = 1
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["run", "-q", *args])


def test_a_project_folder_holding_the_data_is_refused_as_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue: `mkdir p && cd p && mkdir train && cp base.csv train/ && synthpriv run p.yaml -o .`."""
    project = tmp_path / "p"
    (project / "train").mkdir(parents=True)
    shutil.copy(builtin_table_path("student_placements"), project / "train" / "base.csv")
    pipeline_file(project, data="train/base.csv")
    before = snapshot(project)
    monkeypatch.chdir(project)
    one_line_error(run("p.yaml", "-o", "."), 7, "holds the input", "base.csv", "data.path")
    assert snapshot(project) == before  # not even a .lock


def test_the_same_folder_with_the_data_elsewhere_is_refused_for_its_train_folder(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "train").mkdir(parents=True)
    shutil.copy(builtin_table_path("student_placements"), project / "train" / "base.csv")
    pipeline = pipeline_file(tmp_path)
    before = snapshot(project)
    one_line_error(
        run(str(pipeline), "-o", str(project)), 7, "'train'", "synthpriv did not write", "--output-dir"
    )
    assert snapshot(project) == before


@pytest.mark.parametrize("entry", FOREIGN)
def test_a_folder_holding_a_name_synthpriv_uses_is_refused(tmp_path: Path, entry: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if "." in entry.strip("."):
        (out / entry).write_text('{"written by": "the user"}')
    else:
        (out / entry / "model").mkdir(parents=True)
        (out / entry / "model" / "notes.txt").write_text("mine")
    (out / "~also-mine.txt").write_text("also mine")  # sorts after every name synthpriv uses
    before = snapshot(out)
    one_line_error(run(str(pipeline_file(tmp_path)), "-o", str(out)), 7, f"'{entry}'")
    assert snapshot(out) == before


def test_the_root_folder_is_refused(tmp_path: Path) -> None:
    before = sorted(os.listdir("/"))
    # --only export: even if the check were missing, no stage could write before the wiring check.
    one_line_error(run(str(pipeline_file(tmp_path)), "-o", "/", "--only", "export"), 7, "root folder")
    assert sorted(os.listdir("/")) == before


def test_the_home_folder_is_refused_as_itself_and_through_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# mine")
    monkeypatch.setenv("HOME", str(home))
    (tmp_path / "to-home").symlink_to(home)
    pipeline = pipeline_file(tmp_path)
    before = snapshot(home)
    for given in (str(home), "~", str(tmp_path / "to-home")):
        one_line_error(run(str(pipeline), "-o", os.path.expanduser(given)), 7, "home folder")
    assert snapshot(home) == before


# -- a folder synthpriv wrote, with something of the user's added -----------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A pipeline file and a run folder holding a complete train stage."""
    folder = tmp_path_factory.mktemp("trained")
    pipeline = pipeline_file(folder)
    result = run(str(pipeline), "-o", str(folder / "run"), "--only", "train")
    assert result.exit_code == 0, result.output
    return pipeline, folder / "run"


@pytest.fixture
def run_copy(trained: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    pipeline, out = trained
    return pipeline, Path(shutil.copytree(out, tmp_path / "run", symlinks=True))


@pytest.mark.parametrize("added", ["notes.txt", "train/notes.txt", "train/model/base.csv"])
def test_a_run_folder_holding_a_file_of_the_user_s_is_refused(
    run_copy: tuple[Path, Path], added: str
) -> None:
    pipeline, out = run_copy
    (out / added).write_text("mine")
    before = snapshot(out)
    one_line_error(run(str(pipeline), "-o", str(out), "--only", "train"), 7, f"'{added}'")
    assert snapshot(out) == before
    (out / added).unlink()
    result = run(str(pipeline), "-o", str(out), "--only", "train")  # synthpriv's own folder: accepted
    assert result.exit_code == 0, result.output


def test_a_staging_link_to_another_folder_is_refused_and_its_target_untouched(
    run_copy: tuple[Path, Path], tmp_path: Path
) -> None:
    """The issue: `.staging` -> another folder made the run delete `<target>/train`."""
    pipeline, out = run_copy
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "train").mkdir(parents=True)
    (elsewhere / "train" / "keep.csv").write_text("precious")
    shutil.rmtree(out / ".staging", ignore_errors=True)
    (out / ".staging").symlink_to(elsewhere)
    before, target = snapshot(out), snapshot(elsewhere)
    one_line_error(run(str(pipeline), "-o", str(out), "--only", "train"), 7, "'.staging'")
    assert snapshot(out) == before and snapshot(elsewhere) == target


def test_a_stage_folder_that_is_a_link_is_refused(run_copy: tuple[Path, Path], tmp_path: Path) -> None:
    pipeline, out = run_copy
    elsewhere = tmp_path / "elsewhere"
    shutil.move(out / "train", elsewhere)
    (out / "train").symlink_to(elsewhere)
    target = snapshot(elsewhere)
    one_line_error(run(str(pipeline), "-o", str(out), "--only", "train"), 7, "'train'")
    assert snapshot(elsewhere) == target


# -- evaluate ---------------------------------------------------------------------------------


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    folder = tmp_path / "tables"
    folder.mkdir()
    table = pd.read_csv(builtin_table_path("student_placements"))
    table.iloc[:120].to_csv(folder / "train.csv", index=False)
    table.iloc[120:].to_csv(folder / "holdout.csv", index=False)
    table.iloc[:120].to_csv(folder / "synthetic.csv", index=False)
    return folder


def evaluate(tables: Path, out: Path):  # type: ignore[no-untyped-def]
    return runner.invoke(
        app,
        [
            "evaluate",
            "-q",
            "--train",
            str(tables / "train.csv"),
            "--holdout",
            str(tables / "holdout.csv"),
            "--synthetic",
            str(tables / "synthetic.csv"),
            "-o",
            str(out),
        ],
    )


def test_evaluate_refuses_the_folder_of_its_inputs(tables: Path) -> None:
    before = snapshot(tables)
    one_line_error(evaluate(tables, tables), 7, "holds the input", "train.csv (--train)")
    assert snapshot(tables) == before


def test_evaluate_refuses_a_folder_holding_files_of_the_user_s(tables: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "validate").mkdir(parents=True)
    (out / "validate" / "notes.txt").write_text("mine")
    before = snapshot(out)
    one_line_error(evaluate(tables, out), 7, "'validate'")
    assert snapshot(out) == before


def test_evaluate_refuses_a_pipeline_run_folder(tables: Path, run_copy: tuple[Path, Path]) -> None:
    _, out = run_copy
    before = snapshot(out)
    one_line_error(evaluate(tables, out), 7, "pipeline run", "synthpriv evaluate")
    assert snapshot(out) == before
