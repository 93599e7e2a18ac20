"""Marginal counting and the candidate marginals of `synthpriv.training.marginals`."""

from __future__ import annotations

import itertools

import hypothesis.strategies as st
import numpy as np
import pandas as pd
from hypothesis import given, settings

from synthpriv.training.marginals import (
    Measurement,
    cells,
    extensions,
    fit_exact,
    marginal_counts,
    pair_queries,
)


@st.composite
def token_tables(draw: st.DrawFn) -> tuple[np.ndarray, list[int]]:
    sizes = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    rows = draw(st.integers(0, 40))
    columns = [draw(st.lists(st.integers(0, s - 1), min_size=rows, max_size=rows)) for s in sizes]
    return np.array(columns, dtype=np.int32).T.reshape(rows, len(sizes)), sizes


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(table=token_tables())
def test_marginal_counts_are_the_crosstab_of_the_tokens(table: tuple[np.ndarray, list[int]]) -> None:
    tokens, sizes = table
    for query in [(0,), (0, 1), tuple(range(len(sizes)))]:
        counts = marginal_counts(tokens, sizes, query)
        assert counts.shape == (cells(sizes, query),)
        assert counts.sum() == len(tokens)
        frame = pd.DataFrame(tokens[:, list(query)])
        for combination, expected in frame.value_counts().items():
            key = combination if isinstance(combination, tuple) else (combination,)
            flat = np.ravel_multi_index(key, tuple(sizes[a] for a in query))
            assert counts[flat] == expected


def test_pair_queries_leave_out_marginals_over_too_many_cells() -> None:
    sizes = [10, 10, 500, 3]
    pairs = pair_queries(sizes, max_cells=1000)
    assert (0, 2) not in pairs and (2, 3) not in pairs  # 5,000 and 1,500 cells
    assert set(pairs) == {(0, 1), (0, 3), (1, 3)}


def test_extensions_grow_selected_pairs_by_one_column() -> None:
    sizes = [4, 4, 4, 4]
    grown = extensions([(0, 1), (2,)], sizes)
    assert grown == [(0, 1, 2), (0, 1, 3)]  # one-way selections are not extended
    assert extensions([(0, 1)], sizes, max_cells=32) == []  # 64 cells each


class _Recorder:
    """A marginal model that records what it was asked to fit (the plain trainer's contract)."""

    def __init__(self) -> None:
        self.seen: list[Measurement] = []

    def fit_measurements(self, measurements: list[Measurement], rows: float, *, final: bool) -> float:
        assert final and rows == 30
        self.seen = list(measurements)
        return 0.0

    def model_marginals(self, queries: list[tuple[int, ...]]) -> list[np.ndarray]:
        raise AssertionError("the exact fit selects nothing")


def test_the_exact_fit_measures_every_one_and_two_way_marginal_without_noise() -> None:
    rng = np.random.default_rng(3)
    sizes = [2, 3, 4]
    tokens = np.stack([rng.integers(0, s, 30) for s in sizes], axis=1)
    model = _Recorder()
    fit_exact(tokens, sizes, model)
    queries = [m.attributes for m in model.seen]
    assert queries == [(0,), (1,), (2,), *itertools.combinations(range(3), 2)]
    for measurement in model.seen:
        assert measurement.sigma == 0
        np.testing.assert_array_equal(
            measurement.counts, marginal_counts(tokens, sizes, measurement.attributes)
        )
