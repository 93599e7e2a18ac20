"""The one training loop every generator shares.

A generator describes *what* one optimisation step is (a `TrainingPlan`); this module
owns *how* the data is walked: seeded shuffling of the rows in memory (compact
`EncodedRows`: each batch is expanded to the dense layout as it is drawn), mini-batches,
per-epoch loss averages and progress reporting. Differential privacy plugs in without a
second loop: a trainer (`synthpriv.training.seam.Trainer`, or its private version in
`synthpriv.privacy.attach`) runs this loop with the sampler of the plan's real-row part
(`TrainingPlan.real_rows`), and a private one adds ``keep_empty_batches`` (each batch
drawn is a step its accountant counts) and ``should_stop`` (the budget).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from synthpriv.data.spans import EncodedTable, softmax_spans, value_spans
from synthpriv.runtime.progress import NullProgress, Progress

#: ``(rows, batch_size, generator) -> index tensors``, one per optimisation step of an epoch.
BatchSampler = Callable[[int, int, torch.Generator], Iterator[torch.Tensor]]

LossValue = torch.Tensor | float

#: Magnitude below which `TrainingPlan.housekeeping` zeroes weights and optimizer state:
#: far below float32 resolution next to any live value, far above the subnormal range
#: (1e-38) that its products would otherwise reach.
TINY = 1e-20


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


class TrainingPlan(ABC):
    """One model's optimisation step, independent of how batches are drawn."""

    #: Short name shown in the progress description, e.g. ``"vae"``.
    kind: str = "model"
    #: Trailing batches smaller than this are skipped (1 keeps every row).
    min_batch_size: int = 1
    #: Optimisation steps between two `housekeeping` calls (0 turns it off).
    housekeeping_every: int = 50
    #: The part that trains on real rows, as the trainer attached it (`Trainer.attach`).
    real_rows: RowStep

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

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        """The optimizers whose parameters and state `housekeeping` tidies."""
        return ()

    def end_epoch(self) -> bool:
        """Called after each epoch; True stops training there (early stopping)."""
        return False

    def housekeeping(self) -> None:
        """Called every `housekeeping_every` steps; sets near-zero weights and optimizer state to 0.

        Weights that stop getting gradient (dead ReLU units) decay geometrically under
        weight decay, and so do their Adam moments. Once they are tiny, the products they
        take part in fall into the subnormal range, which x86 CPUs compute with a slow
        microcode assist: on Adult this made late epochs 2-10x slower. A value below
        `TINY` is lost to float32 rounding next to any live value, so zeroing it changes
        nothing measurable.
        """
        flush_tiny(_trained_tensors(self))


@torch.no_grad()
def flush_tiny(tensors: Iterable[torch.Tensor], below: float = TINY) -> None:
    """Set every entry of the floating-point ``tensors`` smaller than ``below`` in magnitude to 0."""
    for tensor in tensors:
        if tensor.is_floating_point() and tensor.numel():
            tensor.masked_fill_(tensor.abs() < below, 0.0)


def _trained_tensors(plan: TrainingPlan) -> Iterator[torch.Tensor]:
    """Each parameter of the plan's modules and optimizers, and each optimizer state tensor, once."""
    seen: set[int] = set()
    params = [p for m in plan.modules.values() for p in m.parameters()]
    params += [p for opt in plan.optimizers for group in opt.param_groups for p in group["params"]]
    states = [t for opt in plan.optimizers for state in opt.state.values() for t in state.values()]
    for tensor in (*params, *states):
        if isinstance(tensor, torch.Tensor) and id(tensor) not in seen:
            seen.add(id(tensor))
            yield tensor


