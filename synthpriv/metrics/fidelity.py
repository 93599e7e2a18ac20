"""Fidelity: how closely the synthetic table follows the real one, scored by sdmetrics.

One sdmetrics ``QualityReport`` per comparison, run over ALL column pairs (both real-strength
thresholds set to 0, as the published results on Adult were measured). The score sdmetrics
gives with its default thresholds (pairs whose real correlation or association is weak are
skipped) is derived from the same details table instead of generating a second report: the
per-pair scores are identical, only the set of pairs averaged differs, and that set depends on
the real table alone. The real Cramér's V that sdmetrics would compute for that choice is
computed here the same way, once per real table, and shared with the holdout reference.

The holdout reference scores an independent real sample (holdout vs train) with the same
report: what an honest generator can at best hope for.

Nothing here keeps a row: results are scores per column and per pair, and charts get shares
per bin or category after k-suppression (`synthpriv.data.redact`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field
from scipy.stats.contingency import association

from synthpriv.config.base import StrictModel
from synthpriv.data.dtypes import datetime_seconds
from synthpriv.data.redact import (
    DEFAULT_K,
    OTHER_LABEL,
    shared_categories,
    shared_histogram,
    whole_number_bins,
)
from synthpriv.data.sampling import sample_rows
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, require_columns
from synthpriv.runtime.seeding import stream_rng

with warnings.catch_warnings():
    # The single-table report is deprecated in favour of the unified one; it is the one whose
    # scores the published results and ANCHORS.md use.
    warnings.simplefilter("ignore", FutureWarning)
    from sdmetrics.reports.single_table import QualityReport

MISSING_LABEL = "(missing)"
_CONTINUOUS = (ColumnKind.NUMERICAL, ColumnKind.DATETIME)
_CORRELATION = "CorrelationSimilarity"
_SHAPES = "Column Shapes"
_TRENDS = "Column Pair Trends"
# Per column: integer group codes and the number of groups.
Codes = dict[str, tuple[np.ndarray, int]]


class ColumnScore(StrictModel):
    """sdmetrics' shape score of one column (KSComplement or TVComplement); ideal 1."""

    column: str
    metric: str
    score: float
    """Synthetic vs real; NaN where sdmetrics could not score the column (e.g. all missing)."""
    holdout_score: float | None = None
    """Real holdout vs real train; None without a holdout."""


class PairScore(StrictModel):
    """sdmetrics' trend score of one column pair; ideal 1."""

    column_1: str
    column_2: str
    metric: str
    """CorrelationSimilarity (two continuous columns) or ContingencySimilarity."""
    score: float
    """Synthetic vs real; NaN where sdmetrics could not score the pair."""
    real_value: float
    """Pearson correlation (CorrelationSimilarity) or Cramér's V (ContingencySimilarity) in the real table."""
    synthetic_value: float
    """The same statistic in the synthetic table."""
    meets_default_threshold: bool
    """Whether sdmetrics' default thresholds (|correlation| > 0.5, Cramér's V > 0.3) keep the pair."""
    holdout_score: float | None = None
    """Real holdout vs real train; None without a holdout."""


