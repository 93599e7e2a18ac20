"""The shared training loop: epochs, batching, weighted loss averages, seeding, progress."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch
from torch import nn

from synthpriv.training.loop import TrainingPlan, flush_tiny, train


class RecordingPlan(TrainingPlan):
    """Records the rows of every batch; reports the batch mean as a tensor and its size as a float."""

    kind = "probe"

    def __init__(self, min_batch_size: int = 1) -> None:
        self.net = nn.Linear(1, 1)
        self.net.eval()
        self.batches: list[list[int]] = []
        self.min_batch_size = min_batch_size

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def step(self, batch: torch.Tensor) -> Mapping[str, torch.Tensor | float]:
        assert self.net.training
        self.batches.append(batch[:, 0].long().tolist())
        return {"mean": batch.mean(), "size": float(len(batch))}


class RecordingProgress:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def start(self, description: str, total: int) -> None:
        self.calls.append(("start", (description, total)))

    def advance(self, steps: int = 1, **info: float) -> None:
        self.calls.append(("advance", dict(info)))

    def finish(self) -> None:
        self.calls.append(("finish", None))


def _rows(n: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.float32)[:, None]


def _run(
    plan: TrainingPlan, n: int = 10, *, epochs: int = 3, batch_size: int = 4, seed: int = 0
) -> list[dict[str, float]]:
    return train(
        plan, _rows(n), epochs=epochs, batch_size=batch_size, generator=torch.Generator().manual_seed(seed)
    )


def test_one_record_per_epoch_with_its_index() -> None:
    history = _run(RecordingPlan(), epochs=3)
    assert [h["epoch"] for h in history] == [0.0, 1.0, 2.0]


def test_each_epoch_visits_every_row_once_in_batches_of_the_given_size() -> None:
    plan = RecordingPlan()
    _run(plan, n=10, epochs=2, batch_size=4)
    assert [len(b) for b in plan.batches] == [4, 4, 2, 4, 4, 2]
    for epoch in (plan.batches[:3], plan.batches[3:]):
        assert sorted(row for batch in epoch for row in batch) == list(range(10))


def test_losses_are_averaged_weighted_by_batch_size() -> None:
    history = _run(RecordingPlan(), n=10, batch_size=4)
    # Batches of 4, 4 and 2: the size-weighted mean of batch means is the mean of all rows.
    assert all(h["mean"] == pytest.approx(4.5) for h in history)
    assert all(h["size"] == pytest.approx((4 * 4 + 4 * 4 + 2 * 2) / 10) for h in history)


def test_same_seed_same_batches_and_other_seed_other_batches() -> None:
    first, again, other = RecordingPlan(), RecordingPlan(), RecordingPlan()
    _run(first, seed=7)
    _run(again, seed=7)
    _run(other, seed=8)
    assert first.batches == again.batches
    assert first.batches != other.batches
    assert first.batches[:3] != first.batches[3:6]  # a fresh order every epoch


def test_small_trailing_batch_is_skipped_only_below_the_plans_minimum() -> None:
    plan = RecordingPlan(min_batch_size=2)
    _run(plan, n=9, epochs=1, batch_size=4)
    assert [len(b) for b in plan.batches] == [4, 4]
    tiny = RecordingPlan(min_batch_size=2)
    history = _run(tiny, n=1, epochs=1, batch_size=4)
    assert tiny.batches == [[0]] and history[0]["mean"] == 0.0  # a one-row table still trains


def test_progress_is_started_advanced_per_epoch_and_finished() -> None:
    progress = RecordingProgress()
    train(
        RecordingPlan(),
        _rows(6),
        epochs=2,
        batch_size=4,
        generator=torch.Generator().manual_seed(0),
        progress=progress,
    )
    kinds = [kind for kind, _ in progress.calls]
    assert kinds == ["start", "advance", "advance", "finish"]
    assert progress.calls[0][1] == ("train probe", 2)
    assert set(progress.calls[1][1]) == {"mean", "size"}  # type: ignore[arg-type]


def test_zero_epochs_and_bad_arguments() -> None:
    assert _run(RecordingPlan(), epochs=0) == []
    with pytest.raises(ValueError):
        _run(RecordingPlan(), batch_size=0)
    with pytest.raises(ValueError):
        _run(RecordingPlan(), epochs=-1)


class TidyPlan(RecordingPlan):
    housekeeping_every = 2

    def __init__(self) -> None:
        super().__init__()
        self.optimizer = torch.optim.Adam(self.net.parameters())
        self.tidied_after: list[int] = []

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        return (self.optimizer,)

    def housekeeping(self) -> None:
        self.tidied_after.append(len(self.batches))
        super().housekeeping()


def test_housekeeping_runs_every_n_steps_across_epochs() -> None:
    plan = TidyPlan()
    _run(plan, n=10, epochs=3, batch_size=4)  # 3 steps per epoch, 9 in all
    assert plan.tidied_after == [2, 4, 6, 8]


def test_default_housekeeping_zeroes_tiny_weights_and_optimizer_state_only() -> None:
    plan = TidyPlan()
    plan.net(torch.ones(1, 1)).sum().backward()
    plan.optimizer.step()  # creates the Adam state
    with torch.no_grad():
        plan.net.weight.fill_(1e-25)
        plan.net.bias.fill_(0.5)
    plan.optimizer.state[plan.net.weight]["exp_avg"].fill_(-1e-40)
    TrainingPlan.housekeeping(plan)
    assert plan.net.weight.item() == 0.0 and plan.net.bias.item() == 0.5
    assert plan.optimizer.state[plan.net.weight]["exp_avg"].item() == 0.0
    values = torch.tensor([1e-45, -1e-30, 2e-20, -3.0, 0.0])
    flush_tiny([values, torch.arange(3)])
    assert values.tolist() == [0.0, 0.0, pytest.approx(2e-20), -3.0, 0.0]
