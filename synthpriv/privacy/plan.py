"""The privacy plan of a DP run: decided once, printed by ``synthpriv check``, executed by train.

`PrivacyPlan.build` takes the ``train.privacy`` settings, the schema, the column
declarations, the number of training rows and the shape of the fit (`FitShape`: epochs,
batch size, real-row steps a batch) and decides, without reading a value: the delta (below
1 / n), the preprocessing releases (charged to a `PrivacyLedger`), what DP-SGD may spend
after them, and the noise that makes the fit's steps spend it (`NoiseCalibration`). Any of
these failing is one PrivacyConfigError before training. ``synthpriv check`` prints the
plan (`describe`); the train stage builds it with the same function from the same inputs
and executes it: `fit_preprocessing` runs the planned releases, `trainer` trains with the
planned noise (a fit of another shape is refused).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from synthpriv.config.privacy import PrivacyConfig
from synthpriv.data.schema import TableSchema
from synthpriv.errors import PrivacyConfigError
from synthpriv.privacy.dpsgd import DPSGDSettings, NoiseCalibration, calibrate
from synthpriv.privacy.forecast import forecast
from synthpriv.privacy.ledger import PrivacyLedger
from synthpriv.privacy.preprocessing import (
    PlannedRelease,
    fit_private_transformer,
    plan_private_preprocessing,
)
from synthpriv.training.seam import FitShape

if TYPE_CHECKING:
    import pandas as pd

    from synthpriv.config.model import ColumnDeclaration
    from synthpriv.data.transform import TabularTransformer
    from synthpriv.privacy.attach import PrivateTrainer


def checked_delta(privacy: PrivacyConfig, rows: int) -> float:
    """The delta a DP fit of ``rows`` rows uses; PrivacyConfigError when it is not below 1 / n."""
    delta = privacy.resolved_delta(rows)
    if delta >= 1.0 / rows:
        raise PrivacyConfigError(
            f"delta {delta:.3g} must be below 1/n = {1.0 / rows:.3g} for {rows:,} training rows "
            "(a larger delta allows releasing a whole row)",
            where="train.privacy.delta",
        )
    return delta


def plan_preprocessing(
    privacy: PrivacyConfig, schema: TableSchema, declarations: Mapping[str, ColumnDeclaration], rows: int
) -> tuple[PrivacyLedger, list[PlannedRelease]]:
    """The ledger of a DP fit of ``rows`` rows with its preprocessing releases charged, and
    those releases (planned, not run)."""
    ledger = PrivacyLedger(epsilon=privacy.epsilon, delta=checked_delta(privacy, rows))
    planned = plan_private_preprocessing(
        schema,
        declarations,
        epsilon=privacy.preprocessing_epsilon(),
        delta=ledger.remaining_delta,
    )
    for release in planned:
        ledger.charge(release.release())
    return ledger, planned


def run_preprocessing(
    privacy: PrivacyConfig,
    planned: PrivacyLedger,
    table: pd.DataFrame,
    schema: TableSchema,
    declarations: Mapping[str, ColumnDeclaration],
) -> tuple[PrivacyLedger, TabularTransformer]:
    """Run the preprocessing releases ``planned`` holds on the training rows: a fresh ledger
    with them charged, and the transformer fitted from them. The noise draws on fresh OS
    entropy: the pipeline's seed is public, and noise an adversary can regenerate protects
    nothing (so DP runs are not bit-reproducible)."""
    ledger = PrivacyLedger(epsilon=planned.epsilon, delta=planned.delta)
    transformer, _ = fit_private_transformer(
        table,
        schema,
        declarations,
        ledger,
        privacy.preprocessing_epsilon(),
        rng_seed=None,
    )
    if ledger.releases != planned.releases:
        raise RuntimeError("DP preprocessing released something other than its plan")
    return ledger, transformer


def release_lines(ledger: PrivacyLedger) -> list[str]:
    """One terminal line per release charged to ``ledger``: what, how, its cost and noise."""
    lines = []
    for release in ledger.releases:
        scale = "" if release.noise is None else f", noise scale {release.noise:.3g}"
        lines.append(
            f"  release: {release.what}: {release.mechanism}, epsilon {release.epsilon:.3g}, "
            f"delta {release.delta:.3g}{scale}"
        )
    return lines


@dataclass(frozen=True)
class PreprocessingPlan:
    """What every DP plan starts with: the settings, the fit's shape, the preprocessing releases
    and the ledger with them charged (the training mechanism not yet)."""

    privacy: PrivacyConfig
    fit: FitShape
    preprocessing: tuple[PlannedRelease, ...]
    ledger: PrivacyLedger

    @property
    def train_rows(self) -> int:
        return self.fit.rows

    def fit_preprocessing(
        self, table: pd.DataFrame, schema: TableSchema, declarations: Mapping[str, ColumnDeclaration]
    ) -> tuple[PrivacyLedger, TabularTransformer]:
        """Run the planned preprocessing releases on the training rows (`run_preprocessing`)."""
        return run_preprocessing(self.privacy, self.ledger, table, schema, declarations)


@dataclass(frozen=True)
class PrivacyPlan(PreprocessingPlan):
    """Everything a DP-SGD run will release, and what each release costs, known before training."""

    settings: DPSGDSettings
    """What DP-SGD may spend: what preprocessing leaves."""
    calibration: NoiseCalibration
    """The noise that makes the fit's DP-SGD steps spend `settings`."""

    @classmethod
    def build(
        cls,
        privacy: PrivacyConfig,
        schema: TableSchema,
        declarations: Mapping[str, ColumnDeclaration],
        fit: FitShape,
    ) -> PrivacyPlan:
        """Decide the plan; PrivacyConfigError (``where`` a pipeline-file key) when the run
        cannot keep its promise. Reads no value of the table."""
        from synthpriv.privacy.attach import planned_steps, refuse_unprivate

        refuse_unprivate(fit, where="train.generator")
        ledger, planned = plan_preprocessing(privacy, schema, declarations, fit.rows)
        settings = DPSGDSettings(
            epsilon=ledger.remaining_epsilon,
            delta=ledger.remaining_delta,
            max_grad_norm=privacy.max_grad_norm,
            accountant=privacy.accountant,
            total_epsilon=privacy.epsilon,
            secure_mode=privacy.secure_mode,
        )
        calibration = calibrate(settings, rows=fit.rows, batch_size=fit.batch_size, steps=planned_steps(fit))
        return cls(privacy, fit, tuple(planned), ledger, settings, calibration)

    def trainer(self) -> PrivateTrainer:
        """The trainer that trains with this plan's noise (and refuses any other fit)."""
        from synthpriv.privacy.attach import PrivateTrainer

        return PrivateTrainer(self.settings, calibration=self.calibration)

    def describe(self) -> list[str]:
        """The plan in lines for a terminal: the totals, each release, DP-SGD, any warning."""
        ledger, noise, fit = self.ledger, self.calibration, self.fit
        preprocessing = math.fsum(r.epsilon for r in ledger.releases)
        headline = (
            f"differential privacy: epsilon {ledger.epsilon:g}, delta {ledger.delta:.3g} on "
            f"{fit.rows:,} training rows; preprocessing {len(ledger.releases)} release(s), "
            f"epsilon {preprocessing:.3g}; DP-SGD {noise.steps:,} steps at sample rate "
            f"{noise.sample_rate:.3g}, noise multiplier {noise.noise_multiplier:.3g}, "
            f"epsilon {noise.epsilon:.3g}"
        )
        lines = [headline]
        lines += release_lines(ledger)
        per_batch = f" ({fit.steps_per_batch} a batch)" if fit.steps_per_batch > 1 else ""
        lines.append(
            f"  DP-SGD: {fit.kind}, {fit.epochs:,} epochs of batch {fit.batch_size:,}: {noise.steps:,} steps"
            f"{per_batch} at sample rate {noise.sample_rate:.4g} (~{noise.expected_batch_size:,} rows), "
            f"noise multiplier {noise.noise_multiplier:.4g}, max_grad_norm {self.settings.max_grad_norm:g}, "
            f"{self.settings.accountant} accountant: epsilon {noise.epsilon:.4g} of "
            f"{self.settings.epsilon:.4g}, delta {self.settings.delta:.3g}"
        )
        expected = forecast(fit.kind, noise.noise_multiplier, noise.steps, noise.expected_batch_size)
        lines.extend(expected.lines())
        return lines
