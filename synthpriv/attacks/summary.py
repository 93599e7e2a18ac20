"""The attack stage's summary (``attack/summary.json``), typed, and how it is assembled from the registry.

Each registered attack's result sits under its registry name (`Attack.store`; the distance
proxies at the top level, where runs before the registry wrote them), so the file read by the
index, the data card and earlier runs keeps its keys. `scores` is the generic table every
attack contributes rows to (`Attack.scores`), and `skipped` says which attacks did not run, and why.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from synthpriv.attacks.anonymeter import RiskResult
from synthpriv.attacks.audit import AuditResult
from synthpriv.attacks.base import Score
from synthpriv.attacks.membership import MembershipResult
from synthpriv.attacks.proxies import DistanceProxies, ProxyFigures
from synthpriv.attacks.registry import AnyAttack, attacks


class AttackSummary(BaseModel):
    """What the attack stage found; results of attacks registered later are kept as extra keys."""

    model_config = ConfigDict(extra="allow")

    holdout_rows_dropped: int = 0
    """Rows of the holdout file left out because they repeated training rows
    (`data.drop_holdout_duplicates`)."""
    seconds: float = 0.0
    claimed_epsilon: float | None = None
    """The (epsilon, delta) the train stage can prove (its privacy ledger); None without DP."""
    claimed_delta: float | None = None
    seconds_by_part: dict[str, float] = {}
    """Seconds each attack took, by registry name."""
    scores: list[Score] = []
    """Every attack's figures in one table (also ``attack/attack_scores.parquet``)."""
    skipped: dict[str, str] = {}
    """Registered attacks that did not run, and why (``needs attack.sensitive``)."""
    # The built-in results, typed for readers that name them (the index, the data card).
    audit: AuditResult | None = None
    membership: MembershipResult | None = None
    inference: RiskResult | None = None
    linkability: RiskResult | None = None
    singling_out_univariate: RiskResult | None = None
    singling_out_multivariate: RiskResult | None = None

    def result(self, attack: AnyAttack) -> Any:
        """``attack``'s typed result (its `result_model`), or None when it did not run."""
        return attack.load(self.model_dump(mode="json"))

    def results(self) -> list[tuple[AnyAttack, Any]]:
        """(attack, typed result) for every registered attack that ran, in registry order."""
        dumped = self.model_dump(mode="json")
        found = ((attack, attack.load(dumped)) for attack in attacks())
        return [(attack, result) for attack, result in found if result is not None]

    @property
    def proxies(self) -> ProxyFigures | None:
        """The distance proxies (DCR share, exact matches, NNDR, distance AUC, histogram, audit)."""
        return DistanceProxies().load(self.model_dump(mode="json"))

    def risks(self) -> list[tuple[AnyAttack, RiskResult]]:
        """Every risk-style attack that ran (inference, linkability, singling out ...), in registry order."""
        return [(a, r) for a, r in self.results() if a.kind == "risk" and isinstance(r, RiskResult)]


def scores_frame(scores: Iterable[Score]) -> pd.DataFrame:
    """The generic scores table as ``attack_scores.parquet`` holds it (missing figures as NaN):
    ``attack`` is the figure's label, ``registered_as`` the name of the attack that measured it."""
    columns = ["attack", "measure", "value", "ci_low", "ci_high", "control", "registered_as"]
    rows = [
        [s.label, s.measure, s.value, *(_nan(v) for v in (s.ci_low, s.ci_high, s.control)), s.attack]
        for s in scores
    ]
    return pd.DataFrame(rows, columns=columns)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value
