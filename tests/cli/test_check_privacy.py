"""`synthpriv check` on a DP pipeline: a run that cannot keep its promise fails before training.

Each failure is one line on stderr with exit code 4 (PrivacyConfigError) naming the place in
the pipeline file; the DP demo checks clean, and what the check plans is what training does.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.pipeline import Pipeline

runner = CliRunner()
DEMO_DP = Path(__file__).resolve().parents[2] / "pipelines" / "demo_dp_sgd.yaml"


@pytest.fixture(scope="module")
def demo_dp() -> dict[str, Any]:
    return yaml.safe_load(DEMO_DP.read_text())


def _check(path: Path):
    return runner.invoke(app, ["check", str(path)])


def _assert_privacy_error(result, path: Path, *needles: str) -> str:
    assert result.exit_code == 4, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and f"{path}:" in lines[0]
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_the_dp_demo_checks_clean() -> None:
    result = _check(DEMO_DP)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"ok: {DEMO_DP}")
    plan = result.stdout.splitlines()[1]
    assert plan.startswith("differential privacy: epsilon 3, delta 1e-05 on 172 training rows")
    assert "DP-SGD 900 steps" in plan  # 300 epochs of ~64 of 172 rows: 3 Poisson steps an epoch


def test_the_marginals_demo_prints_every_release_and_the_measurements_noise() -> None:
    path = DEMO_DP.with_name("demo_dp.yaml")
    result = _check(path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith(
        "differential privacy (marginals): epsilon 5, delta 1e-05 on 172 training rows"
    )
    # Nine numbers and dates need a quantile map (duration's values are declared); every
    # category list is declared (no release).
    assert sum("release: quantile map of" in line for line in lines) == 9
    assert not any("quantile map of 'duration'" in line or "category list" in line for line in lines)
    # Sixteen columns and the declared missing pattern; fewer rounds than 2 a column on 172 rows.
    assert any(
        line.strip().startswith("one-way marginals of 17 column(s): discrete gaussian, sigma")
        for line in lines
    )
    assert any("25 rounds: select by exponential mechanism" in line for line in lines)


def test_a_plain_pipeline_prints_no_privacy_plan() -> None:
    result = _check(DEMO_DP.with_name("demo.yaml"))
    assert result.exit_code == 0, result.output
    assert "differential privacy" not in result.stdout


@pytest.mark.parametrize(
    ("column", "declaration"),
    [
        ("salary", None),  # not declared at all
        ("salary", "numerical"),  # declared, but without bounds
        ("start_date", {"kind": "datetime"}),
    ],
)
def test_a_number_without_declared_bounds_fails(
    demo_dp: dict[str, Any], write_pipeline, column: str, declaration: object
) -> None:
    config = copy.deepcopy(demo_dp)
    if declaration is None:
        del config["data"]["columns"][column]
    else:
        config["data"]["columns"][column] = declaration
    path = write_pipeline(config)
    line = _assert_privacy_error(_check(path), path, f"data.columns.{column}", f"column '{column}'", "bounds")
    if declaration is not None:  # points at the declaration (its key, or its mapping just below)
        text = path.read_text().splitlines()
        number = int(line.split(f"{path}:", 1)[1].split(":", 1)[0])
        assert any(above.lstrip().startswith(f"{column}:") for above in text[max(number - 2, 0) : number])


def test_an_epsilon_too_small_to_train_fails(demo_dp: dict[str, Any], write_pipeline) -> None:
    config = copy.deepcopy(demo_dp)
    config["train"]["privacy"] = {"epsilon": 0.01}
    path = write_pipeline(config)
    line = _assert_privacy_error(_check(path), path, "train.privacy.epsilon", "too small to train")
    assert "epsilon 0.01 (DP-SGD's share after preprocessing: 0.009)" in line  # the number the user wrote


def test_the_default_epochs_count_too(demo_dp: dict[str, Any], write_pipeline) -> None:
    """Without train.epochs the check plans the generator's default, as training would."""
    config = copy.deepcopy(demo_dp)
    config["train"]["privacy"] = {"epsilon": 0.5}
    config["train"]["epochs"] = 10
    assert _check(write_pipeline(config)).exit_code == 0
    del config["train"]["epochs"]  # 300 for the vae on 172 rows: too many steps for epsilon 0.5
    path = write_pipeline(config)
    _assert_privacy_error(_check(path), path, "train.privacy.epsilon")


