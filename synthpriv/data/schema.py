"""Column kinds: inferred from the table, overridden by the pipeline file.

The schema records each column's original pandas dtype so that synthetic tables come back
with the input's names, order and dtypes.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa

from synthpriv.config.kinds import ColumnKind  # also the data layer's name for it (re-exported)
from synthpriv.data.dtypes import (
    DtypeObj,
    arrow_types_of,
    datetime_seconds,
    type_from_text,
    unsupported_reason_of_text,
)
from synthpriv.errors import DataError

#: ``DataFrame.attrs`` key under which `synthpriv.data.io.read_table` leaves each column's Arrow
#: field nullability (column name to bool): part of a Parquet file's declared schema, always true
#: for a CSV (Arrow's CSV reader declares every column nullable).
ARROW_NULLABLE_ATTR = "synthpriv.arrow_nullable"


@runtime_checkable
class KindDeclaration(Protocol):
    """Anything that declares a column's kind (the config's `ColumnDeclaration`).

    A protocol rather than the config class itself: the schema needs only the kind.
    """

    @property
    def kind(self) -> ColumnKind: ...


@dataclass(frozen=True)
class ColumnSpec:
    """What synthpriv knows about one column. No values, only structure."""

    name: str
    kind: ColumnKind
    dtype: str  # the pandas dtype of the input column, restored on output
    nullable: bool
    integer: bool = False  # a numerical column whose values are whole numbers
    datetime_format: str | None = None  # set when datetimes arrive as strings
    categories_dtype: str | None = None  # a `category` column's: its categories' dtype (int64, bool...)
    #: The input's Arrow type (`synthpriv.data.dtypes`), which the synthetic table is cast back to.
    arrow_type: str | None = None
    #: Null in every row: not learned, written back as nulls (see `TableSchema.modelled`).
    all_null: bool = False
    #: A number's decimal places (`decimal_places`): generated values are rounded to them.
    decimals: int | None = None
    #: A datetime's step in seconds (`time_step`: 86,400 for dates at midnight): generated
    #: times are rounded to it, so a date column does not grow a time of day.
    time_step: int | None = None

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["kind"] = self.kind.value
        # Optional fields are left out when unset: files of other columns stay as they were.
        unset_values = (
            ("categories_dtype", None),
            ("arrow_type", None),
            ("all_null", False),
            ("decimals", None),
            ("time_step", None),
        )
        for key, unset in unset_values:
            if out[key] == unset:
                del out[key]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> ColumnSpec:
        return cls(
            name=str(raw["name"]),
            kind=ColumnKind(str(raw["kind"])),
            dtype=str(raw["dtype"]),
            nullable=bool(raw["nullable"]),
            integer=bool(raw.get("integer", False)),
            datetime_format=_text_or_none(raw.get("datetime_format")),
            categories_dtype=_text_or_none(raw.get("categories_dtype")),
            arrow_type=_text_or_none(raw.get("arrow_type")),
            all_null=bool(raw.get("all_null", False)),
            decimals=_whole_or_none(raw.get("decimals")),
            time_step=_whole_or_none(raw.get("time_step")),
        )


@dataclass(frozen=True)
class TableSchema:
    """The ordered columns of the input table, with the kinds synthpriv models them as."""

    columns: tuple[ColumnSpec, ...]
    dropped: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def modelled(self) -> tuple[ColumnSpec, ...]:
        """The columns a generator learns: ids are regenerated and all-null columns written back
        as nulls (`unlearned_column`), not learned."""
        return tuple(c for c in self.columns if c.kind is not ColumnKind.ID and not c.all_null)

    def arrow_types(self) -> dict[str, str]:
        """Each column's input Arrow type, where it is known (the synthetic table is cast to them)."""
        return {c.name: c.arrow_type for c in self.columns if c.arrow_type}

    def __getitem__(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.columns)

    def to_dict(self) -> dict[str, object]:
        return {"columns": [c.to_dict() for c in self.columns], "dropped": list(self.dropped)}

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> TableSchema:
        columns = tuple(ColumnSpec.from_dict(c) for c in _records(raw["columns"]))
        return cls(columns=columns, dropped=tuple(str(name) for name in _items(raw.get("dropped", ()))))

    def to_sdmetrics_metadata(self) -> dict[str, object]:
        """The single-table metadata dict sdmetrics expects (ids left out)."""
        sdtypes = {
            ColumnKind.NUMERICAL: "numerical",
            ColumnKind.CATEGORICAL: "categorical",
            ColumnKind.BOOLEAN: "boolean",
            ColumnKind.DATETIME: "datetime",
        }
        columns: dict[str, dict[str, str]] = {}
        for column in self.modelled():
            entry = {"sdtype": sdtypes[column.kind]}
            if column.kind is ColumnKind.DATETIME and column.datetime_format:
                entry["datetime_format"] = column.datetime_format
            columns[column.name] = entry
        return {"columns": columns}


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _items(value: object) -> list[object] | tuple[object, ...]:
    if isinstance(value, list | tuple):
        return value
    raise TypeError(f"expected a list, not {type(value).__name__}")


