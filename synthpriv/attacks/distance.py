"""Distance-based privacy proxies: how close synthetic rows sit to the rows the generator saw.

The protocol is the one in ANCHORS.md:

- rows are encoded for Euclidean distance with parameters fitted on the train rows only:
  numbers and datetimes min-max scaled to [0, 1] (clipped), categories one-hot divided by
  sqrt(2) so that a mismatch contributes distance 1, missing values as their own category
  (numbers get a missing indicator of weight 1);
- DCR share: train is subsampled to the holdout's size; each synthetic row is closer to
  its nearest train row or to its nearest holdout row. A generator that learned the
  population and not its rows puts half of them on either side (0.5);
- distance membership inference: members are those train rows, non-members the holdout
  rows, and the attacker's score is minus the distance to the nearest synthetic row.
  ROC AUC 0.5 means no membership signal;
- nearest-neighbour distance ratio (NNDR), a proxy like the DCR share: a synthetic row's
  distance to its nearest row of the train sample over its distance to the second-nearest,
  and the same against the holdout rows as the control (the train sample has the holdout's
  size, so the two see the same density of rows). A small ratio means the synthetic row sits
  much nearer one real row than any other, so that it may reveal that row: an exact copy of a
  row that occurs once scores 0. Where both distances are 0 (a copy of a row that occurs twice
  or more) the ratio is 1, its limit for equal distances: such a row singles no one out, as
  the shared values belong to at least two people. With a single train (and holdout) row
  there is no second-nearest row, and the ratio is 1 too. Reported: the median ratio and the
  share of ratios below `LOW_NNDR` (0.5). Ideal: train ratios not smaller than the holdout's.

Everything is vectorized. Nearest neighbours come from chunked float32 matrix products, and
the chosen neighbour's distance is then recomputed exactly in float64. On Adult (32,561 x
16,281 rows, 119 encoded dimensions, 2 cores) that takes 1.8 CPU seconds against 3.2 for
scikit-learn's brute-force NearestNeighbors; its trees are slower still in 100+ dimensions.
The DCR share, the NNDR and the membership attack read one distance matrix in both
directions; the second-nearest row is a second argmin over the same block (with it,
`dcr_evaluation` on Adult, 32,561 synthetic rows, went from 2.4 to 2.9 s). The exact float64
recomputation runs block by block too, so memory stays bounded whatever the number of rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import Field, PrivateAttr

from synthpriv.attacks.base import SeedLike, spawn_seeds
from synthpriv.config.base import StrictModel
from synthpriv.data.sampling import sample_rows
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, require_columns
from synthpriv.metrics.distances import squared_distance_blocks
from synthpriv.metrics.features import column_numbers

_MISSING = "\x00missing"  # a category key no real label can collide with
_CONTINUOUS = (ColumnKind.NUMERICAL, ColumnKind.DATETIME)
_ONE_HOT = 1.0 / math.sqrt(2.0)
_Z95 = 1.959963984540054
#: NNDR below which a synthetic row counts as sitting next to one real row (`DCRResult.low_nndr_train`).
LOW_NNDR = 0.5


@dataclass(frozen=True)
class _ColumnCode:
    """Fitted encoding of one column: a scaled number (plus missing flag) or a one-hot block."""

    spec: ColumnSpec
    low: float = 0.0
    high: float = 1.0
    missing_flag: bool = False
    categories: tuple[str, ...] = ()  # kept train categories; one extra slot takes every other value

    @property
    def width(self) -> int:
        if self.spec.kind in _CONTINUOUS:
            return 1 + int(self.missing_flag)
        return len(self.categories) + 1


@dataclass(frozen=True)
class DistanceEncoding:
    """Row encoding for Euclidean distances, fitted on the train rows only (see the module docstring)."""

    columns: tuple[_ColumnCode, ...]

    @classmethod
    def fit(cls, train: pd.DataFrame, schema: TableSchema, *, max_categories: int = 256) -> DistanceEncoding:
        """Fit scales and categories on ``train``'s modelled columns.

        A column's ``max_categories`` most frequent train categories get their own one-hot
        slot; rarer and unseen values share one slot, which bounds the width of the encoding.
        """
        return cls(tuple(_fit_column(train[spec.name], spec, max_categories) for spec in schema.modelled()))

    @property
    def width(self) -> int:
        """Number of encoded dimensions."""
        return sum(code.width for code in self.columns)

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """The encoded rows of ``table`` as a float32 matrix (rows x `width`)."""
        out = np.zeros((len(table), self.width), dtype=np.float32)
        offset = 0
        for code in self.columns:
            _encode_into(out, offset, table[code.spec.name], code)
            offset += code.width
        return out


class DistanceHistogram(StrictModel):
    """Binned distances of the synthetic rows to their nearest train and nearest holdout row (no rows)."""

    edges: list[float]
    """Bin edges; the last bin also holds every larger distance."""
    train_counts: list[int]
    holdout_counts: list[int]


class DCRResult(StrictModel):
    """Distance-to-closest-record figures of a synthetic table against train and real holdout rows."""

    dcr_share: float = Field(ge=0, le=1)
    """Share of synthetic rows closer to their nearest train row than to their nearest holdout
    row (ties count half). Ideal 0.5; above it the generator stays near its training rows."""
    dcr_share_ci: tuple[float, float]
    """95% normal interval of `dcr_share` over the synthetic rows."""
    median_dcr_train: float = Field(ge=0)
    """Median distance of a synthetic row to its nearest train row; ideal: not below the holdout's."""
    median_dcr_holdout: float = Field(ge=0)
    """Median distance of a synthetic row to its nearest holdout row."""
    exact_match_train: float = Field(ge=0, le=1)
    """Share of synthetic rows identical to a row of the train sample; ideal: not above the holdout's."""
    exact_match_holdout: float = Field(ge=0, le=1)
    """Share of synthetic rows identical to a holdout row (what chance and common rows give)."""
    median_nndr_train: float = Field(ge=0, le=1)
    """Median nearest-neighbour distance ratio of the synthetic rows against the train sample:
    distance to the nearest train row over distance to the second-nearest (1 where both are 0;
    module docstring). A proxy: small = a synthetic row sits much nearer one real row than any
    other. Ideal: not below the holdout's."""
    median_nndr_holdout: float = Field(ge=0, le=1)
    """Median NNDR against the holdout rows (as many as the train sample): what the population gives."""
    low_nndr_train: float = Field(ge=0, le=1)
    """Share of synthetic rows whose NNDR against the train sample is below `LOW_NNDR` (0.5);
    exact copies of rows that occur once count. Ideal: not above the holdout's."""
    low_nndr_holdout: float = Field(ge=0, le=1)
    """Share of synthetic rows whose NNDR against the holdout rows is below `LOW_NNDR`."""
    mia_auc: float = Field(ge=0, le=1)
    """ROC AUC of the distance membership attack (train rows vs holdout rows, score = minus the
    distance to the nearest synthetic row). Ideal 0.5 = no membership signal; 1 = every member found."""
    mia_auc_ci: tuple[float, float]
    """95% percentile bootstrap interval of `mia_auc`."""
    histogram: DistanceHistogram
    rows_train: int = Field(ge=1)
    """Train rows used: a seeded sample of the holdout's size (the attack's members)."""
    rows_holdout: int = Field(ge=1)
    """Holdout rows used (the attack's non-members)."""
    rows_synthetic: int = Field(ge=1)
    """Synthetic rows used (a seeded sample when there are more than the limit)."""
    encoded_dims: int = Field(ge=1)
    """Width of the distance encoding."""
    seconds: float = Field(ge=0)
    _membership_distances: tuple[np.ndarray, np.ndarray] | None = PrivateAttr(default=None)

    @property
    def membership_distances(self) -> tuple[np.ndarray, np.ndarray]:
        """``(members, non-members)``: each real row's distance to its nearest synthetic row.

        Kept out of the serialized result: per-row figures of real people are not reported.
        """
        if self._membership_distances is None:
            raise ValueError("this result carries no per-row distances")
        return self._membership_distances


