"""k-suppression of categories and safe histograms: no chart may expose a rare label or a lone value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from synthpriv.data.redact import (
    OTHER_LABEL,
    nice_step,
    safe_histogram,
    shared_categories,
    shared_histogram,
    suppress_small_categories,
    truncate_label,
)


def test_small_categories_merge_into_one_bucket() -> None:
    assert suppress_small_categories({"a": 50, "b": 3, "c": 4}, k=10) == {"a": 50, OTHER_LABEL: 7}


def test_series_input_keeps_order_and_stringifies_labels() -> None:
    counts = pd.Series({1: 30, 2: 12, 3: 9, 4: 1})
    assert suppress_small_categories(counts, k=10) == {"1": 30, "2": 12, OTHER_LABEL: 10}


def test_nothing_suppressed_means_no_other_bucket() -> None:
    assert suppress_small_categories({"a": 10, "b": 11}, k=10) == {"a": 10, "b": 11}


def test_all_rare_shows_only_the_bucket_even_below_k() -> None:
    assert suppress_small_categories({"rare": 2, "rarer": 1}, k=10) == {OTHER_LABEL: 3}


def test_zero_counts_make_no_bucket() -> None:
    assert suppress_small_categories({"a": 20, "never": 0}, k=10) == {"a": 20}


def test_existing_other_label_is_merged_not_duplicated() -> None:
    assert suppress_small_categories({OTHER_LABEL: 40, "b": 2}, k=10) == {OTHER_LABEL: 42}


def test_negative_count_is_rejected() -> None:
    with pytest.raises(ValueError):
        suppress_small_categories({"a": -1})


def test_shared_categories_use_real_labels_only() -> None:
    labels, real, synthetic = shared_categories(
        {"a": 60, "b": 40, "rare": 2}, {"a": 50, "b": 30, "rare": 10, "invented": 10}, k=10
    )
    assert labels == ["a", "b", OTHER_LABEL]
    assert real == pytest.approx([60 / 102, 40 / 102, 2 / 102])
    assert synthetic == pytest.approx([0.5, 0.3, 0.2])


def test_shared_categories_empty_synthetic_side_is_zero() -> None:
    labels, real, synthetic = shared_categories({"a": 20}, {}, k=10)
    assert labels == ["a"] and real == [1.0] and synthetic == [0.0]


def test_histogram_hand_computed() -> None:
    # 10% tails are the 9.9 and 89.1 quantiles; step nice(79.2 / 10) = 10; 90..99 clip into the last bin.
    edges, counts = safe_histogram(np.arange(100.0), k=10, bins=10)
    assert edges.tolist() == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert counts.tolist() == [10] * 8 + [20]


def test_extreme_value_neither_sets_axis_nor_gets_a_bin() -> None:
    values = np.concatenate([np.random.default_rng(0).normal(0, 1, 1000), [1e9]])
    edges, counts = safe_histogram(values, k=10)
    assert edges[-1] < 10
    assert counts.sum() == values.size
    assert counts[counts > 0].min() >= 10


def test_every_non_empty_bin_holds_k_values() -> None:
    values = np.random.default_rng(3).exponential(1.0, 137)
    edges, counts = safe_histogram(values, k=25, bins=40)
    assert counts[counts > 0].min() >= 25
    assert counts.sum() == 137
    assert np.all(np.diff(edges) > 0)


def test_missing_and_infinite_values_are_ignored() -> None:
    values = np.array([np.nan, np.inf, -np.inf] + [1.0] * 12)
    edges, counts = safe_histogram(values, k=10)
    assert counts.tolist() == [12]
    assert edges[0] <= 1.0 <= edges[-1]


def test_fewer_than_k_values_show_nothing() -> None:
    edges, counts = safe_histogram(np.arange(9.0), k=10)
    assert edges.size == 0 and counts.size == 0


def test_edges_lie_on_a_nice_grid() -> None:
    values = np.random.default_rng(5).normal(37.3, 4.1, 500)
    edges, _ = safe_histogram(values, k=10, bins=20)
    steps = np.diff(edges)
    base = steps.min()
    assert base == nice_step(base)
    assert np.allclose(edges / base, np.round(edges / base))


@settings(max_examples=300, deadline=None)
@given(
    values=hnp.arrays(
        np.float64,
        st.integers(0, 300),
        elements=st.one_of(
            st.floats(-1e6, 1e6),
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from([0.0, 1.0, 5e-324]),
        ),
    ),
    k=st.integers(1, 30),
    bins=st.integers(1, 50),
)
def test_histogram_properties(values: np.ndarray, k: int, bins: int) -> None:
    n = int(np.isfinite(values).sum())
    edges, counts = safe_histogram(values, k=k, bins=bins)
    if n < k:
        assert edges.size == 0 and counts.size == 0
        return
    assert counts.sum() == n
    assert np.all((counts == 0) | (counts >= k))
    assert edges.size == counts.size + 1
    assert np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0)


def test_shared_histogram_shares_sum_to_one_on_real_edges() -> None:
    rng = np.random.default_rng(1)
    real, synthetic = rng.normal(0, 1, 800), np.concatenate([rng.normal(0.5, 1, 600), [1e6, -1e6]])
    edges, real_shares, synthetic_shares = shared_histogram(real, synthetic, k=10, bins=15)
    assert edges.size == real_shares.size + 1 == synthetic_shares.size + 1
    assert real_shares.sum() == pytest.approx(1.0)
    assert synthetic_shares.sum() == pytest.approx(1.0)
    assert edges[-1] < 10
    assert np.all((real_shares == 0) | (real_shares * 800 >= 10 - 1e-9))


def test_shared_histogram_with_too_few_real_values_is_empty() -> None:
    edges, real_shares, synthetic_shares = shared_histogram(np.arange(5.0), np.arange(100.0), k=10)
    assert edges.size == real_shares.size == synthetic_shares.size == 0


def test_shared_histogram_empty_synthetic_side_gives_zeros() -> None:
    _, _, synthetic_shares = shared_histogram(np.arange(100.0), np.array([np.nan]), k=10)
    assert synthetic_shares.size > 0 and not synthetic_shares.any()


def test_truncate_label() -> None:
    assert truncate_label("short") == "short"
    assert truncate_label("x" * 50, 10) == "x" * 9 + "…"
    assert len(truncate_label("y" * 100)) == 40
    assert truncate_label("two\nlines\x00") == "two lines"
    assert truncate_label(12345, 3) == "12…"


@pytest.mark.parametrize(
    ("raw", "expected"), [(0.07, 0.1), (0.15, 0.2), (2.2, 2.5), (3.0, 5.0), (7.9, 10.0), (1000.0, 1000.0)]
)
def test_nice_step(raw: float, expected: float) -> None:
    assert nice_step(raw) == pytest.approx(expected)
