"""Coverage: does the synthetic table span what the real one spans, and only that?

Per column, on the full tables:

- categorical and boolean columns: how many real categories the synthetic table never
  produces (and the share of real rows in them), and how many categories it invents. Missing
  values are not a category here. Only counts and shares are kept, never the categories
  themselves: these results go into reports;
- numerical and datetime columns: the share of synthetic values outside the real [min, max]
  (the bounds themselves are not kept).

Over whole rows, k-NN precision and recall ("Improved precision and recall metric for assessing
generative models", Kynkäänniemi et al. 2019; in spirit the alpha-precision / beta-recall of
Alaa et al. 2022 at one fixed alpha and beta). The real manifold is the union of balls around
each real row with radius its distance to its k-th nearest real neighbour; likewise for the
synthetic rows. Precision is the share of synthetic rows inside the real manifold (are they
realistic?), recall the share of real rows inside the synthetic manifold (is the real variety
covered?). A generator that collapses onto a few real rows keeps precision and loses recall.

Rows are embedded for Euclidean distance with parameters from the real table: numbers and
datetimes standardised by the real mean and standard deviation, a missing number at the mean
plus a missing indicator of weight 1; categories one-hot with weight 1/√2, so that one category
mismatch is a distance of 1, one standard deviation (missing is its own category; the 255 most
frequent real categories get a slot, the rest and categories the real table lacks share one).
The k-NN figures use seeded samples of at most ``max_rows`` rows per table. With a real holdout,
the same two figures for holdout vs real rows are what an independent real sample of that size
scores: the reference. Distances come from chunked float32 matrix products (memory stays near
64 MiB); a squared distance within 1e-4 of a radius counts as inside, so float32 rounding
cannot push a duplicate row out of a zero-radius ball.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import Field

from synthpriv.config.base import StrictModel
from synthpriv.data.sampling import sample_positions
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, require_columns
from synthpriv.errors import DataError
from synthpriv.metrics.distances import squared_distance_blocks
from synthpriv.metrics.features import CONTINUOUS, category_keys, column_numbers
from synthpriv.runtime.seeding import stream_rng

_ONE_HOT = 1.0 / math.sqrt(2.0)
_MISSING_KEY = "\x00missing"  # a category key no real label can collide with
_MAX_CATEGORIES = 255
_TOLERANCE = 1e-4  # squared distance, in standardised units


class ColumnCoverage(StrictModel):
    """Coverage of one column; the fields that do not apply to its kind are None."""

    column: str
    kind: ColumnKind
    real_categories: int | None = Field(default=None, ge=0)
    """Distinct non-missing categories in the real table (categorical and boolean columns)."""
    missed_categories: int | None = Field(default=None, ge=0)
    """Real categories the synthetic table never produces. Ideal 0."""
    missed_real_share: float | None = Field(default=None, ge=0, le=1)
    """Share of the real rows whose category the synthetic table never produces. Ideal 0."""
    invented_categories: int | None = Field(default=None, ge=0)
    """Synthetic categories absent from the real table. Ideal 0."""
    invented_synthetic_share: float | None = Field(default=None, ge=0, le=1)
    """Share of the synthetic rows with an invented category. Ideal 0."""
    out_of_range_share: float | None = Field(default=None, ge=0, le=1)
    """Share of the non-missing synthetic values outside the real [min, max] (numerical and
    datetime columns). Ideal 0."""


class CoverageResult(StrictModel):
    """Per-column coverage and k-NN precision / recall of a synthetic table against the real one."""

    columns: list[ColumnCoverage]
    """One entry per modelled column, in schema order."""
    missed_categories: int = Field(ge=0)
    """Sum of `missed_categories` over the columns. Ideal 0."""
    invented_categories: int = Field(ge=0)
    """Sum of `invented_categories` over the columns. Ideal 0."""
    precision: float = Field(ge=0, le=1)
    """Share of synthetic rows inside the real k-NN manifold. Ideal: near 1, as the holdout's."""
    recall: float = Field(ge=0, le=1)
    """Share of real rows inside the synthetic k-NN manifold. Ideal: near 1, as the holdout's."""
    holdout_precision: float | None = Field(default=None, ge=0, le=1)
    """`precision` of the real holdout against the real rows; None without a holdout."""
    holdout_recall: float | None = Field(default=None, ge=0, le=1)
    """`recall` of the real holdout against the real rows; None without a holdout."""
    k: int = Field(ge=1)
    """The k of the k-th nearest neighbour radius."""
    rows_real: int = Field(ge=1)
    """Real rows in the k-NN comparison (a seeded sample of at most max_rows)."""
    rows_synthetic: int = Field(ge=1)
    """Synthetic rows in the k-NN comparison (as many as the real rows)."""
    rows_holdout: int | None = Field(default=None, ge=1)
    """Holdout rows in the k-NN reference (and as many real rows); None without a holdout."""
    encoded_dims: int = Field(ge=1)
    """Width of the row embedding."""
    seconds: float = Field(ge=0)
    """Wall-clock time of the whole evaluation."""


