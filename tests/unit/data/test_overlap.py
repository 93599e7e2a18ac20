"""Holdout rows that repeat training rows (issue 15, must-have 2): the counter and the rule.

The counter hashes rows vectorized; here it is checked against the plain Python answer (sets
of tuples, nulls equal to nulls, values by ``==``) on small mixed tables whose two sides carry
the same values in different dtypes, as a CSV holdout beside a Parquet table does. The rule is
checked on the issue's case, on true holdouts and random splits of real tables (which must
pass), and on UCI Adult's official train/test split, which shares 23 rows naturally.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthpriv.data.overlap import CONFIDENCE, allowed_shared_rows, holdout_overlap, row_hashes

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Small pools, so that rows repeat often; each pool holds values that are easy to confuse.
POOLS: dict[str, list[object]] = {
    "int": [0, 1, -1, 3, 2**40, 2**62],
    "float": [0.0, -0.0, 0.5, 1.0, 2.5, 1e300, math.inf, -math.inf],
    "text": ["a", "b", "", "None", "1", "ü性"],
    "bool": [True, False],
    "time": [
        pd.Timestamp("2020-01-01"),
        pd.Timestamp("2020-01-01 00:00:00.5"),
        pd.Timestamp("1969-12-31 23:59:59.25"),
        pd.Timestamp("1900-03-01"),
    ],
}
# How each kind may be stored (the two sides pick independently). Whole numbers only go
# through float64 when they survive it, as they would in a real file.
DTYPES: dict[str, list[str]] = {
    "int": ["int64", "float64", "Int64", "object", "category"],
    "float": ["float64", "Float64", "object", "category"],
    "text": ["object", "string", "category"],
    "bool": ["bool", "boolean", "object", "category"],
    "time": ["datetime64[ns]", "datetime64[us]", "datetime64[ms]"],
}
NO_NULLS = {"int64", "bool"}


def _column(values: list[object], dtype: str) -> pd.Series:
    if dtype == "category":
        return pd.Series(values, dtype=object).astype("category")
    if dtype == "float64":
        return pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64")  # type: ignore[arg-type]
    if dtype.startswith("datetime64"):
        return pd.Series(pd.to_datetime(pd.Series(values, dtype=object))).astype(dtype)
    return pd.Series(values, dtype=object if dtype == "object" else dtype)


@st.composite
def tables(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A training table and a holdout, part of it copied from training rows, with nulls."""
    kinds = draw(st.lists(st.sampled_from(sorted(POOLS)), min_size=1, max_size=4))
    n_train = draw(st.integers(0, 14))
    n_holdout = draw(st.integers(0, 14))
    null_share = draw(st.sampled_from([0.0, 0.3]))

    def cell(kind: str) -> st.SearchStrategy[object]:
        value = st.sampled_from(POOLS[kind])
        return st.one_of(st.none(), value) if null_share and draw(st.booleans()) else value

    def rows(n: int) -> list[list[object]]:
        return [[draw(cell(kind)) for kind in kinds] for _ in range(n)]

    train_rows = rows(n_train)
    holdout_rows = rows(n_holdout)
    if train_rows:  # copies, so that equal rows are common, not luck
        copies = draw(st.lists(st.integers(0, n_train - 1), max_size=n_holdout))
        for position, source in enumerate(copies):
            holdout_rows[position] = list(train_rows[source])

    def frame(rows_: list[list[object]]) -> pd.DataFrame:
        columns = {}
        for i, kind in enumerate(kinds):
            values = [r[i] for r in rows_]
            choices = [d for d in DTYPES[kind] if not (d in NO_NULLS and None in values)]
            if kind == "int" and any(abs(v) > 2**53 for v in values if v is not None):  # type: ignore[arg-type]
                choices = [d for d in choices if d != "float64"]
            columns[f"c{i}"] = _column(values, draw(st.sampled_from(choices)))
        return pd.DataFrame(columns, index=range(len(rows_)))

    return frame(train_rows), frame(holdout_rows)


_NULL = object()