def _records(value: object) -> list[dict[str, object]]:
    """A list of column records read back from a model file (checked, not trusted)."""
    items = _items(value)
    records = [item for item in items if isinstance(item, dict)]
    if len(records) != len(items):
        raise TypeError("expected a list of column records")
    return records


_ID_NAME = re.compile(r"(^|[_\-\s])(id|uuid|key)$|^id[_\-\s]", re.IGNORECASE)
_ISO_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d", "%d/%m/%Y")


def _detect_datetime_format(values: pd.Series) -> str | None:
    """The first known format that parses every non-null string, or None.

    A format is tried on a sample first (cheap rejection) and then confirmed on the whole
    column, so a late value in another format does not silently become a null.
    """
    text = values.dropna().astype(str)
    if text.empty:
        return None
    sample = text.iloc[: min(len(text), 500)]
    for fmt in _ISO_DATE_FORMATS:
        if not pd.to_datetime(sample, format=fmt, errors="coerce").notna().all():
            continue
        if len(text) == len(sample) or pd.to_datetime(text, format=fmt, errors="coerce").notna().all():
            return fmt
    return None


#: The most decimal places a number is rounded to; one that needs more is left unrounded.
MAX_DECIMALS = 6
#: The steps a datetime column may be rounded to, coarsest first: a day, an hour, a minute, a second.
TIME_STEPS = (86_400, 3_600, 60, 1)


def decimal_places(numbers: np.ndarray) -> int | None:
    """The fewest decimal places (at most `MAX_DECIMALS`) to which rounding every finite
    number gives it back exactly; None when more are needed (or there is no number)."""
    finite = numbers[np.isfinite(numbers)]
    if finite.size == 0:
        return None
    for places in range(MAX_DECIMALS + 1):
        if np.array_equal(np.round(finite, places), finite):
            return places
    return None


#: The most often a value rounded to the real precision may land, by chance, on a value that
#: only one real row holds.
MAX_SINGLETON_HITS = 0.01


def private_decimal_places(numbers: np.ndarray) -> int | None:
    """`decimal_places`, unless values rounded to them would often be values only one row
    holds: with ``s`` such values among ``g`` points of the precision's grid over the range, a
    generated value lands on one about ``s / g`` of the time (a coarse grid, a unique ``phone``
    or a percentage with two decimals over a narrow range, stays unrounded)."""
    places = decimal_places(numbers)
    if places is None:
        return None
    finite = numbers[np.isfinite(numbers)]
    _, counts = np.unique(np.round(finite * 10.0**places), return_counts=True)
    grid = (finite.max() - finite.min()) * 10.0**places + 1
    return places if np.sum(counts == 1) / grid <= MAX_SINGLETON_HITS else None