def coverage(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    seed: int,
    k: int = 5,
    max_rows: int = 10_000,
    holdout: pd.DataFrame | None = None,
) -> CoverageResult:
    """Category and range coverage per column, and k-NN precision / recall (module docstring).

    The k-NN part compares equal-size seeded samples: min(len(real), len(synthetic), max_rows)
    rows of each; the holdout reference compares min(len(holdout), that) holdout rows with as
    many of the sampled real rows. Raises DataError when a table is empty or lacks a modelled
    column, or when a sample has no more than ``k`` rows.
    """
    started = time.perf_counter()
    columns = [c.name for c in schema.modelled()]
    tables = {"real": real, "synthetic": synthetic} | ({"holdout": holdout} if holdout is not None else {})
    for role, table in tables.items():
        require_columns(table, columns, role)
    if k < 1:
        raise DataError(f"coverage needs k >= 1, not {k}", where="coverage")
    per_column = [_column_coverage(real[spec.name], synthetic[spec.name], spec) for spec in schema.modelled()]

    n = min(len(real), len(synthetic), max_rows)
    n_holdout = min(len(holdout), n) if holdout is not None else None
    if min(n, n_holdout or n) <= k:
        raise DataError(f"k-NN coverage needs more than k={k} rows in each table", where="coverage")
    # Each table's sample from a named stream of the seed the caller gives. The real rows' is a
    # random order, not a sorted sample: any prefix of it is a random sample too (the reference's).
    real_rows = real.iloc[stream_rng(seed, "sample", "real").permutation(len(real))[:n]]
    embedding = _Embedding.fit(real, schema, list(tables.values()))
    real_x = embedding.transform(real_rows)
    synthetic_rows = sample_positions(len(synthetic), n, stream_rng(seed, "sample", "synthetic"))
    synthetic_x = embedding.transform(synthetic.iloc[synthetic_rows])
    real_radii = _knn_radii(real_x, k)
    precision, recall = _precision_recall(real_x, real_radii, synthetic_x, _knn_radii(synthetic_x, k))

    holdout_precision = holdout_recall = None
    if holdout is not None and n_holdout is not None:
        holdout_rows = sample_positions(len(holdout), n_holdout, stream_rng(seed, "sample", "holdout"))
        holdout_x = embedding.transform(holdout.iloc[holdout_rows])
        holdout_precision, holdout_recall = _holdout_reference(real_x, real_radii, holdout_x, k)
    return CoverageResult(
        columns=per_column,
        missed_categories=sum(c.missed_categories or 0 for c in per_column),
        invented_categories=sum(c.invented_categories or 0 for c in per_column),
        precision=precision,
        recall=recall,
        holdout_precision=holdout_precision,
        holdout_recall=holdout_recall,
        k=k,
        rows_real=n,
        rows_synthetic=n,
        rows_holdout=n_holdout,
        encoded_dims=embedding.width,
        seconds=time.perf_counter() - started,
    )


def _holdout_reference(
    real_x: np.ndarray, real_radii: np.ndarray, holdout_x: np.ndarray, k: int
) -> tuple[float, float]:
    """k-NN precision and recall of the holdout rows against as many of the sampled real rows
    (a prefix of their random order, so a random sample too)."""
    reference_x = real_x[: len(holdout_x)]
    reference_radii = real_radii if len(holdout_x) == len(real_x) else _knn_radii(reference_x, k)
    return _precision_recall(reference_x, reference_radii, holdout_x, _knn_radii(holdout_x, k))


# --- per column ---------------------------------------------------------------------------


def _column_coverage(real: pd.Series, synthetic: pd.Series, spec: ColumnSpec) -> ColumnCoverage:
    if spec.kind in CONTINUOUS:
        real_numbers = column_numbers(real, spec)
        synthetic_numbers = column_numbers(synthetic, spec)
        synthetic_numbers = synthetic_numbers[~np.isnan(synthetic_numbers)]
        if synthetic_numbers.size == 0:
            share = 0.0
        elif np.isnan(real_numbers).all():
            share = 1.0  # no real value at all: every synthetic value lies outside
        else:
            low, high = np.nanmin(real_numbers), np.nanmax(real_numbers)
            share = float(((synthetic_numbers < low) | (synthetic_numbers > high)).mean())
        return ColumnCoverage(column=spec.name, kind=spec.kind, out_of_range_share=share)
    real_counts = category_keys(real).value_counts()
    synthetic_counts = category_keys(synthetic).value_counts()
    missed = ~real_counts.index.isin(synthetic_counts.index)
    invented = ~synthetic_counts.index.isin(real_counts.index)
    return ColumnCoverage(
        column=spec.name,
        kind=spec.kind,
        real_categories=len(real_counts),
        missed_categories=int(missed.sum()),
        missed_real_share=_share(real_counts[missed].sum(), len(real)),
        invented_categories=int(invented.sum()),
        invented_synthetic_share=_share(synthetic_counts[invented].sum(), len(synthetic)),
    )


