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
from synthpriv.attacks.distance import DistanceHistogram
from synthpriv.attacks.membership import AttackResult, MembershipResult, strength
from synthpriv.attacks.outliers import OutlierMembershipResult
from synthpriv.attacks.proxies import ProxyFigures
from synthpriv.attacks.summary import PROXY_ATTACK, AttackSummary, MembershipFigure
from synthpriv.reports import charts, verdicts
from synthpriv.reports.model import Chart, Figure, Section, Table
from synthpriv.reports.pages.outliers import outlier_attack_sections

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
    return (strongest_section(result, summary),)


def proxy_sections(result: ProxyFigures, summary: AttackSummary) -> tuple[Section, ...]:
    audit = (_audit_section(result.audit, summary),) if result.audit else ()
    counted = next(f for f in summary.membership_figures() if f.name == PROXY_ATTACK)
    return (
        _distance_section(result, counted, summary.holdout_rows_dropped),
        *audit,
        _proxies_section(result, counted),
    )


def strongest_section(result: MembershipResult, summary: AttackSummary) -> Section:
    """The membership attacks, strongest first, with ROC curves on one chart; the lead figure is the
    strongest of every membership attack (`AttackSummary.strongest_membership`), as on the index."""
    ordered = sorted(result.attacks, key=lambda a: strength(a.auc, a.auc_ci), reverse=True)
    strongest = summary.strongest_membership()
    assert strongest is not None  # this result is one of its figures
    reversed_ = [a.name for a in ordered if a.reversed]
    text = (
        f"Four attackers, each holding the synthetic table and {result.reference_rows:,} real rows from "
        f"the population (half of the holdout), score {result.members:,} training rows (members) and "
        f"{result.non_members:,} other held-out rows (non-members): by the distance to the closest "
        "synthetic row relative to the closest reference row, by DOMIAS' density ratio (synthetic over "
        "reference), by a classifier trained to tell synthetic from reference rows, and by the distance "
        "to the closest synthetic row alone (dcr). The strongest is the one whose AUC interval has the "
        "highest lower end, over these and the distance proxies' attack below.\n\n"
        + _direction_text(result, reversed_)
    )
    figures = (
        Figure(
            "strongest attack",
            strongest.described,
            note=(
                f"ROC AUC {strongest.auc:.3f}, 95% CI {strongest.auc_ci[0]:.3f}–{strongest.auc_ci[1]:.3f}; "
                "ideal 0.5"
            ),
            tone=verdicts.tone_membership_auc(strongest.auc, strongest.auc_ci),
            kind="membership_auc",
        ),
        *_lead_rates(result, ordered[0]),
    )
    return Section(
        title="Membership inference: the strongest attack",
        text=text,
        figures=figures,
        charts=(_roc_chart(ordered),),
        tables=(_membership_table(ordered, result.tpr_at_fpr_0_1pct_resolved),),
        anchor="membership",
    )


def _direction_text(result: MembershipResult, reversed_: list[str]) -> str:
    if not result.calibration_rows:
        return (
            "No training rows were left over to check which way each score points, so every score is "
            "counted as built (higher = member)."
        )
    check = (
        f"Before scoring, each attack was checked on {result.calibration_rows:,} other training rows against "
        f"as many reference rows set aside (fitted on the rest of the reference half, never on the rows "
        "scored below)"
    )
    if not reversed_:
        return check + ": every score points the way it was built (higher = member)."
    return (
        check + f": {', '.join(reversed_)} pointed the wrong way (AUC clearly below 0.5), so an attacker "
        "would flip it, and it is counted flipped here."
    )


def _lead_rates(result: MembershipResult, lead: AttackResult) -> tuple[Figure, ...]:
    """The TPR at FPR 1 % and the advantage of the strongest of the membership attacks."""
    return (
        Figure(
            f"TPR at FPR 1% ({lead.name})",
            f"{lead.tpr_at_fpr_1pct:.3f}",
            note="ideal 0.01: members found no more often than non-members are wrongly accused",
            tone=verdicts.tone_tpr_at_fpr(lead.tpr_at_fpr_1pct, lead.tpr_at_fpr_1pct_ci, _FPR_1PCT),
            kind="tpr_at_low_fpr",
        ),
        Figure(f"attacker's advantage ({lead.name})", f"{lead.advantage:.3f}", note="max TPR − FPR; ideal 0"),
    )


