"""Singling-out risk: hand-counted tiny tables for both modes, the rank-slice query counting against a
plain pandas evaluation of the same predicates (random mixed tables with missing values), the sanity
controls on the demo table (a copying "generator" and a third real sample) and on UCI Adult where it
is available, then seeding, validation and what a result holds."""

from __future__ import annotations

import operator
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthpriv.attacks.anonymeter import risk_interval
from synthpriv.attacks.singling_out import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Encoding,
    Queries,
    TableIndex,
    baseline_queries,
    singling_out_risk,
)
from synthpriv.data.io import builtin_table_path
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, infer_schema
from synthpriv.errors import DataError

XC = TableSchema(
    columns=(
        ColumnSpec("x", ColumnKind.NUMERICAL, "float64", nullable=True),
        ColumnSpec("c", ColumnKind.CATEGORICAL, "object", nullable=False),
    )
)


def frame(rows: list[tuple[float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["x", "c"])


def quiet_schema(table: pd.DataFrame) -> TableSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the id column warning
        return infer_schema(table)


# --- by hand ------------------------------------------------------------------------------


def test_univariate_by_hand() -> None:
    # Synthetic: x has one missing value, min 1 and max 5 each once, and 1 and 5 occur once;
    # c has "c" once. So six queries single out there: x is null, x <= 1, x >= 5, x == 1, x == 5,
    # c == "c" ("a" and "b" occur twice, 2 twice).
    synthetic = frame([(1, "a"), (2, "a"), (2, "b"), (5, "b"), (np.nan, "c")])
    # Train: x is null (1 row), x <= 1 (1), x == 1 (1), x == 5 (1), c == "c" (1) single out;
    # x >= 5 matches 5 and 7. Five successes.
    train = frame([(1, "a"), (5, "c"), (7, "b"), (np.nan, "b")])
    # Holdout: only x == 1 singles out (x <= 1 matches 0 and 1, c == "c" two rows, the rest none).
    holdout = frame([(0, "a"), (1, "c"), (3, "c"), (4, "b")])
    result = singling_out_risk(train, holdout, synthetic, XC, mode="univariate", n_attacks=10, seed=3)
    assert result.name == "singling_out_univariate"
    assert result.queries == 6 and result.targets == 10 and result.rows == 4
    assert result.attack_rate == 0.5 and result.control_rate == 0.1  # counts over the 10 asked for
    assert result.risk == pytest.approx((0.5 - 0.1) / (1 - 0.1))
    assert result.risk_ci == pytest.approx(risk_interval(5, 10, 1, 10))
    assert 0.0 <= result.baseline_rate <= 1.0
    # Asking for three keeps three of the six, so at most three successes.
    three = singling_out_risk(train, holdout, synthetic, XC, mode="univariate", n_attacks=3, seed=3)
    assert three.queries == 3 and three.attack_rate * 3 <= 3


def test_multivariate_by_hand() -> None:
    # Median of x in synthetic: 2.5. Row (1, a) gives x <= 1 and c == a: one row; (2, a) gives
    # x <= 2 and c == a: two rows; (3, b) gives x >= 3 and c == b: two rows; (4, b) gives x >= 4 and
    # c == b: one row. Two distinct queries single out, however many candidates are drawn.
    synthetic = frame([(1, "a"), (2, "a"), (3, "b"), (4, "b")])
    # Train: {x <= 1, a} matches (0, a) and (1, a); {x >= 4, b} only (4, b). One success.
    train = frame([(0, "a"), (1, "a"), (4, "b"), (9, "c")])
    # Holdout: no "a" row; {x >= 4, b} matches (5, b) and (6, b). No success.
    holdout = frame([(1, "b"), (5, "b"), (6, "b"), (2, "c")])
    result = singling_out_risk(
        train, holdout, synthetic, XC, mode="multivariate", n_cols=2, n_attacks=5, max_attempts=3000, seed=0
    )
    assert result.name == "singling_out_multivariate"
    assert result.queries == 2
    assert result.attack_rate == pytest.approx(1 / 5) and result.control_rate == 0.0
    assert result.risk == pytest.approx(0.2)


def test_duplicates_dropped_and_equal_sample_sizes() -> None:
    # Each table loses its repeated rows first. Synthetic is then (1, a), (2, a), (2, b): x <= 1,
    # x == 1 and c == "b" single out (x >= 2 matches two rows). Counting the repeated (2, b) twice
    # would lose c == "b".
    synthetic = frame([(1, "a"), (2, "a"), (2, "b"), (2, "b")])
    # Train (1, a), (3, b), (4, b): x <= 1 and x == 1 single out (twice each with the repeat kept).
    train = frame([(1, "a"), (1, "a"), (3, "b"), (4, "b")])
    # Holdout (1, a), (1, b), (4, a): only c == "b" singles out.
    holdout = frame([(1, "a"), (1, "b"), (4, "a"), (4, "a")])
    result = singling_out_risk(train, holdout, synthetic, XC, mode="univariate", n_attacks=4, seed=0)
    assert result.queries == 3 and result.rows == 3
    assert result.attack_rate == 0.5 and result.control_rate == 0.25
    # A longer train table is sampled down to the holdout's 3 distinct rows.
    longer = pd.concat([train, frame([(10 + i, "b") for i in range(20)])], ignore_index=True)
    assert singling_out_risk(longer, holdout, synthetic, XC, mode="univariate", n_attacks=4, seed=0).rows == 3


def test_categories_meet_across_dtypes() -> None:
    # A generator may hand back 2.0 for the category 2: both are the key "2.0". The synthetic
    # c == 1.0 and c == 2.0 each single out among the train rows 1, 2, 3 and not among 5, 6, 7.
    schema = TableSchema(columns=(ColumnSpec("c", ColumnKind.CATEGORICAL, "int64", nullable=False),))
    synthetic = pd.DataFrame({"c": [1.0, 2.0]})
    train = pd.DataFrame({"c": [1, 2, 3]})
    holdout = pd.DataFrame({"c": [5, 6, 7]})
    result = singling_out_risk(train, holdout, synthetic, schema, mode="univariate", n_attacks=2, seed=0)
    assert result.queries == 2 and result.attack_rate == 1.0 and result.control_rate == 0.0


# --- query counting against pandas --------------------------------------------------------


MIXED = TableSchema(
    columns=(
        ColumnSpec("n", ColumnKind.NUMERICAL, "float64", nullable=True),
        ColumnSpec("f", ColumnKind.NUMERICAL, "float64", nullable=True),
        ColumnSpec("c", ColumnKind.CATEGORICAL, "object", nullable=True),
        ColumnSpec("b", ColumnKind.BOOLEAN, "bool", nullable=False),
        ColumnSpec("d", ColumnKind.DATETIME, "object", nullable=True, datetime_format="%Y-%m-%d"),
    )
)
OPERATORS = {
    EQ: operator.eq,
    NE: operator.ne,
    LT: operator.lt,
    GT: operator.gt,
    LE: operator.le,
    GE: operator.ge,
}
DATES = np.array(["2020-01-05", "2020-03-01", "2021-07-14", "2019-12-31"])


def mixed_table(rng: np.random.Generator, rows: int, spread: int) -> pd.DataFrame:
    def holes(values: np.ndarray, share: float) -> np.ndarray:
        values = values.astype(object)
        values[rng.random(rows) < share] = None
        return values

    return pd.DataFrame(
        {
            "n": pd.to_numeric(holes(rng.integers(0, spread, rows), 0.15)),
            "f": pd.to_numeric(holes(rng.integers(0, 3 * spread, rows) / 4, 0.1)),
            "c": holes(np.array(list("abcde"))[rng.integers(0, min(5, spread), rows)], 0.2),
            "b": rng.random(rows) < 0.3,
            "d": holes(DATES[rng.integers(0, 4, rows)], 0.25),
        }
    )


def pandas_count(table: pd.DataFrame, predicates: list[tuple[str, int, object]]) -> int:
    """Rows matching every (column, operator, value), straight from pandas on the raw values."""
    mask = pd.Series(True, index=table.index)
    for name, op, value in predicates:
        column = pd.to_datetime(table[name], format="%Y-%m-%d") if name == "d" else table[name]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            mask &= column.isna() if op == EQ else column.notna()
            continue
        if name == "d":
            value = pd.Timestamp(value)
        # A missing cell matches no comparison (pandas alone would let it pass !=).
        mask &= column.notna() & OPERATORS[op](column, value).fillna(False).astype(bool)
    return int(mask.sum())


def random_queries(
    rng: np.random.Generator, source: pd.DataFrame, source_ranks: np.ndarray, n: int, k: int
) -> tuple[Queries, list[list[tuple[str, int, object]]]]:
    """``n`` queries of ``k`` predicates, values taken from rows of ``source``: as ranks and as raw values."""
    names = [spec.name for spec in MIXED.columns]
    ordered = [spec.kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME) for spec in MIXED.columns]
    cols = np.array([np.sort(rng.choice(len(names), k, replace=False)) for _ in range(n)])
    rows = rng.integers(0, len(source), (n, 1))
    ops = np.where(np.array(ordered)[cols], rng.integers(0, 6, cols.shape), rng.integers(0, 2, cols.shape))
    values = source_ranks[cols, rows].astype(np.int64)
    raw = [
        [(names[c], int(op), source.iloc[int(r)][names[c]]) for c, op in zip(cs, os)]
        for cs, os, r in zip(cols, ops, rows[:, 0])
    ]
    return Queries(cols.astype(np.int64), ops.astype(np.int64), values), raw


def check_counts(seed: int, source_rows: int, target_rows: int, spread: int, n_queries: int) -> None:
    rng = np.random.default_rng(seed)
    source, target = mixed_table(rng, source_rows, spread), mixed_table(rng, target_rows, spread)
    encoding = Encoding.fit([source, target], MIXED.columns)
    index = TableIndex(encoding.ranks[1], encoding.sizes, np.random.default_rng(0))
    for k in (1, 2, 3):
        queries, raw = random_queries(rng, source, encoding.ranks[0], n_queries, k)
        expected = np.array([min(pandas_count(target, predicates), 2) for predicates in raw])
        assert (index.counts(queries) == expected).all(), (k, index.counts(queries), expected)


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    source_rows=st.integers(1, 30),
    target_rows=st.integers(1, 30),
    spread=st.integers(1, 12),
)
def test_counts_match_pandas_on_small_tables(
    seed: int, source_rows: int, target_rows: int, spread: int
) -> None:
    check_counts(seed, source_rows, target_rows, spread, n_queries=8)


