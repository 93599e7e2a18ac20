"""Row logic: do synthetic rows keep the rules and the value forms every real row keeps?

Three measures, each beside the same measure of the real holdout rows (an independent real
sample, the reference):

- rules: the rules the real training rows keep with confidence 1 (`synthpriv.data.rules`:
  columns missing together, ``A = v`` implying columns missing or present, functional
  dependencies, the missing patterns), mined afresh here from the real rows (a measurement,
  whatever the generator knew), and for each the share of rows that break it;
- missing patterns: the share of rows whose pattern of missing values (over the modelled
  columns) no real training row has;
- value form: the share of values outside the real precision: a few-valued number (at most
  `FEW_VALUES` distinct real values) off its real values, an integer column's value with a
  fraction, a number with more decimals than the real ones (`ColumnSpec.decimals`), a date or
  time off its real step (`ColumnSpec.time_step`).

Only shares, counts and the rules' one-line descriptions leave (a description names a value
only where at least `MIN_RULE_SUPPORT` rows hold it); the real value sets stay here.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from pydantic import Field

from synthpriv.config.base import StrictModel
from synthpriv.data.rules import FEW_VALUES, MIN_RULE_SUPPORT, Rule, mine_rules, pattern_seen
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, require_columns
from synthpriv.metrics.features import column_numbers

__all__ = ["MIN_RULE_SUPPORT", "RowLogicResult", "row_logic"]

_STEP_NAMES = {86_400: "whole days", 3_600: "whole hours", 60: "whole minutes", 1: "whole seconds"}


class RuleShare(StrictModel):
    """One rule of the real table and the share of rows that break it."""

    rule: str
    """The rule in one line (`synthpriv.data.rules.Rule.describe`)."""
    kind: str
    support: int = Field(ge=0)
    """Real training rows the rule held in."""
    synthetic_share: float = Field(ge=0, le=1)
    holdout_share: float | None = Field(default=None, ge=0, le=1)


class ValueForm(StrictModel):
    """One column's real value form and the share of values outside it."""

    column: str
    form: str
    """What real values look like: "one of 3 values", "whole numbers", "2 decimals", "whole days"."""
    synthetic_share: float = Field(ge=0, le=1)
    """Share of the non-missing synthetic values outside the form."""
    holdout_share: float | None = Field(default=None, ge=0, le=1)


class RowLogicResult(StrictModel):
    """Rules, missing patterns and value forms of the synthetic rows, beside the holdout's."""

    rules: list[RuleShare]
    """Every rule mined from the real training rows, worst synthetic share first."""
    unseen_pattern_share: float = Field(ge=0, le=1)
    """Synthetic rows whose pattern of missing values no real training row has. Ideal 0."""
    holdout_unseen_pattern_share: float | None = Field(default=None, ge=0, le=1)
    forms: list[ValueForm]
    """The columns with a value form, in schema order."""
    form_share: float = Field(ge=0, le=1)
    """Non-missing synthetic values (of the columns in `forms`) outside their form. Ideal 0."""
    holdout_form_share: float | None = Field(default=None, ge=0, le=1)
    min_support: int = Field(ge=1)
    """The fewest real rows a rule held in to be mined."""
    seconds: float = Field(ge=0)

    @property
    def worst_rule_share(self) -> float:
        """The largest share of synthetic rows breaking one rule (0 without rules): what the gate judges."""
        return max((r.synthetic_share for r in self.rules), default=0.0)

    @property
    def holdout_worst_rule_share(self) -> float | None:
        """The largest share of holdout rows breaking one rule (None without a holdout)."""
        if self.holdout_unseen_pattern_share is None:
            return None
        return max((r.holdout_share or 0.0 for r in self.rules), default=0.0)


