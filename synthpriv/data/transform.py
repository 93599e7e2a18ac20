"""TabularTransformer: the one reversible table <-> matrix mapping all generators share.

- numerical: quantile-normal value (+ a ``[present, missing]`` block when nullable);
- datetime: seconds since the epoch, then as numerical;
- categorical and boolean: one-hot, with a null as a category of its own (`encode` keeps the
  category's index, an integer a row; the one-hot block exists only in `transform`'s dense matrix
  and in the batches a network reads).

Its only contract with the networks is the tuple of `Span`s.

Rare categories: a categorical column's values held by fewer than ``min_category_count``
rows get no category (see `OneHotEncoder.fit`); they fold into `OTHER_TOKEN` (or, in a
column of numbers, the most frequent kept value). A value held by one row would otherwise
be stored in ``transformer.json`` and could be generated verbatim. Boolean columns are not
folded (their domain is public), nor are nulls.

Rare extremes, the numeric twin: a numerical or datetime column is clipped to its k-th
smallest and k-th largest value (k = ``min_category_count``) before its quantile map is
fitted (see `QuantileNormalizer`). The map's outermost knots are where every model output
beyond them lands: left at the real minimum and maximum, a value one row holds would be
stored and generated hundreds of times. Missing values are not affected.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from synthpriv.data.dtypes import datetime_seconds, fit_to_storage, seconds_to_datetimes
from synthpriv.data.encoders import OTHER_TOKEN, OneHotEncoder, QuantileNormalizer
from synthpriv.data.schema import ColumnKind, ColumnSpec
from synthpriv.data.spans import EncodedTable, Span, SpanRole, softmax_spans, spans_width, value_spans
from synthpriv.errors import DataError

#: The default least number of rows a category needs to be kept (``data.min_category_count``
#: in the pipeline file defaults to the same).
DEFAULT_MIN_CATEGORY_COUNT = 5
#: The span of the missingness pattern (see `MissingPatterns`): a name no column of a table has.
PATTERN_COLUMN = "\x00missing pattern"


class MissingPatterns:
    """Which numbers and dates are missing together, as one categorical variable.

    Columns that are missing together in the real table (a salary, a start and an end date
    and a duration, all missing for a student not placed) would otherwise each get a missing
    flag of their own, and a generator can mix them (a start date without an end date). The
    transformer therefore adds one category block whose categories are the patterns of missing
    values among those columns that at least ``min_count`` rows have, and a last one, "other",
    for the rarer patterns. Decoding takes missingness from the pattern (from the columns' own
    flags under "other"), so a synthetic row drawn with a kept pattern has one that at least
    ``min_count`` real rows have. Patterns are counts over rows, never one row's.
    """

    def __init__(self, columns: tuple[str, ...], patterns: np.ndarray) -> None:
        self.columns = columns
        self.patterns = patterns.astype(bool)  # [patterns, columns], commonest first

    @classmethod
    def fit(cls, missing: np.ndarray, columns: tuple[str, ...], min_count: int) -> MissingPatterns | None:
        """The patterns of ``missing`` (rows x columns) held by ``min_count`` rows or more;
        None when fewer than two columns or fewer than two patterns remain (nothing to tie)."""
        if len(columns) < 2 or len(missing) == 0:
            return None
        patterns, counts = np.unique(missing, axis=0, return_counts=True)
        kept = counts >= min_count
        if kept.sum() < 2:
            return None
        # Commonest first; ties in np.unique's (lexicographic) order, so the result is deterministic.
        order = np.argsort(-counts[kept], kind="stable")
        return cls(columns, patterns[kept][order])

    @classmethod
    def declared(cls, groups: Sequence[Sequence[str]]) -> MissingPatterns:
        """The patterns of ``groups`` of columns each blank together or filled together: every
        combination of the groups' states, all filled first. Public knowledge (a DP run's
        declaration), so these patterns are not counts over rows at all."""
        columns = tuple(name for group in groups for name in group)
        states = np.array(list(itertools.product((False, True), repeat=len(groups))), dtype=bool)
        return cls(columns, np.repeat(states, [len(group) for group in groups], axis=1))

    @property
    def width(self) -> int:
        """The categories: the kept patterns, then "other"."""
        return len(self.patterns) + 1

    def codes(self, missing: np.ndarray) -> np.ndarray:
        """Each row's pattern: a kept one it equals, else "other" (the last code)."""
        equal = (missing[:, None, :] == self.patterns[None, :, :]).all(axis=2)
        return np.where(equal.any(axis=1), equal.argmax(axis=1), len(self.patterns)).astype(np.int64)

    def missing(self, codes: np.ndarray) -> np.ndarray:
        """``[rows, columns]``: missingness by each row's pattern (meaningless where it is
        "other": see `decided`)."""
        return self.patterns[np.minimum(codes, len(self.patterns) - 1)]

    def decided(self, codes: np.ndarray) -> np.ndarray:
        """Whether each row's pattern is a kept one (not "other")."""
        return codes < len(self.patterns)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "patterns": self.patterns.astype(int).tolist()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MissingPatterns:
        patterns = np.asarray(raw["patterns"], dtype=np.int64)
        columns = tuple(str(c) for c in raw["columns"])
        if patterns.ndim != 2 or patterns.shape[1] != len(columns) or not np.isin(patterns, (0, 1)).all():
            raise ValueError("missing patterns must be 0/1 rows, one entry per column")
        return cls(columns, patterns.astype(bool))


