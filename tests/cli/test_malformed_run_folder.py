"""`synthpriv report` and `synthpriv runs` on run folders whose files were edited or written
by another version (issue 15, must-have 5): a manifest with an extra key, a value of the wrong
type, a file that is not a JSON object, JSON nested too deep, a malformed summary. `report`
answers one line naming the run folder (exit 7); `runs` lists that run as unreadable and every
other run as before. Never an internal error."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.runs import list_runs
from synthpriv.runtime.terminal import printable
from tests.conftest import one_line_error

runner = CliRunner()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run folder: the train stage of a tiny pipeline (its record, summary and report)."""
    folder = tmp_path_factory.mktemp("malformed")
    config = {
        "name": "tiny",
        "data": {"path": "builtin:student_placements", "holdout": 0.3},
        "train": {
            "generator": "vae",
            "epochs": 2,
            "batch_size": 64,
            "params": {"hidden_dims": [16], "latent_dim": 4},
        },
    }
    pipeline = folder / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["run", "-q", str(pipeline), "-o", str(folder / "run"), "--only", "train"])
    assert result.exit_code == 0, result.output
    return folder / "run"


def _edit_manifest(edit: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        manifest = json.loads((run / "manifest.json").read_text())
        edit(manifest)
        (run / "manifest.json").write_text(json.dumps(manifest))

    return apply


def _write(relative: str, text: str) -> Callable[[Path], None]:
    return lambda run: (run / relative).write_text(text)


def _edit_train_summary(edit: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        summary = json.loads((run / "train" / "summary.json").read_text())
        edit(summary)
        (run / "train" / "summary.json").write_text(json.dumps(summary))

    return apply


#: case -> (how the run folder is spoiled, what the one line says)
SPOILED: dict[str, tuple[Callable[[Path], None], str]] = {
    "extra key in a record": (
        _edit_manifest(lambda m: m["stages"]["train"].update(colour="red")),
        "the train record has an unknown key 'colour'",
    ),
    "seconds as text": (
        _edit_manifest(lambda m: m["stages"]["train"].update(seconds="fast")),
        "train.seconds",
    ),
    "status a number": (_edit_manifest(lambda m: m["stages"]["train"].update(status=3)), "train.status"),
    "gates not a list": (
        _edit_manifest(lambda m: m["stages"]["train"].update(gates="all passed")),
        "train.gates",
    ),
    "a gate without passed": (
        _edit_manifest(
            lambda m: m["stages"]["train"].update(
                gates=[{"name": "max_dcr_share", "value": 0.5, "bound": 0.6}]
            )
        ),
        "train.gates[0].passed",
    ),
    "a gate with a text value": (
        _edit_manifest(
            lambda m: m["stages"]["train"].update(
                gates=[{"name": "min_quality", "value": "high", "bound": 0.6, "passed": True}]
            )
        ),
        "train.gates[0].value",
    ),
    "record not a mapping": (
        _edit_manifest(lambda m: m["stages"].update(train="complete")),
        "the train record is not a mapping",
    ),
    "stages a list": (_edit_manifest(lambda m: m.update(stages=[])), "no stage records"),
    "manifest a list": (_write("manifest.json", '[{"name": "tiny", "stages": {}}]'), "no stage records"),
    "no run name": (_edit_manifest(lambda m: m.pop("name")), "no run name"),
    "run name a number": (_edit_manifest(lambda m: m.update(name=7)), "no run name"),
    "not JSON": (_write("manifest.json", "{not json"), "manifest.json cannot be read"),
    "JSON nested 100,000 deep": (
        _write("manifest.json", "[" * 100_000 + "]" * 100_000),
        "manifest.json cannot be read",
    ),
}


def _spoiled_copy(finished_run: Path, root: Path, case: str) -> Path:
    run = Path(shutil.copytree(finished_run, root / "spoiled"))
    SPOILED[case][0](run)
    return run


@pytest.mark.parametrize("case", sorted(SPOILED))
def test_report_on_a_spoiled_manifest_is_one_line_naming_the_run(
    finished_run: Path, tmp_path: Path, case: str
) -> None:
    run = _spoiled_copy(finished_run, tmp_path, case)
    result = runner.invoke(app, ["report", str(run)])
    one_line_error(result, 7, str(run), SPOILED[case][1])


@pytest.mark.parametrize("case", sorted(SPOILED))
def test_runs_lists_a_spoiled_run_as_unreadable_and_the_others_as_before(
    finished_run: Path, tmp_path: Path, case: str
) -> None:
    _spoiled_copy(finished_run, tmp_path, case)
    shutil.copytree(finished_run, tmp_path / "intact")
    (tmp_path / "not-a-run").mkdir()  # no manifest: not listed at all
    result = runner.invoke(app, ["runs", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3, result.stdout  # the header and the two run folders
    intact = next(line for line in lines if line.rstrip().endswith(str(tmp_path / "intact")))
    assert intact.startswith("tiny ") and "Incomplete" in intact and "vae" in intact
    spoiled = next(line for line in lines if line.rstrip().endswith(str(tmp_path / "spoiled")))
    assert spoiled.startswith("spoiled ") and "unreadable" in spoiled
    assert lines[-1] == spoiled  # after the readable runs
    info = next(r for r in list_runs(tmp_path) if r.path.name == "spoiled")
    assert SPOILED[case][1] in info.reason
    assert f"unreadable ({printable(info.reason)})" in spoiled  # the terminal says why


def test_a_summary_that_is_not_an_object_fails_report_in_one_line_and_runs_goes_on(
    finished_run: Path, tmp_path: Path
) -> None:
    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    (run / "train" / "summary.json").write_text("[1, 2, 3]")
    one_line_error(
        runner.invoke(app, ["report", str(run)]), 7, str(run / "train"), "cannot render the train report"
    )
    result = runner.invoke(app, ["runs", str(tmp_path)])
    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[1]
    assert (
        line.startswith("tiny ") and "Incomplete" in line
    )  # the summary is left out, the record still judged


@pytest.mark.parametrize("name", ["stage.json", "summary.json"])
def test_stage_files_nested_too_deep_are_no_internal_error(
    finished_run: Path, tmp_path: Path, name: str
) -> None:
    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    (run / "train" / name).write_text("[" * 100_000 + "]" * 100_000)
    result = runner.invoke(app, ["report", str(run)])
    if name == "summary.json":
        one_line_error(
            result, 7, str(run / "train"), "cannot render the train report from its summary (RecursionError)"
        )
    else:  # a stage without a readable marker is not rendered: the index says what the manifest says
        assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["runs", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines()[1].startswith("tiny ")


def test_a_malformed_privacy_ledger_fails_report_in_one_line_and_runs_lists_it_unreadable(
    finished_run: Path, tmp_path: Path
) -> None:
    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    _edit_train_summary(lambda s: s.update(privacy={"spent": 3, "releases": []}))(run)
    result = runner.invoke(app, ["report", str(run)])
    one_line_error(result, 7, str(run))
    assert "cannot render" in result.stderr
    listed = runner.invoke(app, ["runs", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    assert "unreadable" in listed.stdout.splitlines()[1]


def test_an_intact_run_still_renders(finished_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(finished_run, tmp_path / "run"))
    (run / "index.html").unlink()
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "index.html").exists()
