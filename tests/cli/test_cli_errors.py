"""Bad input gives one line on stderr naming the place, a non-zero exit, and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthpriv.cli import app
from tests.conftest import quick_demo_config

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def _assert_one_line_error(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0]


def test_malformed_yaml_names_file_and_line(write_pipeline) -> None:
    path = write_pipeline("name: demo\ndata: {path: [unclosed\n")
    _assert_one_line_error(_run("check", str(path)), 2, str(path), "malformed YAML")


def test_unknown_key_names_key_and_line(write_pipeline) -> None:
    path = write_pipeline("name: demo\ndata:\n  path: builtin:student_placements\n  holdot: 0.2\n")
    _assert_one_line_error(_run("check", str(path)), 2, f"{path}:4:", "data.holdot", "unknown key")


def test_wrong_type_names_key(write_pipeline) -> None:
    path = write_pipeline("name: demo\ndata: {path: builtin:student_placements}\ntrain: {epochs: many}\n")
    _assert_one_line_error(_run("check", str(path)), 2, "train.epochs", ":3:")


def test_unknown_generator_lists_known(write_pipeline) -> None:
    path = write_pipeline("name: demo\ndata: {path: builtin:student_placements}\ntrain: {generator: vea}\n")
    _assert_one_line_error(_run("check", str(path)), 2, "train.generator", "vae")


def test_bad_generator_param_names_param(write_pipeline) -> None:
    path = write_pipeline("name: demo\ndata: {path: builtin:student_placements}\ntrain: {params: {latent_dim: -3}}\n")
    _assert_one_line_error(_run("check", str(path)), 2, "train.params.latent_dim")


def test_missing_pipeline_file(tmp_path: Path) -> None:
    _assert_one_line_error(_run("check", str(tmp_path / "nope.yaml")), 2, "nope.yaml", "not found")


def test_missing_data_file_names_path(write_pipeline) -> None:
    path = write_pipeline("name: demo\ndata: {path: missing.csv}\n")
    _assert_one_line_error(_run("check", str(path)), 3, "missing.csv", "not found", "data.path")


def test_missing_column_is_named_with_suggestion(write_pipeline) -> None:
    config = quick_demo_config()
    config["attack"]["quasi_identifiers"] = ["gender", "degre_type"]
    path = write_pipeline(config)
    _assert_one_line_error(_run("check", str(path)), 3, "attack.quasi_identifiers[1]", "'degre_type'", "degree_type")


def test_empty_table(tmp_path: Path, write_pipeline) -> None:
    (tmp_path / "empty.csv").write_text("a,b\n")
    path = write_pipeline("name: demo\ndata: {path: empty.csv}\n")
    _assert_one_line_error(_run("run", "-q", str(path), "-o", str(tmp_path / "out")), 3, "empty")
    assert not (tmp_path / "out" / "train").exists()


def test_unsupported_file_type(tmp_path: Path, write_pipeline) -> None:
    (tmp_path / "data.xlsx").write_text("not really")
    path = write_pipeline("name: demo\ndata: {path: data.xlsx}\n")
    _assert_one_line_error(_run("check", str(path)), 3, "unsupported file type")


@pytest.mark.parametrize("holdout", ["1.5", "0", "-0.1"])
def test_bad_holdout_fraction(write_pipeline, holdout: str) -> None:
    path = write_pipeline(f"name: demo\ndata: {{path: builtin:student_placements, holdout: {holdout}}}\n")
    _assert_one_line_error(_run("check", str(path)), 2, "data.holdout")


def test_unknown_stage_option(write_pipeline) -> None:
    path = write_pipeline(quick_demo_config())
    _assert_one_line_error(_run("run", str(path), "--only", "trian"), 2, "--only", "trian")


def test_only_downstream_stage_without_inputs_refuses(tmp_path: Path, write_pipeline) -> None:
    path = write_pipeline(quick_demo_config())
    result = _run("run", "-q", str(path), "-o", str(tmp_path / "out"), "--only", "validate")
    _assert_one_line_error(result, 7, "run it first")


def test_check_ok_lists_columns(write_pipeline) -> None:
    path = write_pipeline(quick_demo_config())
    result = _run("check", str(path))
    assert result.exit_code == 0, result.output
    assert "student_id: id" in result.stdout and "salary: numerical" in result.stdout


def test_schema_is_json_schema() -> None:
    import json

    result = _run("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert {"name", "data", "train", "synthesize", "validate", "attack", "gates"} <= set(schema["properties"])


def test_condition_on_unknown_column_is_named(write_pipeline) -> None:
    path = write_pipeline(quick_demo_config(synthesize={"rows": 50, "conditions": {"placd": True}}))
    _assert_one_line_error(_run("check", str(path)), 3, "synthesize.conditions.placd", "did you mean 'placed'")


def test_condition_value_never_seen_fails_before_sampling(tmp_path: Path, write_pipeline) -> None:
    path = write_pipeline(quick_demo_config(synthesize={"rows": 50, "conditions": {"gender": "X"}}))
    result = _run("run", "-q", str(path), "-o", str(tmp_path / "out"))
    _assert_one_line_error(result, 2, "synthesize.conditions.gender", "not a category the generator learned")
    assert (tmp_path / "out" / "train" / "stage.json").is_file()  # training is kept for the next try
    assert not (tmp_path / "out" / "synthesize").exists()


def test_output_folder_that_cannot_be_written(tmp_path: Path, write_pipeline) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = write_pipeline(quick_demo_config())
    result = _run("run", "-q", str(path), "-o", str(blocker / "run"))
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "a-file" in lines[0]
    assert "Traceback" not in result.output


def test_an_efficacy_gate_without_a_target_is_named(write_pipeline) -> None:
    config = quick_demo_config(gates={"min_ml_efficacy_ratio": 0.9})
    del config["data"]["target"]
    path = write_pipeline(config)
    _assert_one_line_error(_run("check", str(path)), 2, f"{path}:", "gates.min_ml_efficacy_ratio", "needs data.target")


def test_a_detection_gate_below_chance_is_refused(write_pipeline) -> None:
    path = write_pipeline(quick_demo_config(gates={"max_detection_auc": 0.4}))
    _assert_one_line_error(_run("check", str(path)), 2, "gates.max_detection_auc")


def test_risk_gates_need_their_attack_settings(write_pipeline) -> None:
    config = quick_demo_config(gates={"max_inference_risk": 0.1})
    config["attack"] = {"quasi_identifiers": ["gender"]}
    path = write_pipeline(config)
    _assert_one_line_error(_run("check", str(path)), 2, "gates.max_inference_risk", "attack.sensitive")
    config = quick_demo_config(gates={"max_linkage_risk": 0.1})
    config["attack"] = {"quasi_identifiers": ["gender"], "sensitive": "placed"}
    path = write_pipeline(config, name="second.yaml")
    _assert_one_line_error(_run("check", str(path)), 2, "gates.max_linkage_risk", "at least two")
