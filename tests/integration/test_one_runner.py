"""`synthpriv run` and `synthpriv evaluate` share one runner (issue 16, must-have 3).

An evaluation is a pipeline whose train and synthesize outputs are given as inputs: here it
judges a small pipeline run's own synthetic table against the run's own stored split, so both
run validate on the same tables with the same settings. Both manifests have one shape, both
record and verify their inputs the same way, and an evaluation is reused, re-run and cleaned
up exactly as a pipeline's stages are.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from synthpriv.data.io import builtin_table_path
from synthpriv.data.split import Split
from synthpriv.evaluate import Evaluation, EvaluationPlan
from synthpriv.pipeline import Pipeline
from synthpriv.runner import RunPlan
from tests.conftest import TINY_VALIDATE, quick_demo_config

pytestmark = pytest.mark.slow
PACKAGE = Path(__file__).resolve().parents[2] / "synthpriv"


def tiny_config() -> dict:
    config = quick_demo_config(
        data={"path": "students.csv", "holdout": 0.25, "target": "placed"},
        validate=TINY_VALIDATE,
        attack={
            "quasi_identifiers": ["gender", "degree_type"],
            "sensitive": "placed",
            "max_rows": 100,
            "risk_targets": 20,
            "singling_out_queries": 10,
        },
    )
    config["train"]["epochs"] = 2
    return config


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pipeline run, its split's parts as files, and an evaluation of its synthetic table."""
    folder = tmp_path_factory.mktemp("one_runner")
    table = pd.read_csv(builtin_table_path("student_placements"))
    table.to_csv(folder / "students.csv", index=False)
    (folder / "pipeline.yaml").write_text(yaml.safe_dump(tiny_config(), sort_keys=False))
    Pipeline.from_yaml(folder / "pipeline.yaml", output_dir=folder / "run").run()
    split = Split.from_frame(pd.read_parquet(folder / "run" / "train" / "split.parquet"))
    source = pd.read_csv(folder / "students.csv")  # as the pipeline reads it
    source.iloc[split.train].to_parquet(folder / "train.parquet")
    source.iloc[split.holdout].to_parquet(folder / "holdout.parquet")
    shutil.copy(folder / "run" / "synthesize" / "synthetic.parquet", folder / "synthetic.parquet")
    evaluate(folder, folder / "evaluation").run()
    return folder


def evaluate(folder: Path, out: Path, synthetic: str = "synthetic.parquet") -> Evaluation:
    return Evaluation.from_files(
        folder / "train.parquet",
        folder / "holdout.parquet",
        folder / synthetic,
        output_dir=out,
        pipeline_file=folder / "pipeline.yaml",
    )


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def test_both_kinds_are_plans_of_the_one_runner() -> None:
    assert issubclass(Pipeline, RunPlan) and issubclass(EvaluationPlan, RunPlan)
    assert Pipeline.kind == "pipeline" and EvaluationPlan.kind == "evaluation"


def test_only_the_runner_executes_stages_and_guards_the_folder() -> None:
    """No second run loop: staging, executing and the output-folder check are imported by the runner alone."""
    loop = {"execute_stage", "staging_dir", "clear_staging", "check_output_folder"}
    users = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        names = {
            alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        if names & loop:
            users[path.relative_to(PACKAGE).as_posix()] = sorted(names & loop)
    assert set(users) == {"runner.py"}, users


def test_both_manifests_have_one_shape(folder: Path) -> None:
    run, evaluation = manifest(folder / "run"), manifest(folder / "evaluation")
    assert run["kind"] == "pipeline" and evaluation["kind"] == "evaluation"
    pipeline_only = {"allow_failed_gates", "data_sha256"}
    assert set(run) - pipeline_only == set(evaluation)
    assert set(evaluation["config"]) == {"seed", "data", "validate", "attack", "gates"}
    assert set(run["inputs"]) == {"data.path"}
    assert set(evaluation["inputs"]) == {"--train", "--holdout", "--synthetic"}
    assert list(evaluation["stages"]) == ["validate", "attack"]
    assert set(run["stages"]["validate"]) == set(evaluation["stages"]["validate"])


def test_each_stage_records_what_it_read_the_same_way(folder: Path) -> None:
    run = json.loads((folder / "run" / "validate" / "stage.json").read_text())
    evaluation = json.loads((folder / "evaluation" / "validate" / "stage.json").read_text())
    run_inputs = {item["path"] for item in run["inputs"]}
    assert "data.path" in run_inputs and "synthesize/synthetic.parquet" in run_inputs
    assert "train/split.parquet" in run_inputs  # validate reads the stored split, not a new draw
    assert [item["path"] for item in evaluation["inputs"]] == ["--holdout", "--synthetic", "--train"]
    synthetic = next(i for i in run["inputs"] if i["path"] == "synthesize/synthetic.parquet")
    assert (
        next(i for i in evaluation["inputs"] if i["path"] == "--synthetic")["sha256"] == synthetic["sha256"]
    )


def test_the_same_tables_give_the_same_validation(folder: Path) -> None:
    run = json.loads((folder / "run" / "validate" / "summary.json").read_text())
    evaluation = json.loads((folder / "evaluation" / "validate" / "summary.json").read_text())
    for figure in ("rows_real", "rows_synthetic", "rows_holdout", "quality", "detection_auc", "validity"):
        assert run[figure] == pytest.approx(evaluation[figure]), figure


def test_running_either_again_reuses_every_stage(folder: Path, tmp_path: Path) -> None:
    shutil.copytree(folder / "run", tmp_path / "run")
    again = Pipeline.from_yaml(folder / "pipeline.yaml", output_dir=tmp_path / "run").run()
    assert again.outcomes == dict.fromkeys(("train", "synthesize", "validate", "attack", "export"), "reused")
    shutil.copytree(folder / "evaluation", tmp_path / "evaluation")
    again = evaluate(folder, tmp_path / "evaluation").run()
    assert again.outcomes == {"validate": "reused", "attack": "reused"}
    assert {name: r["status"] for name, r in manifest(tmp_path / "evaluation")["stages"].items()} == {
        "validate": "reused",
        "attack": "reused",
    }


def test_an_evaluation_stage_with_a_changed_output_runs_again(folder: Path, tmp_path: Path) -> None:
    shutil.copytree(folder / "evaluation", tmp_path / "evaluation")
    with open(tmp_path / "evaluation" / "validate" / "coverage.parquet", "ab") as handle:
        handle.write(b"\0")
    again = evaluate(folder, tmp_path / "evaluation").run()
    assert again.outcomes == {"validate": "ran", "attack": "reused"}


def test_a_changed_synthetic_table_removes_the_stage_made_from_the_old_one(
    folder: Path, tmp_path: Path
) -> None:
    """As a retrain removes a pipeline's stages made from the old model: only validate runs here,
    and the attack folder made from the old synthetic table goes."""
    shutil.copytree(folder / "evaluation", tmp_path / "evaluation")
    pd.read_parquet(folder / "synthetic.parquet").iloc[:-10].to_parquet(tmp_path / "fewer.parquet")
    shutil.copy(tmp_path / "fewer.parquet", folder / "fewer.parquet")
    again = evaluate(folder, tmp_path / "evaluation", "fewer.parquet").run(stages=("validate",))
    assert again.outcomes == {"validate": "ran", "attack": "removed"}
    assert not (tmp_path / "evaluation" / "attack").exists()
    assert manifest(tmp_path / "evaluation")["stages"]["attack"]["status"] == "not run"
