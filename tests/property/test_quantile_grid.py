"""The quantile map keeps what the distribution needs, not the rows (issue 19, must-have 3).

Hypothesis properties of `QuantileNormalizer.fit` on columns of numbers with a known number of
decimal places (spread, repeated, with a spike): no knot is a value fewer than k rows hold (unless
the column has no other value), every knot keeps the values' precision (or lies half way between
two neighbouring real values, where no value of that precision is nobody's), a value many rows
share stays a knot that survives the float32 model space, and a value comes back within its bin.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from synthpriv.data.encoders import QuantileNormalizer
from synthpriv.data.schema import decimal_places

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def columns(draw: st.DrawFn) -> np.ndarray:
    """Up to 400 numbers with 0 to 3 decimal places: spread over a narrow or a wide range, some
    drawn from a small pool (values a few rows share), and sometimes a spike of zeros."""
    places = draw(st.integers(0, 3))
    rows = draw(st.integers(1, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spread = draw(st.sampled_from([5, 60, 1000, 10**6]))  # in steps of the precision
    steps = rng.integers(-spread, spread + 1, rows)
    pooled = rng.random(rows) < draw(st.sampled_from([0.0, 0.3, 0.8]))
    steps[pooled] = rng.choice(rng.integers(-spread, spread + 1, 6), pooled.sum())
    steps[rng.random(rows) < draw(st.sampled_from([0.0, 0.25]))] = 0
    return np.round(steps / 10.0**places, places)


def fitted(values: np.ndarray, min_count: int, n_quantiles: int) -> QuantileNormalizer:
    normalizer = QuantileNormalizer(n_quantiles).fit(values, min_count=min_count)
    event(
        "few values: plateaus"
        if normalizer.quantiles.size == 2 * np.unique(normalizer.quantiles).size
        else "grid"
    )
    return normalizer


n_quantiles = st.sampled_from([10, 1000])
min_counts = st.integers(1, 8)


@SETTINGS
@given(columns(), min_counts, n_quantiles)
def test_no_knot_is_a_value_fewer_than_k_rows_hold(values: np.ndarray, min_count: int, knots: int) -> None:
    normalizer = fitted(values, min_count, knots)
    distinct, counts = np.unique(values, return_counts=True)
    stored = np.isin(normalizer.quantiles, distinct[counts < min_count])
    if distinct.size == 1:  # the grid forces it: there is no other value
        return
    assert not stored.any(), normalizer.quantiles[stored]
    # and nothing generated from model space lands on one (the knots and the lines between)
    emitted = normalizer.inverse(np.linspace(-6.0, 6.0, 2001))
    on_rare = np.isin(emitted, distinct[counts < min_count])
    if on_rare.any():  # only a line crossing the value, never a plateau or a clipped tail on it
        event("a line crosses a rare value")
        assert on_rare.mean() < 0.01


@SETTINGS
@given(columns(), min_counts, n_quantiles)
def test_knots_keep_the_values_precision(values: np.ndarray, min_count: int, knots: int) -> None:
    """On the values' decimal places, or half way between two neighbouring real values (moved off
    a rare value where no value of that precision between them is nobody's)."""
    normalizer = fitted(values, min_count, knots)
    places = decimal_places(values)
    assert places is not None
    scaled = normalizer.quantiles * 10.0**places
    on_grid = np.abs(scaled - np.round(scaled)) < 1e-6
    between = ~on_grid
    if between.any():
        event("half way between two real values")
        lower, upper = np.floor(scaled[between]), np.ceil(scaled[between])
        assert np.allclose(scaled[between] - lower, 0.5, atol=1e-6)
        real = np.round(np.unique(values) * 10.0**places)
        assert np.isin(lower, real).all() and np.isin(upper, real).all()
    # never beyond the values, nor the k-th smallest and largest unless those are one value
    assert values.min() <= normalizer.quantiles[0] <= normalizer.quantiles[-1] <= values.max()


@SETTINGS
@given(columns(), min_counts, n_quantiles)
def test_a_value_many_rows_share_stays_a_knot_and_comes_back_exactly(
    values: np.ndarray, min_count: int, knots: int
) -> None:
    normalizer = fitted(values, min_count, knots)
    distinct, counts = np.unique(values, return_counts=True)
    step_rows = (values.size - 1) / max(normalizer.grid_size(values.size, min_count) - 1, 1)
    shared = distinct[counts >= max(2, min_count, step_rows)]
    assert np.isin(shared, normalizer.quantiles).all()
    z = normalizer.transform(shared).astype(np.float32)  # the matrix's precision
    assert np.array_equal(normalizer.inverse(z), shared)


@SETTINGS
@given(columns(), min_counts, n_quantiles)
def test_a_value_comes_back_within_its_bin(values: np.ndarray, min_count: int, knots: int) -> None:
    """Between the outermost knots, a value and its round trip through float32 model space lie
    between the same two knots, and close; beyond them, it comes back as the outermost knot."""
    normalizer = fitted(values, min_count, knots)
    q = normalizer.quantiles
    probe = np.concatenate([values, np.linspace(values.min(), values.max(), 101)])
    back = normalizer.inverse(normalizer.transform(probe).astype(np.float32))
    inside = (probe >= q[0]) & (probe <= q[-1])
    last = q.size - 1
    below = q[np.clip(np.searchsorted(q, probe[inside], "right") - 1, 0, last)]
    above = q[np.clip(np.searchsorted(q, probe[inside], "left"), 0, last)]
    assert np.all((below <= back[inside]) & (back[inside] <= above))
    exact = normalizer.inverse(normalizer.transform(probe[inside]))
    assert np.allclose(exact, probe[inside], rtol=0, atol=1e-9 * (q[-1] - q[0]) + 1e-9)
    assert np.all(back[probe < q[0]] == q[0]) and np.all(back[probe > q[-1]] == q[-1])
