"""Anonymeter's singling-out threat model (Giomi et al., PoPETs 2023), reimplemented.

The attacker holds the synthetic table and writes *queries*: conjunctions of predicates on
columns (``age >= 71 and job == "pilot"``). A query *singles out* in a table when exactly one
row matches it. A query that singles out in the synthetic table and also in the real rows the
generator saw points at one real person; the control asks how often it does so among real
rows the generator never saw.

Tables. The columns are the schema's modelled columns, or ``columns``. Each of train, holdout
and synthetic loses its duplicate rows (over those columns), as in Anonymeter; then the attack
runs on a seeded sample of train rows and a seeded sample of holdout rows of one size,
n = min(train rows, holdout rows). Whether a query singles out depends on the size of the
table, and equal sizes spare Anonymeter's fitted size correction of the control.

Queries (``mode``), generated from the synthetic rows only:

- univariate: for each column, ``is null`` when exactly one synthetic value is missing;
  for a numerical or datetime column ``<= min`` and ``>= max`` of its present synthetic values;
  ``== v`` for every value v that occurs exactly once in the synthetic column. Shuffled
  (seeded), those that single out in the synthetic table kept, the first ``n_attacks``.
- multivariate: a random synthetic row and ``n_cols`` distinct random columns; per column
  ``is null`` for a missing value, ``== v`` for a categorical or boolean one, and for a number
  or datetime ``>= v`` when v is above the synthetic column's median, else ``<= v`` (extreme
  values single out more often). Candidates come in batches; distinct queries that single out
  in the synthetic table are kept until ``n_attacks`` are found or ``max_attempts`` candidates
  were tried.

Baseline (random guessing): ``n_attacks`` queries on ``n_cols`` random columns (1 in univariate
mode), each predicate a value drawn uniformly from the synthetic column's distinct values
(missing included) and an operator drawn from ``==, !=`` (categorical, boolean) or ``==, !=,
<, >, <=, >=`` (numerical, datetime); on a missing value ``==`` means ``is null`` and any
other operator ``is not null``, as in Anonymeter.

Scoring: attack = queries that single out in the train sample, control = the same queries in
the holdout sample, baseline = baseline queries that single out in the train sample, each
divided by ``n_attacks``, the number asked for, as Anonymeter does: a synthetic table that
yields fewer queries (``RiskResult.queries``) gets lower rates, its risk is then a lower bound.
Risk and interval as in `synthpriv.attacks.anonymeter`.

Evaluation. Every column is encoded once as integer ranks over the union of the three
tables: 0 = missing, then 1..m for its distinct present values (in value order for numbers
and datetimes, datetimes by their time since the epoch; one shared factorization of text keys for
categories and booleans, numbers going through float so that 13 and 13.0 meet). Every
predicate is then a rank interval [lo, hi] (``!=`` the present ranks outside one), and each
table keeps per column its rows sorted by rank and the cumulative row count per rank. So the
rows a predicate matches are one or two slices of that sorted order, counted in O(1). A query
with one predicate is thereby counted exactly; for a conjunction the smallest slice is
scanned, its rows checked against the other predicates, in rounds of growing width (16, 64,
256, ... rows) that stop once two matches are found (two or more cannot single out) or the
slice ends. A typical candidate matches hundreds of rows and is settled in the first round;
only the rare ones that match 0 or 1 rows read their whole slice. All of it runs on numpy
arrays, a block of (queries x width) elements at a time (memory near 64 MiB at most), with
Python loops over rounds and blocks only. On UCI Adult (32,561 train, 16,281 holdout and
32,561 synthetic rows, 15 columns, one thread) with ``n_attacks = 2000``: univariate 0.3 s,
multivariate 0.5 s for 100,000 candidates (only about 1 in 400 singles out in Adult, so that
yields about 240 queries) and 3 s for the 1,000,000 that yield all 2,000.

Results hold rates and counts only: no query, no value.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from synthpriv.attacks.anonymeter import attacked_rows, risk_result
from synthpriv.attacks.base import (
    AttackInputs,
    RiskAttack,
    RiskResult,
    SeedLike,
    spawn_seeds,
)
from synthpriv.config.base import StrictModel
from synthpriv.data.sampling import sample_positions
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, require_columns
from synthpriv.errors import DataError
from synthpriv.metrics.features import column_numbers

Mode = Literal["univariate", "multivariate"]
MODES: tuple[str, ...] = ("univariate", "multivariate")

# Operator codes. On a missing value (rank 0) EQ means "is null", anything else "is not null".
EQ, NE, LT, GT, LE, GE = range(6)
_ORDERED = (ColumnKind.NUMERICAL, ColumnKind.DATETIME)
#: Multivariate candidates generated and checked at once.
_BATCH = 1000
#: Rows of the smallest slice checked per query in the first round; each round reads 4x more.
_FIRST_WIDTH = 16
#: Elements (queries x rows) of one block in a round: a handful of int64 arrays, near 64 MiB.
_BLOCK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class Queries:
    """A batch of conjunctions, one row each: predicate j of query i is
    ``column[cols[i, j]] <ops[i, j]> value of rank values[i, j]`` (rank 0 = missing)."""

    cols: np.ndarray  # (queries, predicates) int64 column positions
    ops: np.ndarray  # (queries, predicates) int64 operator codes (EQ ... GE)
    values: np.ndarray  # (queries, predicates) int64 ranks

    def __len__(self) -> int:
        return len(self.cols)

    def take(self, index: np.ndarray | slice) -> Queries:
        return Queries(self.cols[index], self.ops[index], self.values[index])


@dataclass(frozen=True)
class Encoding:
    """The attack columns of several tables as ranks (see the module docstring)."""

    ranks: tuple[np.ndarray, ...]  # per table (columns, rows) int32, 0 = missing
    sizes: np.ndarray  # (columns,) number of distinct present values over all tables
    ordered: np.ndarray  # (columns,) bool: numerical or datetime

    @classmethod
    def fit(cls, tables: Sequence[pd.DataFrame], specs: Sequence[ColumnSpec]) -> Encoding:
        """Encode ``specs``' columns of every table over the union of their values."""
        lengths = [len(table) for table in tables]
        ranks = [np.empty((len(specs), n), dtype=np.int32) for n in lengths]
        sizes = np.empty(len(specs), dtype=np.int64)
        for c, spec in enumerate(specs):
            codes, sizes[c] = _column_ranks([table[spec.name] for table in tables], spec)
            for table_ranks, part in zip(ranks, np.split(codes, np.cumsum(lengths)[:-1])):
                table_ranks[c] = part
        ordered = np.array([spec.kind in _ORDERED for spec in specs], dtype=bool)
        return cls(tuple(ranks), sizes, ordered)


