"""The contract between the data layer and the networks.

A network never sees column semantics; it sees an encoded float matrix and a tuple of
`Span`s that say which slice of each row is what and which activation and loss it needs.
Whole tables travel as an `EncodedTable` (numbers and integer category codes), never as that
matrix: a batch is expanded to the dense layout only when a network reads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, TypeVar

import numpy as np

SpanRole = Literal["value", "category", "missing"]
SpanActivation = Literal["identity", "softmax"]
_ROLES: tuple[SpanRole, ...] = ("value", "category", "missing")
_ACTIVATIONS: tuple[SpanActivation, ...] = ("identity", "softmax")
_Choice = TypeVar("_Choice", bound=str)


@dataclass(frozen=True)
class Span:
    """A slice ``[start, start + width)`` of an encoded row.

    role:
      - ``value``: one standardized real number (width 1, activation ``identity``);
      - ``category``: a one-hot block over a column's categories (activation ``softmax``);
      - ``missing``: a two-way one-hot block ``[present, missing]`` for a nullable
        numeric or datetime column (activation ``softmax``).
    """

    column: str
    role: SpanRole
    start: int
    width: int
    activation: SpanActivation

    @property
    def stop(self) -> int:
        return self.start + self.width

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> Span:
        return cls(
            column=str(raw["column"]),
            role=_one_of(raw["role"], _ROLES),
            start=_whole(raw["start"]),
            width=_whole(raw["width"]),
            activation=_one_of(raw["activation"], _ACTIVATIONS),
        )


def _one_of(value: object, choices: tuple[_Choice, ...]) -> _Choice:
    """``value`` as the one of ``choices`` it equals (a model file is read back, not trusted)."""
    for choice in choices:
        if value == choice:
            return choice
    raise ValueError(f"expected one of {', '.join(choices)}")


def _whole(value: object) -> int:
    if isinstance(value, int | float | str):
        return int(value)
    raise TypeError(f"expected a whole number, not {type(value).__name__}")


def spans_width(spans: tuple[Span, ...]) -> int:
    """Total width of the encoded matrix described by ``spans``."""
    return sum(span.width for span in spans)


def value_spans(spans: tuple[Span, ...]) -> tuple[Span, ...]:
    """The ``identity`` spans (one number each), in order: the columns of `EncodedTable.values`."""
    return tuple(span for span in spans if span.activation == "identity")


def softmax_spans(spans: tuple[Span, ...]) -> tuple[Span, ...]:
    """The ``softmax`` spans (category and missing blocks), in order: the columns of `EncodedTable.codes`."""
    return tuple(span for span in spans if span.activation == "softmax")


def code_dtype(spans: tuple[Span, ...]) -> np.dtype:
    """The narrowest integer dtype that holds every code of ``spans`` (a block's widest index)."""
    widest = max((span.width for span in softmax_spans(spans)), default=1)
    # Signed types only: torch indexes with them everywhere (its unsigned ones are partial).
    for dtype in (np.int8, np.int16, np.int32):
        if widest - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


@dataclass(frozen=True)
class EncodedTable:
    """Encoded rows, compactly: the numbers of the value spans and the index of each block's category.

    The dense layout (`dense`) has a one-hot block per categorical column: rows x width
    floats, which a 20,000-level column makes 80 KB a row. Here a block is one integer a
    row (the narrowest dtype that holds its width), and the networks expand the few rows of
    a batch to the dense layout when they need them. ``values`` is float32 ``[rows, V]`` in
    `value_spans` order; ``codes`` is ``[rows, B]`` in `softmax_spans` order.
    """

    spans: tuple[Span, ...]
    values: np.ndarray
    codes: np.ndarray

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.codes.ndim != 2 or len(self.values) != len(self.codes):
            raise ValueError("values and codes must be 2-D with one row per encoded row")
        shape = (len(value_spans(self.spans)), len(softmax_spans(self.spans)))
        if (self.values.shape[1], self.codes.shape[1]) != shape:
            raise ValueError("values and codes do not match the spans")

    def __len__(self) -> int:
        return len(self.values)

    @property
    def width(self) -> int:
        return spans_width(self.spans)

    @classmethod
    def empty(cls, spans: tuple[Span, ...], rows: int = 0) -> EncodedTable:
        """``rows`` rows of zeros (every block at its first category)."""
        values = np.zeros((rows, len(value_spans(spans))), dtype=np.float32)
        return cls(spans, values, np.zeros((rows, len(softmax_spans(spans))), dtype=code_dtype(spans)))

    @classmethod
    def from_dense(cls, matrix: np.ndarray, spans: tuple[Span, ...]) -> EncodedTable:
        """The rows of a dense matrix; a block's category is its largest entry (the first, on ties)."""
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[1] != spans_width(spans):
            raise ValueError(f"matrix has {matrix.shape[-1]} columns, the spans have {spans_width(spans)}")
        values = matrix[:, [span.start for span in value_spans(spans)]].astype(np.float32)
        codes = np.empty((len(matrix), len(softmax_spans(spans))), dtype=code_dtype(spans))
        for b, span in enumerate(softmax_spans(spans)):
            codes[:, b] = np.argmax(matrix[:, span.start : span.stop], axis=1)
        return cls(spans, values, codes)

    def dense(self) -> np.ndarray:
        """The float32 ``[rows, width]`` matrix: values in place, each block one-hot.

        For small tables and tests; training expands one batch at a time instead.
        """
        out = np.zeros((len(self), self.width), dtype=np.float32)
        out[:, [span.start for span in value_spans(self.spans)]] = self.values
        rows = np.arange(len(self))
        for b, span in enumerate(softmax_spans(self.spans)):
            out[rows, span.start + self.codes[:, b].astype(np.int64)] = 1.0
        return out

    def take(self, rows: np.ndarray) -> EncodedTable:
        """The rows at ``rows`` (positions or a boolean mask)."""
        return EncodedTable(self.spans, self.values[rows], self.codes[rows])

    @classmethod
    def concatenate(cls, parts: list[EncodedTable], spans: tuple[Span, ...]) -> EncodedTable:
        """The rows of ``parts`` one after another (all over ``spans``)."""
        if any(part.spans != spans for part in parts):
            raise ValueError("only tables over the same spans can be concatenated")
        if not parts:
            return cls.empty(spans)
        values = np.concatenate([part.values for part in parts])
        return cls(spans, values, np.concatenate([part.codes for part in parts]).astype(code_dtype(spans)))

    def block_codes(self, span: Span) -> np.ndarray:
        """The codes of one softmax span (an index into its categories, per row)."""
        return self.codes[:, softmax_spans(self.spans).index(span)]