class FidelityResult(StrictModel):
    """sdmetrics quality of a synthetic table against the real one, with a real holdout reference.

    Every score lies in [0, 1] and 1 is ideal (identical marginals and pair trends). A synthetic
    table cannot honestly score better than the holdout reference (an independent real sample);
    scoring above it while privacy attacks succeed means memorization, not quality.
    """

    quality: float | None = Field(default=None, ge=0, le=1)
    """Overall score over ALL columns and ALL pairs: mean of column shapes and pair trends."""
    quality_default_thresholds: float | None = Field(default=None, ge=0, le=1)
    """Overall score as sdmetrics reports it by default: weakly related real pairs are skipped."""
    column_shapes: float | None = Field(default=None, ge=0, le=1)
    """Mean per-column marginal similarity."""
    column_pair_trends: float | None = Field(default=None, ge=0, le=1)
    """Mean pair similarity over all pairs."""
    column_pair_trends_default_thresholds: float | None = Field(default=None, ge=0, le=1)
    """Mean pair similarity over the pairs sdmetrics' default thresholds keep."""
    holdout_quality: float | None = Field(default=None, ge=0, le=1)
    """`quality` of the real holdout against the real train rows; None without a holdout."""
    holdout_quality_default_thresholds: float | None = Field(default=None, ge=0, le=1)
    holdout_column_shapes: float | None = Field(default=None, ge=0, le=1)
    holdout_column_pair_trends: float | None = Field(default=None, ge=0, le=1)
    column_scores: list[ColumnScore] = Field(default_factory=list)
    pair_scores: list[PairScore] = Field(default_factory=list)
    rows_real: int = Field(ge=0)
    """Real rows compared (after subsampling)."""
    rows_synthetic: int = Field(ge=0)
    """Synthetic rows compared (after subsampling)."""
    rows_holdout: int | None = Field(default=None, ge=0)
    """Holdout rows compared (after subsampling); None without a holdout."""
    seconds: float = Field(ge=0)
    """Wall-clock time of the whole evaluation."""
    sdmetrics_seconds: float = Field(ge=0)
    """The part of `seconds` spent inside sdmetrics' report generation."""

    @property
    def shape_error(self) -> float | None:
        """100 × (1 − column shapes), in percent, as ANCHORS.md reports it; ideal 0."""
        return _error(self.column_shapes)

    @property
    def trend_error(self) -> float | None:
        """100 × (1 − column pair trends over all pairs), in percent; ideal 0."""
        return _error(self.column_pair_trends)

    @property
    def holdout_shape_error(self) -> float | None:
        return _error(self.holdout_column_shapes)

    @property
    def holdout_trend_error(self) -> float | None:
        return _error(self.holdout_column_pair_trends)

    def column_scores_frame(self) -> pd.DataFrame:
        """The per-column scores as a DataFrame (for ``column_scores.parquet``)."""
        return _frame(self.column_scores, ColumnScore)

    def pair_scores_frame(self) -> pd.DataFrame:
        """The per-pair scores as a DataFrame (for ``pair_scores.parquet``)."""
        return _frame(self.pair_scores, PairScore)


class ColumnDistribution(StrictModel):
    """Real and synthetic shares per bin or category of one column, safe to chart.

    Every bin or category named holds at least k real rows; rarer real categories (and any
    synthetic category not among the kept real ones) are merged into "other (suppressed)".
    Missing values get their own "(missing)" bucket, last. Shares of each side sum to 1.
    """

    column: str
    kind: ColumnKind
    labels: list[str]
    """One label per bucket: a category, a bin "low – high", "(missing)" or "other (suppressed)"."""
    edges: list[float] | None = None
    """Bin edges (numbers; datetimes as nanoseconds since the epoch), None for categories."""
    real_share: list[float]
    synthetic_share: list[float]
    whole_numbers: bool = False
    """The bins cut whole numbers at the half-integers (`redact.whole_number_bins`), each labelled by
    the values it holds ("0", "2 – 3"): a chart draws a bar per bin, not a histogram."""
    beyond_low: bool = False
    """Values below the first edge (outside the robust range, real or synthetic) are counted in the
    first bin, labelled "below ..." or "... or less"."""
    beyond_high: bool = False
    """Values above the last edge are counted in the last bin, labelled "... or more"."""


