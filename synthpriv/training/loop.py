"""The one training loop every generator shares.

A generator describes *what* one optimisation step is (a `TrainingPlan`); this module
owns *how* the data is walked: seeded shuffling of an in-memory tensor, mini-batches,
per-epoch loss averages and progress reporting. Differential privacy (Poisson sampling)
plugs in through the ``sampler`` argument rather than a second loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping

import torch
from torch import nn

from synthpriv.runtime.progress import NullProgress, Progress

#: ``(rows, batch_size, generator) -> index tensors``, one per optimisation step of an epoch.
BatchSampler = Callable[[int, int, torch.Generator], Iterator[torch.Tensor]]

LossValue = torch.Tensor | float


class TrainingPlan(ABC):
    """One model's optimisation step, independent of how batches are drawn."""

    #: Short name shown in the progress description, e.g. ``"vae"``.
    kind: str = "model"
    #: Trailing batches smaller than this are skipped (1 keeps every row).
    min_batch_size: int = 1

    @property
    @abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """The networks being trained, by name (switched to train mode by the loop)."""

    @abstractmethod
    def step(self, batch: torch.Tensor) -> Mapping[str, LossValue]:
        """Forward, backward and optimizer step on ``batch``; return the loss components.

        Values may be detached 0-d tensors: the loop turns them into floats once per
        epoch, so a step need not synchronise with the device.
        """


def shuffled_batches(rows: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """A fresh permutation of ``range(rows)`` cut into consecutive batches."""
    order = torch.randperm(rows, generator=generator)
    return iter(order.split(batch_size))


def train(
    plan: TrainingPlan,
    data: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    progress: Progress | None = None,
    sampler: BatchSampler = shuffled_batches,
) -> list[dict[str, float]]:
    """Run ``epochs`` passes of ``plan.step`` over the rows of ``data``.

    ``generator`` (a CPU generator) drives the batch order, so a seeded generator gives
    the same batches on every run. Returns one dict per epoch: ``{"epoch": i, <loss
    component>: mean over the epoch's rows, ...}``, each batch weighted by its size.
    """
    if epochs < 0:
        raise ValueError("epochs must be >= 0")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    progress = progress or NullProgress()
    for module in plan.modules.values():
        module.train()
    history: list[dict[str, float]] = []
    progress.start(f"train {plan.kind}", epochs)
    try:
        for epoch in range(epochs):
            record = {"epoch": float(epoch), **_run_epoch(plan, data, batch_size, generator, sampler)}
            history.append(record)
            progress.advance(1, **{k: v for k, v in record.items() if k != "epoch"})
    finally:
        progress.finish()
    return history


def _run_epoch(
    plan: TrainingPlan,
    data: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    sampler: BatchSampler,
) -> dict[str, float]:
    """One pass over ``data``; the size-weighted mean of each loss component."""
    tensor_totals: dict[str, torch.Tensor] = {}
    float_totals: dict[str, float] = {}
    order: dict[str, None] = {}
    seen = 0
    smallest = min(plan.min_batch_size, len(data))
    for index in sampler(len(data), batch_size, generator):
        size = len(index)
        if size == 0 or size < smallest:
            continue
        for name, value in plan.step(data[index.to(data.device)]).items():
            order.setdefault(name)
            if isinstance(value, torch.Tensor):
                weighted = value.detach().double() * size
                tensor_totals[name] = tensor_totals[name] + weighted if name in tensor_totals else weighted
            else:
                float_totals[name] = float_totals.get(name, 0.0) + float(value) * size
        seen += size
    if seen == 0:
        return {}
    if tensor_totals:
        # One device sync per epoch instead of one per step and component.
        values = torch.stack(list(tensor_totals.values())).tolist()
        float_totals.update((n, float_totals.get(n, 0.0) + v) for n, v in zip(tensor_totals, values, strict=True))
    return {name: float_totals[name] / seen for name in order}
