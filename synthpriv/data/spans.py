"""The contract between the data layer and the networks.

A network never sees column semantics; it sees an encoded float matrix and a tuple of
`Span`s that say which slice of each row is what and which activation and loss it needs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

SpanRole = Literal["value", "category", "missing"]
SpanActivation = Literal["identity", "softmax"]


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
            role=raw["role"],  # type: ignore[arg-type]
            start=int(raw["start"]),  # type: ignore[call-overload]
            width=int(raw["width"]),  # type: ignore[call-overload]
            activation=raw["activation"],  # type: ignore[arg-type]
        )


def spans_width(spans: tuple[Span, ...]) -> int:
    """Total width of the encoded matrix described by ``spans``."""
    return sum(span.width for span in spans)
