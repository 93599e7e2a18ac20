"""Per-column encoders: each maps one column to a few model-space columns and back.

All of them are vectorized (no per-row Python) and serialize to plain JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

_EPS = 1e-6  # model space is the normal quantile of [_EPS, 1 - _EPS]: about +-4.75
_PLATEAU = 1e-6  # the least half-width (in CDF units) of an observed value's plateau


class QuantileNormalizer:
    """Maps a numeric column through its empirical CDF onto a standard normal.

    Any marginal (skewed, multi-modal, spiky such as Adult's capital_gain) becomes a
    N(0, 1) in model space, and the inverse maps back exactly onto the data's range.

    The CDF is piecewise linear through knots ``(quantiles[i], references[i])``:

    - a column with many distinct values: ``n_quantiles`` quantiles at evenly spaced levels;
    - a column with few distinct values (at most ``n_quantiles // 2``): two knots per value,
      a *plateau* ``[centre - half, centre + half]`` around the middle of the value's CDF
      step, and straight lines in between. A value maps to its plateau's centre, so it comes
      back exactly even after model space was rounded to float32 (the plateau is much wider
      than that rounding); a repeated value's plateau covers its step except for the same
      margins evenly spaced quantiles would leave, so a spike of zeros stays a spike; a value
      seen once gets only a sliver, so generated values between observations do not
      collapse onto the real ones.

    Ties are mapped to the middle of their CDF step (the average of the left and right
    interpolations), so a spike of zeros lands on one point and comes back as zero.
    """

    def __init__(self, n_quantiles: int = 1000) -> None:
        self.n_quantiles = n_quantiles
        self.quantiles: np.ndarray = np.zeros(0)
        self.references: np.ndarray = np.zeros(0)

    def fit(self, values: np.ndarray) -> QuantileNormalizer:
        values = np.asarray(values, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            finite = np.zeros(1)
        distinct, counts = np.unique(finite, return_counts=True)
        if distinct.size <= max(self.n_quantiles // 2, 1):
            self.quantiles, self.references = self._plateaus(distinct, counts)
        else:
            self.references = np.linspace(0.0, 1.0, min(self.n_quantiles, finite.size))
            # np.interp needs non-decreasing abscissae; quantile() already guarantees it.
            self.quantiles = np.quantile(finite, self.references)
        return self

    def _plateaus(self, distinct: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = float(counts.sum())
        step = counts / total
        centre = np.cumsum(step) - step / 2.0
        margin = max(0.5 / max(self.n_quantiles - 1, 1), 0.5 / total)
        # Always < step / 2, so the plateaus are disjoint and the references strictly increase.
        half = np.maximum(step / 2.0 - margin, np.minimum(step / 4.0, _PLATEAU))
        quantiles = np.repeat(distinct, 2)
        references = np.stack([centre - half, centre + half], axis=1).ravel()
        return quantiles, references

    def transform(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        q, r = self.quantiles, self.references
        if q[0] == q[-1]:  # a constant column: everything sits in the middle
            return np.zeros_like(values, dtype=np.float64)
        forward = np.interp(values, q, r)
        backward = 1.0 - np.interp(-values, -q[::-1], 1.0 - r[::-1])
        # Squeeze [0, 1] into [_EPS, 1 - _EPS] (inverse() undoes it) rather than clipping,
        # so the smallest and largest values come back as themselves.
        u = _EPS + (1.0 - 2.0 * _EPS) * (0.5 * (forward + backward))
        return ndtri(u)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        u = (ndtr(np.asarray(z, dtype=np.float64)) - _EPS) / (1.0 - 2.0 * _EPS)
        return np.interp(u, self.references, self.quantiles)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_quantiles": self.n_quantiles,
            "quantiles": self.quantiles.tolist(),
            "references": self.references.tolist(),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> QuantileNormalizer:
        encoder = cls(int(raw["n_quantiles"]))
        encoder.quantiles = np.asarray(raw["quantiles"], dtype=np.float64)
        references = raw.get("references")  # older files: evenly spaced levels
        encoder.references = (
            np.linspace(0.0, 1.0, len(encoder.quantiles))
            if references is None
            else np.asarray(references, dtype=np.float64)
        )
        if encoder.quantiles.shape != encoder.references.shape or encoder.quantiles.size == 0:
            raise ValueError("quantile normalizer needs as many references as quantiles")
        return encoder


class OneHotEncoder:
    """Categories (as strings) to a one-hot block; a null is a category of its own.

    Values unseen at fit time map to the most frequent category, so transform never fails
    on new data (a holdout file, say).
    """

    NULL_TOKEN = "\x00<null>"

    def __init__(self) -> None:
        self.categories: list[str] = []

    @classmethod
    def _as_tokens(cls, values: pd.Series) -> np.ndarray:
        tokens = values.astype(object).where(values.notna(), cls.NULL_TOKEN)
        return tokens.map(str).to_numpy(dtype=object)

    def fit(self, values: pd.Series) -> OneHotEncoder:
        counts = pd.Series(self._as_tokens(values)).value_counts(sort=True)
        # Most frequent first: index 0 is the fallback for unseen values.
        self.categories = [str(c) for c in counts.index]
        return self

    def codes(self, values: pd.Series) -> np.ndarray:
        lookup = pd.Index(self.categories)
        codes = lookup.get_indexer(self._as_tokens(values))
        return np.where(codes < 0, 0, codes)

    def transform(self, values: pd.Series) -> np.ndarray:
        codes = self.codes(values)
        out = np.zeros((len(codes), len(self.categories)), dtype=np.float32)
        out[np.arange(len(codes)), codes] = 1.0
        return out

    def inverse_tokens(self, block: np.ndarray) -> np.ndarray:
        """The category token (or NULL_TOKEN) of each row's largest entry."""
        return np.asarray(self.categories, dtype=object)[np.argmax(block, axis=1)]

    def to_dict(self) -> dict[str, Any]:
        return {"categories": self.categories}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OneHotEncoder:
        encoder = cls()
        encoder.categories = [str(c) for c in raw["categories"]]
        return encoder