class TableIndex:
    """One table's ranks, sorted per column, for counting the rows that queries match."""

    def __init__(self, ranks: np.ndarray, sizes: np.ndarray, rng: np.random.Generator) -> None:
        n_columns, n_rows = ranks.shape
        # Rows are visited in a seeded random order, so that slices of tied ranks do not follow
        # the table's own order (the counts do not depend on it).
        shuffle = rng.permutation(n_rows)
        self.ranks = np.ascontiguousarray(ranks[:, shuffle])
        self.n_rows = n_rows
        self.sizes = sizes
        self.order = np.argsort(self.ranks, axis=1, kind="stable")  # sorted position -> row
        # cumulative[offset[c] + r] = rows of column c with rank < r, for r in 0..sizes[c] + 1.
        self.offset = np.concatenate([[0], np.cumsum(sizes + 2)[:-1]]).astype(np.int64)
        self.cumulative = np.concatenate(
            [
                np.concatenate([[0], np.cumsum(np.bincount(self.ranks[c], minlength=sizes[c] + 1))])
                for c in range(n_columns)
            ]
        ).astype(np.int64)

    def counts(self, queries: Queries) -> np.ndarray:
        """Rows each query matches, capped at 2 (0, 1, or 2 for "two or more")."""
        if len(queries) == 0:
            return np.zeros(0, dtype=np.int64)
        lo, hi, negated = _intervals(queries, self.sizes)
        start0, len0, start1, len1 = self._slices(queries.cols, lo, hi, negated)
        lengths = len0 + len1
        if queries.cols.shape[1] == 1:
            return np.minimum(lengths[:, 0], 2)
        driver = np.argmin(lengths, axis=1)[:, None]

        def pick(values: np.ndarray) -> np.ndarray:
            return np.take_along_axis(values, driver, axis=1)[:, 0]

        total, first_start, first_length, second_start = pick(lengths), pick(start0), pick(len0), pick(start1)
        driver_col = pick(queries.cols)
        found = np.zeros(len(queries), dtype=np.int64)
        read = 0  # rows of its smallest slice every still-open query has read
        open_ = np.flatnonzero(total > 0)
        width = _FIRST_WIDTH
        while open_.size:
            width = int(min(width, total[open_].max() - read))
            step = max(1, _BLOCK_ELEMENTS // width)
            for block in np.array_split(open_, -(-open_.size // step)):
                position = read + np.arange(width)[None, :]
                valid = position < total[block, None]
                in_first = position < first_length[block, None]
                sorted_at = np.where(
                    in_first,
                    first_start[block, None] + position,
                    second_start[block, None] + position - first_length[block, None],
                )
                rows = self.order[driver_col[block, None], np.where(valid, sorted_at, 0)]
                hit = valid
                for j in range(queries.cols.shape[1]):
                    values = self.ranks[queries.cols[block, j, None], rows]
                    hit &= _matches(values, lo[block, j, None], hi[block, j, None], negated[block, j, None])
                found[block] += hit.sum(axis=1)
            read += width
            open_ = open_[(found[open_] < 2) & (total[open_] > read)]
            width *= 4
        return np.minimum(found, 2)

    def _slices(
        self, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray, negated: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(start, length) of the one or two slices of sorted rows each predicate matches."""
        base = self.offset[cols]
        size = self.sizes[cols]
        below = self.cumulative  # below[base + r]: rows with rank < r
        lo_at = np.clip(lo, 0, size + 1)
        hi_end = np.maximum(np.clip(hi + 1, 0, size + 1), lo_at)
        start0 = below[base + lo_at]
        len0 = below[base + hi_end] - start0
        start1 = np.zeros_like(start0)
        len1 = np.zeros_like(start0)
        # != v: the present ranks 1..v-1 and v+1..size, two slices.
        neg = np.flatnonzero(negated.ravel())
        if neg.size:
            b, v, m = base.ravel()[neg], lo.ravel()[neg], size.ravel()[neg]
            np.put(start0, neg, below[b + 1])
            np.put(len0, neg, below[b + v] - below[b + 1])
            np.put(start1, neg, below[b + v + 1])
            np.put(len1, neg, below[b + m + 1] - below[b + v + 1])
        return start0, len0, start1, len1


def singling_out_risk(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    mode: Mode = "multivariate",
    columns: Sequence[str] | None = None,
    n_attacks: int = 500,
    n_cols: int = 3,
    seed: SeedLike,
    max_attempts: int = 100_000,
) -> RiskResult:
    """Singling-out attack (module docstring): do queries that single out one synthetic row
    single out one train row more often than one holdout row?

    Raises DataError when a table is empty or lacks a column, a column is not a modelled
    column of the schema, ``mode`` is unknown, ``n_cols`` exceeds the columns (multivariate),
    or ``n_attacks`` or ``max_attempts`` is below 1.
    """
    started = time.perf_counter()
    specs = _attack_columns(schema, columns)
    _check_arguments(mode, n_cols, len(specs), n_attacks, max_attempts)
    names = [spec.name for spec in specs]
    for role, table in (("train", train), ("holdout", holdout), ("synthetic", synthetic)):
        require_columns(table, names, role)
    encoding = Encoding.fit([train, holdout, synthetic], specs)
    train_ranks, holdout_ranks, synthetic_ranks = (_distinct_rows(ranks) for ranks in encoding.ranks)
    # A child's stream depends on its index only: adding order_rng left the other four as they were.
    train_rng, holdout_rng, query_rng, baseline_rng, order_rng = (
        np.random.default_rng(s) for s in spawn_seeds(seed, 5)
    )
    n = min(train_ranks.shape[1], holdout_ranks.shape[1])
    members = TableIndex(
        train_ranks[:, sample_positions(train_ranks.shape[1], n, train_rng)], encoding.sizes, order_rng
    )
    non_members = TableIndex(
        holdout_ranks[:, sample_positions(holdout_ranks.shape[1], n, holdout_rng)], encoding.sizes, order_rng
    )
    synthetic_index = TableIndex(synthetic_ranks, encoding.sizes, order_rng)
    if mode == "univariate":
        queries = univariate_queries(synthetic_index, encoding.ordered, n_attacks, query_rng)
    else:
        queries = multivariate_queries(
            synthetic_index, encoding.ordered, n_attacks, n_cols, query_rng, max_attempts=max_attempts
        )
    baseline = baseline_queries(
        synthetic_index, encoding.ordered, n_attacks, 1 if mode == "univariate" else n_cols, baseline_rng
    )
    return risk_result(
        f"singling_out_{mode}",
        attack_successes=int((members.counts(queries) == 1).sum()),
        control_successes=int((non_members.counts(queries) == 1).sum()),
        baseline_successes=int((members.counts(baseline) == 1).sum()),
        trials=n_attacks,
        started=started,
        queries=len(queries),
        rows=n,
    )


def _check_arguments(mode: str, n_cols: int, n_columns: int, n_attacks: int, max_attempts: int) -> None:
    if mode not in MODES:
        raise DataError(f"mode must be one of {', '.join(MODES)}, got {mode!r}", where="singling out")
    if mode == "multivariate" and not 1 <= n_cols <= n_columns:
        raise DataError(
            f"n_cols must lie in [1, {n_columns}] (the attack columns), got {n_cols}", where="singling out"
        )
    if n_attacks < 1 or max_attempts < 1:
        raise DataError(
            f"n_attacks and max_attempts must be at least 1, got {n_attacks} and {max_attempts}",
            where="singling out",
        )


# --- queries ------------------------------------------------------------------------------


def univariate_queries(
    synthetic: TableIndex, ordered: np.ndarray, n_attacks: int, rng: np.random.Generator
) -> Queries:
    """Up to ``n_attacks`` one-predicate queries that single out in ``synthetic`` (module docstring)."""
    cols, ops, values = [], [], []

    def add(column: int, op: int, ranks: np.ndarray) -> None:
        cols.append(np.full(ranks.size, column, dtype=np.int64))
        ops.append(np.full(ranks.size, op, dtype=np.int64))
        values.append(ranks.astype(np.int64))

    for c in range(synthetic.ranks.shape[0]):
        counts = np.bincount(synthetic.ranks[c], minlength=synthetic.sizes[c] + 1)
        if counts[0] == 1:
            add(c, EQ, np.zeros(1))  # is null
        present = np.flatnonzero(counts[1:]) + 1
        if ordered[c] and present.size:
            add(c, LE, present[:1])
            add(c, GE, present[-1:])
        add(c, EQ, np.flatnonzero(counts[1:] == 1) + 1)
    candidates = Queries(*(np.concatenate(part)[:, None] for part in (cols, ops, values)))
    candidates = candidates.take(rng.permutation(len(candidates)))
    kept = candidates.take(synthetic.counts(candidates) == 1)
    return kept.take(_first_distinct(kept)[:n_attacks])


def multivariate_queries(
    synthetic: TableIndex,
    ordered: np.ndarray,
    n_attacks: int,
    n_cols: int,
    rng: np.random.Generator,
    *,
    max_attempts: int = 100_000,
) -> Queries:
    """Up to ``n_attacks`` distinct ``n_cols``-predicate queries built from synthetic rows that
    single out in ``synthetic``, from at most ``max_attempts`` candidates (module docstring)."""
    medians = _present_medians(synthetic.ranks)
    kept = Queries(*(np.zeros((0, n_cols), dtype=np.int64) for _ in range(3)))
    attempts = 0
    while len(kept) < n_attacks and attempts < max_attempts:
        batch = min(_BATCH, max_attempts - attempts)
        attempts += batch
        rows = rng.integers(0, synthetic.n_rows, batch)
        cols = _random_columns(rng, batch, synthetic.ranks.shape[0], n_cols)
        values = synthetic.ranks[cols, rows[:, None]].astype(np.int64)
        above = values > medians[cols]
        ops = np.where(ordered[cols] & (values > 0), np.where(above, GE, LE), EQ)
        candidates = Queries(cols, ops, values)
        found = candidates.take(synthetic.counts(candidates) == 1)
        kept = Queries(*(np.concatenate([a, b]) for a, b in zip(_arrays(kept), _arrays(found))))
        kept = kept.take(_first_distinct(kept)[:n_attacks])
    return kept


def baseline_queries(
    synthetic: TableIndex, ordered: np.ndarray, n_queries: int, n_cols: int, rng: np.random.Generator
) -> Queries:
    """``n_queries`` random-guess queries on ``n_cols`` columns each (module docstring)."""
    n_columns = synthetic.ranks.shape[0]
    cols = _random_columns(rng, n_queries, n_columns, n_cols)
    # Each column's distinct synthetic ranks (0 among them when a value is missing), end to end.
    distinct = [np.unique(synthetic.ranks[c]) for c in range(n_columns)]
    counts = np.array([d.size for d in distinct], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pool = np.concatenate(distinct).astype(np.int64)
    values = pool[starts[cols] + (rng.random(cols.shape) * counts[cols]).astype(np.int64)]
    n_ops = np.where(ordered[cols], 6, 2)  # EQ, NE for categories; all six for numbers
    ops = (rng.random(cols.shape) * n_ops).astype(np.int64)
    return Queries(cols, ops, values)


# --- helpers ------------------------------------------------------------------------------


def _attack_columns(schema: TableSchema, columns: Sequence[str] | None) -> list[ColumnSpec]:
    modelled = {spec.name: spec for spec in schema.modelled()}
    names = list(modelled) if columns is None else list(columns)
    if not names:
        raise DataError("no column to write queries on", where="singling out")
    if len(set(names)) != len(names):
        raise DataError(f"repeated column in {names}", where="singling out")
    unknown = [name for name in names if name not in modelled]
    if unknown:
        raise DataError(f"column(s) {unknown} are not modelled columns of the schema", where="singling out")
    return [modelled[name] for name in names]


def _column_ranks(parts: Sequence[pd.Series], spec: ColumnSpec) -> tuple[np.ndarray, int]:
    """Ranks of one column over all ``parts`` end to end (0 = missing), and its distinct present values."""
    if spec.kind in _ORDERED:
        numbers = np.concatenate([column_numbers(part, spec) for part in parts])
        missing = np.isnan(numbers)
        distinct = np.unique(numbers[~missing])
        ranks = np.searchsorted(distinct, np.where(missing, 0.0, numbers)) + 1
        return np.where(missing, 0, ranks).astype(np.int32), int(distinct.size)
    codes, uniques = pd.factorize(np.concatenate([_keys(part) for part in parts]), use_na_sentinel=True)
    return (codes + 1).astype(np.int32), len(uniques)


def _keys(values: pd.Series) -> np.ndarray:
    """Text keys (None where missing); numbers through float first, so that 13 and 13.0 meet."""
    present = values.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        text = values.to_numpy(dtype=float, na_value=np.nan).astype(str).astype(object)
    else:
        text = values.astype(object).astype(str).to_numpy(dtype=object)
    keys = text.copy()
    keys[~present] = None
    return keys


def _distinct_rows(ranks: np.ndarray) -> np.ndarray:
    """The columns of a (columns, rows) rank matrix with repeated rows dropped, first ones kept in order."""
    _, first = np.unique(ranks.T, axis=0, return_index=True)
    return ranks[:, np.sort(first)]


def _intervals(queries: Queries, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each predicate as ranks lo..hi (an empty range when lo > hi), or for != as "present and
    outside lo..hi" (``negated``)."""
    v, ops, top = queries.values, queries.ops, sizes[queries.cols]
    lo = np.select([ops == LE, ops == LT, ops == GT], [np.ones_like(v), np.ones_like(v), v + 1], v)
    hi = np.select([ops == LE, ops == LT, ops == GT, ops == GE], [v, v - 1, top, top], v)
    negated = ops == NE
    # A missing value: == is "is null" (rank 0 only), any other operator "is not null".
    missing = v == 0
    is_null = missing & (ops == EQ)
    not_null = missing & ~is_null
    lo = np.where(is_null, 0, np.where(not_null, 1, lo))
    hi = np.where(is_null, 0, np.where(not_null, top, hi))
    return lo, hi, negated & ~missing


def _matches(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, negated: np.ndarray) -> np.ndarray:
    inside = (values >= lo) & (values <= hi)
    return np.where(negated, ~inside & (values > 0), inside)


def _present_medians(ranks: np.ndarray) -> np.ndarray:
    """Median rank of each column's present values (0 when none is present).

    Ranks keep the values' order, so "value above the median of the values" is "rank above
    the median of the ranks", also when the median falls between two values.
    """
    medians = np.zeros(ranks.shape[0])
    for c, column in enumerate(ranks):
        present = column[column > 0]
        if present.size:
            medians[c] = np.median(present)
    return medians


def _random_columns(rng: np.random.Generator, n: int, n_columns: int, k: int) -> np.ndarray:
    """``n`` rows of ``k`` distinct random column positions, in increasing order."""
    return np.sort(np.argsort(rng.random((n, n_columns)), axis=1)[:, :k], axis=1).astype(np.int64)


def _first_distinct(queries: Queries) -> np.ndarray:
    """Positions of the queries seen for the first time, in their order."""
    if len(queries) == 0:
        return np.zeros(0, dtype=np.int64)
    stacked = np.concatenate(_arrays(queries), axis=1)
    _, first = np.unique(stacked, axis=0, return_index=True)
    return np.sort(first)


def _arrays(queries: Queries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return queries.cols, queries.ops, queries.values


# --- the registered attacks -----------------------------------------------------------------


class SinglingOutSettings(StrictModel):
    """``attack.settings.singling_out_univariate`` (and ``..._multivariate``)."""

    queries: int = Field(default=500, ge=10, le=100_000)
    """Queries the attacker builds from the synthetic rows (Anonymeter's n_attacks;
    `attack.singling_out_queries`)."""
    columns: int = Field(default=3, ge=1, le=20)
    """Columns per multivariate query (Anonymeter's n_cols; `attack.singling_out_columns`)."""
    attempts: int = Field(default=1_000_000, ge=1000)
    """Most candidate queries tried (`attack.singling_out_attempts`); too few found lowers the
    rates, so the risk is then a lower bound."""


class SinglingOutAttack(RiskAttack[SinglingOutSettings]):
    """Singling out with queries on one column (``univariate``) or on several (``multivariate``)."""

    settings_model = SinglingOutSettings
    gates = ("max_singling_out_risk",)
    legacy_settings = (
        ("queries", "singling_out_queries"),
        ("columns", "singling_out_columns"),
        ("attempts", "singling_out_attempts"),
    )

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.name = f"singling_out_{mode}"
        self.title = "singling out (one column)" if mode == "univariate" else "singling out (several columns)"
        self.description = (
            "Singling out: the attacker writes queries (a rare value, or a few columns' values) that match "
            "exactly one synthetic row and checks whether they match exactly one real person."
            if mode == "univariate"
            else ""
        )

    def _columns(self, settings: SinglingOutSettings) -> int:
        return 1 if self.mode == "univariate" else settings.columns

    def skip_reason(self, inputs: AttackInputs, settings: SinglingOutSettings) -> str | None:
        modelled = len(inputs.schema.modelled())
        if modelled < self._columns(settings):
            return f"needs at least {settings.columns} modelled columns (the table has {modelled})"
        return None

    def run(self, inputs: AttackInputs, settings: SinglingOutSettings) -> RiskResult:
        attacked, seed = attacked_rows(inputs, self.name)
        return singling_out_risk(
            inputs.train,
            inputs.holdout,
            attacked,
            inputs.schema,
            mode=self.mode,
            n_attacks=settings.queries,
            n_cols=self._columns(settings),
            seed=seed,
            max_attempts=settings.attempts,
        )