def time_step(seconds: np.ndarray) -> int | None:
    """The coarsest of `TIME_STEPS` that every finite time (in seconds) is a multiple of."""
    finite = seconds[np.isfinite(seconds)]
    if finite.size == 0:
        return None
    for step in TIME_STEPS:
        if np.all(np.mod(finite, step) == 0):
            return step
    return None


def _whole_or_none(raw: object) -> int | None:
    return None if raw is None else int(str(raw))


def _is_whole(values: pd.Series) -> bool:
    finite = values.dropna().to_numpy(dtype=float)
    return bool(np.all(np.isfinite(finite)) and np.all(finite == np.round(finite)))


def _holds_integers(values: pd.Series) -> bool:
    """Whether a column's values are numbers and all of them whole (an empty column is)."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return False
    if not pd.api.types.is_numeric_dtype(values.dtype):
        values = pd.to_numeric(values, errors="coerce")
        if values.isna().all():
            return False
    return pd.api.types.is_integer_dtype(values.dtype) or _is_whole(values)


def _categories_dtype(dtype: DtypeObj) -> str | None:
    """The dtype of a `category` dtype's categories (None for any other dtype)."""
    return str(dtype.categories.dtype) if isinstance(dtype, pd.CategoricalDtype) else None


def infer_column(name: str, values: pd.Series) -> ColumnSpec:
    """Infer one column's kind from its dtype, its values and its name."""
    spec = _infer_column(name, values)
    return replace(spec, categories_dtype=_categories_dtype(values.dtype))


def _infer_column(name: str, values: pd.Series) -> ColumnSpec:
    dtype = str(values.dtype)
    nullable = bool(values.isna().any())
    n = len(values)
    n_unique = values.nunique(dropna=True)
    looks_unique = n >= 20 and n_unique == values.notna().sum() == n
    if pd.api.types.is_bool_dtype(values.dtype):
        return ColumnSpec(name, ColumnKind.BOOLEAN, dtype, nullable)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        step = time_step(datetime_seconds(values, None))
        return ColumnSpec(name, ColumnKind.DATETIME, dtype, nullable, time_step=step)
    if pd.api.types.is_numeric_dtype(values.dtype):
        integer = pd.api.types.is_integer_dtype(values.dtype) or _is_whole(values)
        if integer and looks_unique and _ID_NAME.search(name):
            return ColumnSpec(name, ColumnKind.ID, dtype, nullable, integer=True)
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        places = None if integer else private_decimal_places(numbers)
        return ColumnSpec(name, ColumnKind.NUMERICAL, dtype, nullable, integer=integer, decimals=places)
    non_null = values.dropna()
    if len(non_null) and non_null.map(type).isin([bool, np.bool_]).all():
        return ColumnSpec(name, ColumnKind.BOOLEAN, dtype, nullable)
    datetime_format = _detect_datetime_format(values)
    if datetime_format is not None:
        step = time_step(datetime_seconds(values, datetime_format))
        return ColumnSpec(
            name, ColumnKind.DATETIME, dtype, nullable, datetime_format=datetime_format, time_step=step
        )
    if looks_unique:
        return ColumnSpec(name, ColumnKind.ID, dtype, nullable)
    return ColumnSpec(name, ColumnKind.CATEGORICAL, dtype, nullable)


