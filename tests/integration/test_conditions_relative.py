from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.data.io import read_table
from tests.conftest import TINY_VALIDATE, quick_demo_config

runner = CliRunner()


def test_a_relative_conditions_file_is_read_beside_the_pipeline_file_and_rerun_when_changed(
    tmp_path: Path,
) -> None:
    table = read_table("builtin:student_placements").head(30)
    table.mask(np.random.default_rng(0).random(table.shape) < 0.3).to_parquet(tmp_path / "partial.parquet")
    config = quick_demo_config(
        train={"generator": "autoregressive", "epochs": 5, "params": {"hidden_dim": 16}},
        synthesize={"conditions": "partial.parquet"},
        validate=TINY_VALIDATE,
    )
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(config))
    args = ["run", "-q", str(tmp_path / "pipeline.yaml"), "--output-dir", str(tmp_path / "run")]
    assert runner.invoke(app, args).exit_code == 0
    assert (
        json.loads((tmp_path / "run" / "synthesize" / "summary.json").read_text())["conditions_file_rows"]
        == 30
    )
    table.head(12).to_parquet(tmp_path / "partial.parquet")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        json.loads((tmp_path / "run" / "synthesize" / "summary.json").read_text())["conditions_file_rows"]
        == 12
    )
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["train"]["status"] == "reused"
