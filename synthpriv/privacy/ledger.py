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
from dataclasses import asdict, dataclass, field, fields
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from synthpriv.errors import PrivacyConfigError

#: Slack for float rounding when comparing spent and budgeted epsilon.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Release:
    """One mechanism that read the real table."""

    what: str
    """What was released, e.g. ``"quantiles of age"`` or ``"VAE weights (DP-SGD)"``."""
    mechanism: str
    """``discrete laplace``, ``stability histogram (discrete laplace)``, ``subsampled gaussian
    (DP-SGD)`` or the marginals'
    ``discrete gaussian + exponential mechanism (zCDP)``."""
    epsilon: float
    delta: float = 0.0
    noise: float | None = None
    """The noise scale (Laplace b) or noise multiplier (DP-SGD), as the mechanism used it."""
    sample_rate: float | None = None
    """DP-SGD: the Poisson sampling rate of each step."""
    steps: int | None = None
    """DP-SGD: the optimizer steps the accountant counted; marginals: the selection rounds."""
    rho: float | None = None
    """A mechanism accounted in zCDP (marginals): its rho, which ``epsilon`` and ``delta`` convert."""

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
    def from_dict(cls, raw: object) -> PrivacyLedger:
        """The ledger `to_dict` wrote (a train summary's ``privacy``, ``privacy.json``), validated.

        LedgerError (a ValueError) names the first key that is missing or malformed, and one
        whose releases add up to more than the budget; nothing read is trusted unchecked,
        since the total is the guarantee every page and the export's metadata state.
        """
        record = _mapping(raw, "the ledger")
        budget = _mapping(record.get("budget"), "budget")
        ledger = cls(epsilon=_number(budget, "epsilon", "budget"), delta=_number(budget, "delta", "budget"))
        releases = record.get("releases")
        if not isinstance(releases, list):
            raise LedgerError("privacy ledger: releases must be a list")
        for index, entry in enumerate(releases):
            ledger.releases.append(_release(entry, f"releases[{index}]"))
        if ledger.spent_epsilon > ledger.epsilon + _TOLERANCE:
            raise LedgerError("privacy ledger: its releases spend more epsilon than its budget")
        spent = record.get("spent")
        if spent is not None:  # written by to_dict: it must agree with the releases it sums
            spent = _mapping(spent, "spent")
            if not math.isclose(_number(spent, "epsilon", "spent"), ledger.spent_epsilon, abs_tol=1e-9):
                raise LedgerError("privacy ledger: spent.epsilon is not the sum of its releases")
        return ledger

    def to_claim(self) -> dict[str, Any]:
        """``train/privacy.json``: the ledger, flagged as a DP run."""
        return {"differential_privacy": True, **self.to_dict()}

    @classmethod
    def from_claim(cls, raw: object) -> PrivacyLedger | None:
        """The ledger of ``train/privacy.json``, or None for a run trained without DP."""
        record = _mapping(raw, "privacy.json")
        flag = record.get("differential_privacy")
        if flag is False:
            return None
        if flag is not True:
            raise LedgerError("privacy ledger: differential_privacy must be true or false")
        return cls.from_dict(record)


class LedgerError(ValueError):
    """A recorded ledger that is not one `PrivacyLedger.to_dict` could have written."""


def _mapping(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LedgerError(f"privacy ledger: {name} must be an object")
    return value


def _number(record: dict[str, Any], key: str, parent: str) -> float:
    value = record.get(key)
    # bool is an int to Python, never a budget.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LedgerError(f"privacy ledger: {parent}.{key} must be a finite number")
    return float(value)


def _release(entry: object, where: str) -> Release:
    record = _mapping(entry, where)
    names = {f.name for f in fields(Release)}
    unknown = sorted(set(record) - names)
    if unknown:
        raise LedgerError(f"privacy ledger: {where} has unknown key {unknown[0]!r}")
    for key in ("what", "mechanism"):
        if not isinstance(record.get(key), str):
            raise LedgerError(f"privacy ledger: {where}.{key} must be a string")
    for key in ("epsilon", "delta", "noise", "sample_rate", "rho"):
        if key in record and not (key in ("noise", "sample_rate", "rho") and record[key] is None):
            _number(record, key, where)
    steps = record.get("steps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 0):
        raise LedgerError(f"privacy ledger: {where}.steps must be a whole number >= 0")
    if "epsilon" not in record:
        raise LedgerError(f"privacy ledger: {where}.epsilon must be a finite number")
    try:
        return Release(**record)
    except ValueError as exc:  # Release's own checks: epsilon >= 0, delta in [0, 1)
        raise LedgerError(f"privacy ledger: {where}: {exc}") from None


def _validated(raw: object) -> PrivacyLedger:
    return raw if isinstance(raw, PrivacyLedger) else PrivacyLedger.from_dict(raw)


#: A `PrivacyLedger` as a pydantic field (a stage summary's ``privacy``): read back through
#: `PrivacyLedger.from_dict`, written as `PrivacyLedger.to_dict`, so the JSON is unchanged.
LedgerField = Annotated[
    PrivacyLedger,
    PlainValidator(_validated),
    PlainSerializer(lambda ledger: ledger.to_dict(), return_type=dict),
    WithJsonSchema({"type": "object"}),
]
