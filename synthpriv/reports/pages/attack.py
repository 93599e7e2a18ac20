"""The attack page: every registered attack's result, rendered from the typed `AttackSummary`.

What the page knows of attacks comes from the registry: membership attacks' own sections lead,
then one table over every risk-style attack (Anonymeter's threat models: success on training
rows against the holdout control), then the proxies' sections, and last one table of every
attack's figures (`AttackSummary.scores`) with the attacks that did not run. An attack's own
sections are looked up by the type of its result (`attack_sections`): attacks never import
reports. Tones come from `reports.verdicts` only.
"""

from __future__ import annotations

import math

from synthpriv.attacks.base import AttackKind, RiskResult, Score
from synthpriv.attacks.registry import AnyAttack
from synthpriv.attacks.summary import AttackSummary
from synthpriv.reports import verdicts
from synthpriv.reports.formatting import number, span
from synthpriv.reports.model import Figure, Report, Section, Table
from synthpriv.reports.pages.attack_sections import result_sections


def attack_page(run_name: str, summary: AttackSummary) -> Report:
    """The attack stage's page (aggregates only: rates, intervals, binned distances)."""
    results = summary.results()

    def own_sections(kind: AttackKind) -> tuple[Section, ...]:
        return tuple(
            s for attack, result in results if attack.kind == kind for s in result_sections(result, summary)
        )

    risks = summary.risks()
    sections = (
        *own_sections("membership"),
        *((risk_section(risks),) if risks else ()),
        *own_sections("risk"),
        *own_sections("proxy"),
        scores_section(summary.scores, summary.skipped),
    )
    return Report(
        stage="attack",
        title="Attack",
        run_name=run_name,
        subtitle="Could anyone learn about a real person from the synthetic table?",
        sections=sections,
    )


def _trials(r: RiskResult) -> str:
    """What the rates are shares of: targets a side, or queries asked (and how many were found)."""
    if r.queries is None:
        return f"{r.targets:,} targets a side"
    return f"{r.targets:,} queries asked, {r.queries:,} found" + (
        " (risk is a lower bound)" if r.queries < r.targets else ""
    )


def _risk_row(attack: AnyAttack, r: RiskResult) -> tuple[str, ...]:
    return (
        attack.title,
        f"{r.attack_rate:.3f} ({r.attack_rate_ci[0]:.3f}–{r.attack_rate_ci[1]:.3f})",
        f"{r.control_rate:.3f} ({r.control_rate_ci[0]:.3f}–{r.control_rate_ci[1]:.3f})",
        f"{r.baseline_rate:.3f}",
        f"{r.risk:.3f} ({r.risk_ci[0]:.3f}–{r.risk_ci[1]:.3f})",
        _trials(r) + ("; weaker than random guessing" if r.weaker_than_baseline else ""),
    )


def risk_section(risks: list[tuple[AnyAttack, RiskResult]]) -> Section:
    """Every risk-style attack that ran: success on training rows against the holdout control."""
    table = Table(
        headers=(
            "attack",
            "success on training rows (95% Wilson)",
            "on holdout rows: the control",
            "random baseline",
            "risk (95%)",
            "trials",
        ),
        rows=tuple(_risk_row(attack, r) for attack, r in risks),
        caption=(
            "Risk = (train − control) / (1 − control); 0 = the synthetic table helps no more on people "
            "it was trained on than on others. The interval carries the uncertainty of both rates."
        ),
    )
    figures = tuple(
        Figure(
            f"{attack.title} risk",
            f"{r.risk:.3f}",
            note=f"95% interval {r.risk_ci[0]:.3f}–{r.risk_ci[1]:.3f}; ideal 0",
            tone=verdicts.tone_risk(r.risk, r.risk_ci),
            kind="risk",
        )
        for attack, r in risks
    )
    described = " ".join(attack.description for attack, _ in risks if attack.description)
    text = (
        f"{described} Each is scored on training rows and, as the control, on as many real rows the "
        "generator never saw. Inference and linkage only use rows near the person, so with few, coarse "
        "quasi-identifiers (many people alike) they are weak: their risks are lower bounds, not proofs "
        "of safety."
    )
    return Section(
        title="Inference, linkage and singling out (Anonymeter's threat models)",
        text=text,
        figures=figures,
        tables=(table,),
        anchor="risks",
    )


_MEASURES = {
    "roc_auc": "ROC AUC",
    "tpr_at_fpr_1pct": "TPR at FPR 1%",
    "tpr_at_fpr_0_1pct": "TPR at FPR 0.1%",
    "advantage": "advantage",
    "risk": "risk",
    "share": "share",
}


def _score_row(score: Score) -> tuple[str, ...]:
    interval = (
        span((score.ci_low, score.ci_high))
        if score.ci_low is not None and score.ci_high is not None and math.isfinite(score.ci_low)
        else "–"
    )
    control = "–" if score.control is None else number(score.control, 4 if score.control < 0.01 else 3)
    return (score.label, _MEASURES.get(score.measure, score.measure), number(score.value), interval, control)


def scores_section(scores: list[Score], skipped: dict[str, str]) -> Section:
    """One table of every attack's figures, and the registered attacks that did not run."""
    not_run = "; ".join(f"{name}: {reason}" for name, reason in skipped.items())
    return Section(
        title="Every attack's figures",
        anchor="scores",
        text=(
            "Each figure beside what a synthetic table that learned nothing about its training rows gives "
            "(the null, or the same figure on held-out rows)." + (f" Not run: {not_run}." if not_run else "")
        ),
        tables=(
            Table(
                headers=("attack", "figure", "value", "95% interval", "null / control"),
                rows=tuple(_score_row(s) for s in scores),
            ),
        ),
    )
