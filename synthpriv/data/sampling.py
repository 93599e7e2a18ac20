"""Seeded row samples: the one way metrics and attacks cut a large table down to size."""

from __future__ import annotations

import numpy as np
import pandas as pd


def sample_positions(length: int, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of ``n`` distinct rows of ``length`` (all of them when ``n`` is None or >= length).

    Sorted so that a sample keeps the table's order.
    """
    if n is None or n >= length:
        return np.arange(length)
    return np.sort(rng.choice(length, size=n, replace=False))


def sample_rows(table: pd.DataFrame, n: int | None, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` seeded distinct rows of ``table`` in their order, with a fresh index (all rows when ``n``
    is None or >= len)."""
    if n is None or n >= len(table):
        return table.reset_index(drop=True)
    return table.iloc[sample_positions(len(table), n, rng)].reset_index(drop=True)
