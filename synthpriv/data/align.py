"""Bring a synthetic table made by another tool to the real table's columns and dtypes.

Tools write the same data differently: a CSV round trip turns categories into strings and
booleans into text, integers come back as floats. The evaluation compares like with like,
so each modelled column of the synthetic table is converted to the real column's dtype.
A value that cannot be converted is refused (DataError naming the column), never silently
turned into a missing value: that would change the figures the evaluation reports.
"""

from __future__ import annotations

import pandas as pd

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
        {
            spec.name: _convert(synthetic[spec.name], real[spec.name], spec, where)
            for spec in schema.columns
        }
    )


def _convert(values: pd.Series, reference: pd.Series, spec: ColumnSpec, where: str) -> pd.Series:
    values = values.reset_index(drop=True)
    if values.dtype == reference.dtype:
        return values
    present = values.notna()
    if pd.api.types.is_bool_dtype(reference.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        converted = _parse_booleans(values)
    elif pd.api.types.is_datetime64_any_dtype(reference.dtype):
        converted = pd.to_datetime(values, errors="coerce")
        if getattr(reference.dtype, "tz", None) is None and getattr(converted.dtype, "tz", None) is not None:
            converted = converted.dt.tz_localize(None)
    elif pd.api.types.is_numeric_dtype(reference.dtype):
        converted = pd.to_numeric(values, errors="coerce")
    elif spec.kind is ColumnKind.DATETIME and spec.datetime_format:
        # The real dates are text: write the synthetic ones in the same format.
        converted = pd.to_datetime(values, errors="coerce", format="mixed").dt.strftime(spec.datetime_format)
        converted = converted.astype(object).where(converted.notna(), None)
    else:
        converted = values.astype(object).where(present, None)
    lost = int((present & converted.isna()).sum())
    if lost:
        raise DataError(
            f"column '{values.name}': {lost} value(s) cannot be read as the real column's type ({reference.dtype})",
            where=where,
        )
    try:
        return converted.astype(reference.dtype)
    except (TypeError, ValueError):
        # e.g. floats with a fraction where the real column holds integers: keep them as they are.
        return converted


def _parse_booleans(values: pd.Series) -> pd.Series:
    text = values.astype(str).str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(_TRUE) & values.notna()] = True
    out[text.isin(_FALSE) & values.notna()] = False
    return out
