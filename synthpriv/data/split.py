"""The seeded train/holdout split, kept as row indices (never as a copy of rows)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthpriv.errors import DataError
from synthpriv.runtime.seeding import stream_rng

MIN_TRAIN_ROWS = 10
#: Validate's k-NN coverage compares held-out rows with their 5 nearest neighbours (it needs
#: more than 5), and the attacks split the holdout into a reference and a control half.
MIN_HOLDOUT_ROWS = 6


@dataclass(frozen=True)
class Split:
    """Which rows of the source table train the generator (members) and which are held out."""

    train: np.ndarray  # row positions in the source table, sorted
    holdout: np.ndarray  # row positions in the source table (empty when holdout is a file)

    def to_frame(self) -> pd.DataFrame:
        rows = np.concatenate([self.train, self.holdout])
        member = np.concatenate([np.ones(len(self.train), bool), np.zeros(len(self.holdout), bool)])
        order = np.argsort(rows, kind="stable")
        return pd.DataFrame({"row": rows[order].astype(np.int64), "member": member[order]})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Split:
        rows = frame["row"].to_numpy(np.int64)
        member = frame["member"].to_numpy(bool)
        return cls(train=rows[member], holdout=rows[~member])


def split_sizes(n_rows: int, holdout_fraction: float) -> tuple[int, int]:
    """(training rows, holdout rows) of a split of ``n_rows``; DataError when either part would be too small.

    Counts only: `synthpriv check` knows whether a table can be split without drawing the split.
    """
    n_holdout = round(n_rows * holdout_fraction)
    n_train = n_rows - n_holdout
    if n_train < MIN_TRAIN_ROWS or n_holdout < MIN_HOLDOUT_ROWS:
        raise DataError(
            f"{n_rows} rows are too few to split with holdout {holdout_fraction}: need at least "
            f"{MIN_TRAIN_ROWS} training and {MIN_HOLDOUT_ROWS} holdout rows (the validate and attack stages "
            "compare with held-out rows); use a larger table or change data.holdout",
            where="data.holdout",
        )
    return n_train, n_holdout


def split_rows(n_rows: int, holdout_fraction: float, seed: int) -> Split:
    """The run's random split of ``n_rows`` rows, drawn from its ``split`` seed stream.

    Drawn once, by the train stage, which stores it (``train/split.parquet``); every later
    reader loads that file.
    """
    n_train, _ = split_sizes(n_rows, holdout_fraction)
    permutation = stream_rng(seed, "train", "split").permutation(n_rows)
    return Split(train=np.sort(permutation[:n_train]), holdout=np.sort(permutation[n_train:]))


def all_rows(n_rows: int) -> Split:
    """Every row trains (the holdout comes from a separate file)."""
    if n_rows < MIN_TRAIN_ROWS:
        raise DataError(
            f"{n_rows} rows are too few to train on (need {MIN_TRAIN_ROWS}); use a larger table",
            where="data.path",
        )
    return Split(train=np.arange(n_rows), holdout=np.zeros(0, dtype=np.int64))