def exact_match_share(synthetic: pd.DataFrame, reference: pd.DataFrame, columns: Sequence[str]) -> float:
    """Share of ``synthetic`` rows identical to some ``reference`` row on ``columns``.

    Rows are compared by a 64-bit hash of their normalised values: numbers as float64
    (so 1 equals 1.0), everything else as text, and missing equals missing. Ideal for a
    synthetic table: no higher against train than against a holdout of the same size.
    """
    if len(synthetic) == 0:
        return 0.0
    numeric = [c for c in columns if _is_number(synthetic[c]) and _is_number(reference[c])]
    synthetic_hash = _row_hashes(synthetic, columns, numeric)
    reference_hash = _row_hashes(reference, columns, numeric)
    return float(np.isin(synthetic_hash, reference_hash).mean())


def nearest_distances(queries: np.ndarray, reference: np.ndarray, *, chunk: int = 1024) -> np.ndarray:
    """Euclidean distance (float64) of each query row to its nearest ``reference`` row.

    At most ``chunk`` query rows (fewer when ``reference`` is long) are compared at once, so
    memory stays near 64 MiB whatever the table sizes.
    """
    distances, _ = _nearest(queries, reference, chunk=chunk)
    return distances


def dcr_evaluation(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    seed: SeedLike,
    max_rows: int = 50_000,
    n_bootstrap: int = 200,
    bins: int = 30,
) -> DCRResult:
    """DCR share, median DCRs, exact-match shares, NNDRs and the distance membership attack (ANCHORS.md).

    Train and holdout are sampled (seeded) to the same size, at most ``max_rows``, and so is
    the synthetic table. Raises DataError when a table is empty or lacks a modelled column.
    """
    started = time.perf_counter()
    columns = [c.name for c in schema.modelled()]
    for role, table in (("train", train), ("holdout", holdout), ("synthetic", synthetic)):
        require_columns(table, columns, role)
    train_rng, holdout_rng, synthetic_rng, boot_rng = (np.random.default_rng(s) for s in spawn_seeds(seed, 4))
    n_real = min(len(train), len(holdout), max_rows)
    members = sample_rows(train, n_real, train_rng)
    non_members = sample_rows(holdout, n_real, holdout_rng)
    synthetic_rows = sample_rows(synthetic, min(len(synthetic), max_rows), synthetic_rng)
    encoding = DistanceEncoding.fit(train, schema)
    train_x, holdout_x = encoding.transform(members), encoding.transform(non_members)
    synthetic_x = encoding.transform(synthetic_rows)
    to_real, to_synthetic = _nearest_both_ways(synthetic_x, np.vstack([train_x, holdout_x]), groups=2)
    to_train, to_holdout = to_real[:, 0, 0], to_real[:, 1, 0]
    nndr_train, nndr_holdout = _nndr(to_real[:, 0]), _nndr(to_real[:, 1])
    share, share_ci = _closer_share(to_train, to_holdout)
    auc, auc_ci = distance_auc(
        to_synthetic[:n_real], to_synthetic[n_real:], n_bootstrap=n_bootstrap, rng=boot_rng
    )
    result = DCRResult(
        dcr_share=share,
        dcr_share_ci=share_ci,
        median_dcr_train=float(np.median(to_train)),
        median_dcr_holdout=float(np.median(to_holdout)),
        exact_match_train=exact_match_share(synthetic_rows, members, columns),
        exact_match_holdout=exact_match_share(synthetic_rows, non_members, columns),
        median_nndr_train=float(np.median(nndr_train)),
        median_nndr_holdout=float(np.median(nndr_holdout)),
        low_nndr_train=float(np.mean(nndr_train < LOW_NNDR)),
        low_nndr_holdout=float(np.mean(nndr_holdout < LOW_NNDR)),
        mia_auc=auc,
        mia_auc_ci=auc_ci,
        histogram=_histogram(to_train, to_holdout, bins=bins),
        rows_train=n_real,
        rows_holdout=n_real,
        rows_synthetic=len(synthetic_rows),
        encoded_dims=encoding.width,
        seconds=time.perf_counter() - started,
    )
    result._membership_distances = (to_synthetic[:n_real], to_synthetic[n_real:])
    return result


