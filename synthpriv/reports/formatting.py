"""How every page and the data card print a number, an interval and a missing value."""

from __future__ import annotations

import math
from collections.abc import Sequence

MISSING = "n/a"


def number(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` decimals; "n/a" when it is missing or not a finite number."""
    return MISSING if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def span(interval: Sequence[float] | None, digits: int = 3) -> str:
    """ "0.480–0.520" for a 95 % interval; "" when there is none."""
    return "" if not interval else f"{interval[0]:.{digits}f}–{interval[1]:.{digits}f}"
