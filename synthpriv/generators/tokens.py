"""Columns as tokens, for the generators that model a table token by token.

A category column's token is its code; a number's (or a date's) is its quantile bin, or its
value when it has few distinct values, plus a missing token where the column has nulls.
Tokens come from the transformer's encoding: a number's model-space value is the normal score
of its quantile level (`QuantileNormalizer`), so cutting the level ``Φ(value)`` into ``bins``
equal parts gives quantile bins, and a token decodes to a level *within* its bin (uniform for
the marginal generator; a finer sub-bin token first for the autoregressive one), mapped back
through the transformer's quantile map: values keep the shape the map learned, and
integers, dates and spikes come back as the transformer restores them. A number with few
distinct values in its quantile map (at most `MAX_VALUE_TOKENS`: a count, a code, a rating)
gets a token per value instead, decoded to exactly that value, so that an exact relation to
another column survives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from synthpriv.data.spans import EncodedTable, Span, code_dtype, softmax_spans, value_spans
from synthpriv.data.transform import TabularTransformer

#: A number with at most this many distinct values gets a token per value (not bins).
MAX_VALUE_TOKENS = 32
#: Quantile levels stay inside the normalizer's model space (see `QuantileNormalizer`).
_LEVEL_EPS = 1e-6


@dataclass(frozen=True)
class Attribute:
    """One column as tokens: where its codes and value sit in an `EncodedTable`."""

    column: str
    size: int
    code: int | None
    """Index in the table's codes: a category block, or a number's missing block."""
    value: int | None
    """Index in the table's values: a number's model-space value (None for a category)."""
    levels: tuple[float, ...] = ()
    """A few-valued number's values in model space, ascending: one token each (else bins)."""

    @property
    def bins(self) -> int:
        """Tokens that are quantile bins (the last token of a nullable number is missing)."""
        return self.size - (1 if self.code is not None else 0)

    @property
    def binned(self) -> bool:
        """Whether the tokens are quantile bins of a number (not categories nor values)."""
        return self.value is not None and not self.levels


def value_levels(transformer: TabularTransformer) -> dict[str, tuple[float, ...]]:
    """The model-space values of every number whose quantile map is a set of at most
    `MAX_VALUE_TOKENS` values: a plateau per value, each value a knot twice (real values, a
    DP histogram's integer cells, or declared values). A map of a few knots that is not one
    (a DP histogram of a few bins, on a small table) is continuous between its knots: its
    tokens are quantile bins, or every value generated would be a bin edge."""
    levels = {}
    for name, normalizer in transformer.numeric.items():
        distinct, knots = np.unique(normalizer.quantiles, return_counts=True)
        if 0 < distinct.size <= MAX_VALUE_TOKENS and (knots >= 2).all():
            levels[name] = tuple(float(z) for z in np.unique(normalizer.transform(distinct)))
    return levels


def token_attributes(
    spans: tuple[Span, ...], bins: int, levels: Mapping[str, tuple[float, ...]] | None = None
) -> tuple[Attribute, ...]:
    """One attribute per column of ``spans``, in column order: a few-valued number (in
    ``levels``) gets a token per value, so values and exact relations (``education`` and
    ``education_num``) survive; other numbers get ``bins`` quantile bins."""
    levels = levels or {}
    values, blocks = value_spans(spans), softmax_spans(spans)
    by_column: dict[str, dict[str, int]] = {}
    for index, span in enumerate(values):
        by_column.setdefault(span.column, {})["value"] = index
    for index, span in enumerate(blocks):
        by_column.setdefault(span.column, {})[span.role] = index
    out = []
    for column, parts in by_column.items():
        if "category" in parts:
            out.append(Attribute(column, blocks[parts["category"]].width, parts["category"], None))
        else:
            missing, known = parts.get("missing"), levels.get(column, ())
            size = (len(known) or bins) + (missing is not None)
            out.append(Attribute(column, size, missing, parts["value"], known))
    return tuple(out)


def tokenize(table: EncodedTable, attributes: Sequence[Attribute]) -> np.ndarray:
    """The rows of ``table`` as tokens (rows x attributes, int32)."""
    return tokenize_within(table, attributes)[0]


def tokenize_within(table: EncodedTable, attributes: Sequence[Attribute]) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``table`` as tokens (rows x attributes, int32), and where each binned value
    sits in its bin, in ``[0, 1)`` (0 elsewhere): the inverse of `detokenize`'s ``within``."""
    tokens = np.empty((len(table), len(attributes)), dtype=np.int32)
    within = np.zeros(tokens.shape, dtype=np.float64)
    for a, attribute in enumerate(attributes):
        if attribute.value is None:
            tokens[:, a] = table.codes[:, attribute.code]
            continue
        value = table.values[:, attribute.value].astype(np.float64)
        if attribute.levels:  # the nearest value's token
            tokens[:, a] = np.searchsorted(_midpoints(attribute.levels), value)
        else:
            scaled = ndtr(value) * attribute.bins  # the quantile level, in bins
            tokens[:, a] = np.clip(scaled.astype(np.int64), 0, attribute.bins - 1)
            within[:, a] = np.clip(scaled - tokens[:, a], 0.0, np.nextafter(1.0, 0.0))
        if attribute.code is not None:
            missing = table.codes[:, attribute.code] == 1
            tokens[missing, a], within[missing, a] = attribute.bins, 0.0
    return tokens, within


def detokenize(
    tokens: np.ndarray, attributes: Sequence[Attribute], spans: tuple[Span, ...], within: np.ndarray
) -> EncodedTable:
    """Encoded rows for ``tokens``: a binned value at position ``within`` (rows x attributes,
    in ``[0, 1)``) of its bin's quantile levels."""
    table = EncodedTable.empty(spans, len(tokens))
    codes, values = table.codes, table.values
    for a, attribute in enumerate(attributes):
        token = tokens[:, a]
        if attribute.value is None:
            codes[:, attribute.code] = token
            continue
        in_range = np.minimum(token, attribute.bins - 1)
        if attribute.levels:
            values[:, attribute.value] = np.asarray(attribute.levels)[in_range]
        else:
            level = (in_range + within[:, a]) / attribute.bins
            values[:, attribute.value] = ndtri(np.clip(level, _LEVEL_EPS, 1 - _LEVEL_EPS))
        if attribute.code is not None:
            missing = token == attribute.bins
            codes[:, attribute.code] = missing.astype(code_dtype(spans))
            values[missing, attribute.value] = 0.0
    return table


def _midpoints(levels: tuple[float, ...]) -> np.ndarray:
    centres = np.asarray(levels)
    return (centres[1:] + centres[:-1]) / 2.0