def distance_auc(
    members: np.ndarray,
    non_members: np.ndarray,
    *,
    rng: np.random.Generator,
    n_bootstrap: int = 200,
) -> tuple[float, tuple[float, float]]:
    """ROC AUC of "smaller distance means member", with a 95% percentile bootstrap interval.

    Equal to ``roc_auc_score`` with labels member=1 and score = minus the distance (ties
    count half). Members and non-members are resampled separately; each resample costs
    O(n) because the non-members are sorted once and resampling only reweights them.
    """
    if len(members) == 0 or len(non_members) == 0:
        raise ValueError("the AUC needs at least one member and one non-member")
    # Sorted members make the lookups below sequential; the AUC does not depend on row order.
    members, non_members = np.sort(np.asarray(members, float)), np.asarray(non_members, float)
    order = np.argsort(non_members, kind="stable")
    ordered = non_members[order]
    left = np.searchsorted(ordered, members, side="left")
    right = np.searchsorted(ordered, members, side="right")
    auc = _weighted_auc(np.ones(members.size), np.ones(ordered.size), left, right)
    m, n = members.size, ordered.size
    resampled = [
        _weighted_auc(
            np.bincount(rng.integers(0, m, m), minlength=m),
            np.bincount(rng.integers(0, n, n), minlength=n)[order],
            left,
            right,
        )
        for _ in range(n_bootstrap)
    ]
    if not resampled:
        return auc, (auc, auc)
    low, high = np.quantile(resampled, [0.025, 0.975])
    return auc, (float(low), float(high))


