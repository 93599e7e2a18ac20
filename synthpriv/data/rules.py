"""Rules a real table always keeps, mined from it: what goes missing together, what a value implies.

A student not placed has no salary, no start or end date and no duration; a placed one has
all four; ``education`` decides ``education_num``. A generator that learns each column's
relation to the others only approximately breaks such rules in a few rows, and a reader of
the synthetic table notices at once. This module finds them in a table, with confidence 1
(no row breaks them) and support at least `MIN_RULE_SUPPORT` rows:

- `MissingTogether`: columns whose values are missing in exactly the same rows;
- `ImpliesMissing`: ``A = v`` (or ``A`` missing) implies columns missing, or present;
- `Determines`: a functional dependency ``A -> B`` between categorical, boolean or
  few-valued columns (each value of A goes with one value of B);
- `KnownPatterns`: a row's missing values follow one of the patterns the table has.

Each rule counts the rows of any table that break it (`Rule.broken`, vectorized) and says
what it is in one line (`Rule.describe`) that names columns and, where needed, a value that
at least `MIN_RULE_SUPPORT` rows hold, never anything of one row. What a rule stores to be
checked (a dependency's value pairs, the patterns) is held by at least ``min_count`` rows
each (the transformer's ``min_category_count``), as the categories the transformer keeps.
Rules are saved as JSON (`rules_to_json`, `rules_from_json`).

A rule reads rows only through `RowValues` (a column's missing flags, and which of some tokens
its values are), so one definition checks a decoded table (`TableValues`) and a generator's
encoded rows (`EncodedRuleCheck`: category codes looked up, no table decoded) alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema
from synthpriv.data.spans import EncodedTable, softmax_spans, value_spans
from synthpriv.data.transform import PATTERN_COLUMN, TabularTransformer

#: The fewest rows a rule must hold in (rows with ``A = v``; rows a group is missing in and
#: rows it is present in; rows a dependency's stored values cover).
MIN_RULE_SUPPORT = 50
#: The most distinct values (a missing value counting as one) a dependency's determinant may have.
MAX_DETERMINANT_LEVELS = 50
#: A number with at most this many distinct values is few-valued: a value of it can decide another.
FEW_VALUES = 20
#: The token of a missing value (`value_tokens`): no str() of a value starts with NUL.
NULL_TOKEN = "\x00missing"


class RowValues(Protocol):
    """Rows as a rule reads them: whether a column's values are missing, and which of some tokens
    (`value_tokens`) they are. A decoded table (`TableValues`) and encoded rows
    (`EncodedRuleCheck`) answer alike, so each rule is written once."""

    def __len__(self) -> int: ...

    def missing(self, column: str) -> np.ndarray:
        """Whether each row's value of ``column`` is missing (a boolean array)."""
        ...

    def positions(self, column: str, tokens: Sequence[str]) -> np.ndarray:
        """Each row's position in ``tokens`` (distinct) of its value's token in ``column``; -1 for none."""
        ...


class Rule(Protocol):
    """What every rule can do: name its kind, count the rows that break it, say what it is."""

    kind: ClassVar[str]

    @property
    def support(self) -> int:
        """Rows of the mined table the rule held in (see `MIN_RULE_SUPPORT`)."""
        ...

    def broken(self, table: pd.DataFrame) -> np.ndarray:
        """Whether each row of ``table`` breaks the rule (a boolean array, one entry a row)."""
        ...

    def broken_in(self, rows: RowValues) -> np.ndarray:
        """`broken`, of rows read through `RowValues`."""
        ...

    def describe(self) -> str:
        """The rule in one line: column names, and values only where many rows hold them."""
        ...

    def to_dict(self) -> dict[str, Any]: ...


