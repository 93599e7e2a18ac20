"""Gates cannot be bypassed and no stale stage survives (issue 15, must-have 3).

Each stage's ``stage.json`` records the sha256 of every input it read; ``--only`` / ``--from``
refuse (one line, exit 7) to build on an upstream stage whose files changed, a failed validate
or attack leaves no earlier export behind, a retrain removes every stage made from the old
model, and the summary table says what this invocation did (ran, reused, kept, removed).

One small real run (the demo table cut to six columns, two epochs) is copied for each test.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.data.io import builtin_table_path
from tests.conftest import TINY_VALIDATE, one_line_error, quick_demo_config

pytestmark = pytest.mark.slow
runner = CliRunner()
STAGES = ("train", "synthesize", "validate", "attack", "export")
COLUMNS = ["gender", "degree_perc", "degree_type", "work_experience", "salary", "placed"]
DEMO_DP = Path(__file__).resolve().parents[2] / "pipelines" / "demo_dp_sgd.yaml"


def tiny_config(**overrides: object) -> dict:
    config = quick_demo_config(
        data={"path": "students.csv", "holdout": 0.2, "target": "placed"},
        validate=TINY_VALIDATE,
        attack={
            "quasi_identifiers": ["gender", "degree_type"],
            "sensitive": "placed",
            "max_rows": 100,
            "risk_targets": 20,
            "singling_out_queries": 10,
        },
        gates={"min_quality": 0.3},
    )
    config["train"]["epochs"] = 2
    config.update(overrides)
    return config


def write_pipeline(folder: Path, config: dict, name: str = "pipeline.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(pipeline: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["run", "-q", str(pipeline), "-o", str(out), *extra])


def table(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The summary table the run printed: stage -> the rest of its line."""
    rows = [
        line.split(None, 1)
        for line in result.stderr.splitlines()
        if line.split()[:1] and line.split()[0] in STAGES
    ]
    return {name: rest for name, rest in rows}