def _weighted_auc(member_w: np.ndarray, ordered_w: np.ndarray, left: np.ndarray, right: np.ndarray) -> float:
    """P(member distance < non-member distance) + half the ties, with row weights (sorted non-members)."""
    cumulative = np.concatenate([[0.0], np.cumsum(ordered_w, dtype=float)])
    total = cumulative[-1]
    farther = total - cumulative[right]
    ties = cumulative[right] - cumulative[left]
    # An elementwise sum, not np.dot: a BLAS call per resample costs more in thread wake-ups than it saves.
    return float((member_w * (farther + 0.5 * ties)).sum() / (member_w.sum() * total))


def _nearest(queries: np.ndarray, reference: np.ndarray, *, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    index = np.empty(len(queries), dtype=np.int64)
    distances = np.empty(len(queries))
    for start, block in squared_distance_blocks(queries, reference, chunk=chunk):
        rows = slice(start, start + len(block))
        index[rows] = block.argmin(axis=1)
        # Block by block, so that the float64 copies stay as small as the block.
        distances[rows] = _exact_distances(queries[rows], reference, index[rows])
    return distances, index


def _nearest_both_ways(
    queries: np.ndarray, reference: np.ndarray, *, groups: int, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """From one pass over the distance matrix, with ``reference`` made of ``groups`` equal parts:
    each query's distances to its nearest and second-nearest row in every part (queries x
    groups x 2, each pair in increasing order), and each reference row's distance to its
    nearest query.

    Reading the matrix both ways halves the work of the DCR share plus the membership attack.
    In a part of one row, that row is also the second-nearest (both distances equal).
    """
    size = len(reference) // groups
    if size * groups != len(reference):
        raise ValueError("the reference rows must split into equal groups")
    to_groups = np.empty((len(queries), groups, 2))
    offsets = (np.arange(groups) * size)[:, None]
    best = np.full(len(reference), np.inf, dtype=np.float32)
    best_index = np.zeros(len(reference), dtype=np.int64)
    for start, block in squared_distance_blocks(queries, reference, chunk=chunk):
        # argmin along axis 0 is ten times slower than min: search only the columns that improved.
        # This comes first: the runner-up search below overwrites each part's minimum.
        column_min = block.min(axis=0)
        better = np.flatnonzero(column_min < best)
        best[better] = column_min[better]
        best_index[better] = block[:, better].argmin(axis=0) + start
        # A reshape, not column slices: argmin over a sliced view copies it first.
        parts = block.reshape(len(block), groups, size)
        nearest = np.empty((len(block), groups, 2), dtype=np.int64)
        nearest[:, :, 0] = parts.argmin(axis=2)
        if size > 1:
            # The block is consumed here, so masking its minima in place costs no copy.
            np.put_along_axis(parts, nearest[:, :, :1], np.inf, axis=2)
            nearest[:, :, 1] = parts.argmin(axis=2)
        else:
            nearest[:, :, 1] = nearest[:, :, 0]
        rows = slice(start, start + len(block))
        to_groups[rows] = _exact_distances(queries[rows], reference, nearest + offsets)
    # The float32 search may order two near-equal neighbours wrongly; the exact distances decide.
    to_groups.sort(axis=2)
    return to_groups, _exact_distances(reference, queries, best_index)


def _exact_distances(queries: np.ndarray, reference: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The chosen neighbours' distances in float64: an identical row gives 0.0, not float32 noise.

    ``index`` (queries x ...) holds the reference rows chosen for each query; the distances
    have its shape. Only the chosen rows are converted to float64, never all of ``reference``.
    """
    chosen = np.asarray(reference)[index].astype(np.float64)
    own = np.asarray(queries, dtype=np.float64).reshape(len(queries), *([1] * (index.ndim - 1)), -1)
    difference = chosen - own
    return np.sqrt(np.einsum("...j,...j->...", difference, difference))


def _nndr(pairs: np.ndarray) -> np.ndarray:
    """Nearest over second-nearest distance of each (nearest, second) row of ``pairs``; 1 where both are 0."""
    nearest, second = pairs[:, 0], pairs[:, 1]
    return np.divide(nearest, second, out=np.ones_like(nearest), where=second > 0)


def _closer_share(to_train: np.ndarray, to_holdout: np.ndarray) -> tuple[float, tuple[float, float]]:
    closer = np.where(to_train < to_holdout, 1.0, np.where(to_train == to_holdout, 0.5, 0.0))
    share = float(closer.mean())
    half_width = _Z95 * float(closer.std(ddof=1)) / math.sqrt(closer.size) if closer.size > 1 else 0.0
    return share, (max(0.0, share - half_width), min(1.0, share + half_width))


def _histogram(to_train: np.ndarray, to_holdout: np.ndarray, *, bins: int) -> DistanceHistogram:
    top = float(np.quantile(np.concatenate([to_train, to_holdout]), 0.99))
    edges = np.linspace(0.0, top if top > 0 else 1.0, bins + 1)
    train_counts, _ = np.histogram(np.minimum(to_train, edges[-1]), bins=edges)
    holdout_counts, _ = np.histogram(np.minimum(to_holdout, edges[-1]), bins=edges)
    return DistanceHistogram(
        edges=edges.tolist(), train_counts=train_counts.tolist(), holdout_counts=holdout_counts.tolist()
    )


# --- encoding -----------------------------------------------------------------------------


def _fit_column(values: pd.Series, spec: ColumnSpec, max_categories: int) -> _ColumnCode:
    if spec.kind in _CONTINUOUS:
        numbers = column_numbers(values, spec)
        finite = numbers[np.isfinite(numbers)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        return _ColumnCode(
            spec, low=low, high=high, missing_flag=spec.nullable or bool(np.isnan(numbers).any())
        )
    counts = _category_keys(values).value_counts()
    return _ColumnCode(spec, categories=tuple(counts.index[:max_categories]))


def _encode_into(out: np.ndarray, offset: int, values: pd.Series, code: _ColumnCode) -> None:
    if code.spec.kind in _CONTINUOUS:
        numbers = column_numbers(values, code.spec)
        missing = np.isnan(numbers)
        span = code.high - code.low if code.high > code.low else 1.0
        # Missing numbers sit at 0 and differ through the indicator instead.
        out[:, offset] = np.where(missing, 0.0, np.clip((numbers - code.low) / span, 0.0, 1.0))
        if code.missing_flag:
            out[:, offset + 1] = missing
        return
    slots = pd.Categorical(_category_keys(values), categories=code.categories).codes.astype(np.int64)
    slots[slots < 0] = len(code.categories)
    out[np.arange(len(values)), offset + slots] = _ONE_HOT


def _category_keys(values: pd.Series) -> pd.Series:
    """Values as text, with one key for every kind of missing value (None, NaN, NaT, pd.NA)."""
    return values.astype(object).astype(str).where(values.notna().to_numpy(), _MISSING)


# --- exact matches ------------------------------------------------------------------------


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)


def _row_hashes(table: pd.DataFrame, columns: Sequence[str], numeric: Sequence[str]) -> np.ndarray:
    normalised = {}
    for name in columns:
        if name in numeric:
            # + 0.0 turns -0.0 into 0.0, which hashes differently otherwise.
            normalised[name] = pd.to_numeric(table[name]).to_numpy(dtype=float, na_value=np.nan) + 0.0
        else:
            normalised[name] = _category_keys(table[name]).to_numpy(dtype=object)
    return pd.util.hash_pandas_object(pd.DataFrame(normalised), index=False).to_numpy()
