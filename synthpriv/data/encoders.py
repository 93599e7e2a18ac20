"""Per-column encoders: each maps one column to a few model-space columns and back.

All of them are vectorized (no per-row Python) and serialize to plain JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from synthpriv.data.schema import decimal_places

_EPS = 1e-6  # model space is the normal quantile of [_EPS, 1 - _EPS]: about +-4.75
_PLATEAU = 1e-6  # the least half-width (in CDF units) of an observed value's plateau
_SAME_LEVEL = 1e-12  # CDF levels closer than this are one (a run's end on a grid level)

#: The category that values too rare to keep (or not released by DP) fold into, in columns
#: holding strings (`holds_strings`). In a column of numbers a string cannot be restored to
#: the dtype: there such values fold into the most frequent kept category instead. It is the
#: encoder's fallback (index 0) whenever it is a category, so unseen values land there too.
OTHER_TOKEN = "(other)"
#: Dtypes whose values are strings (or may be restored as strings): they can hold `OTHER_TOKEN`.
STRING_DTYPES = ("object", "string", "str", "category")


def holds_strings(dtype: object) -> bool:
    """Whether a column of this dtype can hold `OTHER_TOKEN` (``str(dtype)`` is what counts)."""
    name = str(dtype)
    return name in STRING_DTYPES or name.startswith("string")


def tail_bounds(values: np.ndarray, min_count: int) -> tuple[float, float]:
    """The k-th smallest and the k-th largest of ``values`` (finite, not empty), k = ``min_count``.

    Counted in rows, so ties count: a minimum that k or more rows hold is its own bound. At
    least k rows lie at or beyond each bound, and the bounds do not move however far the
    k - 1 outermost rows lie. With fewer than 2k - 1 values the two would cross: both are
    then the median (of the two middle values, their midpoint).
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if n == 0 or min_count < 1:
        raise ValueError("tail_bounds needs values and min_count >= 1")
    low, high = min_count - 1, n - min_count
    if low > high:  # too few rows for two bounds
        low, high = (n - 1) // 2, n // 2
        middle = np.partition(values, [low, high])
        centre = 0.5 * middle[low] + 0.5 * middle[high]  # halves first: no overflow near the float limit
        return float(centre), float(centre)
    ordered = np.partition(values, [low, high])
    return float(ordered[low]), float(ordered[high])


#: A column of few distinct values keeps a plateau per value held by ``min_count`` rows or
#: more (`QuantileNormalizer`) only while the rarer values, folded into their nearest kept
#: value, hold at most this share of its rows. On Adult and the demo the counts and codes
#: fold under 0.5 % and every other column at least 39 %.
MAX_FOLDED_SHARE = 0.05


