"""The seam between a generator's training plan and how its real rows are trained on.

A generator describes its networks, its losses and which modules and optimizer train on real
rows; a `Trainer`, which the caller of `Generator.fit` passes, decides how those rows are
drawn and how a loss on them becomes an optimizer step. A plan asks the trainer to `attach`
its real-row part and gets a `RowStep` back, whose ``backward``, ``optimizer`` and
``sampler`` it uses without knowing what they are. The `Trainer` here is plain (shuffled
batches, ``loss.backward()``); `synthpriv.privacy.attach.PrivateTrainer` returns private
versions of the same parts (Poisson batches, per-row clipping, calibrated noise, the
accountant, the budget stop), and the one loop (`synthpriv.training.loop.train`) runs
either unchanged.

A trainer states what it requires of a plan (`Trainer.per_row_losses`) and how a fit
should be sized (`Trainer.fixed_budget`); a generator whose algorithm differs under a
requirement (the GAN's recipe for per-row losses) reads the requirement, never whether the
fit is private.

A marginal-trained generator asks the trainer to `fit_marginals` instead: the plain trainer
measures exact marginals (`synthpriv.training.marginals`), the private one of
``mechanism: marginals`` noisy ones it selects (`synthpriv.privacy.marginals`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from synthpriv.runtime.progress import Progress
from synthpriv.training.loop import BatchSampler, GroupedBatches, RowStep, shuffled_batches, train
from synthpriv.training.marginals import MarginalModel, fit_exact

__all__ = ["FitShape", "GroupedBatches", "RowStep", "Trainer", "child_seed"]

if TYPE_CHECKING:
    from synthpriv.training.loop import EncodedRows, TrainingPlan


def child_seed(seed: int, stream: int) -> int:
    """An independent seed per random stream of one fit (0 batch order, 1 training noise,
    2 the private optimizer's noise, 3 the GAN's own-condition draws)."""
    return int(np.random.SeedSequence([seed % 2**63, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass(frozen=True)
class FitShape:
    """What a fit will do, known before it reads a row: enough to plan it or refuse it."""

    kind: str
    """The generator (``vae``, ``gan``, ``diffusion``), for messages."""
    rows: int
    batch_size: int
    """The batch size the real-row sampler is given (expected rows per real-row step)."""
    epochs: int
    steps_per_batch: int = 1
    """Real-row optimizer steps per loop step, each on a batch of its own (a GAN's critic steps)."""
    learns_under_dp_sgd: bool = True
    """Whether the generator's DP-SGD fits were measured to learn (`Generator.learns_under_dp_sgd`)."""
    per_row_capable: bool = False
    """Whether the generator has a recipe whose real-row losses are per-row separable."""
    transformer_given: bool = False
    """Whether the transformer was fitted before the fit (not from the rows the fit reads)."""
    marginal_capable: bool = False
    """Whether the generator trains on measured marginals (`Trainer.fit_marginals`)."""


class Trainer:
    """Plain training: what `Generator.fit` uses unless its caller passes another trainer."""

    per_row_losses: ClassVar[bool] = False
    """Requirement on plans: every real-row loss is the mean over the batch's rows of per-row
    terms, each depending on its own row only, computed in one pass through ``nn.Linear``
    layers that see the batch's rows as their rows (no packing of rows, no penalty on input
    gradients). A generator whose usual algorithm breaks this switches to a recipe that keeps it."""
    may_hold_out: ClassVar[bool] = True
    """Whether a plan may keep some of its rows out of training to decide when to stop (early
    stopping). A private trainer says no: its guarantee covers the steps it accounts for, and
    a stop decided on other real rows would be a release it does not account for."""
    fixed_budget: ClassVar[bool] = False
    """Whether training spends a fixed budget, so that more steps mean more noise per step:
    generators then default to fewer epochs."""

    def __init__(self) -> None:
        #: What the fit records of how it trained (generator.json), None for plain training.
        self.settings: object | None = None
        self.release: object | None = None

    def prepare(self, fit: FitShape) -> None:
        """Check ``fit`` before anything is fitted; a private trainer calibrates here."""

    def training_seed(self, public_seed: int) -> int:
        """The seed of the batch order and training noise: the public one for plain training."""
        return public_seed

    def loop_steps(self, rows: int, batch_size: int, epochs: int) -> int:
        """The loop steps ``epochs`` epochs take (for a schedule over training): plain
        shuffling has ``ceil(rows / batch_size)`` batches an epoch."""
        return epochs * -(-rows // batch_size)

    def attach(
        self,
        modules: Mapping[str, nn.Module],
        optimizer: torch.optim.Optimizer,
        *,
        sampler: BatchSampler = shuffled_batches,
        steps_per_batch: int = 1,
        seed: int,
    ) -> RowStep:
        """The real-row part of a plan: ``modules`` trained by ``optimizer`` on rows drawn by
        ``sampler`` (the plan's own, for plain training), ``steps_per_batch`` steps a loop
        step. ``seed`` seeds what the trainer adds (a private trainer's noise)."""
        drawn = sampler if steps_per_batch == 1 else GroupedBatches(sampler, steps_per_batch)
        return RowStep(modules, optimizer, drawn)

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
        """Train ``plan`` with the one loop, drawing its real rows with its `RowStep`'s sampler."""
        order = torch.Generator().manual_seed(child_seed(seed, 0))
        return train(
            plan,
            data,
            epochs=epochs,
            batch_size=batch_size,
            generator=order,
            progress=progress,
            sampler=plan.real_rows.sampler,
        )

    def fit_marginals(
        self,
        tokens: np.ndarray,
        sizes: Sequence[int],
        model: MarginalModel,
        *,
        progress: Progress | None = None,
        columns: Sequence[str] = (),
    ) -> list[dict[str, float]]:
        """Fit a marginal-trained ``model`` to the marginals of ``tokens`` (rows x attributes,
        ``sizes[a]`` tokens in attribute ``a``, of the columns named in ``columns``): exactly,
        for plain training."""
        return fit_exact(tokens, sizes, model, progress)

    def finish(self, what: str) -> None:
        """After training: a private trainer records its release, named ``what``."""