def test_counts_match_pandas_on_larger_tables() -> None:
    check_counts(seed=7, source_rows=300, target_rows=2000, spread=40, n_queries=60)


def test_counts_match_pandas_when_slices_are_long() -> None:
    # n rises and f falls along the 5,000 rows, so n >= n[a] and f >= f[b] each match thousands of
    # rows but together only rows a..b: 0, 1, 2 or a few, settled only when the scan of the smaller
    # slice ends, after several rounds. c is "x" in row 0, then "a" but for 1 % of "b": c != "a" is
    # the smallest slice, made of two (the ranks of "x" and of "b" on either side of "a").
    rng = np.random.default_rng(11)
    rows = 5000
    i = np.arange(rows)
    table = pd.DataFrame(
        {
            "n": i.astype(float),
            "f": (rows - 1 - i).astype(float),
            "c": np.where(rng.random(rows) < 0.01, "b", "a"),
        }
    )
    table.loc[0, "c"] = "x"
    table.loc[rng.choice(rows, 40, replace=False), "n"] = np.nan
    schema = TableSchema(
        columns=(
            ColumnSpec("n", ColumnKind.NUMERICAL, "float64", nullable=True),
            ColumnSpec("f", ColumnKind.NUMERICAL, "float64", nullable=False),
            ColumnSpec("c", ColumnKind.CATEGORICAL, "object", nullable=False),
        )
    )
    encoding = Encoding.fit([table], schema.columns)
    ranks = encoding.ranks[0]
    index = TableIndex(ranks, encoding.sizes, np.random.default_rng(0))
    a = rng.integers(1, rows - 1, 300)
    b = np.clip(a + rng.integers(-2, 4, a.size), 1, rows - 1)
    up = Queries(
        np.tile([0, 1], (a.size, 1)), np.tile([GE, GE], (a.size, 1)), np.stack([ranks[0, a], ranks[1, b]], 1)
    )  # rows a..b (those of them with n present)
    down = Queries(up.cols, np.tile([LE, LE], (a.size, 1)), np.stack([ranks[0, b], ranks[1, a]], 1))
    rank_of_a = ranks[2, _row_of(table, "c", "a")]
    with_c = Queries(
        np.tile([0, 1, 2], (a.size, 1)),
        np.tile([GE, GE, NE], (a.size, 1)),
        np.stack([ranks[0, a], ranks[1, np.minimum(a + 60, rows - 1)], np.full(a.size, rank_of_a)], 1),
    )
    names = ["n", "f", "c"]
    for queries in (up, down, with_c):
        expected = []
        for cols, ops, values in zip(queries.cols, queries.ops, queries.values):
            # Each rank back to a raw value: the value of a row that holds it.
            raw = [table[names[c]].iloc[int(np.argmax(ranks[c] == v))] for c, v in zip(cols, values)]
            expected.append(min(2, pandas_count(table, list(zip([names[c] for c in cols], ops, raw)))))
        expected = np.array(expected)
        assert (expected <= 1).sum() >= 80  # plenty of queries settled only at the end of long slices
        assert (index.counts(queries) == expected).all()