def evaluate_fidelity(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    holdout: pd.DataFrame | None = None,
    max_rows: int | None = 50_000,
    seed: int,
) -> FidelityResult:
    """Score ``synthetic`` against ``real`` (and ``holdout`` against ``real``) with sdmetrics.

    Only the schema's modelled columns are compared (ids are regenerated, not learned). Tables
    longer than ``max_rows`` are compared on a seeded random sample of that many rows.
    Raises DataError when a table is empty or lacks a modelled column.
    """
    started = time.perf_counter()
    columns = [c.name for c in schema.modelled()]
    tables = {"real": real, "synthetic": synthetic} | ({"holdout": holdout} if holdout is not None else {})
    for role, table in tables.items():
        require_columns(table, columns, role)
    # Named streams of the seed the caller gives (the run's validate/fidelity stream).
    sampled = {
        role: sample_rows(table[columns], max_rows, stream_rng(seed, "sample", role))
        for role, table in tables.items()
    }
    metadata = schema.to_sdmetrics_metadata()
    real_codes = _contingency_codes(sampled["real"], schema)
    report_seconds = 0.0
    shapes, trends, seconds = _run_report(sampled["real"], sampled["synthetic"], metadata)
    report_seconds += seconds
    trends = _with_pair_values(trends, real_codes, _contingency_codes(sampled["synthetic"], schema))
    main = _scores(shapes, trends)
    reference: dict[str, float | None] = {}
    if "holdout" in sampled:
        holdout_shapes, holdout_trends, seconds = _run_report(sampled["real"], sampled["holdout"], metadata)
        report_seconds += seconds
        holdout_trends = holdout_trends.assign(meets=trends["meets"].to_numpy())
        reference = {
            f"holdout_{key}": value for key, value in _scores(holdout_shapes, holdout_trends).items()
        }
        shapes = shapes.assign(holdout_score=holdout_shapes["Score"].to_numpy())
        trends = trends.assign(holdout_score=holdout_trends["Score"].to_numpy())
    return FidelityResult(
        **main,
        holdout_quality=reference.get("holdout_quality"),
        holdout_quality_default_thresholds=reference.get("holdout_quality_default_thresholds"),
        holdout_column_shapes=reference.get("holdout_column_shapes"),
        holdout_column_pair_trends=reference.get("holdout_column_pair_trends"),
        column_scores=_column_scores(shapes),
        pair_scores=_pair_scores(trends),
        rows_real=len(sampled["real"]),
        rows_synthetic=len(sampled["synthetic"]),
        rows_holdout=len(sampled["holdout"]) if "holdout" in sampled else None,
        seconds=time.perf_counter() - started,
        sdmetrics_seconds=report_seconds,
    )


def default_thresholds() -> tuple[float, float]:
    """sdmetrics' default (real correlation, real association) thresholds, read off a fresh report."""
    report = QualityReport()
    return float(report.real_correlation_threshold), float(report.real_association_threshold)


