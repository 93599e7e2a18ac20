"""The privacy ledger: every release computed from the real table, and what it cost.

A DP pipeline reads the real table in several mechanisms (preprocessing statistics, then
DP-SGD). Each is recorded as a `Release`; the total is their sequential composition, which
holds for any mix of mechanisms: epsilons add up and so do deltas (Dwork & Roth, 2014,
Theorem 3.16). Tighter composition exists for some mixes; this one is always provable.

The ledger refuses a charge that would take the total over the budget, so a mechanism is
never run on the assumption that the budget will be found later.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from synthpriv.errors import PrivacyConfigError

#: Slack for float rounding when comparing spent and budgeted epsilon.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Release:
    """One mechanism that read the real table."""

    what: str
    """What was released, e.g. ``"quantiles of age"`` or ``"VAE weights (DP-SGD)"``."""
    mechanism: str
    """``laplace``, ``gaussian``, ``stability histogram`` or ``subsampled gaussian (DP-SGD)``."""
    epsilon: float
    delta: float = 0.0
    noise: float | None = None
    """The noise scale (Laplace b) or noise multiplier (DP-SGD), as the mechanism used it."""
    sample_rate: float | None = None
    """DP-SGD: the Poisson sampling rate of each step."""
    steps: int | None = None
    """DP-SGD: the optimizer steps the accountant counted."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise ValueError(f"release {self.what!r}: epsilon must be finite and >= 0")
        if not 0 <= self.delta < 1:
            raise ValueError(f"release {self.what!r}: delta must be in [0, 1)")


@dataclass
class PrivacyLedger:
    """The budget ``(epsilon, delta)`` and the releases charged to it, in order."""

    epsilon: float
    delta: float
    releases: list[Release] = field(default_factory=list)

    @property
    def spent_epsilon(self) -> float:
        return math.fsum(r.epsilon for r in self.releases)

    @property
    def spent_delta(self) -> float:
        return math.fsum(r.delta for r in self.releases)

    @property
    def remaining_epsilon(self) -> float:
        return max(self.epsilon - self.spent_epsilon, 0.0)

    @property
    def remaining_delta(self) -> float:
        return max(self.delta - self.spent_delta, 0.0)

    def charge(self, release: Release) -> Release:
        """Record ``release``; PrivacyConfigError if it would exceed the budget."""
        if self.spent_epsilon + release.epsilon > self.epsilon + _TOLERANCE:
            raise PrivacyConfigError(
                f"{release.what} needs epsilon {release.epsilon:.4g} but only "
                f"{self.remaining_epsilon:.4g} of {self.epsilon:.4g} is left",
                where="train.privacy.epsilon",
            )
        if self.spent_delta + release.delta > self.delta + _TOLERANCE * self.delta:
            raise PrivacyConfigError(
                f"{release.what} needs delta {release.delta:.3g} but only {self.remaining_delta:.3g} is left",
                where="train.privacy.delta",
            )
        self.releases.append(release)
        return release

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": {"epsilon": self.epsilon, "delta": self.delta},
            "spent": {"epsilon": self.spent_epsilon, "delta": self.spent_delta},
            "composition": "sequential (epsilons and deltas add up)",
            "releases": [asdict(r) for r in self.releases],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PrivacyLedger:
        ledger = cls(epsilon=float(raw["budget"]["epsilon"]), delta=float(raw["budget"]["delta"]))
        ledger.releases = [Release(**r) for r in raw["releases"]]
        return ledger
