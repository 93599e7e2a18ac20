"""Bring a synthetic table made by another tool to the real table's columns and dtypes.

Tools write the same data differently: a CSV round trip turns categories into strings and
booleans into text, integers come back as floats. The evaluation compares like with like,
so each modelled column of the synthetic table is converted to the real column's dtype.
A value that cannot be converted is refused (DataError naming the column), never silently
turned into a missing value: that would change the figures the evaluation reports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from synthpriv.data.dtypes import DtypeObj, numpy_dtype_of, numpy_integer, storage_bounds, type_from_text
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema
from synthpriv.errors import DataError

_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})


def align_to_real(
    synthetic: pd.DataFrame, real: pd.DataFrame, schema: TableSchema, *, where: str
) -> pd.DataFrame:
    """``synthetic``'s columns of ``schema``, in its order, each with ``real``'s dtype."""
    missing = [name for name in schema.names if name not in synthetic.columns]
    if missing:
        raise DataError(f"the synthetic table lacks column(s) {missing} of the real table", where=where)
    return pd.DataFrame(
        {spec.name: _convert(synthetic[spec.name], real[spec.name], spec, where) for spec in schema.columns}
    )


def _convert(values: pd.Series, reference: pd.Series, spec: ColumnSpec, where: str) -> pd.Series:
    values = values.reset_index(drop=True)
    if values.dtype == reference.dtype:
        return values
    present = values.notna()
    arrow_type = type_from_text(spec.arrow_type) if spec.arrow_type else None
    if pd.api.types.is_bool_dtype(reference.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        converted = _parse_booleans(values)
    elif pd.api.types.is_datetime64_any_dtype(reference.dtype):
        converted = _parse_datetimes(values, reference.dtype)
    elif (
        arrow_type is not None
        and pa.types.is_duration(arrow_type)
        and not pd.api.types.is_numeric_dtype(values.dtype)
    ):
        converted = _parse_durations(values, arrow_type.unit)  # a CSV holds durations as text
    elif pd.api.types.is_numeric_dtype(reference.dtype):
        converted = pd.to_numeric(values, errors="coerce")
    elif spec.kind is ColumnKind.DATETIME and spec.datetime_format:
        # The real dates are text: write the synthetic ones in the same format.
        converted = pd.to_datetime(values, errors="coerce", format="mixed").dt.strftime(spec.datetime_format)
        converted = converted.astype(object).where(converted.notna(), None)
    else:
        converted = values.astype(object).where(present, None)
    name = values.name
    _refuse(
        int((present & converted.isna()).sum()),
        name,
        f"cannot be read as the real column's type ({reference.dtype})",
        where,
    )
    # The input's own type counts where the real view widened it (integers with nulls are read as floats).
    exact = (
        np.dtype(arrow_type.to_pandas_dtype())
        if arrow_type is not None and pa.types.is_integer(arrow_type)
        else reference.dtype
    )
    _refuse(
        _inexact_count(converted, exact),
        name,
        f"do not fit the real column's type ({spec.arrow_type or exact}) exactly",
        where,
    )
    if arrow_type is not None and pa.types.is_date(arrow_type):
        _refuse(_time_of_day_count(converted), name, "have a time of day; the real column holds dates", where)
    return _as_real_dtype(converted, reference.dtype, name, where)


def _as_real_dtype(converted: pd.Series, dtype: DtypeObj, name: object, where: str) -> pd.Series:
    """``converted`` (already checked to fit) cast to the real column's ``dtype``."""
    if isinstance(dtype, pd.CategoricalDtype):
        # Values the real column never held are the coverage metric's finding: kept as categories.
        extra = pd.Index(converted.dropna().unique()).difference(dtype.categories, sort=False)
        return converted.astype(pd.CategoricalDtype(dtype.categories.append(extra), dtype.ordered))
    try:
        result = converted.astype(dtype)
    except (TypeError, ValueError):
        return converted  # e.g. missing values where the real integers have none: kept as they are, exactly
    _refuse(
        int((converted.notna() & result.isna()).sum()),
        name,
        f"cannot be read as the real column's type ({dtype})",
        where,
    )
    return result


def _refuse(count: int, column: object, problem: str, where: str) -> None:
    """DataError naming the column and how many values are wrong (never a value itself)."""
    if count:
        raise DataError(f"column '{column}': {count} value(s) {problem}", where=where)


def _inexact_count(numbers: pd.Series, dtype: DtypeObj) -> int:
    """How many values would change on the way into ``dtype``: a fraction or an out-of-range value
    into integers (1.5 would become 1, 1e30 wrap around), a finite value beyond a float's range."""
    if not pd.api.types.is_numeric_dtype(numbers.dtype) or pd.api.types.is_bool_dtype(numbers.dtype):
        return 0
    if (integer := numpy_integer(str(dtype))) is not None:
        limits = np.iinfo(integer)
        if pd.api.types.is_integer_dtype(numbers.dtype):
            whole = numbers.dropna()  # compared as integers: no rounding near 2**63 or 2**64
            return int(((whole < limits.min) | (whole > limits.max)).sum())
        x = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        low, high = storage_bounds(None, str(dtype)) or (-np.inf, np.inf)
        bad = np.isfinite(x) & ((x != np.floor(x)) | (x < low) | (x > high))
        return int((bad | np.isinf(x)).sum())
    if pd.api.types.is_float_dtype(dtype):
        x = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        largest = np.finfo(numpy_dtype_of(dtype)).max  # finfo knows NumPy's dtypes only, not Float32
        return int((np.isfinite(x) & (np.abs(x) > largest)).sum())
    return 0


def _parse_datetimes(values: pd.Series, dtype: DtypeObj) -> pd.Series:
    """Datetimes from any datetime column or text, in ``dtype``'s unit where Arrow can parse them
    (years 1 to 9999 in a microsecond column), else through pandas."""
    if not pd.api.types.is_datetime64_any_dtype(values.dtype) and pd.api.types.is_object_dtype(values.dtype):
        # A zoned column (DatetimeTZDtype) goes through pandas, which keeps its zone.
        unit = np.datetime_data(dtype)[0] if isinstance(dtype, np.dtype) else None
        if unit is not None:
            try:
                parsed = pa.array(values.where(values.notna(), None), type=pa.string()).cast(
                    pa.timestamp(unit)
                )
                return pd.Series(parsed.to_pandas(), name=values.name)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                pass
    converted = pd.to_datetime(values, errors="coerce")
    if getattr(dtype, "tz", None) is None and getattr(converted.dtype, "tz", None) is not None:
        converted = converted.dt.tz_localize(None)
    return converted


def _parse_durations(values: pd.Series, unit: str) -> pd.Series:
    """Durations written as text ("0 days 00:08:40") as counts of ``unit``, as the real column is viewed."""
    parsed = pd.to_timedelta(values, errors="coerce")
    counts = parsed.to_numpy(dtype=f"timedelta64[{unit}]").view("int64")
    return pd.Series(counts, name=values.name, dtype="Int64").where(parsed.notna())


def _time_of_day_count(stamps: pd.Series) -> int:
    if not pd.api.types.is_datetime64_any_dtype(stamps.dtype):
        return 0
    present = stamps.dropna()
    return int((present != present.dt.normalize()).sum())


def _parse_booleans(values: pd.Series) -> pd.Series:
    text = values.astype(str).str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(_TRUE) & values.notna()] = True
    out[text.isin(_FALSE) & values.notna()] = False
    return out
