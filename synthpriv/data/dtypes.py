"""The input's Arrow types, kept from the file read to the Parquet written.

A table is read with pyarrow and the stages work on a pandas *model view* of it: every column
as pandas holds it, except two Arrow types pandas has no good column for, which come in as
plain numbers: decimals as float64 and durations as int64 counts of their unit. The Arrow type
of every input column is recorded (`ColumnSpec.arrow_type`, as text) and the synthetic table is
cast back to it when it is written (`cast_to_input_types`), so the export has the input's types:
decimal128 with its precision and scale, date32 dates without a time of day, durations, unsigned
integers, timestamps of any unit and time zone, dictionaries.

Before that cast, generated numbers are fitted to the storage they go into (`fit_to_storage`):
rounded to a decimal's scale or to whole numbers, and clipped to the integer type's range or the
decimal's precision, so a value never wraps around (a float64 near 2**64 cast to uint64 wraps
to 0) and no cast loses anything.

Types synthpriv cannot learn (bytes, nested lists, structs and maps, times of day, intervals)
are refused when the schema is inferred (`unsupported_reason`), naming the column.

Datetimes become seconds since the epoch in the column's own unit (`datetime_seconds`), never
through nanoseconds, so years 1 to 9999 work (pandas' nanosecond range is 1677 to 2262).
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.extensions import ExtensionDtype

from synthpriv.errors import DataError

#: ``DataFrame.attrs`` key under which `model_view` leaves each column's Arrow type (as text).
ARROW_TYPES_ATTR = "synthpriv.arrow_types"
#: A column's dtype as pandas gives it (`Series.dtype`): NumPy's or a pandas extension dtype.
DtypeObj: TypeAlias = np.dtype[Any] | ExtensionDtype
_SECONDS_PER_DAY = 86_400.0
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


# -- reading ---------------------------------------------------------------------------------


_NESTED_FAMILIES = ("list", "large_list", "fixed_size_list", "list_view", "large_list_view", "struct", "map")


def unsupported_reason_of_text(text: str) -> str | None:
    """`unsupported_reason` of a type's text (`model_view` records text); a type this module
    cannot read back from its text is refused too, since the export could not be cast to it."""
    arrow_type = type_from_text(text)
    if arrow_type is not None:
        return unsupported_reason(arrow_type)
    family = _type_family_of_text(text)
    if family in _NESTED_FAMILIES or family.endswith("union"):
        return f"holds nested values (Arrow {family})"
    if family.endswith("binary"):  # fixed_size_binary[16]
        return f"holds bytes (Arrow {family})"
    return f"has the Arrow type {family}"


def unsupported_reason(arrow_type: pa.DataType) -> str | None:
    """Why synthpriv cannot learn a column of this Arrow type (a phrase: "holds bytes..."), or None."""
    types = pa.types
    if pa.types.is_dictionary(arrow_type):
        return unsupported_reason(arrow_type.value_type)
    if any(
        check(arrow_type)
        for check in (types.is_binary, types.is_large_binary, types.is_fixed_size_binary, _is_binary_view)
    ):
        return f"holds bytes (Arrow {_type_family_of_text(str(arrow_type))})"
    if types.is_nested(arrow_type):
        return f"holds nested values (Arrow {_type_family_of_text(str(arrow_type))})"
    if types.is_time(arrow_type):
        return "holds times of day (Arrow time)"
    if types.is_interval(arrow_type):
        return "holds intervals (Arrow interval)"
    if isinstance(arrow_type, pa.ExtensionType):
        return f"holds an extension type ({arrow_type.extension_name})"
    return None


def _is_binary_view(arrow_type: pa.DataType) -> bool:
    check = getattr(pa.types, "is_binary_view", None)
    return bool(check and check(arrow_type))


def _type_family_of_text(text: str) -> str:
    """``list``, ``struct``, ``map``... of a type's text (up to the first bracket: no field names)."""
    return re.split(r"[<\[(]", text, maxsplit=1)[0]


def model_view(table: pa.Table) -> pd.DataFrame:
    """The pandas frame the stages work on (module docstring), with the Arrow types in ``attrs``."""
    types = {field.name: type_to_text(field.type) for field in table.schema}
    for index, field in enumerate(table.schema):
        plain = _plain_type(field.type)
        if plain is not None:
            # set_column keeps the schema's metadata: pandas' own (Int64, category...) still applies.
            table = table.set_column(index, pa.field(field.name, plain), table.column(index).cast(plain))
    # Dates come back as datetime64 (not Python date objects) so they stay a typed column.
    frame = table.to_pandas(date_as_object=False)
    frame.attrs[ARROW_TYPES_ATTR] = types
    return frame


