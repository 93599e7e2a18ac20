"""Holdout rows that repeat training rows: counted exactly, judged against the table's own repeats.

The attack and validate stages use the holdout as the control: real rows the generator never
saw. A holdout file that copies training rows makes members look like non-members, and the
privacy gates pass on a leak. Some overlap is natural, though: a table with few or coarse
columns repeats itself (two people alike in every column), and a true holdout drawn from the
same population meets training rows exactly as often as training rows meet each other. So
the number of holdout rows equal to some training row is compared with the share of training
rows equal to another training row (the table's own repeat rate), with a margin that makes a
false refusal of a true holdout about as rare as one in ten thousand:

* ``p_high``: the Clopper-Pearson upper bound (one-sided, ``CONFIDENCE``) of the repeat rate,
  from the repeating training rows out of all training rows;
* ``allowed``: the ``CONFIDENCE`` quantile of Binomial(holdout rows, ``p_high``), the most
  holdout rows such a rate explains.

More shared rows than ``allowed`` are refused. Under a true holdout each of its rows matches
the fixed training rows independently with about the repeat rate (for a random split the two
expectations are equal), so both bounds are conservative; duplicates that come in pairs make
the repeat rate vary more than a binomial does, which the two stacked bounds absorb.

Rows are compared on the columns given (the modelled ones: ids are regenerated, not learned),
nulls equal to nulls, values by Python's equality whatever their dtype (1 == 1.0 == True;
the same instant in two time zones), so a CSV holdout is compared fairly with a Parquet table.
Each row becomes one 64-bit hash, vectorized; a collision (about n^2 / 2^64) could only add a
shared row. Text of a column that mixes strings and numbers is compared as text ("1" == 1).
No value leaves this module: only counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import beta, binom

#: One-sided confidence of each of the two bounds (a true holdout is refused with
#: probability at most about 1 - CONFIDENCE).
CONFIDENCE = 1.0 - 1e-4

# What a cell is, so that equal values of different dtypes agree and different ones do not.
_NULL, _INTEGER, _FLOAT, _UNSIGNED, _TEXT, _NAIVE_TIME, _ZONED_TIME, _DURATION = range(8)
_TWO_63 = 2.0**63
_TWO_64 = 2.0**64
_NUMERIC_OBJECTS = {"integer", "floating", "mixed-integer-float", "boolean", "decimal"}


@dataclass(frozen=True)
class HoldoutOverlap:
    """How many holdout rows repeat a training row, and how many the table's own repeats explain."""

    holdout_rows: int
    shared_rows: int
    """Holdout rows equal to at least one training row."""
    train_rows: int
    train_repeats: int
    """Training rows equal to at least one other training row."""
    allowed: int
    """The most shared rows a true holdout gives at ``CONFIDENCE`` (see the module's notes)."""

    @property
    def repeat_share(self) -> float:
        return self.train_repeats / self.train_rows if self.train_rows else 0.0

    @property
    def excessive(self) -> bool:
        return self.shared_rows > self.allowed


def allowed_shared_rows(holdout_rows: int, train_rows: int, train_repeats: int) -> int:
    """The ``CONFIDENCE`` quantile of shared rows under the table's own repeat rate (upper bound)."""
    if train_repeats >= train_rows:
        return holdout_rows
    p_high = float(beta.ppf(CONFIDENCE, train_repeats + 1, train_rows - train_repeats))
    return int(binom.ppf(CONFIDENCE, holdout_rows, p_high))


def holdout_overlap(
    train: pd.DataFrame, holdout: pd.DataFrame, columns: Sequence[str]
) -> tuple[HoldoutOverlap, np.ndarray]:
    """The counts, and which holdout rows repeat a training row (a boolean mask, in holdout order)."""
    train_hashes = row_hashes(train, columns)
    holdout_hashes = row_hashes(holdout, columns)
    repeats = int(pd.Series(train_hashes).duplicated(keep=False).sum())
    shared = np.isin(holdout_hashes, train_hashes)
    counts = HoldoutOverlap(
        holdout_rows=len(holdout),
        shared_rows=int(shared.sum()),
        train_rows=len(train),
        train_repeats=repeats,
        allowed=allowed_shared_rows(len(holdout), len(train), repeats),
    )
    return counts, shared


