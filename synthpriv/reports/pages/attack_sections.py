"""The attack page's sections of an attack's own, looked up by the type of its result.

Attacks import nothing of `synthpriv.reports`; the page renders their typed results. Every
attack that ran gets its rows in the page's generic scores table, and every `RiskResult` a row
of the risk table (`synthpriv.reports.pages.attack`). Beyond those, a result type may have a
renderer here: any `MembershipResult` gets the membership section (the strongest attacker, the
ROC of each), any `ProxyFigures` the distance, audit and proxies sections. A result type with
no renderer gets the generic rows only. A subclass of a result type is rendered as its base.

A new attack that wants a section of its own adds its renderer below, keyed by its result
type, with one `register_sections` line (code outside the package, such as a test or a
plug-in, calls `register_sections` and `unregister_sections`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from synthpriv.attacks.audit import AuditResult
from synthpriv.attacks.base import MembershipScore
from synthpriv.attacks.distance import DistanceHistogram
from synthpriv.attacks.membership import MembershipResult
from synthpriv.attacks.proxies import ProxyFigures
from synthpriv.attacks.summary import AttackSummary
from synthpriv.reports import charts, verdicts
from synthpriv.reports.model import Chart, Figure, Section, Table

ResultT = TypeVar("ResultT", bound=BaseModel)
#: Renders one attack's result (with the whole summary, for figures such as the claimed epsilon).
SectionRenderer = Callable[[ResultT, AttackSummary], tuple[Section, ...]]

_RENDERERS: dict[type[BaseModel], SectionRenderer[Any]] = {}

# The FPR at which `MembershipScore.tpr_at_fpr_1pct` is read (its tone compares the TPR with it).
_FPR_1PCT = 0.01


def register_sections(result_type: type[ResultT], render: SectionRenderer[ResultT]) -> None:
    """Render every result of ``result_type`` (and of its subclasses) with ``render``; ValueError
    when taken."""
    if result_type in _RENDERERS:
        raise ValueError(f"{result_type.__name__} already has sections on the attack page")
    _RENDERERS[result_type] = render


def unregister_sections(result_type: type[BaseModel]) -> None:
    """Forget ``result_type``'s renderer (no error when there is none)."""
    _RENDERERS.pop(result_type, None)


def result_sections(result: BaseModel, summary: AttackSummary) -> tuple[Section, ...]:
    """The sections of ``result``'s type (the nearest registered base type), or none."""
    for result_type in type(result).__mro__:
        render = _RENDERERS.get(result_type)
        if render is not None:
            return render(result, summary)
    return ()


def membership_sections(result: MembershipResult, summary: AttackSummary) -> tuple[Section, ...]:
    return (strongest_section(result),)


def proxy_sections(result: ProxyFigures, summary: AttackSummary) -> tuple[Section, ...]:
    audit = (_audit_section(result.audit, summary),) if result.audit else ()
    return (_distance_section(result, summary.holdout_rows_dropped), *audit, _proxies_section(result))


def strongest_section(result: MembershipResult) -> Section:
    """The three membership attacks, strongest first, with ROC curves on one chart."""
    ordered = sorted(result.attacks, key=lambda a: a.auc, reverse=True)
    strongest = ordered[0]
    text = (
        f"Three attackers, each holding the synthetic table and {result.reference_rows:,} real rows from "
        f"the population (half of the holdout), score {result.members:,} training rows (members) and "
        f"{result.non_members:,} other held-out rows (non-members): by the distance to the closest "
        "synthetic row relative to the closest reference row, by DOMIAS' density ratio (synthetic over "
        "reference), and by a classifier trained to tell synthetic from reference rows. The strongest "
        "leads."
    )
    figures = (
        Figure(
            "strongest attack",
            strongest.name,
            note=(
                f"ROC AUC {strongest.auc:.3f}, 95% CI {strongest.auc_ci[0]:.3f}–{strongest.auc_ci[1]:.3f}; "
                "ideal 0.5"
            ),
            tone=verdicts.tone_membership_auc(strongest.auc, strongest.auc_ci),
            kind="membership_auc",
        ),
        Figure(
            "TPR at FPR 1%",
            f"{strongest.tpr_at_fpr_1pct:.3f}",
            note="ideal 0.01: members found no more often than non-members are wrongly accused",
            tone=verdicts.tone_tpr_at_fpr(strongest.tpr_at_fpr_1pct, strongest.tpr_at_fpr_1pct_ci, _FPR_1PCT),
            kind="tpr_at_low_fpr",
        ),
        Figure("attacker's advantage", f"{strongest.advantage:.3f}", note="max TPR − FPR; ideal 0"),
    )
    return Section(
        title="Membership inference: the strongest attack",
        text=text,
        figures=figures,
        charts=(_roc_chart(ordered),),
        tables=(_membership_table(ordered, result.tpr_at_fpr_0_1pct_resolved),),
    )


