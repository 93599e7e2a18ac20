"""DP-SGD attaches here, and only here: the private versions of a plan's real-row parts.

Like Opacus' ``make_private``, `make_private` turns the modules and optimizer that train on
real rows, and the sampler that draws those rows, into their private versions: Poisson
batches (`poisson_batches`, grouped when a loop step takes several real-row steps),
per-row clipping and calibrated Gaussian noise (`PrivateTraining`), the accountant, the
budget stop and the noise-only step of an empty batch. `PrivateTrainer` is the
`synthpriv.training.seam.Trainer` a caller passes to ``Generator.fit`` for a private fit:
the generator's plan attaches its real-row part through it and the one loop runs it
unchanged. Generators never import this package.

A standalone private fit (the pipeline builds the same through `synthpriv.privacy.plan`)::

    trainer = PrivateTrainer(DPSGDSettings(epsilon=3.0, delta=1e-5))
    generator.fit(table, transformer=private_transformer, trainer=trainer)
    trainer.release  # the accountant's epsilon after the steps taken
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from synthpriv.errors import PrivacyConfigError
from synthpriv.privacy.dpsgd import (
    DPSGDSettings,
    NoiseCalibration,
    PrivateTraining,
    calibrate,
    poisson_batches,
    sample_rate,
    secure_generator,
    steps_per_epoch,
)
from synthpriv.privacy.ledger import Release
from synthpriv.runtime.progress import Progress
from synthpriv.training.loop import BatchSampler, shuffled_batches, train
from synthpriv.training.seam import FitShape, GroupedBatches, RowStep, Trainer, child_seed

if TYPE_CHECKING:
    from synthpriv.training.loop import EncodedRows, TrainingPlan


class PrivateRowStep(RowStep):
    """A plan's real-row part made private: the noisy optimizer, per-row clipped gradients,
    Poisson batches (see `make_private`)."""

    def __init__(self, private: PrivateTraining, modules: Mapping[str, nn.Module], sampler: BatchSampler):
        super().__init__(modules, private.optimizer, sampler)
        self.private = private

    def backward(self, loss: torch.Tensor) -> None:
        self.private.backward(loss)

    def step_without_rows(self) -> None:
        self.private.step_without_rows()

    def exhausted(self) -> bool:
        return self.private.would_exceed_budget()


def make_private(
    modules: Mapping[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    calibration: NoiseCalibration,
    *,
    steps_per_batch: int = 1,
    seed: int,
) -> PrivateRowStep:
    """``modules`` trained by ``optimizer``, made private for ``calibration``'s noise and rate.

    Every parameter ``optimizer`` trains must belong to an ``nn.Linear`` of ``modules``
    (`PrivateTraining` refuses others). Rows are Poisson-sampled at the calibrated rate,
    ``steps_per_batch`` independent batches a loop step; ``seed`` seeds the noise.
    """
    private = PrivateTraining(calibration, modules, optimizer, seed=seed)
    sampler: BatchSampler = poisson_batches
    if steps_per_batch > 1:
        sampler = GroupedBatches(poisson_batches, steps_per_batch)
    return PrivateRowStep(private, modules, sampler)


def planned_steps(fit: FitShape) -> int:
    """The DP-SGD steps ``fit`` takes: one per Poisson batch, ``steps_per_batch`` a loop step."""
    return fit.epochs * steps_per_epoch(fit.rows, fit.batch_size) * fit.steps_per_batch


#: The generators whose DP-SGD fits learn the table (benchmarks/dp_band.py): those with a
#: recipe of per-row losses and `FitShape.learns_under_dp_sgd`, named when another is refused.
DP_SGD_GENERATORS = ("autoregressive", "vae", "diffusion")


def refuse_unprivate(fit: FitShape, *, where: str = "train.privacy") -> None:
    """PrivacyConfigError when ``fit`` cannot be private: a generator whose DP-SGD fits were
    measured not to learn (always ``where`` train.generator, the setting to change), one
    without a recipe of per-row losses, or a transformer that would be fitted from the rows
    without DP."""
    if not fit.learns_under_dp_sgd:
        raise PrivacyConfigError(
            f"the {fit.kind} generator is not offered with differential privacy: its DP-SGD fits were "
            "measured to collapse or lose the columns' relations; use train.generator: "
            f"{' or '.join(DP_SGD_GENERATORS)} (DP-SGD), or train.privacy.mechanism: marginals",
            where="train.generator",
        )
    if not fit.per_row_capable:
        raise PrivacyConfigError(
            f"differential privacy is not available for the {fit.kind} generator yet", where=where
        )
    if not fit.transformer_given:
        raise PrivacyConfigError(
            "a private fit needs a transformer fitted with differential privacy; fitting one here would "
            "read the real table without it",
            where="train.privacy",
        )


class PrivateTrainer(Trainer):
    """DP-SGD for a fit: the calibrated noise, the private real-row part, its release.

    ``calibration``, when given (the pipeline's `synthpriv.privacy.plan.PrivacyPlan`), is
    used as planned: a fit of another shape is refused rather than calibrated afresh, so the
    noise checked is the noise trained. Without it the noise is calibrated in `prepare`.
    """

    per_row_losses: ClassVar[bool] = True
    fixed_budget: ClassVar[bool] = True
    may_hold_out: ClassVar[bool] = False

    def __init__(self, settings: DPSGDSettings, *, calibration: NoiseCalibration | None = None) -> None:
        super().__init__()
        self.settings: DPSGDSettings = settings
        self.release: Release | None = None
        self.calibration = calibration
        self._step: PrivateRowStep | None = None

    def prepare(self, fit: FitShape) -> None:
        refuse_unprivate(fit)
        steps, rate = planned_steps(fit), sample_rate(fit.rows, fit.batch_size)
        if self.calibration is None:
            self.calibration = calibrate(self.settings, rows=fit.rows, batch_size=fit.batch_size, steps=steps)
        elif (self.calibration.steps, self.calibration.sample_rate) != (steps, rate):
            raise PrivacyConfigError(
                f"the fit ({steps:,} steps at rate {rate:.4g}) is not the one the privacy plan calibrated "
                f"({self.calibration.steps:,} at {self.calibration.sample_rate:.4g})",
                where="train.privacy",
            )
        self.release, self._step = None, None

    def training_seed(self, public_seed: int) -> int:
        # Batches and noise must not follow the public seed (see DPSGDSettings.training_seed).
        return self.settings.secret_seed()

    def loop_steps(self, rows: int, batch_size: int, epochs: int) -> int:
        # Poisson sampling: round(1 / q) batches an epoch (the steps calibrated, up to the budget stop).
        return epochs * steps_per_epoch(rows, batch_size)

    def attach(
        self,
        modules: Mapping[str, nn.Module],
        optimizer: torch.optim.Optimizer,
        *,
        sampler: BatchSampler = shuffled_batches,
        steps_per_batch: int = 1,
        seed: int,
    ) -> RowStep:
        """The private version of the plan's real-row part; its own ``sampler`` is replaced by
        Poisson batches (the accountant's assumption)."""
        if self.calibration is None:
            raise RuntimeError("PrivateTrainer.prepare must run before a plan attaches")
        if self._step is not None:
            raise RuntimeError("one private real-row part per fit: the accountant counts its steps alone")
        noise_seed = child_seed(seed, 2)
        self._step = make_private(
            modules, optimizer, self.calibration, steps_per_batch=steps_per_batch, seed=noise_seed
        )
        return self._step

    def run(
        self,
        plan: TrainingPlan,
        data: torch.Tensor | EncodedRows,
        *,
        epochs: int,
        batch_size: int,
        seed: int,
        progress: Progress | None = None,
    ) -> list[dict[str, float]]:
        """The one loop, with every Poisson batch a step and a stop before the budget is passed."""
        step = self._step
        if step is None or plan.real_rows is not step:
            raise RuntimeError("the plan does not train its real rows through this trainer's private part")
        # Secure mode draws the Poisson batches from the cryptographic generator too (as Opacus').
        secure = self.settings.secure_mode
        return train(
            plan,
            data,
            epochs=epochs,
            batch_size=batch_size,
            generator=secure_generator() if secure else torch.Generator().manual_seed(child_seed(seed, 0)),
            progress=progress,
            sampler=step.sampler,
            keep_empty_batches=True,
            should_stop=step.private.would_exceed_budget,
        )

    def finish(self, what: str) -> None:
        if self._step is None:
            raise RuntimeError("no private training ran")
        self.release = self._step.private.finish(f"{what} (DP-SGD)")