def row_hashes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One uint64 per row over ``columns``: equal rows (by value, nulls alike) hash alike."""
    parts: dict[str, np.ndarray] = {}
    for position, name in enumerate(columns):
        tag, high, low = _cells(frame[name])
        parts[f"{position}t"], parts[f"{position}h"], parts[f"{position}l"] = tag, high, low
    if not parts:
        return np.zeros(len(frame), dtype=np.uint64)
    return pd.util.hash_pandas_object(pd.DataFrame(parts), index=False).to_numpy(np.uint64)


def dtype_family(column: pd.Series) -> str:
    """ "time", "duration", "number" or "text": dtypes within one family compare by value here.

    A categorical column belongs to its categories' family. Across families values never
    compare equal, so a caller may first bring one side to the other's dtype.
    """
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        dtype = dtype.categories.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "time"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "duration"
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if dtype == object and pd.api.types.infer_dtype(column, skipna=True) in _NUMERIC_OBJECTS:
        return "number"
    return "text"


def _cells(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tag, high, low) per cell: one triple per value, whatever dtype carries it."""
    null = column.isna().to_numpy(dtype=bool)
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = _decategorized(column, null)
    tag, high, low = _typed_cells(column, null)
    tag[null] = _NULL
    high[null] = 0
    low[null] = 0
    return tag, high, low


def _decategorized(column: pd.Series, null: np.ndarray) -> pd.Series:
    """A categorical column as its categories' own dtype (codes say nothing across files)."""
    categories = column.cat.categories
    if len(categories) == 0:
        return pd.Series(np.zeros(len(column)), index=column.index)
    codes = np.where(null, 0, column.cat.codes.to_numpy())
    return pd.Series(categories.take(codes), index=column.index)


def _typed_cells(column: pd.Series, null: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dtype = column.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _times(column)
    if pd.api.types.is_timedelta64_dtype(dtype):
        return _durations(column.to_numpy(), null)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
        return _integers(column)
    if pd.api.types.is_float_dtype(dtype):
        return _floats(column.to_numpy(dtype=np.float64, na_value=np.nan))
    if dtype == object and pd.api.types.infer_dtype(column, skipna=True) in _NUMERIC_OBJECTS:
        return _numeric_objects(column, null)
    return _text(column)


def _zeros(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.uint64)


def _integers(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integers exactly: signed ones as int64 bits, those above int64 as unsigned (uint64 columns)."""
    n = len(column)
    if pd.api.types.is_unsigned_integer_dtype(column.dtype):
        values = column.to_numpy(dtype=np.uint64, na_value=0)
        tag = np.where(values > np.iinfo(np.int64).max, _UNSIGNED, _INTEGER).astype(np.uint8)
        return tag, values, _zeros(n)
    values = column.to_numpy(dtype=np.int64, na_value=0)
    return np.full(n, _INTEGER, dtype=np.uint8), values.view(np.uint64), _zeros(n)


def _floats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole floats become the integer they equal (so 3.0 meets 3); others keep their bits."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(values) & (values == np.floor(values))
    signed = whole & (values >= -_TWO_63) & (values < _TWO_63)
    unsigned = whole & (values >= _TWO_63) & (values < _TWO_64)
    high = values.copy().view(np.uint64)
    high[signed] = values[signed].astype(np.int64).view(np.uint64)
    high[unsigned] = values[unsigned].astype(np.uint64)
    tag = np.full(len(values), _FLOAT, dtype=np.uint8)
    tag[signed], tag[unsigned] = _INTEGER, _UNSIGNED
    return tag, high, _zeros(len(values))


def _numeric_objects(column: pd.Series, null: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Python numbers in an object column: integers exactly when they fit 64 bits, else as floats."""
    filled = column.where(~null, 0)
    if pd.api.types.infer_dtype(column, skipna=True) in ("integer", "boolean"):
        for exact in (np.int64, np.uint64):
            try:
                return _integers(filled.astype(exact))
            except OverflowError:
                continue
    return _floats(filled.astype(np.float64).to_numpy())


def _split_time(values: np.ndarray, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """Whole seconds and the nanoseconds past them, whatever the array's unit
    (no ns overflow in year 1 or 9999)."""
    seconds = values.astype(f"{unit}[s]")
    rest = (values - seconds).astype("timedelta64[ns]").astype(np.int64)
    return seconds.astype(np.int64).view(np.uint64), rest.view(np.uint64)


def _times(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Instants: naive ones as they read, zoned ones in UTC (the same instant in two zones is equal)."""
    zoned = isinstance(column.dtype, pd.DatetimeTZDtype)
    naive = column.dt.tz_convert("UTC").dt.tz_localize(None) if zoned else column
    values = naive.to_numpy()
    values = np.where(np.isnat(values), np.zeros(1, dtype=values.dtype), values)
    high, low = _split_time(values, "datetime64")
    return np.full(len(column), _ZONED_TIME if zoned else _NAIVE_TIME, dtype=np.uint8), high, low


def _durations(values: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = np.where(null, np.zeros(1, dtype=values.dtype), values)
    high, low = _split_time(values, "timedelta64")
    return np.full(len(values), _DURATION, dtype=np.uint8), high, low


def _text(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anything else (strings, bytes, mixed objects) by its text."""
    text = column.astype(object).where(column.notna(), "").astype(str)
    hashes = pd.util.hash_pandas_object(text, index=False).to_numpy(np.uint64)
    return np.full(len(column), _TEXT, dtype=np.uint8), hashes, _zeros(len(column))