def _share(count: int, total: int) -> float:
    return float(count) / total if total else 0.0


# --- embedding ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    """Fitted embedding of one column: a standardised number (plus missing flag) or a one-hot block."""

    spec: ColumnSpec
    mean: float = 0.0
    std: float = 1.0
    missing_flag: bool = False
    categories: tuple[str, ...] = ()  # one-hot slots; one more slot takes every other value

    @property
    def width(self) -> int:
        return 1 + int(self.missing_flag) if self.spec.kind in CONTINUOUS else len(self.categories) + 1


@dataclass(frozen=True)
class _Embedding:
    """Row embedding fitted on the real table (see the module docstring)."""

    parts: tuple[_Part, ...]

    @classmethod
    def fit(cls, real: pd.DataFrame, schema: TableSchema, tables: list[pd.DataFrame]) -> _Embedding:
        parts = []
        for spec in schema.modelled():
            if spec.kind in CONTINUOUS:
                numbers = column_numbers(real[spec.name], spec)
                finite = numbers[~np.isnan(numbers)]
                std = float(finite.std()) if finite.size else 0.0
                # An indicator whenever any compared table misses a value: otherwise a missing
                # synthetic number would silently sit at the real mean.
                flag = bool(np.isnan(numbers).any()) or any(bool(t[spec.name].isna().any()) for t in tables)
                mean = float(finite.mean()) if finite.size else 0.0
                parts.append(_Part(spec, mean=mean, std=std if std > 0 else 1.0, missing_flag=flag))
            else:
                counts = category_keys(real[spec.name]).fillna(_MISSING_KEY).value_counts()
                ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
                parts.append(_Part(spec, categories=tuple(str(key) for key, _ in ranked[:_MAX_CATEGORIES])))
        return cls(tuple(parts))

    @property
    def width(self) -> int:
        return sum(part.width for part in self.parts)

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(table), self.width), dtype=np.float32)
        offset = 0
        for part in self.parts:
            values = table[part.spec.name]
            if part.spec.kind in CONTINUOUS:
                numbers = column_numbers(values, part.spec)
                missing = np.isnan(numbers)
                out[:, offset] = np.where(missing, 0.0, (numbers - part.mean) / part.std)
                if part.missing_flag:
                    out[:, offset + 1] = missing
            else:
                keys = category_keys(values).fillna(_MISSING_KEY)
                slots = pd.Categorical(keys, categories=list(part.categories)).codes.astype(np.int64)
                slots[slots < 0] = len(part.categories)  # rare and unseen categories share the last slot
                out[np.arange(len(table)), offset + slots] = _ONE_HOT
            offset += part.width
        return out


# --- k-NN precision and recall ------------------------------------------------------------


def _knn_radii(points: np.ndarray, k: int) -> np.ndarray:
    """Squared distance of each row to its k-th nearest other row of ``points``."""
    radii = np.empty(len(points), dtype=np.float32)
    for start, block in squared_distance_blocks(points, points, chunk=len(points)):
        rows = np.arange(len(block))
        block[rows, start + rows] = np.inf  # a row is not its own neighbour
        radii[start : start + len(block)] = np.partition(block, k - 1, axis=1)[:, k - 1]
    return np.maximum(radii, 0.0)


def _precision_recall(
    real: np.ndarray, real_radii: np.ndarray, other: np.ndarray, other_radii: np.ndarray
) -> tuple[float, float]:
    """(share of ``other`` rows inside a real ball, share of real rows inside an ``other`` ball).

    One pass over the other-by-real distance matrix answers both: along its rows for
    precision, along its columns for recall.
    """
    real_reach = (real_radii + _TOLERANCE).astype(np.float32)[None, :]
    other_reach = (other_radii + _TOLERANCE).astype(np.float32)
    inside_real = np.empty(len(other), dtype=bool)
    covered = np.zeros(len(real), dtype=bool)
    for start, block in squared_distance_blocks(other, real, chunk=len(other)):
        inside_real[start : start + len(block)] = (block <= real_reach).any(axis=1)
        covered |= (block <= other_reach[start : start + len(block), None]).any(axis=0)
    return float(inside_real.mean()), float(covered.mean())
