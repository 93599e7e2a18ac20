"""TabDDPM: the diffusion math checked by hand, then the generator on the sdmetrics demo table."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from synthpriv.data.io import read_table
from synthpriv.data.spans import Span
from synthpriv.generators.conditions import honours
from synthpriv.generators.ddpm import Blocks, TabDDPM, cosine_alpha_bar, gaussian_forward, gaussian_reverse
from synthpriv.generators.model_files import load_generator, save_generator
from synthpriv.generators.registry import get_generator

SMALL = {"timesteps": 100, "sampling_steps": None, "hidden_dims": (64, 64), "embedding_dim": 32}

SPANS = (
    Span("a", "category", 0, 3, "softmax"),
    Span("x", "value", 3, 1, "identity"),
    Span("x", "missing", 4, 2, "softmax"),
    Span("b", "category", 6, 4, "softmax"),
)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # Tiny tensors: a second intra-op thread only adds OpenMP spin-waits, which on a shared
    # 2-core machine cost 100x.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return read_table("builtin:student_placements")


def _fit(table: pd.DataFrame, *, epochs: int, seed: int = 0, **params: object) -> TabDDPM:
    generator = TabDDPM({**SMALL, **params}, epochs=epochs, batch_size=64, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the id-column notice
        generator.fit(table)
    return generator


@pytest.fixture(scope="module")
def fitted(demo: pd.DataFrame) -> TabDDPM:
    return _fit(demo, epochs=40)


# -- the math -----------------------------------------------------------------------------


def test_cosine_schedule_runs_from_one_to_nearly_zero() -> None:
    alpha_bar = cosine_alpha_bar(1000)
    assert alpha_bar.shape == (1001,)
    assert alpha_bar[0].item() == 1.0
    assert alpha_bar[-1].item() < 1e-4
    assert torch.all(alpha_bar[1:] < alpha_bar[:-1])


def test_gaussian_forward_has_the_marginal_mean_and_variance() -> None:
    generator = torch.Generator().manual_seed(0)
    abar = torch.tensor([[0.3]])
    x0 = torch.full((200_000, 1), 2.0)
    x_t = gaussian_forward(x0, abar, torch.randn(x0.shape, generator=generator))
    assert x_t.mean().item() == pytest.approx(np.sqrt(0.3) * 2.0, abs=0.01)
    assert x_t.var().item() == pytest.approx(0.7, abs=0.01)


def test_gaussian_reverse_with_eta_one_is_the_ddpm_posterior() -> None:
    abar_t, abar_s = torch.tensor([[0.2]]), torch.tensor([[0.6]])
    x0, eps = torch.tensor([[1.5]]), torch.tensor([[-0.4]])
    x_t = gaussian_forward(x0, abar_t, eps)
    mean = gaussian_reverse(x_t, eps, abar_t, abar_s, 1.0, torch.zeros(1, 1))
    spread = gaussian_reverse(x_t, eps, abar_t, abar_s, 1.0, torch.ones(1, 1)) - mean
    # Ho et al. (2020), eq. 7, with alpha = abar_t / abar_s for the jump t -> s.
    alpha, beta = 0.2 / 0.6, 1 - 0.2 / 0.6
    expected = (np.sqrt(0.6) * beta * 1.5 + np.sqrt(alpha) * (1 - 0.6) * x_t.item()) / (1 - 0.2)
    assert mean.item() == pytest.approx(expected, rel=1e-5)
    assert spread.item() == pytest.approx(np.sqrt((1 - 0.6) / (1 - 0.2) * beta), rel=1e-5)
    deterministic = gaussian_reverse(x_t, eps, abar_t, abar_s, 0.0, torch.ones(1, 1))
    assert deterministic.item() == pytest.approx(gaussian_forward(x0, abar_s, eps).item(), rel=1e-5)


def _onehot(blocks: Blocks, picks: list[int]) -> torch.Tensor:
    """A gathered one-hot row with category ``picks[b]`` in softmax block ``b``."""
    row = torch.zeros(1, blocks.classes.numel())
    starts = torch.tensor([0, *torch.bincount(blocks.block).cumsum(0).tolist()[:-1]])
    row[0, starts + torch.tensor(picks)] = 1.0
    return row


def test_multinomial_forward_sums_to_one_and_tends_to_uniform() -> None:
    blocks = Blocks.from_spans(SPANS)
    x0 = _onehot(blocks, [2, 0, 3])
    alpha_bar = cosine_alpha_bar(1000)
    for t in (1, 250, 999):
        probs = blocks.forward_probs(x0, alpha_bar[t].view(1, 1))
        assert torch.allclose(blocks.segment_sum(probs), torch.ones(1, 3))
        assert probs.min() > 0
    last = blocks.forward_probs(x0, alpha_bar[1000].view(1, 1))
    assert torch.allclose(last, 1.0 / blocks.classes[None], atol=1e-4)


def _bayes_posterior(k: int, x_t: int, x0: int, abar_t: float, abar_s: float) -> np.ndarray:
    """``q(x_s | x_t, x_0)`` for one K-way block from explicit transition matrices."""
    keep = abar_t / abar_s
    step = keep * np.eye(k) + (1 - keep) / k  # q(x_t | x_s), rows x_s
    marginal = abar_s * np.eye(k)[x0] + (1 - abar_s) / k  # q(x_s | x_0)
    joint = step[:, x_t] * marginal
    return joint / joint.sum()


def test_multinomial_posterior_matches_bayes_and_composes_over_skipped_steps() -> None:
    blocks = Blocks.from_spans(SPANS[3:4])  # one 4-way block
    alpha_bar = cosine_alpha_bar(50).double()
    s, m, t = 10, 17, 30
    x0, x_t = 1, 3
    posterior = blocks.posterior(
        _onehot(blocks, [x_t]).double(),
        _onehot(blocks, [x0]).double(),
        alpha_bar[t].view(1, 1),
        alpha_bar[s].view(1, 1),
    )[0].numpy()
    np.testing.assert_allclose(
        posterior, _bayes_posterior(4, x_t, x0, alpha_bar[t].item(), alpha_bar[s].item()), rtol=1e-9
    )
    # q(x_s | x_t, x_0) = sum over x_m of q(x_s | x_m, x_0) q(x_m | x_t, x_0): skipping is exact.
    middle = _bayes_posterior(4, x_t, x0, alpha_bar[t].item(), alpha_bar[m].item())
    composed = sum(
        middle[j] * _bayes_posterior(4, j, x0, alpha_bar[m].item(), alpha_bar[s].item()) for j in range(4)
    )
    np.testing.assert_allclose(posterior, composed, rtol=1e-9)


def test_multinomial_posterior_marginalizes_over_a_predicted_x0() -> None:
    blocks = Blocks.from_spans(SPANS[3:4])
    abar_t, abar_s = torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([[0.8]], dtype=torch.float64)
    p0 = torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64)
    x_t = _onehot(blocks, [2]).double()
    mixed = blocks.posterior(x_t, p0, abar_t, abar_s)[0].numpy()
    expected = sum(p0[0, k].item() * _bayes_posterior(4, 2, k, 0.3, 0.8) for k in range(4))
    np.testing.assert_allclose(mixed, expected, rtol=1e-9)
    assert mixed.sum() == pytest.approx(1.0)


# -- the generator ------------------------------------------------------------------------


def test_registered_under_diffusion() -> None:
    assert get_generator("diffusion") is TabDDPM


def test_loss_decreases_and_history_has_both_parts(demo: pd.DataFrame) -> None:
    generator = TabDDPM(SMALL, epochs=25, batch_size=64, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = generator.fit(demo).history
    assert len(history) == 25
    assert {"loss", "gaussian", "multinomial"} <= set(history[0])
    assert np.mean([h["loss"] for h in history[-5:]]) < 0.7 * history[0]["loss"]


def test_sample_has_the_inputs_columns_dtypes_and_missing_values(fitted: TabDDPM, demo: pd.DataFrame) -> None:
    synthetic = fitted.sample(400, seed=1)
    assert len(synthetic) == 400
    assert list(synthetic.columns) == list(demo.columns)
    pd.testing.assert_series_equal(synthetic.dtypes, demo.dtypes)
    assert set(synthetic["gender"]) <= set(demo["gender"])
    assert 0.05 < synthetic["salary"].isna().mean() < 0.6
    assert len(fitted.sample(0)) == 0


def test_same_seed_same_rows_and_fits_are_reproducible(fitted: TabDDPM, demo: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(fitted.sample(200, seed=3), fitted.sample(200, seed=3))
    assert not fitted.sample(200, seed=3).equals(fitted.sample(200, seed=4))
    first, second = _fit(demo, epochs=3, seed=7), _fit(demo, epochs=3, seed=7)
    pd.testing.assert_frame_equal(first.sample(100, seed=0), second.sample(100, seed=0))


def test_save_and_load_give_the_same_rows(fitted: TabDDPM, tmp_path: Path) -> None:
    save_generator(fitted, tmp_path)
    loaded = load_generator(tmp_path)
    assert type(loaded) is TabDDPM
    pd.testing.assert_frame_equal(loaded.sample(150, seed=5), fitted.sample(150, seed=5))


def test_fewer_sampling_steps_than_training_steps(fitted: TabDDPM) -> None:
    quick = TabDDPM({**SMALL, "sampling_steps": 7}, epochs=1, batch_size=64)
    assert len(quick.sampling_schedule()) == 7
    assert quick.sampling_schedule()[0][0] == 100 and quick.sampling_schedule()[-1][1] == 0
    fitted.params = fitted.params.model_copy(update={"sampling_steps": 7})
    try:
        synthetic = fitted.sample(300, seed=2)
    finally:
        fitted.params = fitted.params.model_copy(update={"sampling_steps": None})
    assert len(synthetic) == 300
    assert synthetic["gender"].notna().all()


def test_conditions_are_honoured_natively_by_every_row(fitted: TabDDPM) -> None:
    conditions = {"gender": "F", "degree_type": "Sci&Tech"}
    fixed = fitted.encode_conditions(conditions)
    matrix = fitted._sample_conditional(500, seed=0, fixed=fixed)
    assert matrix is not None and honours(matrix, fixed).all()
    synthetic = fitted.sample(250, seed=0, conditions=conditions)
    assert len(synthetic) == 250
    assert (synthetic["gender"] == "F").all() and (synthetic["degree_type"] == "Sci&Tech").all()


def test_conditioning_carries_to_the_other_columns() -> None:
    generator = torch.Generator().manual_seed(0)
    a = np.where(torch.rand(600, generator=generator).numpy() < 0.5, "x", "y")
    table = pd.DataFrame(
        {"a": a, "b": np.where(a == "x", "left", "right"), "v": np.where(a == "x", -1.0, 1.0)}
    )
    model = _fit(table, epochs=60, condition_rate=0.5)
    synthetic = model.sample(400, seed=0, conditions={"a": "x"})
    assert (synthetic["a"] == "x").all()
    assert (synthetic["b"] == "left").mean() > 0.8
    assert (synthetic["v"] < 0).mean() > 0.8