def infer_column_public(
    name: str,
    dtype: DtypeObj,
    declared: ColumnKind | None = None,
    nullable: bool | None = None,
    arrow_type: str | None = None,
) -> ColumnSpec:
    """A column's spec from public structure only: its declared kind, else its dtype.

    For differential privacy: `infer_column` reads the values (whether every value is
    unique, whole, a date, missing), and each of those is a fact about the rows that no
    mechanism pays for. Here a bool dtype is boolean, a datetime dtype a datetime, a numeric
    dtype numerical (integer when the dtype is), anything else categorical, except that an
    integer or text column named like an identifier (`id`, `user_id`, `key`...) is an id and
    not learned; other identifiers and dates stored as text must be declared. Whether the
    column may hold nulls is ``nullable`` (`public_nullable` decides it from the declaration
    and the input's schema); None, for a caller that knows nothing, assumes it may (DP
    training then learns how often). The dtype itself is treated as public: for Parquet it is
    the file's declared type; for CSV Arrow infers it from the text (a number column with an
    empty cell stays a number column, but reads as float in pandas: see `public_nullable`).
    Hence integer-ness comes from ``arrow_type`` (the file's type) when it is given: an Arrow
    integer column is integer whether or not a value is missing, where its pandas dtype is
    float64 exactly when one is.
    """
    dtype_name = str(dtype)
    assumed_nullable = True if nullable is None else nullable
    arrow = type_from_text(arrow_type) if arrow_type else None
    integer = pd.api.types.is_integer_dtype(dtype) or (arrow is not None and pa.types.is_integer(arrow))
    if declared is None:
        if _ID_NAME.search(name) and (integer or not pd.api.types.is_numeric_dtype(dtype)):
            # Named like an identifier: not learned, the cautious reading (uniqueness is not public).
            declared = ColumnKind.ID
        elif pd.api.types.is_bool_dtype(dtype):
            declared = ColumnKind.BOOLEAN
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            declared = ColumnKind.DATETIME
        elif pd.api.types.is_numeric_dtype(dtype):
            declared = ColumnKind.NUMERICAL
        else:
            declared = ColumnKind.CATEGORICAL
    keeps_integer = declared in (ColumnKind.NUMERICAL, ColumnKind.ID) and integer
    # The file's type is public: a decimal's scale is its precision, a date type has no time.
    decimal = arrow is not None and pa.types.is_decimal(arrow) and declared is ColumnKind.NUMERICAL
    is_date = arrow is not None and pa.types.is_date(arrow) and declared is ColumnKind.DATETIME
    return ColumnSpec(
        name,
        declared,
        dtype_name,
        assumed_nullable,
        integer=keeps_integer,
        categories_dtype=_categories_dtype(dtype),
        decimals=arrow.scale if decimal and not keeps_integer else None,  # type: ignore[union-attr]
        time_step=TIME_STEPS[0] if is_date else None,
    )


def infer_schema(
    table: pd.DataFrame,
    overrides: Mapping[str, ColumnKind | str | KindDeclaration] | None = None,
    drop: tuple[str, ...] | list[str] = (),
    *,
    public_only: bool = False,
) -> TableSchema:
    """Infer every column's kind, apply the pipeline file's overrides, and drop columns.

    An override is a kind (or its name) or a declaration carrying one (`data.columns` of the
    pipeline file); only its kind (and, with ``public_only``, its ``nullable``) matters here,
    the rest is for DP preprocessing.

    ``public_only`` (differential privacy): decide from the declarations, the column dtypes
    and the names alone, never from the values (see `infer_column_public`).

    Raises DataError naming the column when an override or a drop names no column, or an
    override names no kind; and DataError when column names repeat or are not strings.
    """
    _check_column_names(table)
    kinds = _declared_kinds(table, overrides or {}, drop)
    arrow_types = arrow_types_of(table)
    columns: list[ColumnSpec] = []
    for name in table.columns:
        if name in drop:
            continue
        _refuse_unsupported(name, arrow_types.get(name))
        # Null in every row: nothing to learn, written back as nulls. Not under DP, where
        # the schema must not depend on the values: there the mechanisms learn the nulls.
        all_null = not public_only and bool(table[name].isna().all())
        if public_only:
            nullable = public_nullable(table, str(name), (overrides or {}).get(name))
            spec = _public_column(str(name), table[name], kinds.get(name), nullable, arrow_types.get(name))
        else:
            spec = infer_column(str(name), table[name])
            if name in kinds:
                spec = (
                    replace(spec, kind=kinds[name]) if all_null else _override(spec, kinds[name], table[name])
                )
        spec = replace(spec, arrow_type=arrow_types.get(name), all_null=all_null)
        spec = _declared_form(spec, (overrides or {}).get(name))
        if spec.kind is ColumnKind.ID and name not in kinds:
            why = "named like one" if public_only else "every value unique"
            warnings.warn(
                f"column {name!r} looks like an identifier ({why}); it is not learned "
                "and is regenerated as a running number. Set data.columns to override.",
                stacklevel=2,
            )
        columns.append(spec)
    if not any(c.kind is not ColumnKind.ID and not c.all_null for c in columns):
        empty = " and all-null columns" if any(c.all_null for c in columns) else ""
        raise DataError(f"no column left to learn after dropping ids{empty} and data.drop", where="data")
    return TableSchema(columns=tuple(columns), dropped=tuple(drop))