def _roc_chart(ordered: list[MembershipScore]) -> Chart:
    grid = np.linspace(0.0, 1.0, 101)
    series = {a.name: np.interp(grid, a.roc_fpr, a.roc_tpr).tolist() for a in ordered}
    series["chance"] = grid.tolist()
    return charts.line_chart(
        "ROC of each membership attack",
        grid.tolist(),
        series,
        x_label="false-positive rate",
        y_label="true-positive rate",
        caption="Members: training rows; non-members: held-out rows, the control. The diagonal is guessing.",
    )


def _membership_table(ordered: list[MembershipScore], resolved: bool) -> Table:
    unresolved = "" if resolved else " (too few non-members to resolve 0.1 %)"
    rows = tuple(
        (
            a.name,
            f"{a.auc:.3f}",
            f"{a.auc_ci[0]:.3f}–{a.auc_ci[1]:.3f}",
            f"{a.tpr_at_fpr_1pct:.3f} ({a.tpr_at_fpr_1pct_ci[0]:.3f}–{a.tpr_at_fpr_1pct_ci[1]:.3f})",
            f"{a.tpr_at_fpr_0_1pct:.4f}{unresolved}",
            f"{a.advantage:.3f}",
        )
        for a in ordered
    )
    return Table(
        headers=(
            "attack",
            "ROC AUC",
            "95% interval",
            "TPR at FPR 1% (95% interval)",
            "TPR at FPR 0.1%",
            "advantage",
        ),
        rows=rows,
        caption=(
            "Ideal: AUC 0.5, TPR equal to the FPR, advantage 0. Intervals: bootstrap over the target rows."
        ),
    )


def _distance_section(result: ProxyFigures, dropped: int) -> Section:
    return Section(
        title="Membership inference (distance to closest record)",
        text=(
            "The attacker scores each real person by how close the nearest synthetic row is. Members are "
            "training rows; non-members are real held-out rows the generator never saw, the control. "
            "An AUC of 0.5 means the synthetic table tells the attacker nothing about who trained it."
        ),
        figures=(
            Figure(
                "attack ROC AUC",
                f"{result.mia_auc:.3f}",
                note=f"95% CI {result.mia_auc_ci[0]:.3f}–{result.mia_auc_ci[1]:.3f}; ideal 0.5",
                tone=verdicts.tone_membership_auc(result.mia_auc, result.mia_auc_ci),
                kind="membership_auc",
            ),
            Figure(
                "members / non-members",
                f"{result.rows_train:,} / {result.rows_holdout:,}",
                note=f"{dropped:,} holdout rows that repeated training rows were dropped" if dropped else "",
            ),
        ),
    )


def _audit_section(audit: AuditResult, summary: AttackSummary) -> Section:
    if summary.claimed_epsilon is None:
        claim = Figure("claimed epsilon", "none", note="this run was trained without differential privacy")
    else:
        claim = Figure(
            "claimed epsilon",
            f"{summary.claimed_epsilon:.3g}",
            note=f"delta {summary.claimed_delta:.2g}; from the privacy ledger",
        )
    return Section(
        title="Audit: how much leakage the attack can prove",
        text=(
            "Any (epsilon, delta)-DP model caps every membership test: TPR <= e^epsilon FPR + delta. "
            "The attack's threshold is chosen on half of the members and non-members and tested on the "
            "other half; exact (Clopper-Pearson) intervals turn its rates into a lower bound on epsilon "
            f"that holds with {audit.confidence:.0%} confidence. A bound above the claim would refute it; "
            "a bound of 0 means the attack proves nothing, which is not a proof of privacy. "
            "The ceiling is the most these row counts could prove."
        ),
        figures=(
            claim,
            Figure(
                "empirical epsilon, lower bound",
                f"{audit.epsilon_lower_bound:.3g}",
                note=(
                    f"TPR {audit.tpr:.3f} vs FPR {audit.fpr:.3f} on {audit.members:,} / "
                    f"{audit.nonmembers:,} held-out rows"
                ),
                tone=verdicts.tone_audit_epsilon(audit.epsilon_lower_bound, summary.claimed_epsilon),
                kind="audit_epsilon",
            ),
            Figure(
                "provable at most",
                f"{audit.epsilon_ceiling:.3g}",
                note="the bound a perfect attack would give here",
            ),
        ),
    )