def _plain_type(arrow_type: pa.DataType) -> pa.DataType | None:
    """The number type a decimal or a duration is viewed as; None for the types pandas holds well."""
    if pa.types.is_decimal(arrow_type):
        return pa.float64()
    if pa.types.is_duration(arrow_type):
        return pa.int64()  # a count of the duration's unit: exact
    return None


def arrow_types_of(frame: pd.DataFrame) -> dict[str, str]:
    """The Arrow types `model_view` recorded for ``frame``'s columns ({} for a frame built otherwise)."""
    return dict(frame.attrs.get(ARROW_TYPES_ATTR) or {})


# -- types as text (ColumnSpec.arrow_type, in the model's JSON) -------------------------------


def type_to_text(arrow_type: pa.DataType) -> str:
    return str(arrow_type)


def numpy_dtype_of(dtype: DtypeObj) -> np.dtype[Any]:
    """The NumPy dtype behind ``dtype``: itself, or what a nullable one holds (Float32: float32)."""
    if isinstance(dtype, np.dtype):
        return dtype
    return np.dtype(getattr(dtype, "numpy_dtype", object))


@lru_cache(maxsize=256)
def type_from_text(text: str) -> pa.DataType | None:
    """The Arrow type ``str(type)`` wrote; None for text this reader does not know."""
    try:
        return pa.type_for_alias(text)
    except (ValueError, KeyError):
        pass
    if match := re.fullmatch(r"(decimal128|decimal256)\((\d+), (-?\d+)\)", text):
        make = pa.decimal128 if match[1] == "decimal128" else pa.decimal256
        return make(int(match[2]), int(match[3]))
    if match := re.fullmatch(r"timestamp\[(s|ms|us|ns), tz=(.+)\]", text):
        return pa.timestamp(match[1], tz=match[2])
    if match := re.fullmatch(r"dictionary<values=(.+), indices=(\w+), ordered=([01])>", text):
        values, indices = type_from_text(match[1]), type_from_text(match[2])
        if values is None or indices is None:
            return None
        return pa.dictionary(indices, values, ordered=match[3] == "1")
    return None


def _arrow_type(text: str | None) -> pa.DataType | None:
    return type_from_text(text) if text else None


# -- decoding: numbers fitted to the column's storage -------------------------------------------


def fit_to_storage(arrow_type: str | None, dtype: str, numbers: np.ndarray) -> np.ndarray:
    """Generated numbers (NaN where missing) made exact for the column's storage.

    Rounded to a decimal's scale, or to whole numbers for integers and durations, then
    clipped into the storage's range (an integer type's limits, a decimal's precision), so
    that the cast to the input's type neither wraps around nor loses anything.
    """
    target = _arrow_type(arrow_type)
    if target is not None and pa.types.is_decimal(target):
        numbers = np.round(numbers, target.scale)
    elif _integer_storage(target, dtype):
        numbers = np.round(numbers)
    bounds = storage_bounds(target, dtype)
    return numbers if bounds is None else np.clip(numbers, *bounds)


def _integer_storage(target: pa.DataType | None, dtype: str) -> bool:
    if target is not None and (pa.types.is_integer(target) or pa.types.is_duration(target)):
        return True
    return numpy_integer(dtype) is not None


def numpy_integer(dtype: str) -> np.dtype | None:
    """The numpy integer dtype of a pandas dtype's text (int64, Int64, uint8...); None if not integers."""
    try:
        resolved = pd.api.types.pandas_dtype(dtype)
    except TypeError:
        return None
    numpy = getattr(resolved, "numpy_dtype", resolved)  # Int64 -> int64
    return numpy if isinstance(numpy, np.dtype) and numpy.kind in "iu" else None


def storage_bounds(target: pa.DataType | None, dtype: str) -> tuple[float, float] | None:
    """The float range a column of this Arrow type (else pandas dtype) holds exactly; None: unbounded."""
    if target is not None and pa.types.is_decimal(target):
        largest = Decimal(10) ** (target.precision - target.scale) - Decimal(10) ** -target.scale
        return -_float_below(largest), _float_below(largest)
    if target is not None and pa.types.is_duration(target):
        target = pa.int64()
    if target is not None and pa.types.is_integer(target):
        limits = np.iinfo(target.to_pandas_dtype())
    elif (numpy := numpy_integer(dtype)) is not None:
        limits = np.iinfo(numpy)
    else:
        return None
    return float(limits.min), _float_below(limits.max)  # the minimum, 0 or -2**k, is a float exactly