def row_logic(
    train: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    holdout: pd.DataFrame | None = None,
    min_count: int = 1,
) -> RowLogicResult:
    """The row-logic measures of ``synthetic`` (module docstring) on the full tables; rules
    are mined from ``train`` with support at least `MIN_RULE_SUPPORT` and ``min_count``
    (``data.min_category_count``). DataError when a table is empty or lacks a modelled column."""
    started = time.perf_counter()
    names = [c.name for c in schema.modelled()]
    tables = {"train": train, "synthetic": synthetic} | ({"holdout": holdout} if holdout is not None else {})
    for role, table in tables.items():
        require_columns(table, names, role)
    rules = mine_rules(train, schema, min_count=min_count)
    forms = [form for spec in schema.modelled() if (form := _value_form(spec, train[spec.name])) is not None]
    return RowLogicResult(
        rules=_rule_shares(rules, synthetic, holdout),
        unseen_pattern_share=_unseen_patterns(train, synthetic, names),
        holdout_unseen_pattern_share=None if holdout is None else _unseen_patterns(train, holdout, names),
        forms=[f.shares(synthetic, holdout) for f in forms],
        form_share=_outside_share(forms, synthetic),
        holdout_form_share=None if holdout is None else _outside_share(forms, holdout),
        min_support=max(MIN_RULE_SUPPORT, min_count),
        seconds=time.perf_counter() - started,
    )


def _rule_shares(
    rules: tuple[Rule, ...], synthetic: pd.DataFrame, holdout: pd.DataFrame | None
) -> list[RuleShare]:
    shares = [
        RuleShare(
            rule=rule.describe(),
            kind=rule.kind,
            support=rule.support,
            synthetic_share=_share(rule.broken(synthetic)),
            holdout_share=None if holdout is None else _share(rule.broken(holdout)),
        )
        for rule in rules
    ]
    return sorted(shares, key=lambda s: -s.synthetic_share)


def _share(flags: np.ndarray) -> float:
    return float(flags.mean()) if flags.size else 0.0


def _unseen_patterns(train: pd.DataFrame, other: pd.DataFrame, names: list[str]) -> float:
    """Share of ``other``'s rows whose missing values over ``names`` follow no pattern of ``train``'s."""
    seen = np.unique(train[names].isna().to_numpy(dtype=bool), axis=0)
    return _share(~pattern_seen(other[names].isna().to_numpy(dtype=bool), seen))


class _Form:
    """A column's real value form: which of its values are outside it."""

    def __init__(self, spec: ColumnSpec, label: str, values: np.ndarray | None = None) -> None:
        self.spec, self.label, self.values = spec, label, values

    def outside(self, column: pd.Series) -> tuple[int, int]:
        """(values outside the form, non-missing values) of ``column``."""
        numbers = column_numbers(column, self.spec)
        numbers = numbers[np.isfinite(numbers)]
        spec = self.spec
        if self.values is not None:
            off = ~np.isin(numbers, self.values)
        elif spec.kind is ColumnKind.DATETIME:
            assert spec.time_step is not None
            off = np.mod(numbers, spec.time_step) != 0
        elif spec.integer:
            off = numbers != np.round(numbers)
        else:
            assert spec.decimals is not None
            off = ~np.isclose(numbers, np.round(numbers, spec.decimals), rtol=1e-12, atol=0.0)
        return int(off.sum()), int(numbers.size)

    def shares(self, synthetic: pd.DataFrame, holdout: pd.DataFrame | None) -> ValueForm:
        def share(table: pd.DataFrame) -> float:
            off, held = self.outside(table[self.spec.name])
            return off / held if held else 0.0

        return ValueForm(
            column=self.spec.name,
            form=self.label,
            synthetic_share=share(synthetic),
            holdout_share=None if holdout is None else share(holdout),
        )


def _value_form(spec: ColumnSpec, real: pd.Series) -> _Form | None:
    """The form of a number or date (None for other columns and numbers of any precision)."""
    if spec.kind is ColumnKind.DATETIME:
        return _Form(spec, _STEP_NAMES.get(spec.time_step, "")) if spec.time_step in _STEP_NAMES else None
    if spec.kind is not ColumnKind.NUMERICAL:
        return None
    numbers = column_numbers(real, spec)
    distinct = np.unique(numbers[np.isfinite(numbers)])
    if 0 < distinct.size <= FEW_VALUES:
        return _Form(spec, f"one of {distinct.size} values", distinct)
    if spec.integer:
        return _Form(spec, "whole numbers")
    if spec.decimals is not None:
        return _Form(spec, f"{spec.decimals} decimal{'' if spec.decimals == 1 else 's'}")
    return None


def _outside_share(forms: list[_Form], table: pd.DataFrame) -> float:
    """Non-missing values of ``table`` outside their column's form, over all the forms' columns."""
    counts = np.array([form.outside(table[form.spec.name]) for form in forms]).reshape(-1, 2)
    held = int(counts[:, 1].sum())
    return int(counts[:, 0].sum()) / held if held else 0.0