def _folded(distinct: np.ndarray, counts: np.ndarray, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The kept values, each with its count plus those of the values not kept that lie nearer to
    it than to any other kept value (ties to the lower one)."""
    values = distinct[kept]
    above = np.clip(np.searchsorted(values, distinct), 0, values.size - 1)
    below = np.maximum(above - 1, 0)
    nearer_below = np.abs(distinct - values[below]) <= np.abs(values[above] - distinct)
    into = np.where(nearer_below, below, above)
    return values, np.bincount(into, weights=counts, minlength=values.size)


def _with_runs(
    ordered: np.ndarray, spikes: np.ndarray, levels: np.ndarray, *knots: np.ndarray
) -> tuple[np.ndarray, ...]:
    """``levels`` and each of ``knots`` with a knot at both ends of each spike's run of levels
    in the ``ordered`` values (where np.quantile starts and stops giving it), by level; a run's
    end replaces a grid level it meets."""
    ends = np.concatenate(
        [np.searchsorted(ordered, spikes, "left"), np.searchsorted(ordered, spikes, "right") - 1]
    )
    merged = np.concatenate([ends / max(ordered.size - 1, 1), levels])
    order = np.argsort(merged, kind="stable")  # a run's end before a grid level equal to it
    order = order[np.concatenate([[True], np.diff(merged[order]) > _SAME_LEVEL])]
    return merged[order], *(np.concatenate([spikes, spikes, k])[order] for k in knots)


def _off_rare_values(
    knots: np.ndarray, interpolated: np.ndarray, distinct: np.ndarray, rare: np.ndarray, places: int | None
) -> np.ndarray:
    """``knots`` with every one equal to a ``rare`` value moved off it, towards where it was
    interpolated (inwards at the tail bounds): by one step of the precision when that stays
    short of the next real value, else half way to it. No real value lies strictly between two
    neighbours of ``distinct``, so a moved knot is nobody's value."""
    bad = np.flatnonzero(np.isin(knots, rare))
    if bad.size == 0:
        return knots
    at = np.searchsorted(distinct, knots[bad])
    low, high = knots[0], knots[-1]
    up = interpolated[bad] >= knots[bad]
    if low < high:  # inwards at the bounds: the knots stay inside the clipped values
        up = np.where(knots[bad] == low, True, np.where(knots[bad] == high, False, up))
    up &= at < distinct.size - 1
    up |= at == 0
    neighbour = distinct[np.clip(np.where(up, at + 1, at - 1), 0, distinct.size - 1)]
    moved = (knots[bad] + neighbour) / 2.0
    if places is not None:
        step = np.round(knots[bad] + np.where(up, 1.0, -1.0) * 10.0**-places, places)
        short = np.where(up, step < neighbour, step > neighbour)
        moved = np.where(short, step, moved)
    out = knots.copy()
    out[bad] = moved
    # Two knots moved towards each other could cross: the running maximum restores the order
    # with values already among the knots.
    return np.maximum.accumulate(out)


class QuantileNormalizer:
    """Maps a numeric column through its empirical CDF onto a standard normal.

    Any marginal (skewed, multi-modal, spiky such as Adult's capital_gain) becomes a
    N(0, 1) in model space, and the inverse maps back exactly onto the data's range.

    The map is piecewise linear through knots: value ``quantiles[i]`` sits at the normal
    score of CDF level ``references[i]`` (squeezed into ``[_EPS, 1 - _EPS]``, so model space
    spans about +-4.75). Interpolating between the knots' normal scores rather than their
    CDF levels keeps the sparse tails well resolved when model space is rounded to float32.

    What the map stores is what the distribution needs, not the rows (fitted with
    ``min_count`` k; k = 1 keeps every value, for exactness tests and public tables):

    - A column with few distinct values (at most ``n_quantiles // 2`` values that k or more
      rows hold, and the rarer ones at most `MAX_FOLDED_SHARE` of the rows: a count, a code,
      a spike of zeros): two knots per kept value, a *plateau* ``[centre - half, centre +
      half]`` around the middle of the value's CDF step, and straight lines in between. A
      value maps into its plateau, so it comes back exactly even after float32 rounding (the
      plateau is far wider than that rounding); a repeated value's plateau covers its step
      except for the margins evenly spaced quantiles would leave, so a spike of zeros stays a
      spike. A value fewer than k rows hold gets no plateau: its rows count towards the
      nearest kept value, so it is neither stored nor returned.
    - Any other column: quantiles at `grid_size` evenly spaced levels (``n_quantiles``, or
      fewer so that k rows lie from one knot to the next), interpolated between the rows and
      rounded to the values' own decimal places (`decimal_places`: whole numbers stay whole).
      A value that k or more rows share and that spans a grid step also gets knots at both
      ends of its run of levels, a plateau, so a spike stays a spike. Then every knot on a
      value fewer than k rows hold is moved off it (one step of that precision beside it, or
      half way to the next real value: nobody's value). A knot equals a real value only
      where k or more rows share it.

    A value equal to one or more knots (a tie, a plateau) maps to the middle of their scores,
    so a spike of zeros lands on one point and comes back as zero.

    Tails: ``inverse`` clips at the outermost knots, so every model output beyond them comes
    back as exactly those values. Fitted with ``min_count`` k above 1, the values are first
    clipped to their k-th smallest and k-th largest (`tail_bounds`; a few-valued column folds
    them into its outermost kept values instead): a minimum or maximum fewer than k rows hold
    is neither stored nor returned. The k - 1 rows beyond a bound count as rows at it, and
    `transform` clips the same way; the bounds do not depend on how far the outer rows lie.
    A bound one row alone holds is moved inwards off it like any other knot.
    """

    def __init__(self, n_quantiles: int = 1000) -> None:
        if n_quantiles < 2:
            raise ValueError("n_quantiles must be at least 2")
        self.n_quantiles = n_quantiles
        self.quantiles: np.ndarray = np.zeros(0)
        self.references: np.ndarray = np.zeros(0)
        #: The ``min_count`` of `fit`: above 1, `transform` clips values to the outermost knots.
        self.min_count = 1

    def fit(self, values: np.ndarray, *, min_count: int = 1) -> QuantileNormalizer:
        """Fit the knots to the finite ``values`` (NaN and infinities are left out).

        ``min_count`` k: the values are clipped to `tail_bounds` first, so neither outermost
        knot (nor any value `inverse` returns) lies beyond the k-th smallest or the k-th
        largest value, and no knot is a value fewer than k rows hold (see the class).
        ``min_count=1`` keeps the real minimum and maximum as the extremes.
        """
        if min_count < 1:
            raise ValueError("min_count must be >= 1")
        values = np.asarray(values, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            finite = np.zeros(1)
        self.min_count = int(min_count)
        if min_count > 1 and finite.size < min(2 * min_count - 1, values.size):
            # Too few values for a k-th smallest below a k-th largest: every value, and any
            # median of them, is held by fewer than k rows. Nothing is learned and the column
            # is generated missing, as most of it is. (A column without nulls keeps the median
            # below: its dtype could not hold a missing value; it has fewer than 2k - 1 rows.)
            self.quantiles = self.references = np.zeros(0)
            return self
        distinct, counts = np.unique(finite, return_counts=True)
        frequent = counts >= min_count
        if self._few_valued(counts, frequent):
            self.quantiles, self.references = self._plateaus(*_folded(distinct, counts, frequent))
        else:
            self.quantiles, self.references = self._grid(finite, distinct, counts, min_count)
        return self

    def _few_valued(self, counts: np.ndarray, frequent: np.ndarray) -> bool:
        """Whether a plateau per value held by ``min_count`` rows or more fits the column: at
        most ``n_quantiles // 2`` such values, holding all but `MAX_FOLDED_SHARE` of the rows."""
        kept = int(np.count_nonzero(frequent))
        folded = counts[~frequent].sum() / counts.sum()
        return 0 < kept <= self.n_quantiles // 2 and folded <= MAX_FOLDED_SHARE

    def _grid(
        self, finite: np.ndarray, distinct: np.ndarray, counts: np.ndarray, min_count: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Knots at `grid_size` evenly spaced levels of the tail-clipped values, interpolated
        and rounded to the values' decimal places, with the run of levels of each value many
        rows share, then moved off every value fewer than ``min_count`` rows hold
        (`_off_rare_values`)."""
        lowest, highest = finite.min(), finite.max()
        if min_count > 1:
            # Clipped into the values' range as well: a bound interpolated between equal
            # subnormal values can step past them.
            finite = np.clip(np.clip(finite, *tail_bounds(finite, min_count)), lowest, highest)
        ordered = np.sort(finite)
        levels = np.linspace(0.0, 1.0, self.grid_size(ordered.size, min_count))
        # np.interp needs non-decreasing abscissae; quantile() and rounding keep them so.
        interpolated = np.quantile(ordered, levels)
        places = decimal_places(distinct)
        knots = interpolated if places is None else np.round(interpolated, places)
        # A value that k rows share and that spans a grid step keeps its run of levels as a
        # plateau (a spike stays a spike); the grid alone might land on it once, or miss it.
        step_rows = (ordered.size - 1) / (levels.size - 1)
        spikes = distinct[counts >= max(2, min_count, step_rows)]
        levels, knots, interpolated = _with_runs(ordered, spikes, levels, knots, interpolated)
        knots = np.maximum.accumulate(np.clip(knots, lowest, highest))
        rare = distinct[counts < min_count]
        if rare.size:
            knots = _off_rare_values(knots, interpolated, distinct, rare, places)
        return knots, levels

    def grid_size(self, rows: int, min_count: int) -> int:
        """How many evenly spaced levels a column of ``rows`` values gets: ``n_quantiles``, or
        fewer so that at least ``min_count`` rows lie from one knot to the next (the knots
        then never retrace the rows one by one)."""
        return max(2, min(self.n_quantiles, (rows - 1) // min_count + 1))

    def _plateaus(self, distinct: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = float(counts.sum())
        step = counts / total
        centre = np.cumsum(step) - step / 2.0
        half = self.plateau_half_widths(step, total)
        quantiles = np.repeat(distinct, 2)
        references = np.stack([centre - half, centre + half], axis=1).ravel()
        return quantiles, references

    def plateau_half_widths(self, step: np.ndarray, total: float) -> np.ndarray:
        """The half-width (CDF units) of the plateau of values whose CDF steps are ``step``.

        ``total`` is the number of rows the steps stand for: a plateau leaves half a row (or
        the margin evenly spaced quantiles would leave) on each side of it. Always below
        ``step / 2`` for a positive step, so plateaus are disjoint and references increase.
        """
        margin = max(0.5 / (self.n_quantiles - 1), 0.5 / total)
        return np.maximum(step / 2.0 - margin, np.minimum(step / 4.0, _PLATEAU))

    @classmethod
    def from_counts(
        cls, distinct: np.ndarray, counts: np.ndarray, n_quantiles: int = 1000
    ) -> QuantileNormalizer:
        """The few-distinct-values normalizer (one plateau per value) from given counts.

        The counts need not come from the data itself: DP preprocessing passes noisy ones.
        They must be positive (a zero count would give a value an empty plateau), and the
        values strictly increasing.
        """
        distinct = np.asarray(distinct, dtype=np.float64)
        counts = np.asarray(counts, dtype=np.float64)
        if distinct.ndim != 1 or distinct.shape != counts.shape or distinct.size == 0:
            raise ValueError("from_counts needs as many counts as values, at least one")
        if not (np.all(np.isfinite(distinct)) and np.all(np.diff(distinct) > 0)):
            raise ValueError("from_counts needs finite, strictly increasing values")
        if not (np.all(np.isfinite(counts)) and np.all(counts > 0)):
            raise ValueError("from_counts needs finite, positive counts")
        encoder = cls(n_quantiles)
        encoder.quantiles, encoder.references = encoder._plateaus(distinct, counts)
        return encoder

    @classmethod
    def from_knots(
        cls, quantiles: np.ndarray, references: np.ndarray, n_quantiles: int = 1000
    ) -> QuantileNormalizer:
        """A normalizer through given knots: value ``quantiles[i]`` at CDF level ``references[i]``.

        For a CDF estimated elsewhere (DP preprocessing). The values must not decrease and the
        levels must strictly increase within [0, 1], so the map is invertible.
        """
        quantiles = np.asarray(quantiles, dtype=np.float64)
        references = np.asarray(references, dtype=np.float64)
        if quantiles.ndim != 1 or quantiles.shape != references.shape or quantiles.size < 2:
            raise ValueError("from_knots needs as many references as quantiles, at least two")
        if not (np.all(np.isfinite(quantiles)) and np.all(np.diff(quantiles) >= 0)):
            raise ValueError("from_knots needs finite, non-decreasing quantiles")
        if not (references[0] >= 0.0 and references[-1] <= 1.0 and np.all(np.diff(references) > 0)):
            raise ValueError("from_knots needs strictly increasing references within [0, 1]")
        encoder = cls(n_quantiles)
        encoder.quantiles, encoder.references = quantiles, references
        return encoder

    @property
    def scores(self) -> np.ndarray:
        """The model-space position (normal score) of each knot.

        Rounded to float32, the matrix's precision: a value on a knot (a column's minimum
        and maximum, every value of a column with few distinct values) is mapped to a
        number the matrix holds exactly, so it survives the float32 round trip as itself.
        """
        scores = ndtri(_EPS + (1.0 - 2.0 * _EPS) * self.references)
        return scores.astype(np.float32).astype(np.float64)

    @property
    def learns_nothing(self) -> bool:
        """Fitted on too few values to keep any (`fit`): `inverse` gives only NaN."""
        return self.quantiles.size == 0

    def transform(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        q, z = self.quantiles, self.scores
        if self.learns_nothing or q[0] == q[-1]:  # no values, or a constant: everything sits in the middle
            return np.zeros_like(values, dtype=np.float64)
        if self.min_count > 1:  # a row beyond a tail bound is a row at it, as in `fit`
            values = np.clip(values, q[0], q[-1])
        last = len(q) - 1
        first_at = np.searchsorted(q, values, side="left")  # the first knot >= value
        after = np.searchsorted(q, values, side="right")  # the first knot > value
        below = z[np.clip(after - 1, 0, last)]
        above = z[np.minimum(after, last)]
        # A value on knots (a tie or a plateau) goes to the middle of their scores; any
        # other is interpolated, and kept inside its segment so rounding cannot break the
        # order of two nearby values.
        on_knots = 0.5 * (z[np.minimum(first_at, last)] + below)
        between = np.clip(np.interp(values, q, z), below, above)
        return np.where(after > first_at, on_knots, between)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if self.learns_nothing:
            return np.full(z.shape, np.nan)
        # np.interp's rounding can step one ulp past the outermost knot (-1 + 0.9 > -0.1).
        return np.clip(np.interp(z, self.scores, self.quantiles), self.quantiles[0], self.quantiles[-1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_quantiles": self.n_quantiles,
            "quantiles": self.quantiles.tolist(),
            "references": self.references.tolist(),
            "min_count": self.min_count,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> QuantileNormalizer:
        encoder = cls(int(raw["n_quantiles"]))
        encoder.min_count = int(raw.get("min_count", 1))  # older files: tails not clipped
        if encoder.min_count < 1:
            raise ValueError("quantile normalizer min_count must be >= 1")
        encoder.quantiles = np.asarray(raw["quantiles"], dtype=np.float64)
        references = raw.get("references")  # older files: evenly spaced levels
        encoder.references = (
            np.linspace(0.0, 1.0, len(encoder.quantiles))
            if references is None
            else np.asarray(references, dtype=np.float64)
        )
        if encoder.quantiles.shape != encoder.references.shape:
            raise ValueError("quantile normalizer needs as many references as quantiles")
        if encoder.quantiles.size == 0 and encoder.min_count == 1:  # only a clipping fit learns nothing
            raise ValueError("quantile normalizer needs at least one quantile")
        return encoder


class OneHotEncoder:
    """Categories (as strings) to a one-hot block; a null is a category of its own.

    Index 0 is the fallback: values unseen at fit time map to it, so transform never fails
    on new data (a holdout file, say). Fitted with ``min_count`` above 1, categories held by
    fewer rows are *folded*: they get no category of their own and map to the fallback,
    which is then `OTHER_TOKEN` in a column holding strings, or the most frequent kept
    category in a column of numbers. Folded and unseen values thus land in the same place.
    """

    NULL_TOKEN = "\x00<null>"

    def __init__(self) -> None:
        self.categories: list[str] = []

    @classmethod
    def from_categories(cls, categories: list[str]) -> OneHotEncoder:
        """An encoder over a given domain (category tokens; ``NULL_TOKEN`` for nulls).

        The first category is the fallback that unseen values map to. For a domain known
        without reading the data (declared, or released by a DP mechanism).
        """
        if not categories:
            raise ValueError("an encoder needs at least one category")
        tokens = [str(c) for c in categories]
        if len(set(tokens)) != len(tokens):
            raise ValueError("categories must be unique")
        encoder = cls()
        encoder.categories = tokens
        return encoder

    @classmethod
    def tokens(cls, values: pd.Series) -> np.ndarray:
        """Each value as the string token the encoder keys categories by (nulls as NULL_TOKEN)."""
        tokens = values.astype(object).where(values.notna(), cls.NULL_TOKEN)
        return tokens.map(str).to_numpy(dtype=object)

    def fit(self, values: pd.Series, *, min_count: int = 1) -> OneHotEncoder:
        """Learn the categories of ``values``, most frequent first.

        ``min_count``: a category seen in fewer rows is folded (see the class). The null
        token is never folded: whether a column has missing values is a property of the
        column, not of a row. A column of numbers none of whose values reaches ``min_count``
        has nothing to fold into: ValueError. ``min_count=1`` keeps every category.
        """
        if min_count < 1:
            raise ValueError("min_count must be >= 1")
        counts = pd.Series(self.tokens(values)).value_counts(sort=True)
        tokens = [str(c) for c in counts.index]
        rare = [
            t
            for t, n in zip(tokens, counts.to_numpy(), strict=True)
            if n < min_count and t != self.NULL_TOKEN
        ]
        if not rare:
            # Most frequent first: index 0 is the fallback for unseen values.
            self.categories = tokens
            return self
        kept = [t for t in tokens if t not in set(rare)]
        if holds_strings(values.dtype):
            # A real value spelled "(other)" is kept only if frequent; it then merges with the rest.
            self.categories = [OTHER_TOKEN, *(t for t in kept if t != OTHER_TOKEN)]
            return self
        real = [t for t in kept if t != self.NULL_TOKEN]
        if not real:
            raise ValueError(
                f"no value is held by {min_count} or more rows, and a column of {values.dtype} "
                f"cannot hold {OTHER_TOKEN!r}"
            )
        # The most frequent kept value first: folded and unseen values map to it.
        self.categories = [real[0], *(t for t in kept if t != real[0])]
        return self

    def codes(self, values: pd.Series) -> np.ndarray:
        lookup = pd.Index(self.categories)
        codes = lookup.get_indexer(pd.Index(self.tokens(values)))
        return np.where(codes < 0, 0, codes)

    def transform(self, values: pd.Series) -> np.ndarray:
        codes = self.codes(values)
        out = np.zeros((len(codes), len(self.categories)), dtype=np.float32)
        out[np.arange(len(codes)), codes] = 1.0
        return out

    def inverse_tokens(self, block: np.ndarray) -> np.ndarray:
        """The category token (or NULL_TOKEN) of each row's largest entry."""
        return self.inverse_codes(np.argmax(block, axis=1))

    def inverse_codes(self, codes: np.ndarray) -> np.ndarray:
        """The category token (or NULL_TOKEN) of each code (an index into `categories`)."""
        return np.asarray(self.categories, dtype=object).take(np.asarray(codes, dtype=np.int64))

    def to_dict(self) -> dict[str, Any]:
        return {"categories": self.categories}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OneHotEncoder:
        encoder = cls()
        encoder.categories = [str(c) for c in raw["categories"]]
        return encoder
