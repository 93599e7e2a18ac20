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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema

#: The fewest rows a rule must hold in (rows with ``A = v``; rows a group is missing in and
#: rows it is present in; rows a dependency's stored values cover).
MIN_RULE_SUPPORT = 50
#: The most distinct values (a missing value counting as one) a dependency's determinant may have.
MAX_DETERMINANT_LEVELS = 50
#: A number with at most this many distinct values is few-valued: a value of it can decide another.
FEW_VALUES = 20
#: The token of a missing value (`value_tokens`): no str() of a value starts with NUL.
NULL_TOKEN = "\x00missing"


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

    def describe(self) -> str:
        """The rule in one line: column names, and values only where many rows hold them."""
        ...

    def to_dict(self) -> dict[str, Any]: ...


def value_tokens(values: pd.Series) -> np.ndarray:
    """Each value as text that compares across tables: a number as its float (``3`` and ``3.0``
    both ``"3.0"``), a boolean as ``"True"``/``"False"``, anything else as ``str``; nulls `NULL_TOKEN`."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        # Each distinct number written once (str() of 50,000 floats is most of a check's time).
        codes, distinct = pd.factorize(values.to_numpy(dtype=np.float64, na_value=np.nan))
        return np.append(distinct.astype(str).astype(object), NULL_TOKEN)[codes]  # -1 (missing): the last
    text = values.astype(object).astype(str).to_numpy(dtype=object)
    text[values.isna().to_numpy()] = NULL_TOKEN
    return text


def _shown(token: str) -> str:
    return "missing" if token == NULL_TOKEN else token


def _missing(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """``[rows, columns]``: whether each value is missing."""
    return table[list(columns)].isna().to_numpy(dtype=bool).reshape(len(table), len(columns))


def _names(columns: Sequence[str]) -> str:
    return ", ".join(columns)


@dataclass(frozen=True)
class MissingTogether:
    """Columns missing in exactly the same rows: a row with some of them missing, not all, breaks it."""

    kind: ClassVar[str] = "missing_together"
    columns: tuple[str, ...]
    support: int

    def broken(self, table: pd.DataFrame) -> np.ndarray:
        missing = _missing(table, self.columns)
        return np.asarray(missing.any(axis=1) & ~missing.all(axis=1), dtype=bool)

    def describe(self) -> str:
        return f"{_names(self.columns)}: missing together or present together"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": list(self.columns), "support": self.support}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MissingTogether:
        return cls(columns=_texts(raw["columns"]), support=int(raw["support"]))


@dataclass(frozen=True)
class ImpliesMissing:
    """``column`` = one of ``values`` (`NULL_TOKEN`: ``column`` missing) implies ``targets`` all
    missing (``missing``) or all present; a row with such a value and a target otherwise breaks it."""

    kind: ClassVar[str] = "implies_missing"
    column: str
    values: tuple[str, ...]
    targets: tuple[str, ...]
    missing: bool
    support: int

    def broken(self, table: pd.DataFrame) -> np.ndarray:
        applies = pd.Series(value_tokens(table[self.column])).isin(self.values).to_numpy()
        missing = _missing(table, self.targets)
        wrong = ~missing.all(axis=1) if self.missing else missing.any(axis=1)
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
class Determines:
    """``column`` determines ``dependent``: a row whose ``column`` value is one of ``pairs``'
    and whose ``dependent`` value is not the one paired with it breaks it (tokens of
    `value_tokens`; other values of ``column`` are not checked)."""

    kind: ClassVar[str] = "determines"
    column: str
    dependent: str
    pairs: tuple[tuple[str, str], ...]
    support: int

    def broken(self, table: pd.DataFrame) -> np.ndarray:
        given = pd.Series(value_tokens(table[self.column]), dtype=object)
        expected = given.map(dict(self.pairs)).to_numpy(dtype=object)
        checked = pd.notna(expected)
        return np.asarray(checked & (expected != value_tokens(table[self.dependent])), dtype=bool)

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
class KnownPatterns:
    """The missing values of ``columns`` follow one of ``patterns`` (each a tuple of flags,
    True = missing); a row with another pattern breaks it."""

    kind: ClassVar[str] = "known_patterns"
    columns: tuple[str, ...]
    patterns: tuple[tuple[bool, ...], ...]
    support: int

    def broken(self, table: pd.DataFrame) -> np.ndarray:
        return ~pattern_seen(_missing(table, self.columns), np.array(self.patterns, dtype=bool))

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


def pattern_seen(missing: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """Whether each row of ``missing`` ``[rows, columns]`` equals one of ``patterns``
    ``[patterns, columns]``: rows and patterns packed to bytes and matched as such."""
    if missing.shape[1] == 0:
        return np.ones(len(missing), dtype=bool)
    if len(patterns) == 0:
        return np.zeros(len(missing), dtype=bool)
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


def broken_by_any(rules: Sequence[Rule], table: pd.DataFrame) -> np.ndarray:
    """Whether each row of ``table`` breaks at least one of ``rules``."""
    broken = np.zeros(len(table), dtype=bool)
    for rule in rules:
        broken |= rule.broken(table)
    return broken


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