def _numeric_values(spec: ColumnSpec, values: pd.Series) -> np.ndarray:
    """A float64 view of a numerical or datetime column, NaN where missing."""
    if spec.kind is ColumnKind.DATETIME:
        return datetime_seconds(values, spec.datetime_format)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _restore_numeric(spec: ColumnSpec, numbers: np.ndarray) -> pd.Series:
    """Numbers in data space back to the column's original dtype."""
    missing = np.isnan(numbers)
    if spec.kind is ColumnKind.DATETIME:
        if spec.time_step is not None:  # the real values' step: midnight dates stay dates
            numbers = np.round(numbers / spec.time_step) * spec.time_step
        return seconds_to_datetimes(
            numbers, spec.dtype, arrow_type=spec.arrow_type, datetime_format=spec.datetime_format
        )
    # Rounded and clipped to what the column's type holds: a uint64 near 2**64 must not wrap to 0.
    numbers = fit_to_storage(spec.arrow_type, spec.dtype, numbers)
    if spec.integer:
        numbers = np.round(numbers)
    elif spec.decimals is not None:  # the real values' precision, not float noise
        numbers = np.round(numbers, spec.decimals)
    series = pd.Series(numbers)
    if spec.dtype in {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}:
        if missing.any():
            return _cast(series, spec.dtype.replace("int", "Int").replace("uInt", "UInt"))
        return _cast(series, spec.dtype)
    try:
        return _cast(series, spec.dtype)
    except (TypeError, ValueError):
        return series


def _cast(series: pd.Series, dtype: str) -> pd.Series:
    """``series`` as the dtype named ``dtype`` (a name stored in the schema, such as "Int64")."""
    return series.astype(pd.api.types.pandas_dtype(dtype))


def _restore_categories(spec: ColumnSpec, tokens: np.ndarray) -> pd.Series:
    """Category tokens back to the column's original dtype; NULL_TOKEN back to a null."""
    missing = tokens == OneHotEncoder.NULL_TOKEN
    series = pd.Series(tokens, dtype=object).where(~missing, None)
    dtype = spec.dtype
    if spec.kind is ColumnKind.BOOLEAN and dtype in {"bool", "boolean", "object"}:
        # The tokens of Python or numpy booleans are "True" and "False"; in an object column
        # (a boolean override of, say, "yes"/"no" strings) any other token stays as it is.
        truth = series.mask(tokens == "True", True).mask(tokens == "False", False)
        if dtype == "object":
            return truth
        if dtype == "bool" and not missing.any():
            return truth.astype(bool)
        return truth.astype("boolean")
    if dtype == "category":
        inner = spec.categories_dtype or "object"
        if inner == "bool" or inner.startswith(("int", "uint", "float")):
            # Categories that were numbers or booleans come back as such; "(other)" stays text.
            own = ~missing & (tokens != OTHER_TOKEN)
            series[own] = _category_values(inner, tokens[own])
        return series.astype("category")
    if dtype.startswith(("int", "Int", "uint", "UInt", "float", "Float")):
        # Nullable parsing keeps integers above 2**53 exact (no detour through float64).
        numbers = pd.to_numeric(series, errors="coerce", dtype_backend="numpy_nullable")
        if missing.any() and dtype.startswith(("int", "uint")):
            dtype = dtype.replace("uint", "UInt").replace("int", "Int")
        return _cast(numbers, dtype)
    if dtype in {"string", "str"}:
        return _cast(series, dtype)
    return series