def _float_below(limit: int | Decimal) -> float:
    """The largest float64 not above ``limit`` (2**64 - 1 rounds up to 2**64, which overflows)."""
    value = float(limit)
    return float(np.nextafter(value, -np.inf)) if Decimal(value) > Decimal(limit) else value


# -- datetimes ----------------------------------------------------------------------------------


def datetime_seconds(values: pd.Series, datetime_format: str | None = None) -> np.ndarray:
    """Seconds since the epoch (float64, NaN where missing) of datetimes in any unit or time zone.

    Computed in the column's own unit: a date in year 1 or 9999 is fine (no nanoseconds).
    Text is parsed with ``datetime_format`` (unparseable text is missing).
    """
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = values
    else:
        stamps = pd.to_datetime(values, format=datetime_format, errors="coerce")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    array = stamps.to_numpy()
    unit, _ = np.datetime_data(array.dtype)
    seconds = array.view("int64") / _PER_SECOND[unit]
    return np.where(np.isnat(array), np.nan, seconds)


def datetime_resolution(arrow_type: str | None, datetime_format: str | None) -> float:
    """Seconds between two values a column can hold: a day for dates, else a second."""
    target = _arrow_type(arrow_type)
    if target is not None and pa.types.is_date(target):
        return _SECONDS_PER_DAY
    if datetime_format is not None and "%H" not in datetime_format:
        return _SECONDS_PER_DAY
    return 1.0


def seconds_to_datetimes(
    seconds: np.ndarray, dtype: str, *, arrow_type: str | None = None, datetime_format: str | None = None
) -> pd.Series:
    """Generated seconds (NaN where missing) as a column of ``dtype`` (or text in ``datetime_format``).

    Rounded to the column's resolution (`datetime_resolution`) and clipped to the range the
    dtype's unit holds, so years 1 to 9999 come back in a microsecond or second column.
    """
    missing = np.isnan(seconds)
    step = datetime_resolution(arrow_type, datetime_format)
    whole = np.round(np.where(missing, 0.0, seconds) / step) * step
    unit = "ns" if datetime_format else _datetime_unit(dtype)
    limit = float(np.iinfo(np.int64).max // _PER_SECOND[unit]) - 1.0
    stamps = np.clip(whole, -limit, limit).astype("int64").astype("datetime64[s]")
    series = pd.Series(stamps.astype(f"datetime64[{unit}]")).where(~missing)
    if datetime_format:  # the input held strings: give strings back
        return series.dt.strftime(datetime_format).astype(object).where(~missing, None)
    if not dtype.startswith("datetime64"):
        return series
    resolved = pd.api.types.pandas_dtype(dtype)
    if isinstance(resolved, pd.DatetimeTZDtype):  # seconds are UTC: localize, then convert back
        return series.dt.tz_localize("UTC").dt.tz_convert(resolved.tz).astype(resolved)
    return series.astype(resolved)


def _datetime_unit(dtype: str) -> str:
    """The unit of a datetime64 dtype's text ("datetime64[us, UTC]" -> "us"); ns for anything else."""
    match = re.match(r"datetime64\[(s|ms|us|ns)", dtype)
    return match[1] if match else "ns"


# -- writing ------------------------------------------------------------------------------------


def cast_to_input_types(table: pa.Table, arrow_types: dict[str, str]) -> pa.Table:
    """``table`` with each column named in ``arrow_types`` cast to that Arrow type.

    DataError naming the column if a value does not fit (`fit_to_storage` makes the numbers
    synthpriv generates fit; this is the last check that nothing is changed on the way out).
    """
    for index, name in enumerate(table.column_names):
        target = _arrow_type(arrow_types.get(name))
        column = table.column(index)
        if target is None or column.type == target:
            continue
        try:
            cast = _cast(column, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            raise DataError(
                f"synthetic values do not fit the input's type {target}; "
                "declare the column's kind in data.columns or add it to data.drop",
                where=f"column {name!r}",
            ) from None
        table = table.set_column(index, pa.field(name, target), cast)
    return table


def _cast(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    if pa.types.is_duration(target) and not pa.types.is_integer(column.type):
        column = column.cast(pa.int64())  # floats (a duration column with nulls) go through integers
    if pa.types.is_null(target):
        if column.null_count != len(column):
            raise pa.ArrowInvalid("values in a column of nulls")
        return pa.chunked_array([pa.nulls(len(column))], type=pa.null())
    return column.cast(target)