def test_a_delta_not_below_one_over_n_fails(demo_dp: dict[str, Any], write_pipeline) -> None:
    config = copy.deepcopy(demo_dp)
    config["train"]["privacy"]["delta"] = 0.01  # 172 training rows: 1/n is about 0.0058
    path = write_pipeline(config)
    _assert_privacy_error(_check(path), path, "train.privacy.delta", "1/n")


def test_a_pipeline_without_privacy_needs_no_bounds(demo_dp: dict[str, Any], write_pipeline) -> None:
    config = copy.deepcopy(demo_dp)
    del config["train"]["privacy"]
    config["data"]["columns"] = {"gender": "categorical"}
    assert _check(write_pipeline(config)).exit_code == 0


def test_the_check_plans_what_training_spends(demo_dp: dict[str, Any], tmp_path: Path) -> None:
    """The preflight's preprocessing releases, noise and steps are the ones the train stage records."""
    config = copy.deepcopy(demo_dp)
    config["train"].update({"epochs": 3, "params": {"hidden_dims": [32, 32], "latent_dim": 8}})
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    pipeline = Pipeline.from_yaml(path, output_dir=tmp_path / "run")
    preflight = pipeline.check_privacy(pipeline.check(privacy=False))
    assert preflight is not None

    run = tmp_path / "run"
    result = runner.invoke(app, ["run", "-q", str(path), "--only", "train", "--output-dir", str(run)])
    assert result.exit_code == 0, result.output
    ledger = json.loads((run / "train" / "privacy.json").read_text())
    *preprocessing, dpsgd = ledger["releases"]
    planned = preflight.ledger.releases
    assert [(r["what"], r["epsilon"], r["delta"]) for r in preprocessing] == [
        (r.what, r.epsilon, r.delta) for r in planned
    ]
    assert ledger["budget"]["delta"] == preflight.ledger.delta
    calibration = preflight.calibration
    assert dpsgd["noise"] == calibration.noise_multiplier
    assert (dpsgd["steps"], dpsgd["sample_rate"]) == (calibration.steps, calibration.sample_rate)
    assert preflight.train_rows == json.loads((run / "train" / "summary.json").read_text())["train_rows"]


@pytest.mark.parametrize("generator", ["gan", "diffusion"])
def test_the_other_generators_are_checked_by_their_own_rules(
    demo_dp: dict[str, Any], write_pipeline, generator: str
) -> None:
    """Each generator says whether DP-SGD trains it and counts its own DP-SGD steps; the GAN,
    whose DP-SGD fits collapse, is refused with the generators that do train."""
    from synthpriv.generators.registry import get_generator

    config = copy.deepcopy(demo_dp)
    # params given explicitly: without them the config keeps the vae's (a config bug, reported).
    config["train"].update({"generator": generator, "epochs": 5, "params": {}})
    path = write_pipeline(config)
    result = _check(path)
    if get_generator(generator).learns_under_dp_sgd:
        assert result.exit_code == 0, result.output
        preflight = Pipeline.from_yaml(path).check_privacy(Pipeline.from_yaml(path).check(privacy=False))
        assert preflight is not None and preflight.calibration.steps >= 5
    else:
        _assert_privacy_error(
            result,
            path,
            "train.generator",
            f"the {generator} generator is not offered with differential privacy",
            "train.generator: autoregressive or vae or diffusion",
            "train.privacy.mechanism: marginals",
        )


