"""Rebalancing: synthetic rows with set shares of one column's categories (``synthesize.rebalance``).

``{income: {">50K": 0.5}}`` makes half of every batch of rows ``>50K``: each listed category
gets ``round(n * share)`` of a batch's ``n`` rows, each drawn *given* its category (the same
conditional sampling as ``synthesize.conditions``: native where the generator conditions,
rejection where not), and the categories not listed share the rest in the model's own
proportions among them, estimated once from a seeded sample of `SHARE_SAMPLE_ROWS` rows. The
batch is then shuffled, so the categories are not in blocks. Any generator rebalances.

The same seed, row count and batch size give the same rows; like `Generator.sample_batches`,
a different batch size gives different rows (each batch draws from a child seed of its index).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthpriv.data.spans import EncodedTable, Span
from synthpriv.errors import ConfigError, DataError
from synthpriv.generators.base import Generator
from synthpriv.generators.conditions import FixedCategory

#: A category as the pipeline file names it (YAML reads `true` as a boolean, `1` as a number).
CategoryValue = str | bool | int | float
#: Rows of the seeded sample the model's own shares of the categories are estimated from.
SHARE_SAMPLE_ROWS = 10_000
#: Shares are compared and rounded with this slack (0.7 * 100 is 70.00000000000001 in floats).
SHARE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RebalancePlan:
    """Which category of ``span`` gets which share of a batch; fitted to one generator."""

    span: Span
    targets: dict[int, float]
    """The listed categories (indexes into the span's categories) and their shares."""
    model_shares: np.ndarray
    """The model's share of every category (given the other conditions), from its own sample."""
    fixed: tuple[FixedCategory, ...]
    """The other conditions (``synthesize.conditions``), which every row honours as well."""

    def quotas(self, n: int) -> np.ndarray:
        """Rows of each category in a batch of ``n``: ``round(n * share)`` for a listed one, the
        rest split among the others in proportion to ``model_shares``; listed shares that add up
        to 1 split all ``n`` rows among themselves. Whole numbers that add up to ``n`` (largest
        remainders where rounding would overshoot or fall short)."""
        quotas = np.zeros(self.span.width, dtype=np.int64)
        listed = np.array(list(self.targets))
        shares = np.array(list(self.targets.values()))
        if shares.sum() >= 1 - SHARE_TOLERANCE:
            quotas[listed] = _largest_remainders(n, shares / shares.sum())
            return quotas
        quotas[listed] = np.floor(n * shares + 0.5 + SHARE_TOLERANCE).astype(np.int64)
        if quotas.sum() > n:  # each rounded up by up to half a row
            quotas[listed] = _largest_remainders(n, shares / shares.sum())
            return quotas
        others = np.where(np.isin(np.arange(self.span.width), listed), 0.0, self.model_shares)
        return quotas + _largest_remainders(n - int(quotas.sum()), others / others.sum())

    def batches(self, generator: Generator, n: int, *, seed: int, batch_size: int) -> Iterator[pd.DataFrame]:
        """``n`` rows in batches of ``batch_size``, each batch with exactly its `quotas`."""
        for index, start in enumerate(range(0, n, batch_size)):
            count = min(batch_size, n - start)
            yield generator.decode_rows(self._batch(generator, count, _seed(seed, 1, index)), offset=start)

    def _batch(self, generator: Generator, n: int, seed: int) -> EncodedTable:
        """``n`` encoded rows: each category's quota drawn given it, then shuffled."""
        try:
            parts = [
                generator._sample_honouring(
                    int(quota), _seed(seed, category + 1), (*self.fixed, (self.span, category))
                )
                for category, quota in enumerate(self.quotas(n))
                if quota > 0
            ]
        except DataError as exc:  # a category the model (almost) never generates, under rejection
            raise DataError(exc.message, where="synthesize.rebalance") from None
        rows = EncodedTable.concatenate(parts, parts[0].spans)
        return rows.take(np.random.default_rng(_seed(seed, 0)).permutation(n))


def plan_rebalance(
    generator: Generator,
    rebalance: Mapping[str, Mapping[CategoryValue, float]],
    *,
    conditions: Mapping[str, object],
    seed: int,
) -> RebalancePlan:
    """The plan for ``rebalance`` (one column: its categories' shares) under ``conditions``;
    ConfigError where the column or a category cannot be rebalanced. Draws the seeded sample
    the model's own shares come from."""
    if len(rebalance) != 1:
        raise ConfigError("rebalance one column at a time", where="synthesize.rebalance")
    ((column, shares),) = rebalance.items()
    where = f"synthesize.rebalance.{column}"
    if column in conditions:
        raise ConfigError(f"{column!r} is also fixed by synthesize.conditions; keep one of them", where=where)
    span = _category_span(generator, column, where)
    targets = {
        _category_index(generator, column, value, where): float(share) for value, share in shares.items()
    }
    if len(targets) < len(shares):
        raise ConfigError(f"two of the listed values are the same category of {column!r}", where=where)
    fixed = generator.encode_conditions(conditions)
    sample = generator._sample_honouring(SHARE_SAMPLE_ROWS, _seed(seed, 0), fixed)
    model_shares = np.bincount(sample.block_codes(span), minlength=span.width) / SHARE_SAMPLE_ROWS
    others = [i for i in range(span.width) if i not in targets]
    if sum(targets.values()) < 1 - SHARE_TOLERANCE and not model_shares[others].sum() > 0:
        raise ConfigError(
            f"the shares add up to less than 1 and the rest of the rows go to the other categories of "
            f"{column!r}, but there are none or the model generated none of them in "
            f"{SHARE_SAMPLE_ROWS:,} rows; list shares that add up to 1",
            where=where,
        )
    return RebalancePlan(span=span, targets=targets, model_shares=model_shares, fixed=fixed)


def _category_span(generator: Generator, column: str, where: str) -> Span:
    transformer, schema = generator._fitted()
    if column not in schema:
        raise ConfigError(f"rebalance names column {column!r}, which is not in the data", where=where)
    span = next((s for s in transformer.spans if s.role == "category" and s.column == column), None)
    if span is None:
        kind = schema[column].kind.value
        raise ConfigError(
            f"rebalance sets shares of categorical or boolean columns; {column!r} is {kind}", where=where
        )
    return span


def _category_index(generator: Generator, column: str, value: object, where: str) -> int:
    """The index of ``value`` among ``column``'s learned categories (ConfigError if it is not one)."""
    try:
        ((_, index),) = generator.encode_conditions({column: value})
    except ConfigError as exc:
        raise ConfigError(exc.message, where=where) from None
    return index


def _largest_remainders(total: int, weights: np.ndarray) -> np.ndarray:
    """``total`` split in proportion to ``weights`` (adding up to 1) into whole numbers."""
    exact = total * weights
    whole = np.floor(exact).astype(np.int64)
    short = total - int(whole.sum())
    whole[np.argsort(-(exact - whole), kind="stable")[:short]] += 1
    return whole


def _seed(seed: int, *keys: int) -> int:
    """A child seed of ``seed`` for the draw named by ``keys`` (the share sample; a batch; a
    category within a batch), independent of every other draw's."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])
