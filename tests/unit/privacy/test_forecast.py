"""The forecast of a DP-SGD plan: its band from the measured tables, and the warning line.

The numbers below are real plans with their measured outcome (synthpriv/privacy/forecast.py's
table): the DP-SGD demo's (`pipelines/demo_dp_sgd.yaml`: 900 steps of 64 expected rows at noise
multiplier 18.5), the 6,000-row Adult subsample's and the full-Adult defaults of issue 17.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import synthpriv.privacy.forecast as forecast_module
from synthpriv.config.model import ColumnDeclaration
from synthpriv.config.privacy import PrivacyConfig
from synthpriv.data.schema import infer_schema
from synthpriv.privacy.forecast import (
    MIN_STEPS,
    USABLE_NOISE_PER_ROW,
    USABLE_STEPS,
    WEAK_NOISE_PER_ROW,
    Band,
    forecast,
)
from synthpriv.privacy.plan import PrivacyPlan
from synthpriv.training.seam import FitShape

ORDER = {Band.POOR: 0, Band.WEAK: 1, Band.USABLE: 2}

#: Measured rows of the module's table: (generator, noise multiplier, steps, expected batch,
#: the band the fit gave). All fits with fewer than 3,000 steps were poor; a few stand for them.
MEASURED_ROWS = [
    ("vae", 18.516, 900, 64, Band.POOR),  # the DP demo: shape error 40 %
    ("diffusion", 1.084, 15, 2000, Band.POOR),  # Adult 6,000, epsilon 10, 5 epochs: shape 36 %
    ("diffusion", 4.863, 1200, 500, Band.POOR),  # the best short fit: shape 22 %, ML AUC 0.765
    ("vae", 9.219, 2400, 250, Band.POOR),  # shape 33 %
    ("vae", 2.764, 3000, 500, Band.WEAK),  # Adult 6,000: shape 8.6 %, trend 26.8 %, ML AUC 0.755
    ("vae", 7.617, 3000, 500, Band.POOR),  # shape 17.5 %, ML AUC 0.536
    ("diffusion", 2.764, 3000, 500, Band.USABLE),  # shape 11.0 %, trend 20.0 %, ML AUC 0.861
    ("diffusion", 7.617, 3000, 500, Band.POOR),  # shape 18.5 %
    ("vae", 2.764, 9880, 500, Band.USABLE),  # full Adult, epsilon 3: trend 19.69 %, ML AUC 0.867
    ("vae", 7.344, 9880, 500, Band.WEAK),  # full Adult, epsilon 1: trend 30.32 %, ML AUC 0.805
    ("diffusion", 3.203, 3200, 1024, Band.USABLE),  # full Adult, epsilon 3: trend 18.19 %, ML AUC 0.869
]


@pytest.mark.parametrize(("kind", "noise", "steps", "batch", "band"), MEASURED_ROWS)
def test_the_rule_agrees_with_the_measured_rows(
    kind: str, noise: float, steps: int, batch: int, band: Band
) -> None:
    assert forecast(kind, noise, steps, batch).band is band


def test_the_dp_demo_plan_is_poor_and_names_the_settings_to_change() -> None:
    result = forecast("vae", 18.516, 900, 64)
    assert result.band is Band.POOR
    assert result.noise_per_row == pytest.approx(18.516 / 64)
    head, warning = result.lines()
    assert head.startswith("  forecast: poor (900 steps, noise per expected row 0.289)")
    assert "not a guarantee" in head and "benchmarks/dp_band.py" in head
    assert warning.startswith("  warning: outside the usable band")
    for setting in (
        "train.epochs",
        "train.batch_size",
        "train.privacy.epsilon",
        "train.privacy.mechanism: marginals",
    ):
        assert setting in warning
    assert "900 steps < 9,000 for the vae" in warning  # both conditions fail, both are named


def test_a_usable_plan_has_one_line_and_no_warning() -> None:
    usable = forecast("vae", 2.764, 9_880, 500)
    assert usable.warning is None
    assert len(usable.lines()) == 1 and "trend error 18-20 %" in usable.lines()[0]


def test_the_warning_names_only_what_is_off() -> None:
    noisy = forecast("vae", 7.344, 9_880, 500)
    assert noisy.warning is not None
    assert "noise per expected row 0.0147 > 0.006" in noisy.warning and "steps <" not in noisy.warning
    short = forecast("diffusion", 1.084, 15, 2000)
    assert short.warning is not None
    assert "15 steps < 3,000 for the diffusion (more train.epochs" in short.warning
    assert "noise per expected row" not in short.warning


def test_the_boundaries_are_inclusive_and_an_unmeasured_generator_needs_the_most_steps() -> None:
    assert forecast("diffusion", USABLE_NOISE_PER_ROW * 1000, MIN_STEPS, 1000).band is Band.USABLE
    assert forecast("vae", USABLE_NOISE_PER_ROW * 1000, MIN_STEPS, 1000).band is Band.WEAK
    assert forecast("vae", 0.1, USABLE_STEPS["vae"], 1000).band is Band.USABLE
    assert forecast("vae", WEAK_NOISE_PER_ROW * 1000, MIN_STEPS, 1000).band is Band.WEAK
    assert forecast("vae", WEAK_NOISE_PER_ROW * 1000 * 1.01, MIN_STEPS, 1000).band is Band.POOR
    assert forecast("diffusion", 0.1, MIN_STEPS - 1, 1000).band is Band.POOR
    assert forecast("marginal", 0.1, USABLE_STEPS["vae"] - 1, 1000).band is Band.WEAK


@given(
    kind=st.sampled_from(["vae", "diffusion", "another"]),
    noise=st.floats(0.1, 50.0),
    more_noise=st.floats(1.0, 10.0),
    steps=st.integers(1, 50_000),
    more_steps=st.integers(0, 50_000),
    batch=st.integers(1, 5_000),
)
def test_less_noise_per_row_and_more_steps_never_forecast_worse(
    kind: str, noise: float, more_noise: float, steps: int, more_steps: int, batch: int
) -> None:
    base = forecast(kind, noise, steps, batch).band
    assert ORDER[forecast(kind, noise * more_noise, steps, batch).band] <= ORDER[base]
    assert ORDER[forecast(kind, noise, steps + more_steps, batch).band] >= ORDER[base]
    assert ORDER[forecast(kind, noise, steps, batch * 2).band] >= ORDER[base]
    assert (base is Band.USABLE) == (forecast(kind, noise, steps, batch).warning is None)


def test_the_module_documents_the_measured_table() -> None:
    doc = forecast_module.__doc__ or ""
    assert "| independent |" in doc and "| real |" in doc
    assert doc.count("| vae |") >= 10 and doc.count("| diffusion |") >= 10


def _plan(rows: int, epochs: int, batch_size: int, epsilon: float) -> PrivacyPlan:
    """A plan for a table of ``rows`` rows (the plan reads no value: one row of schema is enough)."""
    frame = pd.DataFrame({"score": [1.0, 2.0], "group": ["a", "b"]})
    declarations = {
        "score": ColumnDeclaration(kind="numerical", bounds=(0, 10)),
        "group": ColumnDeclaration(kind="categorical", categories=["a", "b"]),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(frame, declarations, public_only=True)
    shape = FitShape(
        kind="vae",
        rows=rows,
        batch_size=batch_size,
        epochs=epochs,
        per_row_capable=True,
        transformer_given=True,
    )
    return PrivacyPlan.build(PrivacyConfig(epsilon=epsilon), schema, declarations, shape)


def test_describe_prints_the_forecast_and_warns_only_outside_the_band() -> None:
    inside = _plan(32_561, 152, 500, 3.0).describe()  # the full-Adult vae default at epsilon 3
    assert any(line.startswith("  forecast: usable") for line in inside)
    assert not any("warning" in line for line in inside)
    outside = _plan(172, 300, 64, 3.0).describe()  # the DP demo's shape
    assert any(line.startswith("  forecast: poor") for line in outside)
    assert outside[-1].startswith("  warning: outside the usable band")
