"""Privacy guards for what a report shows: no single real row may be read off a chart.

In the data layer, not in reports: the metrics that compute the shown aggregates apply them
before anything is written, and the report package only draws what it is given.

Every aggregate drawn from the real table goes through here first:

- categories seen fewer than ``k`` times are merged into one "other (suppressed)" bucket,
  so a rare label (often a quasi-identifier) never appears;
- histograms are cut on a "nice" grid (multiples of 1, 2, 2.5 or 5 x 10^n) over a robust
  range, outliers are clipped into the edge bins and adjacent bins are merged until every
  non-empty bin holds at least ``k`` real values, so neither an edge nor a bar pins down
  one row's value.

Synthetic values are binned or bucketed on the *real*-derived edges and labels, since a
generator can reproduce a rare real label.

Whole numbers whose robust range spans no more whole numbers than there are bins (years of
experience 0-3, a count of children) are cut at the half-integers instead, one bin per value
(`whole_number_bins`): a grid finer than 1 would draw each value as a sliver at a fractional
edge, and its last bin would hold two values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

OTHER_LABEL = "other (suppressed)"
DEFAULT_K = 10

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
# Far beyond any real measurement, and keeps (max - min) finite in float64.
_VALUE_LIMIT = 1e300


def truncate_label(label: object, n: int = 40) -> str:
    """``label`` as one line of at most ``n`` characters, ending in "…" when cut."""
    text = _CONTROL.sub(" ", str(label)).strip()
    if n < 1:
        return ""
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def nice_step(raw: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^n that is at least ``raw`` (1.0 for a bad input)."""
    if not math.isfinite(raw) or raw <= 0:
        return 1.0
    raw = max(raw, 1e-300)  # 10.0**exponent underflows to 0 for subnormal inputs
    exponent = math.floor(math.log10(raw))
    base = 10.0**exponent
    for multiple in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= multiple * base * (1 + 1e-9):
            return multiple * base
    return 10.0 * base


def suppress_small_categories(counts: Mapping[object, int] | pd.Series, k: int = DEFAULT_K) -> dict[str, int]:
    """Merge every category counted fewer than ``k`` times into ``OTHER_LABEL``.

    The kept categories keep their order; the merged bucket comes last and is shown even
    when its own total is below ``k`` (it names no rare label), but only if it is non-empty.
    Labels become strings. Negative counts are a bug in the caller and raise ``ValueError``.
    """
    items = _count_items(counts)
    kept = {label: count for label, count in items if count >= k and label != OTHER_LABEL}
    suppressed = sum(count for label, count in items if label not in kept)
    if suppressed > 0:
        kept[OTHER_LABEL] = suppressed
    return kept


def shared_categories(
    real: Mapping[object, int] | pd.Series,
    synthetic: Mapping[object, int] | pd.Series,
    *,
    k: int = DEFAULT_K,
) -> tuple[list[str], list[float], list[float]]:
    """Category labels safe to show and the real and synthetic shares of each.

    Labels come from the real counts only (see `suppress_small_categories`); every
    synthetic label outside them, including one a generator invented or memorised, goes
    to ``OTHER_LABEL``. Shares are fractions of each side's total (0 for an empty side).
    """
    real_safe = suppress_small_categories(real, k)
    labels = [label for label in real_safe if label != OTHER_LABEL]
    synthetic_safe = dict.fromkeys(labels, 0)
    for label, count in _count_items(synthetic):
        key = label if label in synthetic_safe and label != OTHER_LABEL else OTHER_LABEL
        synthetic_safe[key] = synthetic_safe.get(key, 0) + count
    if real_safe.get(OTHER_LABEL, 0) > 0 or synthetic_safe.get(OTHER_LABEL, 0) > 0:
        labels.append(OTHER_LABEL)
    return (
        labels,
        _shares([real_safe.get(label, 0) for label in labels]),
        _shares([synthetic_safe.get(label, 0) for label in labels]),
    )


