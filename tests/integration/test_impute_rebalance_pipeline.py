"""The pipeline on the demo table with a conditions file (imputation) and with rebalance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.data.io import read_table
from tests.cli.terminal import run_error_line
from tests.conftest import TINY_VALIDATE, one_line_error, quick_demo_config

runner = CliRunner()

AUTOREGRESSIVE = {"generator": "autoregressive", "epochs": 20, "params": {"hidden_dim": 16}}


def _run(folder: Path, config: dict, *extra: str) -> tuple[object, Path]:
    pipeline = folder / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(config, sort_keys=False))
    out = folder / "run"
    return runner.invoke(app, ["run", "-q", str(pipeline), "--output-dir", str(out), *extra]), out


@pytest.fixture(scope="module")
def partial_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A CSV of 40 demo rows with a third of their cells empty (the id column left out)."""
    table = read_table("builtin:student_placements").drop(columns=["student_id"]).head(40)
    partial = table.mask(np.random.default_rng(1).random(table.shape) < 0.33)
    path = tmp_path_factory.mktemp("conditions") / "partial.csv"
    partial.to_csv(path, index=False)
    return path, read_table(path)


@pytest.fixture(scope="module")
def imputed_run(tmp_path_factory: pytest.TempPathFactory, partial_file: tuple[Path, pd.DataFrame]) -> Path:
    path, _ = partial_file
    config = quick_demo_config(
        train=AUTOREGRESSIVE, synthesize={"conditions": str(path)}, validate=TINY_VALIDATE
    )
    result, out = _run(tmp_path_factory.mktemp("imputed"), config)
    assert result.exit_code == 0, result.output
    return out


def test_a_conditions_file_is_completed_row_for_row(
    imputed_run: Path, partial_file: tuple[Path, pd.DataFrame]
) -> None:
    _, partial = partial_file
    synthetic = read_table(imputed_run / "synthesize" / "synthetic.parquet")
    assert len(synthetic) == len(partial) == 40
    for column in partial.columns:
        known = partial[column].notna()
        assert (
            synthetic[column][known]
            .reset_index(drop=True)
            .equals(partial[column][known].astype(synthetic[column].dtype).reset_index(drop=True))
        ), column
    assert synthetic["gender"].notna().all() and synthetic["student_id"].is_unique
    summary = json.loads((imputed_run / "synthesize" / "summary.json").read_text())
    assert summary["conditions_file_rows"] == 40 and summary["conditions"] == {}
    assert "file of 40 partial rows" in (imputed_run / "synthesize" / "report.html").read_text()
    assert (imputed_run / "export" / "synthetic.parquet").is_file()
    card = json.loads((imputed_run / "export" / "datacard.json").read_text())
    assert card["generated"]["conditions_file_rows"] == 40
    assert "empty cells of a file of 40 partial rows" in (imputed_run / "export" / "datacard.md").read_text()


def test_a_generator_that_cannot_impute_is_refused_before_training(
    tmp_path: Path, partial_file: tuple[Path, pd.DataFrame]
) -> None:
    path, _ = partial_file
    folder = tmp_path / "vae"
    folder.mkdir()
    config = quick_demo_config(validate=TINY_VALIDATE)
    config["train"]["epochs"] = 2
    config["synthesize"] = {"conditions": str(path)}
    result, run = _run(folder, config)
    one_line_error(result, 2, "generator vae cannot impute", "synthesize.conditions")
    assert not (run / "train" / "model").exists()  # checked before anything was fitted


def test_rows_that_differ_from_the_file_and_a_missing_file_are_refused(
    tmp_path: Path, partial_file: tuple[Path, pd.DataFrame]
) -> None:
    path, _ = partial_file
    config = quick_demo_config(
        train={**AUTOREGRESSIVE, "epochs": 2},
        synthesize={"conditions": str(path), "rows": 41},
        validate=TINY_VALIDATE,
    )
    result, _ = _run(tmp_path, config, "--only", "train")
    assert result.exit_code == 0, result.output
    result, _ = _run(tmp_path, config, "--only", "synthesize")
    run_error_line(result, 2, "synthesize.rows", "the conditions file has 40 rows", table=True)
    config["synthesize"] = {"conditions": str(tmp_path / "absent.csv")}
    result, _ = _run(tmp_path, config, "--only", "synthesize")
    run_error_line(result, 3, "synthesize.conditions", "not found", table=True)


def test_rebalance_sets_the_share_of_a_category(tmp_path: Path) -> None:
    config = quick_demo_config(
        synthesize={"rows": 300, "batch_size": 100, "rebalance": {"gender": {"F": 0.7}}},
        validate=TINY_VALIDATE,
    )
    result, out = _run(tmp_path, config)
    assert result.exit_code == 0, result.output
    synthetic = read_table(out / "synthesize" / "synthetic.parquet")
    assert len(synthetic) == 300 and int((synthetic["gender"] == "F").sum()) == 210
    summary = json.loads((out / "synthesize" / "summary.json").read_text())
    assert summary["rebalance"] == {"gender": {"F": 0.7}} and summary["conditions_file_rows"] is None
    assert "gender = F: 70 %" in (out / "synthesize" / "report.html").read_text()
    card = json.loads((out / "export" / "datacard.json").read_text())
    assert card["generated"]["rebalance"] == {"gender": {"F": 0.7}}
    assert "Rebalanced: gender set to F: 70 % of every batch." in (out / "export" / "datacard.md").read_text()
