"""The output heads shared by the generators: segment sampling and losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthpriv.data.spans import Span
from synthpriv.generators.heads import SpanHeads
from synthpriv.generators.layers import segment_inverse_cdf


def _segments(widths: list[int]) -> torch.Tensor:
    return torch.tensor([b for b, w in enumerate(widths) for _ in range(w)], dtype=torch.long)


@settings(max_examples=40, deadline=None)
@given(
    widths=st.lists(st.integers(1, 6), min_size=1, max_size=5),
    seed=st.integers(0, 2**31 - 1),
)
def test_inverse_cdf_draws_a_column_of_each_segment(widths: list[int], seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    segment = _segments(widths)
    logits = 8 * torch.randn(64, len(segment), generator=generator)
    uniform = torch.rand(64, len(widths), generator=generator)
    chosen = segment_inverse_cdf(logits, segment, len(widths), uniform)
    assert chosen.shape == (64, len(widths))
    assert torch.equal(segment[chosen], torch.arange(len(widths)).expand(64, -1))


def test_inverse_cdf_follows_the_softmax() -> None:
    generator = torch.Generator().manual_seed(0)
    segment = _segments([3, 1, 4])
    logits = torch.tensor([[0.0, 1.0, -1.0, 5.0, 2.0, 0.0, 0.0, -30.0]])
    rows = 200_000
    chosen = segment_inverse_cdf(
        logits.expand(rows, -1), segment, 3, torch.rand(rows, 3, generator=generator)
    )
    for block, (start, stop) in enumerate([(0, 3), (3, 4), (4, 8)]):
        expected = torch.softmax(logits[0, start:stop], 0).numpy()
        observed = np.bincount(chosen[:, block].numpy() - start, minlength=stop - start) / rows
        np.testing.assert_allclose(observed, expected, atol=4e-3)
    # A category with probability ~1e-14 is never drawn.
    assert not (chosen[:, 2] == 7).any()


def test_extreme_uniforms_stay_inside_their_segment() -> None:
    segment = _segments([2, 3])
    logits = torch.zeros(2, 5)
    uniform = torch.tensor([[0.0, 0.0], [1.0 - 1e-12, 1.0 - 1e-12]])
    chosen = segment_inverse_cdf(logits, segment, 2, uniform)
    assert chosen.tolist() == [[0, 2], [1, 4]]


def test_heads_sample_one_hot_rows_with_values() -> None:
    spans = (
        Span("age", "value", 0, 1, "identity"),
        Span("age", "missing", 1, 2, "softmax"),
        Span("colour", "category", 3, 3, "softmax"),
    )
    heads = SpanHeads.from_spans(spans)
    raw = torch.randn(500, heads.width, generator=torch.Generator().manual_seed(1))
    rows = heads.sample(raw, torch.zeros(1), torch.Generator().manual_seed(2))
    assert rows.shape == (500, 6)
    assert torch.equal(rows[:, 1:3].sum(1), torch.ones(500))
    assert torch.equal(rows[:, 3:6].sum(1), torch.ones(500))
    again = heads.sample(raw, torch.zeros(1), torch.Generator().manual_seed(2))
    assert torch.equal(rows, again)


@pytest.mark.parametrize("rows", [1, 7])
def test_heads_sample_small_batches(rows: int) -> None:
    spans = (Span("c", "category", 0, 4, "softmax"),)
    heads = SpanHeads.from_spans(spans)
    out = heads.sample(torch.zeros(rows, 4), torch.zeros(0), torch.Generator().manual_seed(0))
    assert torch.equal(out.sum(1), torch.ones(rows))