def public_nullable(table: pd.DataFrame, name: str, declaration: object = None) -> bool:
    """Whether column ``name`` may hold nulls, from public structure only (never from its values).

    In order: the declaration's ``nullable``; else ``false`` when the declaration lists the
    column's categories (a declared domain is complete; ``nullable: true`` adds nulls to it);
    else the input's own schema:

    - a table read from a file (`synthpriv.data.io.read_table` records its Arrow schema): the
      Arrow field's nullability. A Parquet file declares it per column (``nullable=False`` is a
      promise of the file's schema, as a database's NOT NULL). A CSV declares nothing: Arrow's
      CSV reader makes every column nullable, so every CSV column may hold nulls. The pandas
      dtype of a file's column is NOT used: pandas views an integer column that holds a null
      as float64 and one that holds none as int64 (Parquet and CSV alike), so an int64 dtype
      there says "no value is missing", a fact about the rows that no mechanism pays for.
    - a table built in Python (no Arrow record): its pandas dtypes are the caller's own schema;
      a NumPy integer or bool dtype cannot hold a missing value, so such a column is not
      nullable; any other dtype (float, object, string, datetime, extension dtypes) may be.
    """
    declared_nullable = getattr(declaration, "nullable", None)
    if declared_nullable is not None:
        return bool(declared_nullable)
    if getattr(declaration, "categories", None) is not None:
        return False
    arrow_nullable = table.attrs.get(ARROW_NULLABLE_ATTR)
    if isinstance(arrow_nullable, dict) and name in arrow_nullable:
        return bool(arrow_nullable[name])
    dtype = table[name].dtype
    holds_no_null = isinstance(dtype, np.dtype) and (
        np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_)
    )
    return not holds_no_null


def _check_column_names(table: pd.DataFrame) -> None:
    """DataError unless every column name is a string and none repeats."""
    for name in table.columns:
        if not isinstance(name, str):
            raise DataError(f"column name {name!r} is not a string; name the columns first", where="data")
    if table.columns.duplicated().any():
        duplicated = sorted(set(table.columns[table.columns.duplicated()].astype(str)))
        raise DataError(f"duplicate column names {duplicated}; rename them first", where="data")


def _declared_kinds(
    table: pd.DataFrame,
    overrides: Mapping[str, ColumnKind | str | KindDeclaration],
    drop: tuple[str, ...] | list[str],
) -> dict[str, ColumnKind]:
    """The kinds the pipeline file declares; DataError naming a column that is not in the table
    (declared or dropped) or a kind that does not exist."""
    named: dict[str, ColumnKind | str] = {
        name: kind.kind if isinstance(kind, KindDeclaration) else kind for name, kind in overrides.items()
    }
    for name in [*named, *drop]:
        if name not in table.columns:
            raise DataError(f"column {name!r} not in data", where=f"column {name!r}")
    kinds: dict[str, ColumnKind] = {}
    for name, kind in named.items():
        try:
            kinds[name] = ColumnKind(kind)
        except ValueError:
            choices = ", ".join(k.value for k in ColumnKind)
            raise DataError(
                f"unknown column kind {kind!r} (one of: {choices})", where=f"column {name!r}"
            ) from None
    return kinds


def _refuse_unsupported(name: str, arrow_type: str | None) -> None:
    """DataError naming a column whose Arrow type synthpriv cannot learn (bytes, lists, structs...)."""
    reason = unsupported_reason_of_text(arrow_type) if arrow_type else None
    if reason is not None:
        raise DataError(
            f"{reason}, which synthpriv cannot learn; add it to data.drop", where=f"column {name!r}"
        )