def _roc_chart(ordered: list[AttackResult]) -> Chart:
    grid = np.linspace(0.0, 1.0, 101)
    series = {_described(a): np.interp(grid, a.roc_fpr, a.roc_tpr).tolist() for a in ordered}
    series["chance"] = grid.tolist()
    return charts.line_chart(
        "ROC of each membership attack",
        grid.tolist(),
        series,
        x_label="false-positive rate",
        y_label="true-positive rate",
        caption="Members: training rows; non-members: held-out rows, the control. The diagonal is guessing.",
    )


def _described(attack: AttackResult) -> str:
    return f"{attack.name} (reversed)" if attack.reversed else attack.name


def _direction_cell(attack: AttackResult) -> str:
    if attack.calibration_auc is None or attack.calibration_auc_ci is None:
        return "as built (not checked)"
    low, high = attack.calibration_auc_ci
    checked = f"check AUC {attack.calibration_auc:.3f} ({low:.3f}–{high:.3f})"
    return f"reversed: {checked}" if attack.reversed else f"as built: {checked}"


def _membership_table(ordered: list[AttackResult], resolved: bool) -> Table:
    rows = tuple(
        (
            _described(a),
            f"{a.auc:.3f}",
            f"{a.auc_ci[0]:.3f}–{a.auc_ci[1]:.3f}",
            f"{a.tpr_at_fpr_1pct:.3f} ({a.tpr_at_fpr_1pct_ci[0]:.3f}–{a.tpr_at_fpr_1pct_ci[1]:.3f})",
            f"{a.tpr_at_fpr_0_1pct:.4f}" if resolved else "not resolved",
            f"{a.advantage:.3f}",
            _direction_cell(a),
        )
        for a in ordered
    )
    unresolved = (
        ""
        if resolved
        else " TPR at FPR 0.1% is not resolved: with fewer than 1,000 non-members the smallest "
        "false-positive rate above 0 is larger than 0.1%."
    )
    return Table(
        headers=(
            "attack",
            "ROC AUC",
            "95% interval",
            "TPR at FPR 1% (95% interval)",
            "TPR at FPR 0.1%",
            "advantage",
            "direction",
        ),
        rows=rows,
        caption=(
            "Strongest first (the highest lower end of the AUC interval). Ideal: AUC 0.5, TPR equal to the "
            "FPR, advantage 0. Intervals: bootstrap over the target rows." + unresolved
        ),
    )


def _distance_section(result: ProxyFigures, counted: MembershipFigure, dropped: int) -> Section:
    flipped = (
        " The membership section's check found this score (the dcr attack's) pointing the wrong way, so "
        f"it is counted flipped: as measured, AUC {result.mia_auc:.3f}."
        if counted.reversed
        else ""
    )
    return Section(
        title="Membership inference (distance to closest record)",
        text=(
            "The attacker scores each real person by how close the nearest synthetic row is. Members are "
            "training rows; non-members are real held-out rows the generator never saw, the control. "
            "An AUC of 0.5 means the synthetic table tells the attacker nothing about who trained it."
            + flipped
        ),
        anchor="distance",
        figures=(
            Figure(
                "attack ROC AUC" + (" (reversed)" if counted.reversed else ""),
                f"{counted.auc:.3f}",
                note=f"95% CI {counted.auc_ci[0]:.3f}–{counted.auc_ci[1]:.3f}; ideal 0.5",
                tone=verdicts.tone_membership_auc(counted.auc, counted.auc_ci),
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
        anchor="audit",
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


def _proxies_section(result: ProxyFigures, counted: MembershipFigure) -> Section:
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
        tables=(_proxy_table(result, counted),),
        anchor="proxies",
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
            tone=verdicts.tone_exact_match(
                result.exact_match_all_train, result.exact_match_train, result.exact_match_holdout
            ),
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


def _proxy_table(result: ProxyFigures, counted: MembershipFigure) -> Table:
    def interval(ci: tuple[float, float]) -> str:
        return f"{ci[0]:.3f}–{ci[1]:.3f}"

    return Table(
        headers=("figure", "value", "95% interval", "control / ideal"),
        rows=(
            (
                "membership AUC" + (" (reversed)" if counted.reversed else ""),
                f"{counted.auc:.3f}",
                interval(counted.auc_ci),
                "0.5",
            ),
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
register_sections(OutlierMembershipResult, outlier_attack_sections)