def safe_histogram(
    values: np.ndarray, *, k: int = DEFAULT_K, bins: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges and counts of the finite ``values`` such that no bin exposes fewer than ``k`` rows.

    The range runs from about the ``max(1%, k/n)`` to the ``min(99%, 1 - k/n)`` quantile,
    snapped outwards to a nice grid of about ``bins`` steps; values beyond it are clipped
    into the edge bins, so one extreme value neither sets the axis nor gets a bar of its
    own. Adjacent bins are then merged until every non-empty bin counts at least ``k``
    (empty bins stay, as gaps reveal no row), so the counts always sum to the number of
    finite values. With fewer than ``k`` finite values nothing is safe to show and both
    arrays are empty.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    finite = _finite(values)
    if finite.size < k:
        return np.empty(0, dtype=float), np.empty(0, dtype=np.int64)
    # More bins than n // k could never all hold k values; they would only be merged again.
    edges = _grid_edges(finite, k=k, bins=max(min(int(bins), finite.size // k), 1))
    counts, _ = np.histogram(np.clip(finite, edges[0], edges[-1]), bins=edges)
    return _trim_empty(*_merge_small_bins(edges, counts.astype(np.int64), k))


def shared_histogram(
    real: np.ndarray,
    synthetic: np.ndarray,
    *,
    k: int = DEFAULT_K,
    bins: int = 20,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges from `safe_histogram` of ``real``, and the real and synthetic shares per bin.

    Synthetic values are clipped into the same range so both sides sum to 1 (an empty or
    all-missing synthetic side gives zeros). All three arrays are empty when ``real`` has
    fewer than ``k`` finite values.
    """
    edges, real_counts = safe_histogram(real, k=k, bins=bins)
    if edges.size < 2:
        return edges, np.empty(0, dtype=float), np.empty(0, dtype=float)
    synthetic_finite = _finite(synthetic)
    synthetic_counts, _ = np.histogram(np.clip(synthetic_finite, edges[0], edges[-1]), bins=edges)
    return edges, np.asarray(_shares(real_counts)), np.asarray(_shares(synthetic_counts))


def _count_items(counts: Mapping[object, int] | pd.Series) -> list[tuple[str, int]]:
    pairs = counts.items()
    items = [(str(label), int(count)) for label, count in pairs]
    if any(count < 0 for _, count in items):
        raise ValueError("category counts must not be negative")
    return items


def _shares(counts: Sequence[float] | np.ndarray) -> list[float]:
    array = np.asarray(counts, dtype=float)
    total = float(array.sum())
    return (array / total).tolist() if total > 0 else np.zeros(array.size).tolist()


def _finite(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    finite: np.ndarray = np.clip(array[np.isfinite(array)], -_VALUE_LIMIT, _VALUE_LIMIT)
    return finite


def whole_number_bins(edges: np.ndarray | Sequence[float]) -> bool:
    """Whether ``edges`` cut whole numbers at the half-integers (`safe_histogram` on whole numbers
    with a small range): each bin then holds the whole numbers between its edges."""
    array = np.asarray(edges, dtype=float)
    return array.size >= 2 and bool(np.all(np.abs(array - np.floor(array) - 0.5) < 1e-9))


def _whole_numbers(values: np.ndarray) -> bool:
    # Beyond 2**52 a float has no half-integers to cut at.
    return bool(np.all(np.abs(values) < 2.0**52) and np.all(values == np.round(values)))


def _grid_edges(values: np.ndarray, *, k: int, bins: int) -> np.ndarray:
    tail = min(0.5, max(0.01, k / values.size))
    low, high = (float(q) for q in np.quantile(values, [tail, 1.0 - tail]))
    if _whole_numbers(values) and round(high) - round(low) <= bins:
        # One bin per whole number in the robust range (its quantiles, interpolated, rounded back to
        # whole numbers), the value at its middle.
        return np.arange(round(low), round(high) + 2, dtype=float) - 0.5
    scale = max(abs(low), abs(high))
    # Spreads below float resolution (or around subnormal zero) cannot be drawn: pad to one bin.
    if high - low <= scale * 1e-9 or scale < 1e-100:
        pad = scale * 0.05 if scale >= 1e-100 else 0.5
        low, high = low - pad, high + pad
    step = nice_step((high - low) / bins)
    first, last = math.floor(low / step), math.ceil(high / step)
    # Rounding keeps edges exactly on the grid (1.8, not 1.8000000000000003).
    decimals = max(0, 2 - math.floor(math.log10(step)))
    edges = np.round(np.arange(first, max(last, first + 1) + 1) * step, decimals)
    if np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0):
        return edges
    # The grid collapses when the spread is below float resolution of the values' magnitude.
    return np.array([low - abs(low) * 0.5 - 1.0, high + abs(high) * 0.5 + 1.0])


def _merge_small_bins(edges: np.ndarray, counts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy left-to-right merge over bins (never rows): a group closes once it holds >= k."""
    starts: list[int] = []
    totals: list[int] = []
    for index, count in enumerate(counts.tolist()):
        if totals and 0 < totals[-1] < k:
            totals[-1] += count
        else:
            starts.append(index)
            totals.append(count)
    while len(totals) > 1 and 0 < totals[-1] < k:
        starts.pop()
        last = totals.pop()
        totals[-1] += last
    merged_edges = np.append(edges[starts], edges[-1])
    return merged_edges, np.asarray(totals, dtype=np.int64)


def _trim_empty(edges: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    filled = np.flatnonzero(counts)
    if filled.size == 0:
        return edges, counts
    first, last = int(filled[0]), int(filled[-1])
    return edges[first : last + 2], counts[first : last + 1]