def _proxies_section(result: ProxyFigures) -> Section:
    return Section(
        title="Proxies (necessary, not sufficient)",
        text=(
            "These are proxies, not attacks: passing them does not prove privacy (a generator can pass "
            "every one and still leak, e.g. through rare combinations); failing them shows a problem. Each "
            "is set beside the same figure for real held-out rows, which is what an honest generator looks "
            "like."
        ),
        figures=_proxy_figures(result),
        charts=(_distance_chart(result.distance_histogram),),
        tables=(_proxy_table(result),),
    )


def _proxy_figures(result: ProxyFigures) -> tuple[Figure, ...]:
    return (
        Figure(
            "closer to train than holdout",
            f"{result.dcr_share:.3f}",
            note=f"95% CI {result.dcr_share_ci[0]:.3f}–{result.dcr_share_ci[1]:.3f}; ideal 0.5",
            tone=verdicts.tone_closer_share(result.dcr_share, result.dcr_share_ci),
            kind="closer_share",
        ),
        Figure(
            "identical to a training row",
            f"{result.exact_match_all_train:.2%}",
            note=(
                f"sample-matched: train {result.exact_match_train:.2%} vs holdout control "
                f"{result.exact_match_holdout:.2%}"
            ),
            tone=verdicts.tone_exact_match(result.exact_match_train, result.exact_match_holdout),
            kind="exact_match",
        ),
        Figure(
            "median distance",
            f"{result.median_dcr_train:.3f}",
            note=f"to train; to holdout {result.median_dcr_holdout:.3f}",
        ),
        Figure(
            "nearest-neighbour distance ratio",
            f"{result.median_nndr_train:.3f}",
            note=(
                f"median against train; against holdout {result.median_nndr_holdout:.3f} (lower than the "
                "holdout's: rows sit next to one training row)"
            ),
            tone=verdicts.tone_nndr(result.median_nndr_train, result.median_nndr_holdout),
            kind="nndr",
        ),
    )


def _distance_chart(hist: DistanceHistogram) -> Chart:
    return charts.histogram_chart(
        "Distance of each synthetic row to its nearest real row",
        hist.edges,
        {
            "train": [c / max(sum(hist.train_counts), 1) for c in hist.train_counts],
            "holdout": [c / max(sum(hist.holdout_counts), 1) for c in hist.holdout_counts],
        },
        caption=(
            "If the two shapes match, synthetic rows are no closer to training rows than to unseen real rows."
        ),
    )


def _proxy_table(result: ProxyFigures) -> Table:
    def interval(ci: tuple[float, float]) -> str:
        return f"{ci[0]:.3f}–{ci[1]:.3f}"

    return Table(
        headers=("figure", "value", "95% interval", "control / ideal"),
        rows=(
            ("membership AUC", f"{result.mia_auc:.3f}", interval(result.mia_auc_ci), "0.5"),
            ("closer-to-train share", f"{result.dcr_share:.3f}", interval(result.dcr_share_ci), "0.5"),
            (
                "exact matches (sample-matched)",
                f"{result.exact_match_train:.4f}",
                "–",
                f"holdout {result.exact_match_holdout:.4f}",
            ),
            (
                "median NNDR (nearest / second-nearest)",
                f"{result.median_nndr_train:.3f}",
                "–",
                f"holdout {result.median_nndr_holdout:.3f}; ideal: not below it",
            ),
            (
                "share with NNDR < 0.5",
                f"{result.low_nndr_train:.3f}",
                "–",
                f"holdout {result.low_nndr_holdout:.3f}; ideal: not above it",
            ),
        ),
    )


register_sections(MembershipResult, membership_sections)
register_sections(ProxyFigures, proxy_sections)
