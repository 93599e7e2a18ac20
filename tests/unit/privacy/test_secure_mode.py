"""`train.privacy.secure_mode`: Opacus' secure mode, or a refusal naming what it lacks.

Secure mode needs ``torchcsprng`` (a cryptographic generator for torch). It is not on PyPI for
every Python and torch version; where it is missing, asking for secure mode must fail before
training, as a privacy setting that cannot be honoured (exit code 4), never fall back quietly.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.config.privacy import PrivacyConfig
from synthpriv.errors import PrivacyConfigError
from synthpriv.privacy.dpsgd import DPSGDSettings, secure_generator

HAS_CSPRNG = importlib.util.find_spec("torchcsprng") is not None
DEMO_DP = Path(__file__).resolve().parents[3] / "pipelines" / "demo_dp_sgd.yaml"
needs_no_csprng = pytest.mark.skipif(HAS_CSPRNG, reason="torchcsprng is installed: secure mode runs")


def test_secure_mode_is_off_by_default() -> None:
    assert PrivacyConfig(epsilon=3.0).secure_mode is False
    assert PrivacyConfig.model_validate({"epsilon": 3.0, "secure_mode": True}).secure_mode is True
    assert DPSGDSettings(epsilon=1.0, delta=1e-5).secure_mode is False


@needs_no_csprng
def test_secure_mode_without_torchcsprng_is_refused_naming_the_package() -> None:
    with pytest.raises(PrivacyConfigError, match="torchcsprng") as caught:
        DPSGDSettings(epsilon=1.0, delta=1e-5, secure_mode=True)
    assert caught.value.where == "train.privacy.secure_mode"
    assert caught.value.exit_code == 4
    with pytest.raises(PrivacyConfigError, match="torchcsprng"):
        secure_generator()


def test_secure_mode_refuses_a_seed() -> None:
    # A cryptographic generator cannot be seeded: a seeded secure fit would be a false promise.
    with pytest.raises(PrivacyConfigError, match="cannot be seeded") as caught:
        DPSGDSettings(epsilon=1.0, delta=1e-5, training_seed=7, secure_mode=True)
    assert caught.value.where == "train.privacy.secure_mode"


@needs_no_csprng
def test_check_refuses_secure_mode_before_training(write_pipeline) -> None:
    config = yaml.safe_load(DEMO_DP.read_text())
    config["train"]["privacy"]["secure_mode"] = True
    path = write_pipeline(config)
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 4, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "train.privacy.secure_mode" in lines[0] and "torchcsprng" in lines[0], lines[0]
