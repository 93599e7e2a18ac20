"""Rare extremes: the numeric twin of rare categories (issue 7).

The quantile map's `inverse` clips at its outermost knots, so every model output beyond them
comes back as exactly those values. Left at the real minimum and maximum, a value held by one
row is stored in ``transformer.json`` and generated hundreds of times. Fitted with
``min_category_count`` k, numerical and datetime columns are clipped to their k-th smallest and
k-th largest value first.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from synthpriv.data.encoders import QuantileNormalizer, tail_bounds
from synthpriv.data.schema import ColumnKind, infer_schema
from synthpriv.data.transform import TabularTransformer
from synthpriv.privacy import preprocessing

#: Model-space values a generator may emit, far beyond the +-4.75 the knots span included.
EMITTED = np.concatenate([[-1e6, -50.0, -4.8], np.linspace(-6.0, 6.0, 401), [4.8, 50.0, 1e6]])


def fitted(table: pd.DataFrame, min_count: int = 5, **overrides: ColumnKind) -> TabularTransformer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # id-like columns
        schema = infer_schema(table, overrides=overrides)
    return TabularTransformer(schema.modelled(), min_category_count=min_count).fit(table)


def emitted(transformer: TabularTransformer, column: str) -> pd.Series:
    """What ``column`` decodes to from every value of `EMITTED` (other columns at 0)."""
    matrix = np.zeros((EMITTED.size, transformer.width), dtype=np.float32)
    span = next(s for s in transformer.spans if s.column == column and s.role == "value")
    matrix[:, span.start] = EMITTED
    return transformer.inverse_transform(matrix)[column]


def salaries(seed: int = 0) -> np.ndarray:
    """60 distinct salaries with a unique minimum (1.5) and a unique maximum (987654.321)."""
    body = np.round(np.random.default_rng(seed).normal(300_000.0, 50_000.0, 58), 2)
    return np.concatenate([[987654.321], body, [1.5]])


# -- the bounds ---------------------------------------------------------------------------


def test_tail_bounds_are_the_kth_order_statistics_counting_ties() -> None:
    values = np.array([9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 100.0])
    assert tail_bounds(values, 1) == (1.0, 100.0)
    assert tail_bounds(values, 2) == (2.0, 9.0)
    assert tail_bounds(values, 5) == (5.0, 6.0)
    # a minimum five rows hold is its own bound; one four rows hold is not
    assert tail_bounds(np.array([0.0] * 5 + [1.0, 2.0, 3.0, 4.0, 5.0]), 5) == (0.0, 1.0)
    assert tail_bounds(np.array([0.0] * 4 + [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), 5) == (1.0, 2.0)
    # the bounds do not move with how far the outermost rows lie
    assert tail_bounds(np.array([-1e300, *range(10), 1e300]), 3) == (1.0, 8.0)


def test_too_few_rows_for_two_bounds_give_the_median() -> None:
    assert tail_bounds(np.array([1.0, 2.0, 7.0, 9.0, 50.0]), 5) == (7.0, 7.0)
    assert tail_bounds(np.array([1.0, 2.0, 7.0, 9.0]), 5) == (4.5, 4.5)
    assert tail_bounds(np.array([1e308, 1.7e308]), 2) == (1.35e308, 1.35e308)  # no overflow
    assert tail_bounds(np.array([3.0]), 5) == (3.0, 3.0)
    # A column without nulls (a table of fewer than 2k - 1 rows) keeps the median: its dtype
    # could not hold a missing value; rounded to the values' precision (whole numbers: 4.5 to
    # even), and moved off a value fewer than k rows hold (7, the median of five, one step up
    # to 8, which is nobody's).
    normalizer = QuantileNormalizer().fit(np.array([1.0, 2.0, 7.0, 9.0]), min_count=5)
    assert np.all(normalizer.inverse(EMITTED) == 4.0)
    normalizer = QuantileNormalizer().fit(np.array([1.0, 2.0, 7.0, 9.0, 50.0]), min_count=5)
    assert np.all(normalizer.inverse(EMITTED) == 8.0)


@pytest.mark.parametrize(
    "values", [[3.0], [1.0, 2.0, 7.0, 9.0], [1.0, 2.0, 7.0, 9.0, 50.0, 51.0, 52.0, 60.0]]
)
def test_too_few_values_beside_nulls_are_not_learned(values: list[float]) -> None:
    """Fewer than 2k - 1 values: their median would be one row's value (or two rows' midpoint)."""
    normalizer = QuantileNormalizer().fit(np.array([*values, np.nan]), min_count=5)
    assert normalizer.learns_nothing
    assert np.isnan(normalizer.inverse(EMITTED)).all()
    assert np.all(normalizer.transform(np.array(values)) == 0.0)
    again = QuantileNormalizer.from_dict(json.loads(json.dumps(normalizer.to_dict())))
    assert again.learns_nothing and np.isnan(again.inverse(EMITTED)).all()


def test_a_column_of_too_few_values_is_generated_missing_and_never_stored() -> None:
    rows = 40
    sparse = np.full(rows, np.nan)
    sparse[[3, 17, 30]] = [123.25, 456.5, 789.75]  # three people's values, k = 5
    table = pd.DataFrame({"sparse": sparse, "x": np.arange(rows, dtype=float) % 7})
    transformer = fitted(table)
    stored = json.dumps(transformer.to_dict())
    assert not any(v in stored for v in ("123.25", "456.5", "789.75"))
    assert emitted(transformer, "sparse").isna().all()
    assert transformer.inverse_transform(transformer.transform(table))["sparse"].isna().all()
    unprotected = fitted(table, min_count=1)  # protection off: learned
    assert unprotected.inverse_transform(unprotected.transform(table))["sparse"].notna().sum() == 3


# -- the normalizer and the transformer ---------------------------------------------------


def test_a_unique_minimum_and_maximum_are_never_reproduced() -> None:
    values = salaries()
    table = pd.DataFrame({"salary": values})
    transformer = fitted(table)
    ordered = np.sort(values)
    low, high = ordered[4], ordered[-5]
    knots = transformer.numeric["salary"].quantiles
    # The k-th smallest and largest are one row's values too: the outermost knots sit one step
    # of the precision (3 decimals) inwards, short of the next real value.
    assert (knots[0], knots[-1]) == (round(low + 0.001, 3), round(high - 0.001, 3))
    assert ordered[5] > knots[0] and ordered[-6] < knots[-1]
    out = emitted(transformer, "salary").to_numpy()
    assert out.min() == knots[0] and out.max() == knots[-1]
    assert not np.isin([1.5, 987654.321, low, high], out).any()
    stored = json.dumps(transformer.to_dict())
    assert "987654.321" not in stored and "1.5," not in stored
    # The rows beyond a bound reach the model exactly as rows at the bound.
    z = transformer.transform(pd.DataFrame({"salary": [1.5, low, 987654.321, high]}))[:, 0]
    assert z[0] == z[1] and z[2] == z[3]
    # Values within the knots still come back as themselves.
    back = transformer.inverse_transform(transformer.transform(table))["salary"].to_numpy()
    np.testing.assert_allclose(back, np.clip(values, knots[0], knots[-1]), rtol=0, atol=1e-4 * (high - low))


def test_a_minimum_held_by_k_rows_stays() -> None:
    values = np.concatenate([[0.0] * 5, np.arange(1.0, 40.0), [1000.0]])
    transformer = fitted(pd.DataFrame({"x": values}))
    out = emitted(transformer, "x")
    assert out.min() == 0.0  # five rows hold it: the model may emit it
    assert out.max() == 36.0  # the fifth largest (1000, 39, 38, 37, 36); 1000 is one row's
    assert (transformer.transform(pd.DataFrame({"x": [0.0]}))[0, 0]) < 0.0  # a plateau of its own


def test_min_count_one_keeps_the_old_knots_and_map() -> None:
    rng = np.random.default_rng(1)
    few = np.round(rng.normal(size=40), 1)  # few distinct values: one plateau each
    many = rng.normal(size=1500)  # more than n_quantiles // 2: evenly spaced quantiles
    for values in (few, many):
        normalizer = QuantileNormalizer().fit(values, min_count=1)
        assert normalizer.min_count == 1
        assert (normalizer.quantiles[0], normalizer.quantiles[-1]) == (values.min(), values.max())
        distinct, counts = np.unique(values, return_counts=True)
        if distinct.size <= 500:
            old = QuantileNormalizer.from_counts(distinct, counts)
        else:
            references = np.linspace(0.0, 1.0, 1000)
            old = QuantileNormalizer.from_knots(np.quantile(values, references), references)
        assert np.array_equal(normalizer.quantiles, old.quantiles)
        assert np.array_equal(normalizer.references, old.references)
        probe = np.concatenate([values, [-100.0, 100.0]])  # beyond the range: not clipped
        assert np.array_equal(normalizer.transform(probe), old.transform(probe))
        assert np.array_equal(normalizer.inverse(EMITTED), old.inverse(EMITTED))
    transformer = fitted(pd.DataFrame({"salary": salaries()}), min_count=1)
    out = emitted(transformer, "salary")
    assert (out.min(), out.max()) == (1.5, 987654.321)  # the old behaviour, extremes and all


def test_integers_stay_integers_within_their_bounds() -> None:
    values = np.concatenate([[-(10**9)], np.arange(100, 160), [10**12]]).astype(np.int64)
    table = pd.DataFrame({"n": values, "m": pd.array([*values[:-1], None], dtype="Int64")})
    transformer = fitted(table)
    for column, (low, high) in {"n": (103, 156), "m": (103, 155)}.items():
        # Every integer between is one row's: the outermost knots move half way to the next
        # (nobody's value), and come back rounded, as every integer must, within the bounds.
        knots = transformer.numeric[column].quantiles
        assert (knots[0], knots[-1]) == (low + 0.5, high - 0.5)
        out = emitted(transformer, column)
        assert str(out.dtype) == str(table[column].dtype)
        assert low <= out.min() <= low + 1 and high - 1 <= out.max() <= high, column
        assert not out.isin([-(10**9), 10**12]).any()
    back = transformer.inverse_transform(transformer.transform(table))
    assert back["m"].isna().tolist() == table["m"].isna().tolist()  # missing values unaffected
    inside = (values > 103) & (values < 156)
    assert back["n"][inside].tolist() == values[inside].tolist()
    assert back["n"][~inside].isin([103, 104, 155, 156]).all()


@pytest.mark.parametrize("flavour", ["datetime64", "strings"])
def test_dates_keep_to_their_bounds(flavour: str) -> None:
    days = pd.date_range("2020-01-01", periods=40, freq="D")
    dates = pd.Series([pd.Timestamp("1901-02-03"), *days, pd.Timestamp("2199-12-31"), pd.NaT])
    column = (
        dates
        if flavour == "datetime64"
        else dates.dt.strftime("%Y-%m-%d").astype(object).where(dates.notna(), None)
    )
    table = pd.DataFrame({"d": column})
    transformer = fitted(table, d=ColumnKind.DATETIME)
    out = pd.to_datetime(emitted(transformer, "d"))
    # The 4th and 37th days are one row's: the knots move a second inwards, so that neither is
    # stored; a date written as text comes back to its day.
    knots = transformer.numeric["d"].quantiles
    assert (knots[0], knots[-1]) == (days[3].timestamp() + 1, days[-4].timestamp() - 1)
    assert days[3] <= out.min() < days[4] and days[-5] < out.max() <= days[-4]
    assert not out.isin([pd.Timestamp("1901-02-03"), pd.Timestamp("2199-12-31")]).any()
    back = transformer.inverse_transform(transformer.transform(table))["d"]
    assert back.isna().tolist() == table["d"].isna().tolist()
    stored = json.dumps(transformer.to_dict())
    assert str(pd.Timestamp("2199-12-31").timestamp()) not in stored


def test_the_setting_travels_in_transformer_json_and_old_files_load() -> None:
    table = pd.DataFrame({"salary": salaries()})
    transformer = fitted(table)
    raw = json.loads(json.dumps(transformer.to_dict()))
    assert raw["numeric"]["salary"]["min_count"] == 5
    restored = TabularTransformer.from_dict(raw)
    probe = pd.DataFrame({"salary": [1.5, 987654.321, 250_000.0]})
    assert np.array_equal(restored.transform(probe), transformer.transform(probe))
    # A file written before tails were clipped: no min_count, nothing clipped, as before.
    old = fitted(table, min_count=1).to_dict()
    del old["numeric"]["salary"]["min_count"]
    loaded = TabularTransformer.from_dict(json.loads(json.dumps(old)))
    assert loaded.numeric["salary"].min_count == 1
    assert np.array_equal(loaded.transform(probe), fitted(table, min_count=1).transform(probe))
    with pytest.raises(ValueError, match="min_count"):
        QuantileNormalizer.from_dict({**raw["numeric"]["salary"], "min_count": 0})
    with pytest.raises(ValueError, match="min_count"):
        QuantileNormalizer().fit(np.arange(3.0), min_count=0)


def test_dp_normalizers_keep_their_declared_bounds() -> None:
    """DP fits are untouched: their knots come from declared bounds, never clipped again."""
    normalizer = preprocessing.private_normalizer(salaries(), (0.0, 1e6), 1.0, np.random.default_rng(0))
    assert normalizer.min_count == 1
    assert (normalizer.quantiles[0], normalizer.quantiles[-1]) == (0.0, 1e6)