def test_check_prints_the_noise_multiplier_train_records(demo_dp: dict[str, Any], tmp_path: Path) -> None:
    """What `synthpriv check` prints for the DP demo (here with 3 epochs and a small VAE) is the
    noise the train stage then trains with and records in its ledger."""
    config = copy.deepcopy(demo_dp)
    config["train"].update({"epochs": 3, "params": {"hidden_dims": [32, 32], "latent_dim": 8}})
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    checked = _check(path)
    assert checked.exit_code == 0, checked.output
    plan_lines = checked.stdout.splitlines()[1:]
    summary, detail = plan_lines[0], next(line for line in plan_lines if line.startswith("  DP-SGD: vae"))
    printed = float(detail.split("noise multiplier ", 1)[1].split(",", 1)[0])
    steps = int(summary.split("DP-SGD ", 1)[1].split(" steps", 1)[0].replace(",", ""))
    assert sum(line.startswith("  release: ") for line in plan_lines) == 13  # 10 numbers, 3 category lists

    run = tmp_path / "run"
    result = runner.invoke(app, ["run", "-q", str(path), "--only", "train", "--output-dir", str(run)])
    assert result.exit_code == 0, result.output
    ledger = json.loads((run / "train" / "privacy.json").read_text())
    recorded = ledger["releases"][-1]
    assert f"{recorded['noise']:.4g}" == f"{printed:.4g}"
    assert recorded["steps"] == steps == 3 * 3  # 3 epochs of 3 Poisson steps (172 rows, batch 64)
    assert len(ledger["releases"]) == 13 + 1


def _forecast_lines(stdout: str) -> tuple[str, list[str]]:
    lines = stdout.splitlines()
    forecast = [line for line in lines if line.startswith("  forecast: ")]
    assert len(forecast) == 1, stdout
    return forecast[0], [line for line in lines if line.startswith("  warning: ")]


def test_check_warns_that_the_dp_demo_plan_is_outside_the_usable_band(
    demo_dp: dict[str, Any], write_pipeline
) -> None:
    """The DP demo's DP-SGD plan (300 epochs of 64 of 172 rows at epsilon 3: noise multiplier
    18.5) is forecast poor, with one warning naming the settings to change."""
    config = copy.deepcopy(demo_dp)
    config["train"].update({"generator": "vae", "epochs": 300, "batch_size": 64, "privacy": {"epsilon": 3.0}})
    result = _check(write_pipeline(config))
    assert result.exit_code == 0, result.output
    assert "noise multiplier 18.5" in result.stdout
    forecast, warnings = _forecast_lines(result.stdout)
    assert forecast.startswith("  forecast: poor (900 steps") and "not a guarantee" in forecast
    assert len(warnings) == 1
    for setting in ("train.epochs", "train.batch_size", "train.privacy.epsilon", "mechanism: marginals"):
        assert setting in warnings[0]


ADULT = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "adult.parquet"


@pytest.mark.skipif(not ADULT.exists(), reason="needs ../shared/datasets/adult.parquet")
def test_a_plan_inside_the_usable_band_prints_no_warning(write_pipeline) -> None:
    """Adult with the vae's DP defaults at epsilon 3 (the plan measured usable) checks without a warning."""
    bounds = {"age": [16, 100], "fnlwgt": [0, 1_500_000], "education_num": [1, 16]}
    bounds |= {"capital_gain": [0, 100_000], "capital_loss": [0, 5_000], "hours_per_week": [1, 99]}
    config = {
        "version": 1,
        "name": "adult-dp",
        "data": {
            "path": str(ADULT),
            "columns": {name: {"kind": "numerical", "bounds": b} for name, b in bounds.items()},
        },
        "train": {"generator": "vae", "privacy": {"epsilon": 3.0}},
    }
    result = _check(write_pipeline(config))
    assert result.exit_code == 0, result.output
    forecast, warnings = _forecast_lines(result.stdout)
    assert forecast.startswith("  forecast: usable") and "not a guarantee" in forecast
    assert warnings == []