def _category_values(inner: str, tokens: np.ndarray) -> np.ndarray:
    """Tokens (``str`` of each value) of a category dtype's number or boolean categories back
    to values of ``inner``, their dtype; a token that is not one (a declared domain's typo) stays."""
    if inner == "bool":
        values = pd.Series(tokens, dtype=object).map({"True": True, "False": False})
    else:
        # "5" parses as an integer, "5.0" as a float: str() of the values kept their kind.
        values = pd.to_numeric(
            pd.Series(tokens, dtype=object), errors="coerce", dtype_backend="numpy_nullable"
        )
    out = values.astype(object).to_numpy()
    unparsed = pd.isna(out)
    out[unparsed] = tokens[unparsed]
    return out


def numeric_values(spec: ColumnSpec, values: pd.Series) -> np.ndarray:
    """A float64 view of a numerical or datetime column (datetimes in seconds), NaN where missing.

    The same numbers the transformer encodes: code that fits encoders elsewhere (DP
    preprocessing) must measure a column exactly as the transformer will.
    """
    return _numeric_values(spec, values)


def _stacked(missing: dict[str, np.ndarray], names: tuple[str, ...], rows: int) -> np.ndarray:
    """``[rows, names]``: the missing masks of the columns ``names``, side by side."""
    if not names:
        return np.zeros((rows, 0), dtype=bool)
    return np.stack([missing[name] for name in names], axis=1)


