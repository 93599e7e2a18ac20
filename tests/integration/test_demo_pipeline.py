"""The whole pipeline on the built-in demo table, end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from synthpriv.attacks.summary import AttackSummary
from synthpriv.cli import app
from synthpriv.data.io import builtin_table_path, read_table
from tests.conftest import quick_demo_config

STAGES = ("train", "synthesize", "validate", "attack", "export")
runner = CliRunner()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("demo")
    import yaml

    pipeline = folder / "pipeline.yaml"
    pipeline.write_text(
        yaml.safe_dump(
            quick_demo_config(
                gates={
                    "min_quality": 0.3,
                    "min_validity": 0.9,
                    "max_detection_auc": 1.0,
                    "max_membership_auc": 1.0,
                    "max_inference_risk": 1.0,
                    "max_linkage_risk": 1.0,
                }
            )
        )
    )
    out = folder / "run"
    result = runner.invoke(app, ["run", "-q", str(pipeline), "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    return pipeline, out


def test_every_stage_writes_its_outputs(demo_run: tuple[Path, Path]) -> None:
    _, out = demo_run
    for stage in STAGES:
        for name in ("summary.json", "report.html", "stage.json"):
            assert (out / stage / name).is_file(), f"{stage}/{name}"
    assert (out / "train" / "model" / "weights.pt").is_file()
    assert (out / "index.html").is_file() and (out / "manifest.json").is_file()
    assert not (out / ".staging").exists() or not any((out / ".staging").iterdir())
    assert not (out / ".lock").exists()


def test_synthetic_table_has_input_columns_and_dtypes(demo_run: tuple[Path, Path]) -> None:
    _, out = demo_run
    # Read as synthpriv reads an input, so that the pandas dtypes compare like for like (the
    # CSV's dates are Arrow date32 and stay date32 in the Parquet written).
    real = read_table("builtin:student_placements")
    synthetic = read_table(out / "synthesize" / "synthetic.parquet")
    exported = read_table(out / "export" / "synthetic.parquet")
    assert pq.read_schema(out / "export" / "synthetic.parquet").field("start_date").type == pa.date32()
    assert len(synthetic) == 300
    assert list(synthetic.columns) == list(real.columns)
    for column in real.columns:
        assert synthetic[column].dtype == real[column].dtype, column
    pd.testing.assert_frame_equal(synthetic, exported)
    meta = json.loads(pq.read_schema(out / "export" / "synthetic.parquet").metadata[b"synthpriv"])
    assert meta["seed"] == 0 and meta["differential_privacy"] == "none"


def test_manifest_records_stages_versions_and_hash(demo_run: tuple[Path, Path]) -> None:
    _, out = demo_run
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["config_sha256"]) == 64
    assert manifest["seed"] == 0
    assert {"torch", "pandas", "sdmetrics"} <= set(manifest["versions"])
    for stage in STAGES:
        record = manifest["stages"][stage]
        assert record["status"] == "complete"
        assert record["seconds"] > 0
        assert record["outputs"], stage


def test_split_holds_indices_not_rows(demo_run: tuple[Path, Path]) -> None:
    _, out = demo_run
    split = pd.read_parquet(out / "train" / "split.parquet")
    assert list(split.columns) == ["row", "member"]
    assert len(split) == 215 and split["member"].sum() == 172


def test_reports_show_no_real_values(demo_run: tuple[Path, Path]) -> None:
    _, out = demo_run
    real = pd.read_csv(builtin_table_path("student_placements"))
    # Values that occur exactly once in the real table must not appear in any report.
    unique_values = [str(v) for v in real["mba_perc"].value_counts().loc[lambda s: s == 1].index[:20]]
    for report in [out / "index.html", *(out / s / "report.html" for s in STAGES)]:
        html = report.read_text()
        assert "<script" not in html
        for value in unique_values:
            assert value not in html, (report, value)


def test_second_identical_run_reuses_every_stage(demo_run: tuple[Path, Path]) -> None:
    pipeline, out = demo_run
    before = (out / "synthesize" / "synthetic.parquet").read_bytes()
    result = runner.invoke(app, ["run", "-q", str(pipeline), "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("reused") == 5
    assert (out / "synthesize" / "synthetic.parquet").read_bytes() == before


def test_from_stage_reruns_it_and_keeps_upstream(demo_run: tuple[Path, Path]) -> None:
    pipeline, out = demo_run
    weights = (out / "train" / "model" / "weights.pt").stat().st_mtime_ns
    synthetic = (out / "synthesize" / "synthetic.parquet").read_bytes()
    result = runner.invoke(
        app, ["run", "-q", str(pipeline), "--output-dir", str(out), "--from", "synthesize"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "train" / "model" / "weights.pt").stat().st_mtime_ns == weights
    # Same model, same seed: the same rows, byte for byte.
    assert (out / "synthesize" / "synthetic.parquet").read_bytes() == synthetic


@pytest.fixture(scope="module")
def blocked_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """One run with three gates a quick VAE fails: quality 0.999, and a detector bound of 0.5
    with an efficacy ratio above 1, which cannot both hold; (the CLI result, the run folder)."""
    import yaml

    folder = tmp_path_factory.mktemp("blocked")
    pipeline = folder / "pipeline.yaml"
    gates = {"min_quality": 0.999, "max_detection_auc": 0.5, "min_ml_efficacy_ratio": 1.4}
    pipeline.write_text(yaml.safe_dump(quick_demo_config(gates=gates)))
    out = folder / "run"
    return runner.invoke(app, ["run", "-q", str(pipeline), "--output-dir", str(out)]), out


def test_failed_gate_blocks_export(blocked_run: tuple[Any, Path]) -> None:
    result, out = blocked_run
    assert result.exit_code == 5, result.output
    assert "min_quality" in result.stderr
    assert not (out / "export" / "synthetic.parquet").exists()
    assert (out / "validate" / "summary.json").is_file()  # earlier stages are kept
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"]["export"]["status"] != "complete"


def test_validate_records_every_metric_with_its_reference(demo_run: tuple[Path, Path]) -> None:
    _, out = demo_run
    summary = json.loads((out / "validate" / "summary.json").read_text())
    assert 0.5 <= summary["detection_auc"] <= 1
    low, high = summary["detection_auc_ci"]
    assert low <= summary["detection_auc"] <= high
    assert summary["holdout_detection_auc"] is not None
    assert summary["efficacy"]["target"] == "placed" and summary["efficacy"]["real_roc_auc"] is not None
    assert 0 <= summary["coverage"]["precision"] <= 1 and summary["coverage"]["holdout_recall"] is not None
    assert summary["validity"] is not None and summary["structure"] == 1.0
    assert {g["name"] for g in summary["gates"]} == {"min_quality", "min_validity", "max_detection_auc"}
    assert all(g["passed"] for g in summary["gates"])
    for name in ("column_scores", "pair_scores", "validity_scores", "detection_importances", "coverage"):
        assert len(pd.read_parquet(out / "validate" / f"{name}.parquet")) > 0, name
    report = (out / "validate" / "report.html").read_text()
    for heading in (
        "Usefulness",
        "Coverage and validity",
        "What gives synthetic rows away",
        "Association difference",
    ):
        assert heading in report


def test_detection_and_efficacy_gates_block_export(blocked_run: tuple[Any, Path]) -> None:
    result, out = blocked_run
    assert result.exit_code == 5, result.output
    stderr = result.stderr
    assert "max_detection_auc" in stderr and "min_ml_efficacy_ratio" in stderr
    outcomes = {g["name"]: g for g in json.loads((out / "validate" / "summary.json").read_text())["gates"]}
    assert not outcomes["max_detection_auc"]["passed"] and not outcomes["min_ml_efficacy_ratio"]["passed"]
    assert not (out / "export" / "synthetic.parquet").exists()


def test_attack_leads_with_the_strongest_membership_attack(demo_run: tuple[Path, Path]) -> None:
    _, out = demo_run
    summary = json.loads((out / "attack" / "summary.json").read_text())
    membership = summary["membership"]
    assert {a["name"] for a in membership["attacks"]} == {"distance", "domias", "classifier", "dcr"}
    # The strongest by the lower end of its interval, over these and the proxies' attack (issue 20).
    strongest = max(membership["attacks"], key=lambda a: (a["auc_ci"][0], a["auc"]))
    assert membership["strongest"] == strongest["name"]
    assert membership["members"] == membership["non_members"] > 0
    headline = AttackSummary.model_validate(summary).strongest_membership()
    assert headline is not None and headline.auc_ci[0] >= strongest["auc_ci"][0]
    gate = next(g for g in summary["gates"] if g["name"] == "max_membership_auc")
    assert gate["value"] == headline.auc and gate["passed"]
    report = (out / "attack" / "report.html").read_text()
    assert report.index("Membership inference: the strongest attack") < report.index("Proxies")
    scores = pd.read_parquet(out / "attack" / "attack_scores.parquet")
    assert (scores["measure"] == "tpr_at_fpr_1pct").sum() == 4


def test_attack_reports_inference_and_linkage_risks_with_their_control(demo_run: tuple[Path, Path]) -> None:
    _, out = demo_run
    summary = json.loads((out / "attack" / "summary.json").read_text())
    for name in ("inference", "linkability"):
        risk = summary[name]
        assert risk["name"] == name and risk["targets"] > 0
        low, high = risk["risk_ci"]
        assert 0 <= low <= risk["risk"] <= high <= 1
        assert 0 <= risk["control_rate"] <= 1 and 0 <= risk["baseline_rate"] <= 1
    outcomes = {g["name"] for g in summary["gates"]}
    assert {"max_inference_risk", "max_linkage_risk"} <= outcomes
    assert "Inference and linkage" in (out / "attack" / "report.html").read_text()