def _row_of(table: pd.DataFrame, column: str, value: object) -> int:
    return int(np.flatnonzero(table[column].to_numpy() == value)[0])


def test_baseline_queries_draw_synthetic_values_and_allowed_operators() -> None:
    rng = np.random.default_rng(0)
    synthetic = mixed_table(rng, 50, 6)
    encoding = Encoding.fit([synthetic], MIXED.columns)
    index = TableIndex(encoding.ranks[0], encoding.sizes, np.random.default_rng(0))
    queries = baseline_queries(index, encoding.ordered, 400, 3, rng)
    assert queries.cols.shape == (400, 3)
    assert (np.diff(queries.cols, axis=1) > 0).all()  # distinct columns
    categorical = ~encoding.ordered[queries.cols]
    assert np.isin(queries.ops[categorical], [EQ, NE]).all()
    assert set(np.unique(queries.ops[~categorical])) == {EQ, NE, LT, GT, LE, GE}
    for c in range(len(MIXED.columns)):
        drawn = queries.values[queries.cols == c]
        assert set(drawn) == set(np.unique(encoding.ranks[0][c]))  # every distinct value, missing too


# --- sanity controls ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_parts() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, TableSchema]:
    table = pd.read_csv(builtin_table_path("student_placements"))
    schema = quiet_schema(table)
    shuffled = table.sample(frac=1, random_state=0).reset_index(drop=True)
    k = len(shuffled) // 3
    train, holdout, third = (shuffled.iloc[i * k : (i + 1) * k].reset_index(drop=True) for i in range(3))
    return train, holdout, third, schema


