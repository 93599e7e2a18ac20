"""A differentially private run end to end: ledger, claim in the export, audit in the attack stage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from synthpriv.cli import app

runner = CliRunner()
DEMO_DP = Path(__file__).resolve().parents[2] / "pipelines" / "demo_dp_sgd.yaml"


def _dp_config(**train: object) -> dict:
    config = yaml.safe_load(DEMO_DP.read_text())
    config["name"] = "demo-dp-test"
    config["train"].update({"epochs": 10, "params": {"hidden_dims": [64, 64], "latent_dim": 16}}, **train)
    config["synthesize"] = {"rows": 200}
    return config


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dp")
    pipeline = folder / "pipeline.yaml"
    config = _dp_config()
    # Public knowledge that a percentage is always recorded: no generator may leave it empty.
    config["data"]["columns"]["high_perc"]["nullable"] = False
    pipeline.write_text(yaml.safe_dump(config))
    out = folder / "run"
    result = runner.invoke(app, ["run", "-q", str(pipeline), "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_ledger_composes_preprocessing_and_dpsgd_within_budget(dp_run: Path) -> None:
    ledger = json.loads((dp_run / "train" / "privacy.json").read_text())
    assert ledger["differential_privacy"] is True
    releases = ledger["releases"]
    assert releases[-1]["mechanism"] == "subsampled gaussian (DP-SGD)"
    assert releases[-1]["steps"] > 0 and 0 < releases[-1]["sample_rate"] < 1
    preprocessing = [r for r in releases[:-1]]
    # Integer noise on integer counts (Mironov 2012): the ledger names the discrete mechanism.
    mechanisms = {r["mechanism"] for r in preprocessing}
    assert preprocessing and mechanisms <= {"discrete laplace", "stability histogram (discrete laplace)"}
    # gender's categories are declared: public knowledge, nothing released for them.
    assert not any("'gender'" in r["what"] for r in releases)
    spent = ledger["spent"]
    assert math.isclose(spent["epsilon"], math.fsum(r["epsilon"] for r in releases))
    assert math.isclose(spent["delta"], math.fsum(r["delta"] for r in releases))
    assert spent["epsilon"] <= ledger["budget"]["epsilon"] == 3.0
    # The accountant's epsilon after training, close to what was left for DP-SGD (not above it).
    assert releases[-1]["epsilon"] > 0.9 * (3.0 - math.fsum(r["epsilon"] for r in preprocessing))


def test_the_claim_travels_to_the_train_report_attack_audit_and_export(dp_run: Path) -> None:
    ledger = json.loads((dp_run / "train" / "privacy.json").read_text())
    epsilon = ledger["spent"]["epsilon"]
    train_report = (dp_run / "train" / "report.html").read_text()
    assert "Differential privacy ledger" in train_report and "DP-SGD" in train_report
    attack = json.loads((dp_run / "attack" / "summary.json").read_text())
    assert attack["claimed_epsilon"] == pytest.approx(epsilon)
    audit = attack["audit"]
    assert 0 <= audit["epsilon_lower_bound"] <= audit["epsilon_ceiling"]
    assert audit["epsilon_lower_bound"] <= epsilon  # a correct DP fit is not refuted
    metadata = json.loads(pq.read_schema(dp_run / "export" / "synthetic.parquet").metadata[b"synthpriv"])
    assert metadata["differential_privacy"]["epsilon"] == pytest.approx(epsilon)
    index = (dp_run / "index.html").read_text()
    assert f"epsilon {epsilon:.3g}" in index


def test_declared_domains_and_non_nullable_columns_come_back_whole(dp_run: Path) -> None:
    """gender is declared [F, M] (a complete domain, so never null) and high_perc declared
    ``nullable: false``: the DP synthetic table holds no null and no other value in them, while
    a CSV column declared nothing about (salary) may be null."""
    synthetic = pq.read_table(dp_run / "export" / "synthetic.parquet").to_pandas()
    assert len(synthetic) == 200
    assert synthetic["gender"].notna().all() and set(synthetic["gender"]) <= {"F", "M"}
    assert synthetic["high_perc"].notna().all()
    assert synthetic["high_perc"].between(0, 100).all()
    schema = json.loads((dp_run / "train" / "summary.json").read_text())["columns"]
    nullable = {c["name"]: c["nullable"] for c in schema}
    assert nullable["gender"] is False and nullable["high_perc"] is False and nullable["salary"] is True


def test_an_epsilon_too_small_to_train_fails_before_training(tmp_path: Path) -> None:
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(_dp_config(privacy={"epsilon": 1e-4})))
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "-q", str(pipeline), "--output-dir", str(out)])
    assert result.exit_code == 4, result.output
    message = result.output.strip().splitlines()
    assert len(message) == 1 and "train.privacy" in message[0] and "Traceback" not in result.output
    assert not (out / "train" / "stage.json").exists()


def test_an_undeclared_numerical_column_fails_naming_it(tmp_path: Path) -> None:
    config = _dp_config()
    del config["data"]["columns"]["salary"]
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["run", "-q", str(pipeline), "--output-dir", str(tmp_path / "run")])
    assert result.exit_code == 4, result.output
    assert "salary" in result.output and "bounds" in result.output


def test_a_delta_of_one_over_n_is_refused(tmp_path: Path) -> None:
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(_dp_config(privacy={"epsilon": 3.0, "delta": 0.01})))
    result = runner.invoke(app, ["run", "-q", str(pipeline), "--output-dir", str(tmp_path / "run")])
    assert result.exit_code == 4, result.output
    assert "train.privacy.delta" in result.output