def _run_report(
    real: pd.DataFrame, other: pd.DataFrame, metadata: dict[str, object]
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """sdmetrics' shape and all-pairs trend details of ``other`` against ``real``, and the seconds taken."""
    report = QualityReport()
    report.real_correlation_threshold = 0
    report.real_association_threshold = 0
    # We subsample with our own seed; sdmetrics' own contingency subsampling is unseeded.
    report.num_rows_subsample = None
    started = time.perf_counter()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        report.generate(real, other, metadata, verbose=False)
    seconds = time.perf_counter() - started
    shapes = report.get_details(_SHAPES).reset_index(drop=True)
    trends = report.get_details(_TRENDS).reset_index(drop=True)
    return shapes, trends, seconds


def _scores(shapes: pd.DataFrame, trends: pd.DataFrame) -> dict[str, float | None]:
    """The property and overall scores, averaged the way sdmetrics does (NaN scores skipped)."""
    column_shapes = _mean(shapes["Score"]) if len(shapes) else None
    all_pairs = _mean(trends["Score"]) if len(trends) else None
    default_pairs = _mean(trends.loc[trends["meets"], "Score"]) if len(trends) else None
    return {
        "quality": _mean([column_shapes, all_pairs]),
        "quality_default_thresholds": _mean([column_shapes, default_pairs]),
        "column_shapes": column_shapes,
        "column_pair_trends": all_pairs,
        "column_pair_trends_default_thresholds": default_pairs,
    }


def _mean(values: Sequence[float | None] | pd.Series) -> float | None:
    finite = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return float(np.mean(finite)) if finite else None


def _error(score: float | None) -> float | None:
    return None if score is None else 100.0 * (1.0 - score)


def _with_pair_values(trends: pd.DataFrame, real_codes: Codes, synthetic_codes: Codes) -> pd.DataFrame:
    """Add each pair's real and synthetic statistic and whether sdmetrics' default thresholds keep it.

    Replicates sdmetrics' rule: a correlation pair is kept when |real r| > threshold, a
    contingency pair when the real Cramér's V > threshold; pairs sdmetrics cannot score are not.
    """
    correlation_threshold, association_threshold = default_thresholds()
    if trends.empty:
        return trends.assign(real_value=[], synthetic_value=[], meets=pd.Series([], dtype=bool))
    is_correlation = (trends["Metric"] == _CORRELATION).to_numpy()
    pairs = list(zip(trends["Column 1"], trends["Column 2"]))
    real_value = np.where(
        is_correlation,
        trends["Real Correlation"].to_numpy(dtype=float),
        _associations(real_codes, pairs, ~is_correlation),
    )
    synthetic_value = np.where(
        is_correlation,
        trends["Synthetic Correlation"].to_numpy(dtype=float),
        _associations(synthetic_codes, pairs, ~is_correlation),
    )
    with np.errstate(invalid="ignore"):
        meets = np.where(
            is_correlation, np.abs(real_value) > correlation_threshold, real_value > association_threshold
        )
    meets &= trends["Score"].notna().to_numpy()
    return trends.assign(real_value=real_value, synthetic_value=synthetic_value, meets=meets)


def _contingency_codes(table: pd.DataFrame, schema: TableSchema) -> Codes:
    """Per column, integer group codes and their count as sdmetrics' pair-trend property tabulates them.

    Continuous columns are cut into sdmetrics' 10 bins first. Codes follow pandas'
    ``groupby(dropna=False)``: missing values form a group, and a categorical dtype keeps its
    unobserved categories. A column sdmetrics could not convert or bin is left out.
    """
    codes: Codes = {}
    for spec in schema.modelled():
        values = table[spec.name]
        if spec.kind in _CONTINUOUS:
            numbers = _as_numbers(values, spec)
            if numbers is None:
                continue
            try:
                edges = np.histogram_bin_edges(numbers[~np.isnan(numbers)])
            except (ValueError, TypeError):
                continue
            values = pd.Series(np.digitize(numbers, edges))
        codes[spec.name] = _group_codes(values)
    return codes


def _group_codes(values: pd.Series) -> tuple[np.ndarray, int]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int64)
        n_groups = len(values.cat.categories)
        if (codes < 0).any():
            codes = np.where(codes < 0, n_groups, codes)
            n_groups += 1
        return codes, n_groups
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64), len(uniques)


def _as_numbers(values: pd.Series, spec: ColumnSpec, *, coerce: bool = False) -> np.ndarray | None:
    """Floats of a numerical or datetime column (datetimes in ns since the epoch), NaN for missing.

    An unparseable value makes the whole column None, as it fails sdmetrics' conversion;
    with ``coerce`` it becomes NaN instead.
    """
    errors: Literal["coerce", "raise"] = "coerce" if coerce else "raise"
    try:
        if spec.kind is ColumnKind.NUMERICAL:
            return pd.to_numeric(values, errors=errors).to_numpy(dtype=float, na_value=np.nan)
        stamps = (
            values
            if pd.api.types.is_datetime64_any_dtype(values)
            else pd.to_datetime(values, format=spec.datetime_format, errors=errors)
        )
        return datetime_seconds(stamps) * 1e9  # through the column's own unit: years 1 to 9999 too
    except (ValueError, TypeError, OverflowError):
        return None