def _python_rows(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    """Each row as a tuple of Python values, every kind of null as one marker."""

    def plain(value: object) -> object:
        if (
            value is None
            or value is pd.NA
            or value is pd.NaT
            or (isinstance(value, float) and math.isnan(value))
        ):
            return _NULL
        return value.item() if isinstance(value, np.generic) else value

    return [tuple(plain(v) for v in row) for row in frame.astype(object).itertuples(index=False)]


@SETTINGS
@given(tables())
def test_counts_match_sets_of_tuples(pair: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, holdout = pair
    columns = list(train.columns)
    overlap, shared = holdout_overlap(train, holdout, columns)

    train_tuples = _python_rows(train)
    expected_shared = [row in set(train_tuples) for row in _python_rows(holdout)]
    counts = Counter(train_tuples)
    expected_repeats = sum(c for c in counts.values() if c > 1)

    assert shared.tolist() == expected_shared
    assert overlap.shared_rows == sum(expected_shared)
    assert overlap.train_repeats == expected_repeats
    assert (overlap.holdout_rows, overlap.train_rows) == (len(holdout), len(train))


def test_equal_values_in_other_dtypes_hash_alike() -> None:
    """A CSV holdout (numbers as floats, text as text) against a Parquet table (ints, categories, zones)."""
    parquet_like = pd.DataFrame(
        {
            "n": pd.Series([1, None, 3], dtype="Int64"),
            "c": pd.Series(["x", "y", None]).astype("category"),
            "t": pd.Series(pd.to_datetime(["2020-01-01 12:00", "1950-01-01 00:00", None])).dt.tz_localize(
                "UTC"
            ),
            "u": pd.Series([1, 2, 2**64 - 1], dtype="uint64"),
        }
    )
    csv_like = pd.DataFrame(
        {
            "n": [1.0, np.nan, 3.0],
            "c": ["x", "y", None],
            "t": pd.Series(pd.to_datetime(["2020-01-01 13:00", "1950-01-01 01:00", None]))
            .dt.tz_localize("Europe/Berlin")
            .astype("datetime64[us, Europe/Berlin]"),
            "u": pd.Series([1, 2, 2**64 - 1], dtype=object),
        }
    )
    columns = ["n", "c", "t", "u"]
    assert row_hashes(parquet_like, columns).tolist() == row_hashes(csv_like, columns).tolist()
    # ... and values that only look alike do not.
    assert (
        row_hashes(pd.DataFrame({"s": ["", "None", "nan"]}), ["s"]).tolist()
        != row_hashes(pd.DataFrame({"s": [None, None, None]}), ["s"]).tolist()
    )
    assert row_hashes(pd.DataFrame({"f": [2.0**53]}), ["f"]) != row_hashes(
        pd.DataFrame({"i": [2**53 + 1]}), ["i"]
    )
    far = pd.DataFrame({"d": np.array(["0001-01-01", "9999-12-31T23:59:59"], dtype="datetime64[s]")})
    assert len(set(row_hashes(far, ["d"]).tolist())) == 2  # no overflow at the ends of the calendar


# -- the rule -------------------------------------------------------------------------------


def _table(n: int, seed: int) -> pd.DataFrame:
    """Mixed rows, all distinct (a continuous column), like most real tables."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "score": rng.normal(60, 10, n).round(3),
            "group": rng.choice(["a", "b", "c"], n),
            "flag": rng.random(n) < 0.3,
        }
    )


def test_the_issue_case_is_refused_and_a_true_holdout_passes() -> None:
    table = _table(215, seed=0)
    train, true_holdout = table.iloc[:150], table.iloc[150:]
    columns = list(table.columns)
    copied, _ = holdout_overlap(train, train.iloc[:70], columns)
    assert (copied.shared_rows, copied.train_repeats) == (70, 0)
    assert copied.excessive
    honest, _ = holdout_overlap(train, true_holdout, columns)
    assert honest.shared_rows == 0 and not honest.excessive


def test_the_margin_is_a_binomial_bound_on_the_tables_own_repeat_rate() -> None:
    # No repeats among 150 rows: the rate is at most 1 - (1 - CONFIDENCE)^(1/150), about 6 %.
    p_high = 1 - (1 - CONFIDENCE) ** (1 / 150)
    assert allowed_shared_rows(70, 150, 0) < 70 * p_high + 4 * math.sqrt(70 * p_high) + 1
    # More repeats in the table allow more shared rows; a table that is all repeats allows all.
    allowed = [allowed_shared_rows(1000, 5000, r) for r in (0, 50, 500, 2500)]
    assert allowed == sorted(allowed) and allowed[0] < allowed[-1] < 1000
    assert allowed_shared_rows(40, 100, 100) == 40


@pytest.mark.parametrize("n_columns", [1, 2, 3, 5, 17])
def test_random_splits_of_a_real_table_pass(students: pd.DataFrame, n_columns: int) -> None:
    """Held-out rows drawn from the same table never look copied, however coarse the columns
    (one column: nearly every row repeats another; all 17: none does)."""
    columns = [c for c in students.columns if c != "student_id"][:n_columns]
    table = pd.concat([students, students.sample(40, random_state=0)])  # some exact repeats too
    for seed in range(30):
        order = np.random.default_rng(seed).permutation(len(table))
        cut = len(table) // 3 if seed % 2 else len(table) // 5
        overlap, _ = holdout_overlap(table.iloc[order[cut:]], table.iloc[order[:cut]], columns)
        assert not overlap.excessive, (seed, overlap)


def test_a_partly_copied_holdout_is_refused(students: pd.DataFrame) -> None:
    columns = [c for c in students.columns if c != "student_id"]
    train, holdout = students.iloc[:150], students.iloc[150:]
    mixed = pd.concat([holdout, train.iloc[:20]])  # 20 of 85 rows copied
    overlap, shared = holdout_overlap(train, mixed, columns)
    assert overlap.shared_rows == 20 and shared[-20:].all() and not shared[:-20].any()
    assert overlap.excessive


def test_adults_official_split_passes(adult: pd.DataFrame) -> None:
    """UCI's train and test files share 23 rows, no more than the train file repeats itself."""
    columns = [c for c in adult.columns if c != "split"]
    train, test = adult[adult["split"] == "train"], adult[adult["split"] == "test"]
    overlap, _ = holdout_overlap(train, test, columns)
    assert overlap.shared_rows > 0 and overlap.train_repeats > 0
    assert not overlap.excessive


def test_no_columns_means_nothing_to_compare() -> None:
    overlap, shared = holdout_overlap(_table(20, 1), _table(10, 2), [])
    assert shared.all() and overlap.train_repeats == 20 and not overlap.excessive


def test_dates_from_python_objects() -> None:
    """Datetime columns read from files, in any unit, compare by instant."""
    a = pd.DataFrame({"d": pd.to_datetime([dt.datetime(2001, 2, 3, 4, 5, 6, 7)]).astype("datetime64[us]")})
    b = pd.DataFrame({"d": pd.to_datetime([dt.datetime(2001, 2, 3, 4, 5, 6, 7)]).astype("datetime64[ns]")})
    assert row_hashes(a, ["d"]).tolist() == row_hashes(b, ["d"]).tolist()
