"""The attack stage's summary (``attack/summary.json``), typed, and how it is assembled from the registry.

Each registered attack's result sits under its registry name (`Attack.store`; the distance
proxies at the top level, where runs before the registry wrote them), so the file read by the
index, the data card and earlier runs keeps its keys. `scores` is the generic table every
attack contributes rows to (`Attack.scores`), and `skipped` says which attacks did not run, and why.

`AttackSummary.strongest_membership` is the one choice of the membership figure every page, the
data card and the ``max_membership_auc`` gate show: the strongest by the lower end of its AUC
interval over every membership attack that ran, the distance proxies' attack included, each
counted in the direction its reference-half check chose (`synthpriv.attacks.membership`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from synthpriv.attacks.anonymeter import RiskResult
from synthpriv.attacks.audit import AuditResult
from synthpriv.attacks.base import Score
from synthpriv.attacks.membership import MembershipResult, strength
from synthpriv.attacks.proxies import DistanceProxies, ProxyFigures
from synthpriv.attacks.registry import AnyAttack, attacks

#: The name the distance proxies' membership attack goes by among the membership figures.
PROXY_ATTACK = "distance proxies"


@dataclass(frozen=True)
class MembershipFigure:
    """One membership attack's ROC AUC as the headline and the gate count it."""

    name: str
    """``distance``, ``domias``, ``classifier``, ``dcr``, or `PROXY_ATTACK`."""
    auc: float
    """In the direction the attack was counted: the flipped score's AUC when `reversed`."""
    auc_ci: tuple[float, float]
    reversed: bool = False
    """Counted with its score flipped: its reference-half check found it pointing the wrong way."""

    @property
    def described(self) -> str:
        """``domias`` or ``domias, reversed``: what a page calls it."""
        return f"{self.name}, reversed" if self.reversed else self.name


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

    def membership_figures(self) -> list[MembershipFigure]:
        """Every membership attack's AUC that ran, in report order, each in the direction it is
        counted in: the membership attacks', then the distance proxies' (which keeps the direction
        the ``dcr`` attack's check chose, the same score on other targets)."""
        figures: list[MembershipFigure] = []
        dcr_reversed = False
        for _, result in self.results():
            if isinstance(result, MembershipResult):
                figures += [MembershipFigure(a.name, a.auc, a.auc_ci, a.reversed) for a in result.attacks]
                dcr_reversed = dcr_reversed or any(a.reversed for a in result.attacks if a.name == "dcr")
        proxies = self.proxies
        if proxies is not None:
            auc, (low, high) = proxies.mia_auc, proxies.mia_auc_ci
            if dcr_reversed:  # 1 - AUC is the flipped score's AUC exactly (ties count half)
                auc, low, high = 1.0 - auc, 1.0 - high, 1.0 - low
            figures.append(MembershipFigure(PROXY_ATTACK, auc, (low, high), dcr_reversed))
        return figures

    def membership_sources(self) -> frozenset[str]:
        """The registry names of the attacks whose figures `membership_figures` pools."""
        pooled = {a.name for a, r in self.results() if isinstance(r, MembershipResult)}
        if self.proxies is not None:
            pooled.add(DistanceProxies.name)
        return frozenset(pooled)

    def strongest_membership(self) -> MembershipFigure | None:
        """The strongest membership figure by `strength` (ties: the earlier), None when none ran."""
        figures = self.membership_figures()
        return max(figures, key=lambda f: strength(f.auc, f.auc_ci)) if figures else None

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