def _associations(codes: Codes, pairs: Sequence[tuple[str, str]], wanted: np.ndarray) -> np.ndarray:
    """Cramér's V of each wanted pair, NaN for the others."""
    return np.array(
        [_cramers_v(codes, a, b) if w else math.nan for (a, b), w in zip(pairs, wanted)], dtype=float
    )


def _cramers_v(codes: Codes, column_1: str, column_2: str) -> float:
    """Cramér's V of two columns as sdmetrics' ContingencySimilarity computes it (NaN where it cannot)."""
    if column_1 not in codes or column_2 not in codes:
        return math.nan
    (codes_1, n_1), (codes_2, n_2) = codes[column_1], codes[column_2]
    table = np.bincount(codes_1 * n_2 + codes_2, minlength=n_1 * n_2).reshape(n_1, n_2)
    if table.sum() == 0 or min(table.shape) < 2:
        return math.nan
    try:
        with np.errstate(all="ignore"):
            return float(association(table, method="cramer"))
    except ValueError:  # e.g. an unobserved category gives an expected frequency of zero
        return math.nan


_COLUMN_FIELDS = {"Column": "column", "Metric": "metric", "Score": "score"}
_PAIR_FIELDS = {
    "Column 1": "column_1",
    "Column 2": "column_2",
    "Metric": "metric",
    "Score": "score",
    "meets": "meets_default_threshold",
}


def _column_scores(shapes: pd.DataFrame) -> list[ColumnScore]:
    return [ColumnScore.model_validate(row) for row in _records(shapes, _COLUMN_FIELDS, ColumnScore)]


def _pair_scores(trends: pd.DataFrame) -> list[PairScore]:
    return [PairScore.model_validate(row) for row in _records(trends, _PAIR_FIELDS, PairScore)]


def _records(
    details: pd.DataFrame, names: dict[str, str], model: type[StrictModel]
) -> list[dict[Hashable, Any]]:
    frame = details.rename(columns=names)
    if "holdout_score" not in frame.columns:
        frame = frame.assign(holdout_score=None)
    return frame[list(model.model_fields)].to_dict("records")


def _frame(rows: Sequence[StrictModel], model: type[StrictModel]) -> pd.DataFrame:
    columns = list(model.model_fields)
    return pd.DataFrame([row.model_dump() for row in rows], columns=columns)


# --- distributions for charts -------------------------------------------------------------


def column_distributions(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    k: int = DEFAULT_K,
    bins: int = 20,
) -> list[ColumnDistribution]:
    """Real and synthetic shares per bin (numbers, datetimes) or category, for real-vs-synthetic charts.

    Bins come from the real values only (`synthpriv.data.redact.shared_histogram`: robust
    range, outliers clipped into the edge bins, adjacent bins merged until each non-empty one
    holds at least ``k`` real rows); categories with fewer than ``k`` real rows are merged
    into "other (suppressed)" (`shared_categories`). Missing values form a "(missing)" bucket,
    itself merged into "other (suppressed)" when fewer than ``k`` real rows are missing.
    """
    columns = [c.name for c in schema.modelled()]
    require_columns(real, columns, "real")
    require_columns(synthetic, columns, "synthetic")
    return [
        _numeric_distribution(real[s.name], synthetic[s.name], s, k=k, bins=bins)
        if s.kind in _CONTINUOUS
        else _categorical_distribution(real[s.name], synthetic[s.name], s, k=k)
        for s in schema.modelled()
    ]


def _categorical_distribution(
    real: pd.Series, synthetic: pd.Series, spec: ColumnSpec, *, k: int
) -> ColumnDistribution:
    labels, real_share, synthetic_share = shared_categories(_counts(real), _counts(synthetic), k=k)
    return ColumnDistribution(
        column=spec.name,
        kind=spec.kind,
        labels=labels,
        real_share=real_share,
        synthetic_share=synthetic_share,
    )


def _counts(values: pd.Series) -> pd.Series:
    labels = values.astype(object).where(values.notna(), MISSING_LABEL)
    return labels.value_counts()


