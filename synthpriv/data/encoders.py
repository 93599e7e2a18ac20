"""Per-column encoders: each maps one column to a few model-space columns and back.

All of them are vectorized (no per-row Python) and serialize to plain JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

_EPS = 1e-6


class QuantileNormalizer:
    """Maps a numeric column through its empirical CDF onto a standard normal.

    Any marginal (skewed, multi-modal, spiky such as Adult's capital_gain) becomes a
    N(0, 1) in model space, and the inverse maps back exactly onto the data's range.
    Ties are mapped to the middle of their CDF step (the average of the left and right
    interpolations), so a spike of zeros lands on one point and comes back as zero.
    """

    def __init__(self, n_quantiles: int = 1000) -> None:
        self.n_quantiles = n_quantiles
        self.quantiles: np.ndarray = np.zeros(0)

    @property
    def references(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, len(self.quantiles))

    def fit(self, values: np.ndarray) -> QuantileNormalizer:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            finite = np.zeros(1)
        n = int(min(self.n_quantiles, max(finite.size, 2)))
        self.quantiles = np.quantile(finite, np.linspace(0.0, 1.0, n))
        # np.interp needs non-decreasing abscissae; quantile() already guarantees it.
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        q, r = self.quantiles, self.references
        if q[0] == q[-1]:  # a constant column: everything sits in the middle
            return np.zeros_like(values, dtype=np.float64)
        forward = np.interp(values, q, r)
        backward = 1.0 - np.interp(-values, -q[::-1], 1.0 - r[::-1])
        u = np.clip(0.5 * (forward + backward), _EPS, 1.0 - _EPS)
        return ndtri(u)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.interp(ndtr(z), self.references, self.quantiles)

    def to_dict(self) -> dict[str, Any]:
        return {"n_quantiles": self.n_quantiles, "quantiles": self.quantiles.tolist()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> QuantileNormalizer:
        encoder = cls(int(raw["n_quantiles"]))
        encoder.quantiles = np.asarray(raw["quantiles"], dtype=np.float64)
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
