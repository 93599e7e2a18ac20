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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch
from torch import nn

from synthpriv.runtime.progress import Progress
from synthpriv.training.loop import BatchSampler, shuffled_batches, train

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
    per_row_capable: bool = False
    """Whether the generator has a recipe whose real-row losses are per-row separable."""
    transformer_given: bool = False
    """Whether the transformer was fitted before the fit (not from the rows the fit reads)."""


class GroupedBatches:
    """``groups`` consecutive batches of ``inner`` per loop step, concatenated.

    For a plan that takes several real-row steps per loop step, each on a batch of its own
    (a GAN's critic steps): the sizes of the batches of the step being run are in `sizes`
    while it runs (the loop yields row indices only). An epoch has as many loop steps as
    ``inner`` has batches in an epoch.
    """

    def __init__(self, inner: BatchSampler, groups: int) -> None:
        if groups < 1:
            raise ValueError("groups must be >= 1")
        self.inner, self.groups = inner, groups
        self.sizes: list[int] = []

    def __call__(self, rows: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        # Lazily, epoch after epoch of the inner sampler: its draws stay in the order it makes them.
        epochs = (self.inner(rows, batch_size, generator) for _ in range(self.groups))
        group: list[torch.Tensor] = []
        for epoch in epochs:
            for batch in epoch:
                group.append(batch)
                if len(group) == self.groups:
                    self.sizes = [len(b) for b in group]
                    yield torch.cat(group)
                    group = []


class RowStep:
    """The part of a plan that trains on real rows: its modules, their optimizer, the sampler
    that draws its rows, and how a loss on them becomes gradients (plain: ``loss.backward()``).

    A plan's step is ``optimizer.zero_grad()``, the forward pass, `backward`, then
    ``optimizer.step()``; a batch without rows (only a private sampler draws one) is
    `step_without_rows` instead.
    """

    def __init__(
        self,
        modules: Mapping[str, nn.Module],
        optimizer: torch.optim.Optimizer,
        sampler: BatchSampler,
    ) -> None:
        self.modules = dict(modules)
        self.optimizer = optimizer
        self.sampler = sampler

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def step_without_rows(self) -> None:
        """Plain training learns nothing from no rows: no step."""
        self.optimizer.zero_grad(set_to_none=True)

    def exhausted(self) -> bool:
        """Whether another real-row step is not allowed (a private trainer's budget); a plan
        taking several real-row steps a loop step asks before each but the first."""
        return False

    def group_sizes(self, rows: int) -> list[int]:
        """The sizes of the real-row batches concatenated in a loop step's ``rows`` rows."""
        return list(self.sampler.sizes) if isinstance(self.sampler, GroupedBatches) else [rows]


class Trainer:
    """Plain training: what `Generator.fit` uses unless its caller passes another trainer."""

    per_row_losses: ClassVar[bool] = False
    """Requirement on plans: every real-row loss is the mean over the batch's rows of per-row
    terms, each depending on its own row only, computed in one pass through ``nn.Linear``
    layers that see the batch's rows as their rows (no packing of rows, no penalty on input
    gradients). A generator whose usual algorithm breaks this switches to a recipe that keeps it."""
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
        seed: int = 0,
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

    def finish(self, what: str) -> None:
        """After training: a private trainer records its release, named ``what``."""