def outcome(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        name: rest.split()[0] if rest.split()[0] != "not" else "not run"
        for name, rest in table(result).items()
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files(folder: Path) -> dict[str, str]:
    """Each output file's hash; not the page (a report is a view: the runner renders every
    page again so its tabs name the pages the run has)."""
    return {
        p.relative_to(folder).as_posix(): sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "report.html"
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the data (students.csv), the pipeline file and one complete run (run/)."""
    folder = tmp_path_factory.mktemp("upstream")
    pd.read_csv(builtin_table_path("student_placements"))[COLUMNS].to_csv(
        folder / "students.csv", index=False
    )
    pipeline = write_pipeline(folder, tiny_config())
    result = run(pipeline, folder / "run")
    assert result.exit_code == 0, result.output
    assert outcome(result) == dict.fromkeys(STAGES, "ran")
    return folder


@pytest.fixture
def copy(project: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(pipeline file, a copy of the complete run) for one test to change."""
    shutil.copy(project / "students.csv", tmp_path / "students.csv")
    pipeline = shutil.copy(project / "pipeline.yaml", tmp_path / "pipeline.yaml")
    return Path(pipeline), Path(shutil.copytree(project / "run", tmp_path / "run"))


def test_every_stage_records_the_sha256_of_each_file_it_read(project: Path) -> None:
    out = project / "run"
    inputs = {name: json.loads((out / name / "stage.json").read_text())["inputs"] for name in STAGES}
    paths = {name: {i["path"] for i in items} for name, items in inputs.items()}
    assert paths["train"] == {"data.path"}
    assert paths["synthesize"] == {  # the real rows too: the page's missing-value reference
        "data.path",
        "train/model/generator.json",
        "train/model/transformer.json",
        "train/model/weights.pt",
        "train/split.parquet",
    }
    assert {
        "data.path",
        "train/split.parquet",
        "train/model/weights.pt",
        "synthesize/synthetic.parquet",
    } <= paths["validate"]
    assert {"data.path", "train/privacy.json", "synthesize/synthetic.parquet"} <= paths["attack"]
    assert {
        "validate/summary.json",
        "attack/summary.json",
        "synthesize/synthetic.parquet",
        "train/summary.json",
        "train/privacy.json",
        "synthesize/summary.json",
    } <= paths["export"]
    for items in inputs.values():
        for item in items:
            path = project / "students.csv" if item["path"] == "data.path" else out / item["path"]
            assert item["sha256"] == sha256(path), item["path"]


def test_a_second_run_reuses_every_stage_and_says_so(copy: tuple[Path, Path]) -> None:
    pipeline, out = copy
    result = run(pipeline, out)
    assert result.exit_code == 0, result.output
    assert table(result) == dict.fromkeys(STAGES, "reused")  # no seconds: nothing ran


def pass_every_gate(summary_file: Path) -> None:
    """What the issue did by hand: every gate of a stage's summary set to passed."""
    summary = json.loads(summary_file.read_text())
    for gate in summary["gates"]:
        gate["passed"] = True
    summary_file.write_text(json.dumps(summary))


def test_an_edited_validate_summary_is_not_exported(copy: tuple[Path, Path]) -> None:
    """The issue: gates set to passed in validate/summary.json, then `--only export` exported."""
    pipeline, out = copy
    pass_every_gate(out / "validate" / "summary.json")
    before = files(out)
    for flag in ("--only", "--from"):
        one_line_error(
            run(pipeline, out, flag, "export"), 7, "validate/summary.json", "changed", "--from validate"
        )
    assert files(out) == before  # a refusal writes and deletes nothing


def test_a_plain_run_after_an_edit_redoes_the_stage_and_the_export(copy: tuple[Path, Path]) -> None:
    """A stage whose outputs were edited runs again, and the export is made again from it, never reused."""
    pipeline, out = copy
    pass_every_gate(out / "attack" / "summary.json")
    edited = sha256(out / "attack" / "summary.json")
    result = run(pipeline, out)
    assert result.exit_code == 0, result.output
    assert outcome(result) == {
        "train": "reused",
        "synthesize": "reused",
        "validate": "reused",
        "attack": "ran",
        "export": "ran",
    }
    assert sha256(out / "attack" / "summary.json") != edited


def test_real_rows_in_place_of_the_synthetic_table_are_not_exported(copy: tuple[Path, Path]) -> None:
    pipeline, out = copy
    real = pd.read_csv(out.parent / "students.csv")
    real.to_parquet(out / "synthesize" / "synthetic.parquet")
    before = files(out / "export")
    one_line_error(
        run(pipeline, out, "--from", "export"), 7, "synthesize/synthetic.parquet", "--from synthesize"
    )
    one_line_error(run(pipeline, out, "--only", "validate"), 7, "synthesize/synthetic.parquet")
    assert files(out / "export") == before


def test_a_changed_data_file_is_not_trusted_by_only(copy: tuple[Path, Path]) -> None:
    pipeline, out = copy
    data = out.parent / "students.csv"
    lines = data.read_text().splitlines(keepends=True)
    data.write_text("".join(lines + lines[1:2]))  # one row more
    one_line_error(
        run(pipeline, out, "--only", "synthesize"),
        7,
        "data.path",
        "since stage train read it",
        "--from train",
    )


def test_an_attack_gate_that_now_fails_removes_the_earlier_export(copy: tuple[Path, Path]) -> None:
    """`--only attack` with a gate that fails: the export made before cannot stay."""
    _, out = copy
    strict = write_pipeline(
        out.parent, tiny_config(gates={"min_quality": 0.3, "max_dcr_share": 0.0}), "strict.yaml"
    )
    result = run(strict, out, "--only", "attack")
    assert result.exit_code == 0, result.output  # gates are enforced by export, which did not run
    assert outcome(result) == {
        "train": "kept",
        "synthesize": "kept",
        "validate": "kept",
        "attack": "ran",
        "export": "removed",
    }
    assert not (out / "export").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["export"]["status"] == "not run"
    assert "Export allowed" not in (out / "index.html").read_text()


def test_a_failed_attack_removes_the_earlier_export(
    copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack stage's Parquet write meets a full disk (ENOSPC): exit 74 and no export left."""
    import errno

    from synthpriv.data import io

    class FullDisk(pq.ParquetWriter):
        def write_table(self, *args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    pipeline, out = copy
    kept = {name: files(out / name) for name in ("train", "synthesize", "validate", "attack")}
    monkeypatch.setattr(io.pq, "ParquetWriter", FullDisk)
    result = run(pipeline, out, "--only", "attack")
    assert result.exit_code == 74, result.output
    assert not (out / "export").exists()
    assert {name: files(out / name) for name in kept} == kept  # the failed stage's old folder stays
    assert json.loads((out / "manifest.json").read_text())["stages"]["attack"]["status"] == "failed"


def test_only_train_lists_what_it_did_and_never_an_old_time(copy: tuple[Path, Path]) -> None:
    """Without DP the same seed trains the same model: stages made from it are kept (checked),
    the export (made from the train summary, which records new times) is removed. (A fit fast
    enough to record the same time to the millisecond leaves the summary, and so the export,
    as they were: then the export is kept, and checked.)"""
    pipeline, out = copy
    before = sha256(out / "train" / "summary.json")
    result = run(pipeline, out, "--only", "train")
    assert result.exit_code == 0, result.output
    rows = table(result)
    assert "complete" not in result.stderr
    assert rows["train"].startswith("ran") and rows["train"].endswith(" s")
    summary_changed = sha256(out / "train" / "summary.json") != before
    assert outcome(result) == {
        "train": "ran",
        "synthesize": "kept",
        "validate": "kept",
        "attack": "kept",
        "export": "removed" if summary_changed else "kept",
    }
    for name in ("synthesize", "validate", "attack", "export"):
        assert not rows[name].endswith(" s"), rows[name]
    again = run(pipeline, out)
    assert again.exit_code == 0, again.output
    assert outcome(again) == {
        "train": "reused",
        "synthesize": "reused",
        "validate": "reused",
        "attack": "reused",
        "export": "ran" if summary_changed else "reused",
    }


def test_a_dp_retrain_removes_every_stage_made_from_the_old_model(copy: tuple[Path, Path]) -> None:
    """`--only train` with DP spends epsilon on a new model (fresh noise): nothing made from
    the old model may stay, the export least of all."""
    _, out = copy
    dp = yaml.safe_load(DEMO_DP.read_text())
    config = tiny_config()
    config["data"]["columns"] = {
        name: dp["data"]["columns"][name] for name in COLUMNS if name in dp["data"]["columns"]
    }
    config["train"]["privacy"] = dp["train"]["privacy"]
    private = write_pipeline(out.parent, config, "dp.yaml")
    weights = sha256(out / "train" / "model" / "weights.pt")
    result = run(private, out, "--only", "train")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "train" / "privacy.json").read_text())["differential_privacy"] is True
    assert sha256(out / "train" / "model" / "weights.pt") != weights
    assert outcome(result) == {"train": "ran", **dict.fromkeys(STAGES[1:], "removed")}
    assert [name for name in STAGES if (out / name).exists()] == ["train"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {name: r["status"] for name, r in manifest["stages"].items()} == {
        "train": "complete",
        **dict.fromkeys(STAGES[1:], "not run"),
    }