def assert_consistent(result, n_attacks: int) -> None:
    assert result.targets == n_attacks and 0 < result.queries <= n_attacks
    assert result.attack_rate_ci[0] <= result.attack_rate <= result.attack_rate_ci[1]
    assert result.control_rate_ci[0] <= result.control_rate <= result.control_rate_ci[1]
    assert 0.0 <= result.risk_ci[0] <= result.risk <= result.risk_ci[1] <= 1.0
    successes = round(result.attack_rate * n_attacks), round(result.control_rate * n_attacks)
    assert result.risk_ci == pytest.approx(risk_interval(successes[0], n_attacks, successes[1], n_attacks))


def test_copying_generator_singles_out(demo_parts) -> None:
    train, holdout, _, schema = demo_parts
    result = singling_out_risk(train, holdout, train, schema, mode="multivariate", n_attacks=300, seed=0)
    assert_consistent(result, 300)
    # Every query singles out one synthetic row, i.e. one train row; a third of them at most in
    # the 71 holdout rows.
    assert result.queries == 300 and result.attack_rate == 1.0
    assert result.control_rate < 0.35
    assert result.risk > 0.6 and result.risk_ci[0] > 0.6
    assert not result.weaker_than_baseline
    univariate = singling_out_risk(train, holdout, train, schema, mode="univariate", n_attacks=300, seed=0)
    assert_consistent(univariate, 300)
    assert univariate.attack_rate > univariate.control_rate + 0.3 and univariate.risk_ci[0] > 0.3


