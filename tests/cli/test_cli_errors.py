"""Bad input gives one line on stderr naming the place, a non-zero exit, and no traceback.

The bad-input suite of issue 8 (one case per bad input, nothing half-written) is
`test_bad_inputs.py`; these are the other command-line errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthpriv.cli import app
from tests.conftest import one_line_error, quick_demo_config

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_unknown_generator_lists_known(write_pipeline) -> None:
    path = write_pipeline("name: demo\ndata: {path: builtin:student_placements}\ntrain: {generator: vea}\n")
    one_line_error(_run("check", str(path)), 2, "train.generator", "vae")


def test_bad_generator_param_names_param(write_pipeline) -> None:
    path = write_pipeline(
        "name: demo\ndata: {path: builtin:student_placements}\ntrain: {params: {latent_dim: -3}}\n"
    )
    one_line_error(_run("check", str(path)), 2, "train.params.latent_dim")


def test_missing_pipeline_file(tmp_path: Path) -> None:
    one_line_error(_run("check", str(tmp_path / "nope.yaml")), 2, "nope.yaml", "not found")


@pytest.mark.parametrize("holdout", ["1.5", "0", "-0.1"])
def test_bad_holdout_fraction(write_pipeline, holdout: str) -> None:
    path = write_pipeline(f"name: demo\ndata: {{path: builtin:student_placements, holdout: {holdout}}}\n")
    one_line_error(_run("check", str(path)), 2, "data.holdout")


def test_unknown_stage_option(write_pipeline) -> None:
    path = write_pipeline(quick_demo_config())
    one_line_error(_run("run", str(path), "--only", "trian"), 2, "--only", "trian")


def test_only_downstream_stage_without_inputs_refuses(tmp_path: Path, write_pipeline) -> None:
    path = write_pipeline(quick_demo_config())
    result = _run("run", "-q", str(path), "-o", str(tmp_path / "out"), "--only", "validate")
    one_line_error(result, 7, "run it first")


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


def test_an_efficacy_gate_without_a_target_is_named(write_pipeline) -> None:
    config = quick_demo_config(gates={"min_ml_efficacy_ratio": 0.9})
    del config["data"]["target"]
    path = write_pipeline(config)
    one_line_error(
        _run("check", str(path)), 2, f"{path}:", "gates.min_ml_efficacy_ratio", "needs data.target"
    )


def test_a_detection_gate_below_chance_is_refused(write_pipeline) -> None:
    path = write_pipeline(quick_demo_config(gates={"max_detection_auc": 0.4}))
    one_line_error(_run("check", str(path)), 2, "gates.max_detection_auc")


def test_risk_gates_need_their_attack_settings(write_pipeline) -> None:
    config = quick_demo_config(gates={"max_inference_risk": 0.1})
    config["attack"] = {"quasi_identifiers": ["gender"]}
    path = write_pipeline(config)
    one_line_error(_run("check", str(path)), 2, "gates.max_inference_risk", "attack.sensitive")
    config = quick_demo_config(gates={"max_linkage_risk": 0.1})
    config["attack"] = {"quasi_identifiers": ["gender"], "sensitive": "placed"}
    path = write_pipeline(config, name="second.yaml")
    one_line_error(_run("check", str(path)), 2, "gates.max_linkage_risk", "at least two")


@pytest.mark.parametrize(
    ("flags", "option", "needle"),
    [
        (["--quasi-identifiers", "gender,gender"], "--quasi-identifiers", "listed twice"),
        (
            ["--quasi-identifiers", "gender,placed", "--sensitive", "placed"],
            "--sensitive",
            "also a quasi-identifier",
        ),
    ],
)
def test_evaluate_checks_its_attack_flags_as_the_file_is_checked(
    tmp_path: Path, flags: list[str], option: str, needle: str
) -> None:
    out = tmp_path / "out"
    files = ["--train", "t.csv", "--holdout", "h.csv", "--synthetic", "s.csv", "-o", str(out)]
    one_line_error(_run("evaluate", *files, *flags), 2, option, needle)
    assert not out.exists()


def test_version_prints_the_package_version() -> None:
    from synthpriv import __version__

    result = _run("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"synthpriv {__version__}"


def test_only_and_from_help_names_every_stage_in_order() -> None:
    from synthpriv.cli import _STAGE_NAMES
    from synthpriv.config.model import STAGES

    assert _STAGE_NAMES == ", ".join(STAGES[:-1]) + f" or {STAGES[-1]}"
