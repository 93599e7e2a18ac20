"""Whether one feature alone decides a binary target (issue 19: a trivial efficacy figure).

When ``placed`` is exactly "``salary`` is not missing", any synthetic table that keeps that one
relation scores a perfect ML efficacy, whatever it does to the rest. The efficacy section then
says so and reports efficacy without those features too (`synthpriv.metrics.efficacy`).

A feature's own predictive power is measured without a model: the real train rows' target rate
per value (a category, missingness, or one of `BINS` quantile bins of a number) scores the
holdout rows, and the ROC AUC of those scores is the feature's. Only names and scores leave.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthpriv.metrics.features import weighted_roc_auc

#: A feature whose target rate alone reaches this holdout ROC AUC decides the target.
DECISIVE_AUC = 0.99
#: Quantile bins a number is cut into (missing is a key of its own).
BINS = 20


def decisive_features(
    train: pd.DataFrame, train_positive: np.ndarray, holdout: pd.DataFrame, holdout_positive: np.ndarray
) -> list[tuple[str, float]]:
    """The features (columns of the model frames) whose target rate alone scores the holdout
    at `DECISIVE_AUC` or more, with their AUC, best first (several when they say the same
    thing: a salary and the dates of a job all missing for the unplaced)."""
    if holdout_positive.all() or not holdout_positive.any():
        return []
    weights = np.ones((1, len(holdout)))  # one replicate: the holdout as it is
    found = []
    for column in train.columns:
        train_keys, holdout_keys = _keys(train[column], holdout[column])
        scores = _target_rate(train_keys, train_positive, holdout_keys)
        auc = float(weighted_roc_auc(weights, holdout_positive, scores)[0])
        if auc >= DECISIVE_AUC:
            found.append((str(column), auc))
    return sorted(found, key=lambda item: -item[1])


def _keys(train: pd.Series, holdout: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys of both columns' values: categories (missing as -1), or a number's quantile
    bin on the train rows (missing as -1)."""
    if isinstance(train.dtype, pd.CategoricalDtype):
        return train.cat.codes.to_numpy(np.int64), holdout.cat.codes.to_numpy(np.int64)
    numbers = train.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = numbers[np.isfinite(numbers)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1)[1:-1])) if finite.size else np.zeros(0)

    def key(values: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(values), -1, np.searchsorted(edges, values, side="right"))

    return key(numbers), key(holdout.to_numpy(dtype=np.float64, na_value=np.nan))


def _target_rate(train_keys: np.ndarray, train_positive: np.ndarray, holdout_keys: np.ndarray) -> np.ndarray:
    """Each holdout row's key's share of positives among the train rows (smoothed by half a
    row each way; a key the train rows lack gets the overall share)."""
    keys, index = np.unique(train_keys, return_inverse=True)
    positives = np.bincount(index, weights=train_positive.astype(np.float64), minlength=len(keys))
    rows = np.bincount(index, minlength=len(keys))
    rate = (positives + 0.5) / (rows + 1.0)
    position = np.clip(np.searchsorted(keys, holdout_keys), 0, len(keys) - 1)
    known = keys[position] == holdout_keys
    return np.where(known, rate[position], train_positive.mean())