def test_independent_sample_does_not_single_out(demo_parts) -> None:
    train, holdout, third, schema = demo_parts
    for mode in ("univariate", "multivariate"):
        result = singling_out_risk(train, holdout, third, schema, mode=mode, n_attacks=300, seed=0)
        assert_consistent(result, 300)
        assert result.risk < 0.05 and result.risk_ci[0] == 0.0, result
        assert abs(result.attack_rate - result.control_rate) < 0.08, result


def test_adult_controls(adult) -> None:
    table = adult.drop(columns="split")
    schema = quiet_schema(table)
    rows = table.sample(n=18_000, random_state=1).reset_index(drop=True)
    train, holdout, third = rows.iloc[:6000], rows.iloc[6000:12000], rows.iloc[12000:]
    copy = singling_out_risk(train, holdout, train, schema, n_attacks=300, max_attempts=50_000, seed=0)
    independent = singling_out_risk(train, holdout, third, schema, n_attacks=300, max_attempts=50_000, seed=0)
    assert copy.attack_rate > 2 * copy.control_rate and copy.risk_ci[0] > 0.05, copy
    assert independent.risk_ci[0] < 0.01 and independent.risk < 0.05, independent


# --- bookkeeping --------------------------------------------------------------------------


def test_same_seed_same_result(demo_parts) -> None:
    train, holdout, third, schema = demo_parts
    for mode in ("univariate", "multivariate"):
        first, second = (
            singling_out_risk(train, holdout, third, schema, mode=mode, n_attacks=200, seed=5)
            for _ in range(2)
        )
        assert first.model_dump(exclude={"seconds"}) == second.model_dump(exclude={"seconds"})
    other = singling_out_risk(train, holdout, third, schema, n_attacks=200, seed=6)
    assert other.model_dump(exclude={"seconds"}) != first.model_dump(exclude={"seconds"})


def test_results_hold_no_real_values(demo_parts) -> None:
    train, holdout, _, schema = demo_parts
    planted = train.copy()
    planted.loc[0, "salary"] = 987654.321  # the maximum, and a value that occurs once: queried
    planted.loc[1, "mba_spec"] = "SENTINEL-so91"
    for mode in ("univariate", "multivariate"):
        result = singling_out_risk(planted, holdout, planted, schema, mode=mode, n_attacks=2000, seed=0)
        dumped = result.model_dump_json()
        assert "987654" not in dumped and "SENTINEL" not in dumped
    assert set(result.model_dump()) == {
        "name", "attack_rate", "attack_rate_ci", "control_rate", "control_rate_ci", "baseline_rate",
        "risk", "risk_ci", "targets", "weaker_than_baseline", "seconds", "queries", "rows",
    }  # fmt: skip


def test_rejects_bad_input(demo_parts) -> None:
    train, holdout, third, schema = demo_parts
    with pytest.raises(DataError, match="empty"):
        singling_out_risk(train.iloc[:0], holdout, third, schema, seed=0)
    with pytest.raises(DataError, match="empty"):
        singling_out_risk(train, holdout, third.iloc[:0], schema, seed=0)
    with pytest.raises(DataError, match="not modelled"):
        singling_out_risk(train, holdout, third, schema, columns=["gender", "nope"], seed=0)
    with pytest.raises(DataError, match="not modelled"):
        singling_out_risk(train, holdout, third, schema, columns=["student_id"], seed=0)  # an id
    with pytest.raises(DataError, match="n_cols"):
        singling_out_risk(train, holdout, third, schema, columns=["gender", "salary"], n_cols=3, seed=0)
    with pytest.raises(DataError, match="mode"):
        singling_out_risk(train, holdout, third, schema, mode="bivariate", seed=0)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="n_attacks"):
        singling_out_risk(train, holdout, third, schema, n_attacks=0, seed=0)
    with pytest.raises(DataError, match="not in the synthetic"):
        singling_out_risk(train, holdout, third.drop(columns="gender"), schema, seed=0)
