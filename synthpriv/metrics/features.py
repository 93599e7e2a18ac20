"""Pieces shared by the model-based metrics (`efficacy`, `detection`) and `coverage`.

- `model_frames` turns tables into frames that scikit-learn's HistGradientBoosting reads as
  they are: numbers as float (missing left NaN, which the trees route on their own), datetimes
  as float seconds since the epoch, categories and booleans as pandas ``category`` columns whose
  category set is shared by every frame compared, so that a code means the same value in each.
- `category_keys` and `column_numbers` normalise one column the same way whichever table
  (real, synthetic, holdout) and dtype it comes in.
- Bootstrap scoring: `bootstrap_weights` draws a block of replicates as an index matrix and
  turns it into per-row draw counts; `weighted_roc_auc`, `weighted_r2` and `weighted_macro_f1`
  then score every replicate of the block at once with those counts as row weights, which is
  the same as scoring the resampled rows. The point estimate is the same function with weight 1
  on every row, so point and replicates cannot drift apart.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from synthpriv.data.dtypes import datetime_seconds
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema

CONTINUOUS = (ColumnKind.NUMERICAL, ColumnKind.DATETIME)
#: HistGradientBoosting refuses a categorical feature with more categories than its max_bins (255).
MAX_MODEL_CATEGORIES = 255
#: Iterations of the boosted trees: enough for tabular scores to settle, few enough to stay fast.
MAX_ITER = 100
_OTHER_KEY = "\x00other"  # a key no real label can collide with
# Bounds one block of bootstrap weights (elements, float64): 16 MiB; the scores' temporaries
# take a few times that.
_BLOCK_ELEMENTS = 1 << 21


# HistGradientBoosting fits on frames that may hold a number column with no value at all (one
# null in every row, or in every row of a fold), but its binning fails on one ("window shape
# cannot be larger than input array shape"). Such a column carries no information, so the two
# models below read it as a constant 0, at fit and at every prediction alike.


def _empty_number_columns(X: pd.DataFrame) -> list[str]:
    return [str(name) for name in X.columns if X[name].dtype.kind == "f" and not X[name].notna().any()]


def _filled(X: pd.DataFrame, empty_columns: list[str]) -> pd.DataFrame:
    return X.assign(**{name: 0.0 for name in empty_columns}) if empty_columns else X


class _Classifier(HistGradientBoostingClassifier):
    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> _Classifier:
        self.empty_columns_ = _empty_number_columns(X)
        return super().fit(_filled(X, self.empty_columns_), y, sample_weight=sample_weight)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return super().predict(_filled(X, self.empty_columns_))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return super().predict_proba(_filled(X, self.empty_columns_))


class _Regressor(HistGradientBoostingRegressor):
    def fit(self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None) -> _Regressor:
        self.empty_columns_ = _empty_number_columns(X)
        return super().fit(_filled(X, self.empty_columns_), y, sample_weight=sample_weight)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return super().predict(_filled(X, self.empty_columns_))


def classifier(seed: int) -> HistGradientBoostingClassifier:
    """The classifier of the efficacy and detection metrics (categories read from the frame's dtypes).

    scikit-learn takes 32-bit seeds: a 63-bit stream seed is folded to its low 32 bits."""
    return _Classifier(max_iter=MAX_ITER, categorical_features="from_dtype", random_state=seed % 2**32)


def regressor(seed: int) -> HistGradientBoostingRegressor:
    """The regressor of the efficacy metric for numerical targets."""
    return _Regressor(max_iter=MAX_ITER, categorical_features="from_dtype", random_state=seed % 2**32)


# --- columns ------------------------------------------------------------------------------


def category_keys(values: pd.Series) -> pd.Series:
    """Values as text keys that compare equal across tables, NaN where missing.

    Numbers go through float first, so an integer column and a float column holding the same
    whole numbers (a generator may hand back 13.0 for 13) give the same key.
    """
    present = values.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        text = values.to_numpy(dtype=float, na_value=np.nan).astype(str)
    else:
        text = values.astype(object).astype(str).to_numpy()
    keys = text.astype(object)
    keys[~present] = None
    return pd.Series(keys, index=values.index, dtype=object)


def column_numbers(values: pd.Series, spec: ColumnSpec) -> np.ndarray:
    """Floats of a numerical or datetime column (datetimes in seconds since the epoch).

    Missing, unparseable and infinite values become NaN.
    """
    if spec.kind is ColumnKind.DATETIME:
        numbers = datetime_seconds(values, spec.datetime_format)  # in the column's unit: years 1 to 9999
    else:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isfinite(numbers), numbers, np.nan)


def model_frames(
    tables: Sequence[pd.DataFrame],
    schema: TableSchema,
    columns: Sequence[str],
    *,
    max_categories: int = MAX_MODEL_CATEGORIES,
) -> list[pd.DataFrame]:
    """``columns`` of each table as a frame HistGradientBoosting reads with
    ``categorical_features="from_dtype"``.

    Categorical and boolean columns share one category set across all ``tables``: the
    ``max_categories - 1`` most frequent keys over all of them, plus one "other" category for
    the rest when there are more (the trees accept at most 255). Missing values stay missing.
    Each returned frame has a fresh RangeIndex.
    """
    out: list[dict[str, object]] = [{} for _ in tables]
    for name in columns:
        spec = schema[name]
        if spec.kind in CONTINUOUS:
            for frame, table in zip(out, tables):
                frame[name] = column_numbers(table[name], spec)
            continue
        keys = [category_keys(table[name]) for table in tables]
        counts = pd.concat(keys, ignore_index=True).value_counts()
        # Count first, key second: the category order (and so the codes) does not depend on
        # how value_counts breaks ties.
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        categories = [key for key, _ in ranked]
        if len(categories) > max_categories:
            categories = [*categories[: max_categories - 1], _OTHER_KEY]
        kept = set(categories)
        for frame, key in zip(out, keys):
            if _OTHER_KEY in kept:
                key = key.where(key.isin(kept) | key.isna(), _OTHER_KEY)
            frame[name] = pd.Categorical(key.to_numpy(), categories=categories)
    return [pd.DataFrame(frame, columns=list(columns)) for frame in out]


# --- bootstrap scoring --------------------------------------------------------------------


def bootstrap_weights(
    n_rows: int, n_bootstrap: int, rng: np.random.Generator, *, max_elements: int = _BLOCK_ELEMENTS
) -> Iterator[np.ndarray]:
    """Successive blocks of bootstrap replicates as (replicates x n_rows) float weight matrices.

    Each replicate draws ``n_rows`` row indices with replacement (one index matrix per block);
    counting the draws per row turns a resample into weights, so every score reads the rows in
    one fixed order and needs no re-sorting per replicate. Blocks keep memory bounded.
    """
    per_block = max(1, max_elements // max(n_rows, 1))
    done = 0
    while done < n_bootstrap:
        size = min(per_block, n_bootstrap - done)
        index = rng.integers(0, n_rows, size=(size, n_rows))
        index += np.arange(size)[:, None] * n_rows
        counts = np.bincount(index.ravel(), minlength=size * n_rows)
        yield counts.reshape(size, n_rows).astype(float)
        done += size


def group_sums(weights: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Per replicate (row of ``weights``), the summed weight of each group: (replicates x n_groups).

    One sort of the group codes serves every replicate; sums come from cumulative sums at the
    group boundaries, so empty groups get 0.
    """
    order = np.argsort(groups, kind="stable")
    ordered = groups[order]
    bounds = np.searchsorted(ordered, np.arange(n_groups + 1), side="left")
    cumulative = np.zeros((weights.shape[0], weights.shape[1] + 1))
    np.cumsum(weights[:, order], axis=1, out=cumulative[:, 1:])
    return cumulative[:, bounds[1:]] - cumulative[:, bounds[:-1]]


def weighted_roc_auc(weights: np.ndarray, positive: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each replicate (ties count half, as in ``roc_auc_score``); NaN without both labels.

    Rows are grouped by (distinct score, label); the AUC is then the weighted share of
    (positive, negative) pairs ordered correctly, read off cumulative negative weights.
    """
    _, rank = np.unique(scores, return_inverse=True)
    n_scores = int(rank.max()) + 1 if rank.size else 0
    sums = group_sums(weights, rank * 2 + positive.astype(np.int64), 2 * n_scores)
    sums = sums.reshape(weights.shape[0], n_scores, 2)
    negative, positive_w = sums[:, :, 0], sums[:, :, 1]
    below = np.cumsum(negative, axis=1) - negative
    correct = (positive_w * (below + 0.5 * negative)).sum(axis=1)
    pairs = positive_w.sum(axis=1) * negative.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, correct / np.where(pairs > 0, pairs, 1.0), np.nan)


def weighted_r2(weights: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """R² of each replicate; NaN where a replicate's targets are (numerically) constant."""
    # Centring on the overall mean first keeps the one-pass variance below free of cancellation.
    center = truth.mean()
    y, p = truth - center, predicted - center
    total = weights.sum(axis=1)
    first = weights @ y
    spread = weights @ (y * y) - first * first / total
    residual = weights @ ((y - p) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        tiny = 1e-12 * np.maximum(weights @ (y * y), 1e-300)
        return np.where(spread > tiny, 1.0 - residual / np.where(spread > tiny, spread, 1.0), np.nan)


def weighted_macro_f1(
    weights: np.ndarray, truth: np.ndarray, predicted: np.ndarray, n_classes: int
) -> np.ndarray:
    """Macro F1 of each replicate over the classes present in its truth or predictions (as sklearn).

    ``truth`` holds class codes 0..n_classes-1; ``predicted`` may also hold n_classes for "no
    class predicted", which counts against the true class and for none.
    """
    width = n_classes + 1
    cells = group_sums(weights, truth * width + predicted, n_classes * width)
    cells = cells.reshape(weights.shape[0], n_classes, width)
    diagonal = np.arange(n_classes)
    hits = cells[:, diagonal, diagonal]
    in_truth = cells.sum(axis=2)
    in_predicted = cells.sum(axis=1)[:, :n_classes]
    seen = in_truth + in_predicted
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a replicate with no class at all
        f1 = np.where(seen > 0, 2.0 * hits / np.where(seen > 0, seen, 1.0), np.nan)
        return np.nanmean(f1, axis=1)


def percentile_interval(replicates: np.ndarray, point: float) -> tuple[float, float]:
    """95 % percentile interval of the finite replicates, widened to include ``point``.

    The widening only matters for strongly skewed replicate distributions (e.g. a score at its
    bound), where the percentile interval can miss the estimate it is meant to bracket.
    """
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return float(point), float(point)
    low, high = np.quantile(finite, [0.025, 0.975])
    return float(min(low, point)), float(max(high, point))