def token_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """`value_tokens` factorized: each row's index into the distinct tokens, and those tokens
    (matching tokens then costs one look-up per distinct value, not per row)."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        # + 0.0 turns -0.0 into 0.0: factorize counts them as one value, whose text would
        # otherwise be that of whichever came first in the rows.
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan) + 0.0
        # Each distinct number written once (str() of 50,000 floats is most of a check's time).
        codes, distinct = pd.factorize(numbers)
        tokens = np.append(distinct.astype(str).astype(object), NULL_TOKEN)
        return np.where(codes < 0, len(distinct), codes), tokens  # -1 (missing): the last
    text = values.astype(object).astype(str).to_numpy(dtype=object)
    text[values.isna().to_numpy()] = NULL_TOKEN
    codes, distinct = pd.factorize(text)
    return codes, np.asarray(distinct, dtype=object)


def value_tokens(values: pd.Series) -> np.ndarray:
    """Each value as text that compares across tables: a number as its float (``3`` and ``3.0``
    both ``"3.0"``, ``-0.0`` as ``"0.0"``), a boolean as ``"True"``/``"False"``, anything else as
    ``str``; nulls `NULL_TOKEN`."""
    codes, tokens = token_codes(values)
    return tokens[codes]


def _positions(tokens: np.ndarray, wanted: Sequence[str]) -> np.ndarray:
    """The position of each of ``tokens`` in ``wanted`` (distinct), -1 for none."""
    found = pd.Index(list(wanted), dtype=object).get_indexer(pd.Index(tokens, dtype=object))
    return np.asarray(found, dtype=np.int64)


def _distinct(tokens: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(tokens))


class TableValues:
    """A decoded table as rules read it (`RowValues`); each column's tokens made once."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self._tokens: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.table)

    def missing(self, column: str) -> np.ndarray:
        return self.table[column].isna().to_numpy(dtype=bool)

    def positions(self, column: str, tokens: Sequence[str]) -> np.ndarray:
        if column not in self._tokens:
            self._tokens[column] = token_codes(self.table[column])
        codes, distinct = self._tokens[column]
        return _positions(distinct, tokens)[codes]


class _ReadsRows:
    """`Rule.broken` through `Rule.broken_in`, for every rule."""

    def broken(self, table: pd.DataFrame) -> np.ndarray:
        return self.broken_in(TableValues(table))

    def broken_in(self, rows: RowValues) -> np.ndarray:
        raise NotImplementedError


def _shown(token: str) -> str:
    return "missing" if token == NULL_TOKEN else token