def _numeric_distribution(
    real: pd.Series, synthetic: pd.Series, spec: ColumnSpec, *, k: int, bins: int
) -> ColumnDistribution:
    real_numbers = _finite_or_nan(real, spec)
    synthetic_numbers = _finite_or_nan(synthetic, spec)
    edges, real_share, synthetic_share = shared_histogram(real_numbers, synthetic_numbers, k=k, bins=bins)
    real_missing, synthetic_missing = np.isnan(real_numbers), np.isnan(synthetic_numbers)
    bounds = _Bounds.of(edges, real_numbers, synthetic_numbers, spec)
    labels = [bounds.label(i, low, high) for i, (low, high) in enumerate(pairwise(edges))]
    real_parts = list(np.asarray(real_share) * _share(~real_missing))
    synthetic_parts = list(np.asarray(synthetic_share) * _share(~synthetic_missing))
    if real_missing.any() or synthetic_missing.any():
        missing_rows = int(real_missing.sum())
        labels.append(MISSING_LABEL if missing_rows == 0 or missing_rows >= k else OTHER_LABEL)
        real_parts.append(_share(real_missing))
        synthetic_parts.append(_share(synthetic_missing))
    return ColumnDistribution(
        column=spec.name,
        kind=spec.kind,
        labels=labels,
        edges=[float(e) for e in edges],
        real_share=[float(s) for s in real_parts],
        synthetic_share=[float(s) for s in synthetic_parts],
        whole_numbers=bounds.whole_numbers,
        beyond_low=bounds.beyond_low,
        beyond_high=bounds.beyond_high,
    )


@dataclass(frozen=True)
class _Bounds:
    """How a column's bins are labelled: whole numbers or ranges, and whether the edge bins also
    count the values beyond them (clipped into them by `redact.shared_histogram`)."""

    spec: ColumnSpec
    bins: int
    whole_numbers: bool
    beyond_low: bool
    beyond_high: bool

    @classmethod
    def of(cls, edges: np.ndarray, real: np.ndarray, synthetic: np.ndarray, spec: ColumnSpec) -> _Bounds:
        if edges.size < 2:
            return cls(spec, 0, False, False, False)
        values = np.concatenate([real, synthetic])
        values = values[~np.isnan(values)]
        return cls(
            spec,
            edges.size - 1,
            spec.kind is not ColumnKind.DATETIME and whole_number_bins(edges),
            bool((values < edges[0]).any()),
            bool((values > edges[-1]).any()),
        )

    def label(self, index: int, low: float, high: float) -> str:
        """ "25,000 – 30,000", "2 – 3" (whole numbers it holds), "below 22,000", "1 or more"."""
        dates = self.spec.kind is ColumnKind.DATETIME
        text = _day_of if dates else _number_text
        if self.whole_numbers:
            low, high = low + 0.5, high - 0.5  # the first and last whole number the bin holds
        if index == self.bins - 1 and self.beyond_high:
            return f"{text(low)} {'or later' if dates else 'or more'}"
        if index == 0 and self.beyond_low:
            if self.whole_numbers:
                return f"{text(high)} or less"
            return f"{'before' if dates else 'below'} {text(high)}"
        if self.whole_numbers and low == high:
            return text(low)
        return f"{text(low)} – {text(high)}"


def _number_text(value: float) -> str:
    """A bin edge as a person reads it: 20,000 (not 2e+04), 0.25, 1.5e-07."""
    return f"{value:,.6g}"


def _finite_or_nan(values: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """Numbers with every missing, unparseable or infinite value as NaN."""
    numbers = _as_numbers(values, spec, coerce=True)
    if numbers is None:
        return np.full(len(values), np.nan)
    return np.where(np.isfinite(numbers), numbers, np.nan)


def _share(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def _day_of(nanoseconds: float) -> str:
    """YYYY-MM-DD of nanoseconds since the epoch, through seconds: years 1 to 9999 too."""
    return str(np.datetime64(int(nanoseconds // 1_000_000_000), "s"))[:10]
