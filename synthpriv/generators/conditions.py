"""Conditional sampling: rows that honour fixed categories (``synthesize.conditions``).

A condition fixes a categorical or boolean column to one value. It is encoded once as a
category span and the index of its category (`FixedCategory`); a model that conditions
natively gets it as a hint, and rows that still miss it are dropped and drawn again
(rejection sampling), so every row returned honours every condition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from synthpriv.data.schema import TableSchema
from synthpriv.data.spans import EncodedTable, Span
from synthpriv.data.transform import TabularTransformer
from synthpriv.errors import ConfigError, DataError

#: A condition as the networks see it: a category span and the index of its fixed category.
FixedCategory = tuple[Span, int]
#: Draws ``n`` encoded rows seeded by ``seed`` (a model's unconditional sampler).
Draw = Callable[[int, int], EncodedTable]
#: Draws ``n`` rows given fixed categories, or None when the model cannot condition natively.
DrawConditional = Callable[[int, int, tuple[FixedCategory, ...]], EncodedTable | None]

_MAX_CONDITION_ATTEMPTS = 20
_MAX_CONDITION_BATCH = 2_000_000


def encode_conditions(
    conditions: Mapping[str, object], transformer: TabularTransformer, schema: TableSchema
) -> tuple[FixedCategory, ...]:
    """Conditions as (category span, category index) pairs; ConfigError for any that cannot hold."""
    spans = {s.column: s for s in transformer.spans if s.role == "category"}
    fixed: list[FixedCategory] = []
    for column, value in conditions.items():
        where = f"synthesize.conditions.{column}"
        if column not in schema:
            raise ConfigError(f"condition names column {column!r}, which is not in the data", where=where)
        if column not in spans:
            kind = schema[column].kind.value
            raise ConfigError(
                f"conditions fix categorical or boolean columns; {column!r} is {kind}", where=where
            )
        encoder = transformer.categorical[column]
        token = str(encoder.tokens(pd.Series([value], dtype=object))[0])
        if token not in encoder.categories:
            raise ConfigError(
                f"value {value!r} of {column!r} is not a category the generator learned", where=where
            )
        fixed.append((spans[column], encoder.categories.index(token)))
    return tuple(fixed)


def sample_honouring(
    n: int, seed: int, fixed: tuple[FixedCategory, ...], *, draw: Draw, draw_conditional: DrawConditional
) -> EncodedTable:
    """``n`` rows that honour ``fixed``: native conditioning where the model has it, then rejection."""
    if not fixed:
        return draw(n, seed)
    kept: list[EncodedTable] = []
    have = drawn = 0
    acceptance = 1.0
    for attempt in range(_MAX_CONDITION_ATTEMPTS):
        # Ask for exactly n first: native conditioning usually honours every row.
        missing = n - have
        want = (
            missing
            if attempt == 0
            else int(min(max(1.2 * missing / max(acceptance, 1e-4), 256), _MAX_CONDITION_BATCH))
        )
        child = draw_seed(seed, attempt)
        rows = draw_conditional(want, child, fixed)
        if rows is None:
            rows = draw(want, child)
        ok = honours(rows, fixed)
        kept.append(rows.take(ok))
        have += int(ok.sum())
        drawn += want
        acceptance = max(have / drawn, 1.0 / drawn)
        if have >= n:
            return EncodedTable.concatenate(kept, rows.spans).take(np.arange(n))
    raise DataError(
        f"the condition is too rare to reach: {have:,} of {drawn:,} generated rows honoured it; "
        "relax the condition or train longer",
        where="synthesize.conditions",
    )


def honours(rows: EncodedTable, fixed: tuple[FixedCategory, ...]) -> np.ndarray:
    """Which rows have the fixed category of every condition."""
    ok = np.ones(len(rows), dtype=bool)
    for span, index in fixed:
        ok &= rows.block_codes(span) == index
    return ok


def draw_seed(seed: int, index: int) -> int:
    """The seed of the ``index``-th draw under a sampling ``seed`` (a batch of `Generator.sample_batches`,
    an attempt of `sample_honouring`), so the rows do not depend on how a caller batches."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