def _missing(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """``[rows, columns]``: whether each value is missing."""
    return table[list(columns)].isna().to_numpy(dtype=bool).reshape(len(table), len(columns))


def _missing_in(rows: RowValues, columns: Sequence[str]) -> np.ndarray:
    """``[rows, columns]``: whether each value is missing, as ``rows`` reads it."""
    if not columns:
        return np.zeros((len(rows), 0), dtype=bool)
    return np.stack([rows.missing(column) for column in columns], axis=1)


def _any_all_missing(rows: RowValues, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Whether any, and whether all, of ``columns`` are missing in each row (column by column:
    a reduction across a row of a few flags is many times slower)."""
    if not columns:
        return np.zeros(len(rows), dtype=bool), np.ones(len(rows), dtype=bool)
    flags = [rows.missing(column) for column in columns]
    return np.logical_or.reduce(flags), np.logical_and.reduce(flags)


def _names(columns: Sequence[str]) -> str:
    return ", ".join(columns)


@dataclass(frozen=True)
class MissingTogether(_ReadsRows):
    """Columns missing in exactly the same rows: a row with some of them missing, not all, breaks it."""

    kind: ClassVar[str] = "missing_together"
    columns: tuple[str, ...]
    support: int

    def broken_in(self, rows: RowValues) -> np.ndarray:
        some, every = _any_all_missing(rows, self.columns)
        return np.asarray(some & ~every, dtype=bool)

    def describe(self) -> str:
        return f"{_names(self.columns)}: missing together or present together"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": list(self.columns), "support": self.support}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MissingTogether:
        return cls(columns=_texts(raw["columns"]), support=int(raw["support"]))


@dataclass(frozen=True)
class ImpliesMissing(_ReadsRows):
    """``column`` = one of ``values`` (`NULL_TOKEN`: ``column`` missing) implies ``targets`` all
    missing (``missing``) or all present; a row with such a value and a target otherwise breaks it."""

    kind: ClassVar[str] = "implies_missing"
    column: str
    values: tuple[str, ...]
    targets: tuple[str, ...]
    missing: bool
    support: int

    def broken_in(self, rows: RowValues) -> np.ndarray:
        applies = rows.positions(self.column, _distinct(self.values)) >= 0
        some, every = _any_all_missing(rows, self.targets)
        wrong = ~every if self.missing else some
        return np.asarray(applies & wrong, dtype=bool)

    def describe(self) -> str:
        if self.values == (NULL_TOKEN,):
            given = f"{self.column} missing"
        else:
            shown = [_shown(v) for v in self.values]
            listed = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
            given = f"{self.column} = {listed}"
        return f"{given} ⇒ {_names(self.targets)} {'missing' if self.missing else 'present'}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "values": list(self.values),
            "targets": list(self.targets),
            "missing": self.missing,
            "support": self.support,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ImpliesMissing:
        return cls(
            column=str(raw["column"]),
            values=_texts(raw["values"]),
            targets=_texts(raw["targets"]),
            missing=bool(raw["missing"]),
            support=int(raw["support"]),
        )


@dataclass(frozen=True)
class Determines(_ReadsRows):
    """``column`` determines ``dependent``: a row whose ``column`` value is one of ``pairs``'
    and whose ``dependent`` value is not the one paired with it breaks it (tokens of
    `value_tokens`; other values of ``column`` are not checked)."""

    kind: ClassVar[str] = "determines"
    column: str
    dependent: str
    pairs: tuple[tuple[str, str], ...]
    support: int

    def broken_in(self, rows: RowValues) -> np.ndarray:
        expected = dict(self.pairs)  # a value listed twice (a hand-edited file): its last pair
        given = rows.positions(self.column, tuple(expected))
        dependents = _distinct(expected.values())
        # The position of each given value's partner among ``dependents``; -2 (no row) for -1.
        partner = np.array([*(dependents.index(v) for v in expected.values()), -2], dtype=np.int64)
        actual = rows.positions(self.dependent, dependents)
        return np.asarray((given >= 0) & (actual != partner[given]), dtype=bool)

    def describe(self) -> str:
        values = len(self.pairs)
        return f"{self.column} determines {self.dependent} (checked on {values} values of {self.column})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "column": self.column,
            "dependent": self.dependent,
            "pairs": [list(pair) for pair in self.pairs],
            "support": self.support,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Determines:
        pairs = tuple((str(a), str(b)) for a, b in raw["pairs"])
        return cls(
            column=str(raw["column"]),
            dependent=str(raw["dependent"]),
            pairs=pairs,
            support=int(raw["support"]),
        )


@dataclass(frozen=True)
class KnownPatterns(_ReadsRows):
    """The missing values of ``columns`` follow one of ``patterns`` (each a tuple of flags,
    True = missing); a row with another pattern breaks it."""

    kind: ClassVar[str] = "known_patterns"
    columns: tuple[str, ...]
    patterns: tuple[tuple[bool, ...], ...]
    support: int

    def broken_in(self, rows: RowValues) -> np.ndarray:
        return ~pattern_seen(_missing_in(rows, self.columns), np.array(self.patterns, dtype=bool))

    def describe(self) -> str:
        return (
            f"{_names(self.columns)}: missing in one of the {len(self.patterns)} patterns of the real table"
        )

    def to_dict(self) -> dict[str, Any]:
        patterns = [[int(flag) for flag in pattern] for pattern in self.patterns]
        return {
            "kind": self.kind,
            "columns": list(self.columns),
            "patterns": patterns,
            "support": self.support,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> KnownPatterns:
        columns = _texts(raw["columns"])
        patterns = tuple(tuple(bool(flag) for flag in pattern) for pattern in raw["patterns"])
        if any(len(pattern) != len(columns) for pattern in patterns):
            raise ValueError("a missing pattern needs one flag per column")
        return cls(columns=columns, patterns=patterns, support=int(raw["support"]))


#: The most columns whose missing patterns `pattern_seen` numbers (a table of 2**16 flags at most).
_NUMBERED_PATTERN_WIDTH = 16


def _pattern_numbers(flags: np.ndarray) -> np.ndarray:
    """Each row of ``flags`` ``[rows, columns]`` as the number its flags write in binary."""
    numbers = np.zeros(len(flags), dtype=np.int64)
    for column in range(flags.shape[1]):
        numbers = 2 * numbers + flags[:, column]
    return numbers


def pattern_seen(missing: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """Whether each row of ``missing`` ``[rows, columns]`` equals one of ``patterns``
    ``[patterns, columns]``: a few columns' patterns numbered, more columns' packed to bytes."""
    if missing.shape[1] == 0:
        return np.ones(len(missing), dtype=bool)
    if len(patterns) == 0:
        return np.zeros(len(missing), dtype=bool)
    if missing.shape[1] <= _NUMBERED_PATTERN_WIDTH:  # a row's pattern as a number: one look-up
        seen = np.zeros(2 ** missing.shape[1], dtype=bool)
        seen[_pattern_numbers(patterns)] = True
        return seen[_pattern_numbers(missing)]
    width = np.packbits(missing[:1], axis=1).shape[1]
    key = np.dtype((np.void, width))
    rows = np.ascontiguousarray(np.packbits(missing, axis=1)).view(key).ravel()
    seen = np.ascontiguousarray(np.packbits(patterns, axis=1)).view(key).ravel()
    return np.isin(rows, seen)


_KINDS: dict[str, Any] = {
    rule.kind: rule for rule in (MissingTogether, ImpliesMissing, Determines, KnownPatterns)
}


def rules_to_json(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    """Rules as plain JSON objects, each with its ``kind``."""
    return [rule.to_dict() for rule in rules]


def rules_from_json(raw: object) -> tuple[Rule, ...]:
    """Rules read back from `rules_to_json`; ValueError for anything else."""
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise ValueError("rules must be a list of JSON objects")
    try:
        return tuple(_KINDS[str(item.get("kind"))].from_dict(item) for item in raw)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a rule: {type(exc).__name__} {exc}") from None


def broken_by_any(rules: Sequence[Rule], table: pd.DataFrame | RowValues) -> np.ndarray:
    """Whether each row of ``table`` (a decoded table, or rows read through `RowValues`) breaks
    at least one of ``rules``; a column's tokens are made once for all of them."""
    rows = TableValues(table) if isinstance(table, pd.DataFrame) else table
    broken = np.zeros(len(rows), dtype=bool)
    for rule in rules:
        broken |= rule.broken_in(rows)
    return broken


# -- checking encoded rows -------------------------------------------------------------------


class EncodedRuleCheck:
    """``rules`` checked on rows ``transformer`` encoded, without decoding the table: each row
    breaks them here exactly when it does in ``transformer.inverse_transform(rows)``.

    Made once per fit or load (a generator checks every batch it samples). A category column's
    codes are decoded once, as its whole domain, to their tokens and missing flags, and each
    rule's values are looked up among them once: a batch then costs an index per column. A
    number is missing where its missing block (or a kept missing pattern, which decides
    instead) says so, or where its value is NaN, as decoding reads it; a number whose values a
    rule compares (a few-valued column) is decoded alone, by a transformer of that one column.
    """

    def __init__(self, rules: Sequence[Rule], transformer: TabularTransformer) -> None:
        self.rules = rules
        self.transformer = transformer
        self._specs = {spec.name: spec for spec in transformer.columns}
        self._value_at = {span.column: i for i, span in enumerate(value_spans(transformer.spans))}
        self._block_at: dict[tuple[str, str], int] = {
            (span.column, span.role): b for b, span in enumerate(softmax_spans(transformer.spans))
        }
        # Made on first use, per column a rule reads.
        self._domains: dict[str, _Domain | None] = {}
        self._decoders: dict[str, TabularTransformer] = {}
        self._lookups: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}

    def broken(self, rows: EncodedTable) -> np.ndarray:
        """Whether each of ``rows`` breaks one of the rules (`broken_by_any` of them decoded)."""
        if rows.spans != self.transformer.spans:
            raise ValueError("the encoded rows were made by another transformer (their spans differ)")
        return broken_by_any(self.rules, _EncodedValues(self, rows))

    def spec(self, column: str) -> ColumnSpec:
        if column not in self._specs:
            raise ValueError(f"a rule reads column {column!r}, which the transformer does not encode")
        return self._specs[column]

    def domain(self, column: str) -> _Domain | None:
        """A category column's codes decoded once; None for a number, a category column whose
        values depend on the other rows decoded with them (see `_decodes_alone`), or one with a
        code that cannot be decoded (a declared domain's typo in a column of numbers: decoding
        fails only in a batch that holds it, as it would decoding the batch)."""
        if column not in self._domains:
            domain = None
            if column in self.transformer.categorical and _decodes_alone(self.spec(column)):
                try:
                    domain = _Domain.of(self.decoder(column))
                except (TypeError, ValueError):
                    domain = None
            self._domains[column] = domain
        return self._domains[column]

    def lookup(self, column: str, tokens: tuple[str, ...]) -> np.ndarray:
        """Per code of a category column with a `domain`: its position in ``tokens``, -1 for none."""
        key = (column, tokens)
        if key not in self._lookups:
            domain = self.domain(column)
            assert domain is not None
            self._lookups[key] = _positions(domain.tokens, tokens)
        return self._lookups[key]

    def decoder(self, column: str) -> TabularTransformer:
        """A transformer of ``column`` alone, with its encoder; a number always with a missing
        block, which the caller fills with the missing flags the whole table's decoding reads."""
        if column not in self._decoders:
            spec, transformer = self.spec(column), self.transformer
            if column in transformer.numeric:
                numeric, has_missing = {column: transformer.numeric[column]}, {column: True}
                self._decoders[column] = TabularTransformer.from_encoders((spec,), numeric, {}, has_missing)
            else:
                categorical = {column: transformer.categorical[column]}
                self._decoders[column] = TabularTransformer.from_encoders((spec,), {}, categorical, {})
        return self._decoders[column]

    def value_column(self, column: str) -> int:
        return self._value_at[column]

    def block(self, column: str, role: str) -> int | None:
        return self._block_at.get((column, role))


def _decodes_alone(spec: ColumnSpec) -> bool:
    """Whether each value of a category column decodes the same whatever other values are decoded
    with it. Not in a ``category`` column of numbers: its tokens are parsed together, as whole
    numbers or as decimals by what the batch holds (``5`` beside ``5.5`` becomes ``5.0``)."""
    inner = spec.categories_dtype or "object"
    return not (spec.dtype == "category" and inner.startswith(("int", "uint", "float")))


@dataclass(frozen=True)
class _Domain:
    """A category column's codes decoded: each code's token (`value_tokens`) and whether it is missing."""

    tokens: np.ndarray
    missing: np.ndarray

    @classmethod
    def of(cls, decoder: TabularTransformer) -> _Domain:
        """The domain of ``decoder``'s one category column: every code decoded, once."""
        (span,) = decoder.spans
        codes = np.arange(span.width, dtype=np.int64)[:, None]
        values = decoder.inverse_transform(EncodedTable(decoder.spans, np.zeros((span.width, 0)), codes))
        column = values[span.column]
        return cls(tokens=value_tokens(column), missing=column.isna().to_numpy(dtype=bool))


class _EncodedValues:
    """One batch of encoded rows as rules read it (`RowValues`); what it reads is made once."""

    def __init__(self, check: EncodedRuleCheck, rows: EncodedTable) -> None:
        self.check = check
        self.rows = rows
        self._missing: dict[str, np.ndarray] = {}
        self._tokens: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._patterns: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def missing(self, column: str) -> np.ndarray:
        if column not in self._missing:
            domain = self.check.domain(column)
            if domain is not None:
                self._missing[column] = domain.missing[self._codes(column, "category")]
            elif column in self.check.transformer.numeric:
                self._missing[column] = self._number_missing(column)
            else:  # a category column decoded alone: missing where its token is
                codes, distinct = self._decoded(column)
                self._missing[column] = np.asarray(distinct == NULL_TOKEN, dtype=bool)[codes]
        return self._missing[column]

    def positions(self, column: str, tokens: Sequence[str]) -> np.ndarray:
        wanted = tuple(tokens)
        if self.check.domain(column) is not None:
            return self.check.lookup(column, wanted)[self._codes(column, "category")]
        codes, distinct = self._decoded(column)
        return _positions(distinct, wanted)[codes]

    def _codes(self, column: str, role: str) -> np.ndarray:
        block = self.check.block(column, role)
        assert block is not None
        return self.rows.codes[:, block]

    def _number_missing(self, column: str) -> np.ndarray:
        """Where the whole table's decoding leaves a number missing: its value is NaN (or the
        column learned none), or its missing flag says so (a kept missing pattern deciding instead)."""
        z = self.rows.values[:, self.check.value_column(column)]
        if self.check.transformer.numeric[column].learns_nothing:
            return np.ones(len(z), dtype=bool)
        missing = np.isnan(z)
        if self.check.block(column, "missing") is None:
            return missing
        flag = self._codes(column, "missing") == 1
        patterns = self.check.transformer.missing_patterns
        if patterns is not None and column in patterns.columns:
            decided, kept = self._pattern_codes()
            by_pattern = patterns.patterns[:, patterns.columns.index(column)][kept]
            flag = np.where(decided, by_pattern, flag)
        return missing | flag

    def _pattern_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """Whether each row's missing pattern is a kept one, and which (the last where not):
        `MissingPatterns.decided` and the rows `MissingPatterns.missing` reads."""
        if self._patterns is None:
            patterns = self.check.transformer.missing_patterns
            assert patterns is not None
            codes = self._codes(PATTERN_COLUMN, "category").astype(np.int64)
            self._patterns = patterns.decided(codes), np.minimum(codes, len(patterns.patterns) - 1)
        return self._patterns

    def _decoded(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """`token_codes` of ``column`` decoded alone, as the whole table's decoding gives it."""
        if column not in self._tokens:
            decoder = self.check.decoder(column)
            if column in self.check.transformer.numeric:
                at = self.check.value_column(column)
                flags = self.missing(column).astype(np.int8)[:, None]
                encoded = EncodedTable(decoder.spans, self.rows.values[:, at : at + 1], flags)
            else:
                codes = self._codes(column, "category")[:, None]
                encoded = EncodedTable(decoder.spans, np.zeros((len(self.rows), 0), np.float32), codes)
            self._tokens[column] = token_codes(decoder.inverse_transform(encoded)[column])
        return self._tokens[column]


def _texts(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise TypeError("expected a list of names")
    return tuple(str(item) for item in value)


# -- mining ---------------------------------------------------------------------------------


def mine_rules(table: pd.DataFrame, schema: TableSchema, *, min_count: int = 1) -> tuple[Rule, ...]:
    """Every rule ``table`` keeps in all its rows, with support at least `MIN_RULE_SUPPORT`
    (or ``min_count``, when larger: the ``min_category_count`` under which a value is too rare to
    store). Checks the schema's modelled columns that ``table`` has; deterministic."""
    support = max(MIN_RULE_SUPPORT, min_count)
    columns = tuple(c for c in schema.modelled() if c.name in table.columns)
    if len(table) < support or not columns:
        return ()
    missing = _missing(table, [c.name for c in columns])
    counts = missing.sum(axis=0)
    nullable = tuple(c.name for c, n in zip(columns, counts, strict=True) if n >= min_count)
    groups = _missing_groups(table, nullable, support)
    tokens = {c.name: value_tokens(table[c.name]) for c in columns if _has_values(c, table)}
    rules: list[Rule] = [*groups]
    rules += _implications(table, columns, tokens, nullable, groups, support)
    rules += _dependencies(tokens, min_count=max(min_count, 1), support=support)
    rules += _patterns(table, nullable, groups, min_count=max(min_count, 1))
    return tuple(rules)


def _has_values(column: ColumnSpec, table: pd.DataFrame) -> bool:
    """Whether a value of ``column`` may decide another: a category, a boolean, a few-valued number."""
    if column.kind in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN):
        return True
    return column.kind is ColumnKind.NUMERICAL and table[column.name].nunique(dropna=True) <= FEW_VALUES


def _missing_groups(table: pd.DataFrame, nullable: tuple[str, ...], support: int) -> list[MissingTogether]:
    """Columns with the same missing rows, at least ``support`` rows missing and as many present."""
    if len(nullable) < 2:
        return []
    missing = _missing(table, nullable)
    masks, group_of = np.unique(missing.T, axis=0, return_inverse=True)
    groups = []
    for index, mask in enumerate(masks):
        members = tuple(name for name, g in zip(nullable, group_of.ravel(), strict=True) if g == index)
        held = int(mask.sum())
        if len(members) >= 2 and min(held, len(mask) - held) >= support:
            groups.append(MissingTogether(columns=members, support=held))
    return sorted(groups, key=lambda g: nullable.index(g.columns[0]))


def _implications(
    table: pd.DataFrame,
    columns: tuple[ColumnSpec, ...],
    tokens: dict[str, np.ndarray],
    nullable: tuple[str, ...],
    groups: list[MissingTogether],
    support: int,
) -> list[ImpliesMissing]:
    """``A = v`` (v held by ``support`` rows; a category, a boolean, a few-valued number or
    missing) implies nullable columns missing, or present, wherever it holds: one rule per
    column, consequence and direction, listing its values. What other rules already say is
    left out (see `_implied`)."""
    if not nullable:
        return []
    missing = _missing(table, nullable)
    # follows[a, b]: nullable[b] is missing in at least `support` rows and nullable[a] in each
    # of them too (a mined rule "b missing => a missing" then says it).
    counted = missing.astype(np.float64)
    follows = ((1.0 - counted).T @ counted == 0) & (counted.sum(axis=0) >= support)[None, :]
    found: list[ImpliesMissing] = []
    for column in columns:
        values = tokens.get(column.name)
        if values is None:  # a number or a date: only whether it is missing can decide
            values = np.where(table[column.name].isna().to_numpy(), NULL_TOKEN, "")
        found += _implications_of(column.name, values, missing, nullable, follows, groups, support)
    return found


def _implications_of(
    name: str,
    values: np.ndarray,
    missing: np.ndarray,
    nullable: tuple[str, ...],
    follows: np.ndarray,
    groups: list[MissingTogether],
    support: int,
) -> list[ImpliesMissing]:
    """`_implications` of one column ``name`` whose rows hold ``values`` (tokens)."""
    levels, codes = np.unique(values, return_inverse=True)
    codes = codes.ravel()
    rows = np.bincount(codes, minlength=len(levels))
    # held[level, j]: rows of the level with nullable[j] missing.
    held = np.stack(
        [np.bincount(codes, weights=missing[:, j], minlength=len(levels)) for j in range(len(nullable))],
        axis=1,
    )
    by_consequence: dict[tuple[tuple[str, ...], bool], list[str]] = {}
    for level in np.flatnonzero(rows >= support):
        value = str(levels[level])
        if value == "":
            continue
        for implied, holds in ((True, held[level] == rows[level]), (False, held[level] == 0)):
            targets = tuple(
                target
                for j, target in enumerate(nullable)
                if holds[j] and not _implied(name, value, j, nullable, implied, follows, groups)
            )
            if targets:
                by_consequence.setdefault((targets, implied), []).append(value)
    return [
        ImpliesMissing(name, tuple(given), targets, implied, int(rows[np.isin(levels, given)].sum()))
        for (targets, implied), given in by_consequence.items()
    ]


def _implied(
    name: str,
    value: str,
    target: int,
    nullable: tuple[str, ...],
    implied_missing: bool,
    follows: np.ndarray,
    groups: list[MissingTogether],
) -> bool:
    """Whether ``name = value`` implying ``nullable[target]`` missing (or present) says nothing
    more than another rule: the target is the column itself, the column's group says it, or
    (for "present", of a value that is not missing) the mined rule "target missing implies the
    column missing" says it."""
    other = nullable[target]
    if other == name:
        return True
    if any(name in g.columns and other in g.columns for g in groups):
        return True
    if implied_missing or value == NULL_TOKEN or name not in nullable:
        return False
    return bool(follows[nullable.index(name), target])


def _dependencies(tokens: dict[str, np.ndarray], *, min_count: int, support: int) -> list[Determines]:
    """``A -> B`` wherever every value of A (at most `MAX_DETERMINANT_LEVELS`) goes with one
    value of B in every row; the pairs stored are those of A's values held by ``min_count``
    rows, which must cover ``support`` rows and give B two values at least."""
    coded = {name: np.unique(values, return_inverse=True) for name, values in tokens.items()}
    found = []
    for name, (levels, codes) in coded.items():
        if len(levels) > MAX_DETERMINANT_LEVELS:
            continue
        codes = codes.ravel()
        rows = np.bincount(codes, minlength=len(levels))
        stored = rows >= min_count
        covered = int(rows[stored].sum())
        if covered < support or stored.sum() < 2:
            continue
        for dependent, (dependent_levels, dependent_codes) in coded.items():
            if dependent == name:
                continue
            pairs = np.unique(codes * len(dependent_levels) + dependent_codes.ravel())
            if len(pairs) != len(levels):  # some value of A goes with two values of B
                continue
            partner = np.empty(len(levels), dtype=np.int64)
            partner[pairs // len(dependent_levels)] = pairs % len(dependent_levels)
            if len(np.unique(partner[stored])) < 2:
                continue
            kept = tuple((str(levels[i]), str(dependent_levels[partner[i]])) for i in np.flatnonzero(stored))
            found.append(Determines(name, dependent, kept, covered))
    return found


def _patterns(
    table: pd.DataFrame, nullable: tuple[str, ...], groups: list[MissingTogether], *, min_count: int
) -> list[KnownPatterns]:
    """The patterns of missing values, when every row's is held by ``min_count`` rows and they
    say more than the groups do (some combination of the groups' and other columns' never occurs)."""
    if len(nullable) < 2:
        return []
    patterns, counts = np.unique(_missing(table, nullable), axis=0, return_counts=True)
    if counts.min() < min_count:
        return []
    grouped = {name for g in groups for name in g.columns}
    free = len([n for n in nullable if n not in grouped]) + len(groups)
    if len(patterns) >= 2**free:
        return []
    order = np.argsort(-counts, kind="stable")
    kept = tuple(tuple(bool(flag) for flag in patterns[i]) for i in order)
    return [KnownPatterns(columns=nullable, patterns=kept, support=len(table))]