def unlearned_column(spec: ColumnSpec, rows: int) -> pd.Series:
    """An all-null column's ``rows`` nulls, in its input dtype."""
    try:
        nulls = pd.Series([None] * rows, dtype=spec.dtype)
    except (TypeError, ValueError):
        nulls = pd.Series(dtype=float)
    # A dtype that holds no null (bool turns None into False, int64 refuses it): objects.
    return nulls if nulls.isna().all() and len(nulls) == rows else pd.Series([None] * rows, dtype=object)


def _public_column(
    name: str, values: pd.Series, declared: ColumnKind | None, nullable: bool, arrow_type: str | None
) -> ColumnSpec:
    """`infer_column_public`, plus the two checks a declaration needs: text that should be
    numbers must be numbers, and dates stored as text must parse (their format is found).
    These read values only to refuse a wrong declaration or to parse, not to choose a kind."""
    spec = infer_column_public(name, values.dtype, declared, nullable, arrow_type)
    if spec.kind is ColumnKind.DATETIME and not pd.api.types.is_datetime64_any_dtype(values.dtype):
        fmt = _detect_datetime_format(values)
        if fmt is None:
            raise DataError("cannot be a datetime: values do not parse as dates", where=f"column {name!r}")
        return ColumnSpec(name, spec.kind, spec.dtype, spec.nullable, datetime_format=fmt)
    if spec.kind is ColumnKind.NUMERICAL and not pd.api.types.is_numeric_dtype(values.dtype):
        _override(spec, ColumnKind.NUMERICAL, values)
    return spec


def _declared_form(spec: ColumnSpec, declaration: object) -> ColumnSpec:
    """``spec`` with the decimals the pipeline file declares (public knowledge, which a DP run
    could not read off the values), for a numerical column."""
    places = getattr(declaration, "decimals", None)
    if places is None or spec.kind is not ColumnKind.NUMERICAL:
        return spec
    return replace(spec, decimals=int(places))


def _override(spec: ColumnSpec, kind: ColumnKind, values: pd.Series) -> ColumnSpec:
    if kind is ColumnKind.NUMERICAL and not pd.api.types.is_numeric_dtype(values.dtype):
        converted = pd.to_numeric(values, errors="coerce")
        if (converted.isna() & values.notna()).any():
            raise DataError("cannot be numerical: it holds non-numeric values", where=f"column {spec.name!r}")
    if kind is ColumnKind.DATETIME and spec.kind is not ColumnKind.DATETIME:
        fmt = _detect_datetime_format(values)
        if fmt is None:
            raise DataError(
                "cannot be a datetime: values do not parse as dates", where=f"column {spec.name!r}"
            )
        step = time_step(datetime_seconds(values, fmt))
        return ColumnSpec(spec.name, kind, spec.dtype, spec.nullable, datetime_format=fmt, time_step=step)
    if kind is ColumnKind.DATETIME:
        fmt = spec.datetime_format
        step = time_step(datetime_seconds(values, fmt))
        return ColumnSpec(spec.name, kind, spec.dtype, spec.nullable, datetime_format=fmt, time_step=step)
    # An id keeps `integer` too: it says whether regenerated ids are numbers or strings.
    integer = kind in (ColumnKind.NUMERICAL, ColumnKind.ID) and _holds_integers(values)
    return ColumnSpec(
        spec.name, kind, spec.dtype, spec.nullable, integer=integer, categories_dtype=spec.categories_dtype
    )


def require_columns(table: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    """DataError unless ``table`` has rows and every one of ``columns`` (``role`` names it: train,
    holdout…)."""
    if len(table) == 0:
        raise DataError(f"the {role} table is empty", where=f"{role} table")
    missing = [name for name in columns if name not in table.columns]
    if missing:
        raise DataError(f"modelled column(s) {missing} not in the {role} table", where=f"{role} table")