class EncodedRows:
    """Training rows on the device, compact (`EncodedTable`); indexing builds a dense batch.

    ``rows[index]`` is the float32 ``[len(index), width]`` batch of the dense layout (values
    in place, each block one-hot), the same numbers the whole dense matrix would hold for
    those rows; only the batch is ever that wide. What `train` walks.
    """

    def __init__(self, table: EncodedTable, device: torch.device | str) -> None:
        self.width = table.width
        self.device = torch.device(device)
        self.values = torch.from_numpy(np.ascontiguousarray(table.values, dtype=np.float32)).to(self.device)
        self.codes = torch.from_numpy(np.ascontiguousarray(table.codes)).to(self.device)
        value_starts = [s.start for s in value_spans(table.spans)]
        block_starts = [s.start for s in softmax_spans(table.spans)]
        self.value_index = torch.tensor(value_starts, dtype=torch.long, device=self.device)
        self.block_start = torch.tensor(block_starts, dtype=torch.long, device=self.device)

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        return self.expand(self.values[index], self.codes[index])

    def expand(self, values: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """The dense ``[rows, width]`` batch of ``values`` ``[rows, V]`` and ``codes`` ``[rows, B]``."""
        out = torch.zeros(len(values), self.width, dtype=torch.float32, device=self.device)
        out.index_copy_(1, self.value_index, values)
        return out.scatter_(1, codes.long() + self.block_start, 1.0)


def shuffled_batches(rows: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """A fresh permutation of ``range(rows)`` cut into consecutive batches."""
    order = torch.randperm(rows, generator=generator)
    return iter(order.split(batch_size))


def train(
    plan: TrainingPlan,
    data: torch.Tensor | EncodedRows,
    *,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    progress: Progress | None = None,
    sampler: BatchSampler = shuffled_batches,
    keep_empty_batches: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> list[dict[str, float]]:
    """Run ``epochs`` passes of ``plan.step`` over the rows of ``data`` (a dense tensor, or
    `EncodedRows`, which builds each batch when it is drawn).

    Batches smaller than ``plan.min_batch_size`` (empty ones included) are skipped, unless
    ``keep_empty_batches``: then every batch ``sampler`` draws reaches ``plan.step`` (DP-SGD:
    each is a step the accountant counts). ``should_stop``, asked before each step, ends
    training when it returns True (DP-SGD: the next step would exceed the budget).

    ``generator`` (a CPU generator) drives the batch order, so a seeded generator gives
    the same batches on every run. Returns one dict per epoch: ``{"epoch": i, <loss
    component>: mean over the epoch's rows, ...}``, each batch weighted by its size (an
    empty batch adds nothing). When the plan stops early, the last record covers the steps
    its epoch took, and an epoch that took none has no record.
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
    steps = 0
    try:
        for epoch in range(epochs):
            before = steps
            walk = _Walk(sampler, keep_empty_batches, should_stop)
            losses, steps, stopped = _run_epoch(plan, data, batch_size, generator, walk, steps)
            if stopped and steps == before:
                break
            record = {"epoch": float(epoch), **losses}
            history.append(record)
            progress.advance(1, **{k: v for k, v in record.items() if k != "epoch"})
            if stopped or plan.end_epoch():
                break
    finally:
        progress.finish()
    return history


@dataclass(frozen=True)
class _Walk:
    """How `train` walks the rows: the sampler, whether empty batches are steps, when to stop."""

    sampler: BatchSampler
    keep_empty_batches: bool
    should_stop: Callable[[], bool] | None


def _run_epoch(
    plan: TrainingPlan,
    data: torch.Tensor | EncodedRows,
    batch_size: int,
    generator: torch.Generator,
    walk: _Walk,
    steps: int,
) -> tuple[dict[str, float], int, bool]:
    """One pass over ``data``: the size-weighted mean of each loss component, the number
    of optimisation steps taken so far (``steps`` before this epoch), and whether
    ``walk.should_stop`` asked to stop."""
    totals = _LossTotals()
    # DP plans take every batch; others skip empty ones and those below min_batch_size.
    smallest = 0 if walk.keep_empty_batches else max(1, min(plan.min_batch_size, len(data)))
    for index in walk.sampler(len(data), batch_size, generator):
        size = len(index)
        if size < smallest:
            continue
        if walk.should_stop is not None and walk.should_stop():
            return totals.means(), steps, True
        losses = plan.step(data[index.to(data.device)])
        if size:
            totals.add(losses, size)
        steps += 1
        if plan.housekeeping_every and steps % plan.housekeeping_every == 0:
            plan.housekeeping()
    return totals.means(), steps, False


class _LossTotals:
    """Size-weighted sums of loss components, kept on the device until `means`."""

    def __init__(self) -> None:
        self.on_device: dict[str, torch.Tensor] = {}
        self.on_host: dict[str, float] = {}
        self.names: dict[str, None] = {}  # first-seen order of the components
        self.rows = 0

    def add(self, losses: Mapping[str, LossValue], size: int) -> None:
        for name, value in losses.items():
            self.names.setdefault(name)
            if isinstance(value, torch.Tensor):
                weighted = value.detach().double() * size
                self.on_device[name] = self.on_device[name] + weighted if name in self.on_device else weighted
            else:
                self.on_host[name] = self.on_host.get(name, 0.0) + float(value) * size
        self.rows += size

    def means(self) -> dict[str, float]:
        if self.rows == 0:
            return {}
        sums = dict(self.on_host)
        if self.on_device:
            # One device sync per epoch instead of one per step and component.
            values = torch.stack(list(self.on_device.values())).tolist()
            for name, value in zip(self.on_device, values, strict=True):
                sums[name] = sums.get(name, 0.0) + value
        return {name: sums[name] / self.rows for name in self.names}