class TabularTransformer:
    """Fits per-column encoders and maps whole tables to encoded rows and back.

    `encode` gives the compact form generators train on (numbers and integer category
    codes); `transform` the dense float32 matrix of the spans' layout, for small tables.

    ``min_category_count``: categories of a categorical column seen in fewer rows are folded
    at `fit`, and numerical and datetime columns are clipped to their ``min_category_count``-th
    smallest and largest values (see the module). The protection is on by default here, in
    the one mapping every generator fits, so that no caller (a generator, a benchmark, a
    notebook) can forget it; ``1`` disables it, for tests of exactness and for tables known
    to be public. A transformer from `from_encoders` (DP preprocessing) has its domains decided there.
    """

    def __init__(
        self, columns: tuple[ColumnSpec, ...], *, min_category_count: int = DEFAULT_MIN_CATEGORY_COUNT
    ) -> None:
        if any(c.kind is ColumnKind.ID for c in columns):
            raise ValueError("id columns are regenerated, not encoded")
        if min_category_count < 1:
            raise ValueError("min_category_count must be >= 1")
        self.columns = columns
        self.min_category_count = min_category_count
        self.numeric: dict[str, QuantileNormalizer] = {}
        self.categorical: dict[str, OneHotEncoder] = {}
        self.has_missing: dict[str, bool] = {}
        #: Missingness patterns of the numbers and dates with missing values (`fit`), or the
        #: declared ones (`from_encoders`: DP preprocessing, where counted ones would be unpaid).
        self.missing_patterns: MissingPatterns | None = None
        self.spans: tuple[Span, ...] = ()

    @property
    def width(self) -> int:
        return spans_width(self.spans)

    def fit(self, table: pd.DataFrame) -> TabularTransformer:
        missing: dict[str, np.ndarray] = {}
        for spec in self.columns:
            values = table[spec.name]
            if spec.kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME):
                numbers = _numeric_values(spec, values)
                self.numeric[spec.name] = QuantileNormalizer().fit(numbers, min_count=self.min_category_count)
                missing[spec.name] = np.isnan(numbers)
                self.has_missing[spec.name] = bool(missing[spec.name].any())
            else:
                min_count = self.min_category_count if spec.kind is ColumnKind.CATEGORICAL else 1
                try:
                    self.categorical[spec.name] = OneHotEncoder().fit(values, min_count=min_count)
                except ValueError as exc:
                    raise DataError(
                        f"column {spec.name!r}: {exc}; drop it, declare it numerical, or lower "
                        "data.min_category_count",
                        where=f"data.columns.{spec.name}",
                    ) from None
        nullable = tuple(name for name, flag in self.has_missing.items() if flag)
        if PATTERN_COLUMN not in table.columns:
            self.missing_patterns = MissingPatterns.fit(
                _stacked(missing, nullable, len(table)), nullable, self.min_category_count
            )
        self.spans = self._build_spans()
        return self

    @classmethod
    def from_encoders(
        cls,
        columns: tuple[ColumnSpec, ...],
        numeric: dict[str, QuantileNormalizer],
        categorical: dict[str, OneHotEncoder],
        has_missing: dict[str, bool],
        missing_patterns: MissingPatterns | None = None,
    ) -> TabularTransformer:
        """A fitted transformer from encoders fitted elsewhere (e.g. by DP preprocessing).

        Numerical and datetime columns take a `QuantileNormalizer` and a ``has_missing`` flag
        (whether they get a ``[present, missing]`` block); categorical and boolean columns an
        `OneHotEncoder`. ``missing_patterns`` ties columns' nulls together (declared ones, under DP).
        """
        transformer = cls(columns, min_category_count=1)  # no folding here: the domains are given
        for spec in columns:
            if spec.kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME):
                if spec.name not in numeric or spec.name not in has_missing:
                    raise ValueError(
                        f"column {spec.name!r} needs a quantile normalizer and a has_missing flag"
                    )
                transformer.numeric[spec.name] = numeric[spec.name]
                transformer.has_missing[spec.name] = bool(has_missing[spec.name])
            else:
                if spec.name not in categorical:
                    raise ValueError(f"column {spec.name!r} needs a one-hot encoder")
                transformer.categorical[spec.name] = categorical[spec.name]
        if missing_patterns is not None and not all(
            transformer.has_missing.get(c) for c in missing_patterns.columns
        ):
            raise ValueError("missing patterns tie only numbers and dates that may be missing")
        transformer.missing_patterns = missing_patterns
        transformer.spans = transformer._build_spans()
        return transformer

    def _build_spans(self) -> tuple[Span, ...]:
        spans: list[Span] = []
        start = 0
        for spec in self.columns:
            if spec.name in self.numeric:
                spans.append(Span(spec.name, "value", start, 1, "identity"))
                start += 1
                if self.has_missing[spec.name]:
                    spans.append(Span(spec.name, "missing", start, 2, "softmax"))
                    start += 2
            else:
                width = len(self.categorical[spec.name].categories)
                spans.append(Span(spec.name, "category", start, width, "softmax"))
                start += width
        if self.missing_patterns is not None:
            spans.append(Span(PATTERN_COLUMN, "category", start, self.missing_patterns.width, "softmax"))
        return tuple(spans)

    def encode(self, table: pd.DataFrame) -> EncodedTable:
        """``table`` encoded compactly: float32 numbers and an integer code per block (see `EncodedTable`).

        What generators train on: it holds a few bytes per row and column, however many
        categories a column has.
        """
        values: list[np.ndarray] = []
        codes: list[np.ndarray] = []
        missing_by_column: dict[str, np.ndarray] = {}
        for spec in self.columns:
            column = table[spec.name]
            if spec.name in self.numeric:
                numbers = _numeric_values(spec, column)
                missing = missing_by_column[spec.name] = np.isnan(numbers)
                z = self.numeric[spec.name].transform(np.where(missing, 0.0, numbers))
                # A missing value sits at the centre of model space; its code says it is missing.
                values.append(np.where(missing, 0.0, z).astype(np.float32))
                if self.has_missing[spec.name]:
                    codes.append(missing.astype(np.int64))  # [present, missing]
            else:
                codes.append(self.categorical[spec.name].codes(column))
        if self.missing_patterns is not None:
            patterns = self.missing_patterns
            codes.append(patterns.codes(_stacked(missing_by_column, patterns.columns, len(table))))
        rows = len(table)
        encoded = EncodedTable.empty(self.spans, rows)
        if values:
            encoded.values[:] = np.stack(values, axis=1)
        if codes:
            encoded.codes[:] = np.stack(codes, axis=1)
        return encoded

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """The dense float32 matrix of ``table`` (one row per row, `width` columns, blocks one-hot).

        Rows x width floats: for small tables and tests. Training uses `encode`.
        """
        return self.encode(table).dense()

    def inverse_transform(self, data: np.ndarray | EncodedTable) -> pd.DataFrame:
        """The table that ``data`` encodes: an `EncodedTable`, or a dense matrix whose blocks are
        decoded by their largest entry."""
        if isinstance(data, np.ndarray):
            if data.ndim != 2 or data.shape[1] != self.width:
                raise ValueError(f"matrix has {data.shape[-1]} columns, transformer expects {self.width}")
            data = EncodedTable.from_dense(data, self.spans)
        elif data.spans != self.spans:
            raise ValueError("the encoded table was made by another transformer (its spans differ)")
        value_at = {span.column: i for i, span in enumerate(value_spans(self.spans))}
        block_at = {(span.column, span.role): b for b, span in enumerate(softmax_spans(self.spans))}
        out: dict[str, pd.Series] = {}
        by_pattern = self._pattern_missing(data, block_at)
        for spec in self.columns:
            if spec.name in self.numeric:
                z = data.values[:, value_at[spec.name]].astype(np.float64)
                numbers = self.numeric[spec.name].inverse(z)
                if (spec.name, "missing") in block_at:
                    missing = data.codes[:, block_at[spec.name, "missing"]] == 1
                    if spec.name in by_pattern:  # a kept pattern decides, not the column's own flag
                        decided, by_row = by_pattern[spec.name]
                        missing = np.where(decided, by_row, missing)
                    numbers = np.where(missing, np.nan, numbers)
                out[spec.name] = _restore_numeric(spec, numbers)
            else:
                codes = data.codes[:, block_at[spec.name, "category"]]
                out[spec.name] = _restore_categories(spec, self.categorical[spec.name].inverse_codes(codes))
        return pd.DataFrame(out)

    def _pattern_missing(
        self, data: EncodedTable, block_at: dict[tuple[str, SpanRole], int]
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per pattern column: whether each row has a kept pattern, and whether it has the
        column missing."""
        patterns = self.missing_patterns
        if patterns is None:
            return {}
        codes = data.codes[:, block_at[PATTERN_COLUMN, "category"]].astype(np.int64)
        decided, rows = patterns.decided(codes), patterns.missing(codes)
        return {name: (decided, rows[:, j]) for j, name in enumerate(patterns.columns)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": [c.to_dict() for c in self.columns],
            "numeric": {k: v.to_dict() for k, v in self.numeric.items()},
            "categorical": {k: v.to_dict() for k, v in self.categorical.items()},
            "has_missing": self.has_missing,
            "spans": [s.to_dict() for s in self.spans],
            "min_category_count": self.min_category_count,
            **({"missing_patterns": self.missing_patterns.to_dict()} if self.missing_patterns else {}),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TabularTransformer:
        # Files written before rare categories were folded kept every category: 1.
        transformer = cls(
            tuple(ColumnSpec.from_dict(c) for c in raw["columns"]),
            min_category_count=int(raw.get("min_category_count", 1)),
        )
        transformer.numeric = {k: QuantileNormalizer.from_dict(v) for k, v in raw["numeric"].items()}
        transformer.categorical = {k: OneHotEncoder.from_dict(v) for k, v in raw["categorical"].items()}
        transformer.has_missing = {k: bool(v) for k, v in raw["has_missing"].items()}
        patterns = raw.get("missing_patterns")  # older files: none
        transformer.missing_patterns = MissingPatterns.from_dict(patterns) if patterns else None
        transformer.spans = tuple(Span.from_dict(s) for s in raw["spans"])
        if transformer.spans != transformer._build_spans():
            raise ValueError("transformer spans do not match its encoders")
        return transformer
