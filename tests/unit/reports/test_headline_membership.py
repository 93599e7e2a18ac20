"""The headline membership figure (issue 20, must-have 2), from hand-made attack summaries.

It is the strongest attack by the lower end of its AUC interval over every membership attack that
ran, the distance proxies' attack included; a reversed attack is counted with its flipped score,
and the proxies' attack keeps the direction the dcr check chose. The index, the attack page and
the data card show that one figure.
"""

from __future__ import annotations

from typing import Any

import pytest

from synthpriv.attacks.membership import AttackResult, MembershipResult
from synthpriv.attacks.summary import PROXY_ATTACK, AttackSummary
from synthpriv.reports.headline import privacy_headlines
from synthpriv.reports.pages.attack import attack_page


def attack(name: str, auc: float, ci: tuple[float, float], *, reversed_: bool = False) -> AttackResult:
    return AttackResult(
        name=name,
        auc=auc,
        auc_ci=ci,
        tpr_at_fpr_1pct=0.02,
        tpr_at_fpr_1pct_ci=(0.0, 0.05),
        tpr_at_fpr_0_1pct=0.002,
        advantage=0.1,
        roc_fpr=[0.0, 1.0],
        roc_tpr=[0.0, 1.0],
        seconds=0.1,
        reversed=reversed_,
        calibration_auc=0.3 if reversed_ else 0.52,
        calibration_auc_ci=(0.2, 0.4) if reversed_ else (0.45, 0.59),
    )


def membership(*attacks: AttackResult, strongest: str = "distance") -> MembershipResult:
    return MembershipResult(
        attacks=list(attacks),
        strongest=strongest,
        members=500,
        non_members=500,
        reference_rows=500,
        synthetic_rows=1000,
        tpr_at_fpr_0_1pct_resolved=False,
        n_bootstrap=200,
        calibration_rows=250,
        seconds=1.0,
    )


def proxies(auc: float, ci: tuple[float, float]) -> dict[str, Any]:
    """The distance proxies' keys, at the top level of the summary where they are stored."""
    return {
        "dcr_share": 0.5,
        "dcr_share_ci": (0.46, 0.54),
        "median_dcr_train": 0.3,
        "median_dcr_holdout": 0.3,
        "exact_match_train": 0.0,
        "exact_match_holdout": 0.0,
        "exact_match_all_train": 0.0,
        "median_nndr_train": 0.8,
        "median_nndr_holdout": 0.8,
        "low_nndr_train": 0.1,
        "low_nndr_holdout": 0.1,
        "mia_auc": auc,
        "mia_auc_ci": ci,
        "rows_train": 500,
        "rows_holdout": 500,
        "rows_synthetic": 1000,
        "distance_histogram": {"edges": [0.0, 1.0], "train_counts": [5], "holdout_counts": [5]},
    }


def summary(result: MembershipResult, proxy: dict[str, Any] | None = None) -> AttackSummary:
    return AttackSummary.model_validate({"membership": result.model_dump(mode="json"), **(proxy or {})})


def test_the_strongest_is_chosen_by_the_lower_end_of_its_interval_not_its_value() -> None:
    # domias has the larger AUC, but measured so loosely that distance's is the surer finding.
    chosen = summary(
        membership(attack("distance", 0.56, (0.54, 0.58)), attack("domias", 0.58, (0.50, 0.66))),
        proxies(0.52, (0.49, 0.55)),
    ).strongest_membership()
    assert chosen is not None and (chosen.name, chosen.auc) == ("distance", 0.56)


def test_the_distance_proxies_attack_is_among_the_candidates() -> None:
    # The index once called domias 0.566 the strongest while the attack page's DCR attack read 0.587.
    found = summary(membership(attack("domias", 0.566, (0.53, 0.60))), proxies(0.587, (0.56, 0.61)))
    chosen = found.strongest_membership()
    assert chosen is not None and (chosen.name, chosen.auc) == (PROXY_ATTACK, 0.587)
    headline = privacy_headlines(found)[0]
    assert headline.value == "0.587" and PROXY_ATTACK in headline.label
    assert headline.stage == "attack" and headline.anchor == "membership"


def test_a_reversed_attack_is_counted_flipped_and_the_proxies_follow_the_dcr_check() -> None:
    # Every attack's AUC below 0.5 (the GAN run of issue 20): the dcr check found its score reversed,
    # so its figure is the flipped one, and so is the proxies' (the same score on other targets).
    found = summary(
        membership(
            attack("domias", 0.453, (0.408, 0.498)),
            attack("dcr", 0.58, (0.55, 0.61), reversed_=True),
        ),
        proxies(0.44, (0.41, 0.47)),
    )
    figures = {f.name: f for f in found.membership_figures()}
    assert figures["dcr"].reversed and figures["dcr"].auc == 0.58
    proxy = figures[PROXY_ATTACK]
    assert proxy.reversed and proxy.auc == pytest.approx(0.56)
    assert proxy.auc_ci == pytest.approx((0.53, 0.59))
    chosen = found.strongest_membership()
    assert chosen is not None and chosen.name == "dcr" and chosen.described == "dcr, reversed"
    headline = privacy_headlines(found)[0]
    assert "dcr, reversed" in headline.label and "counted flipped" in headline.reference


def test_no_membership_attack_no_membership_headline() -> None:
    assert AttackSummary().strongest_membership() is None
    assert privacy_headlines(AttackSummary()) == []


def test_the_attack_page_leads_with_the_same_figure_as_the_index() -> None:
    found = summary(
        membership(attack("distance", 0.55, (0.52, 0.58)), attack("classifier", 0.51, (0.47, 0.55))),
        proxies(0.6, (0.57, 0.63)),
    )
    page = attack_page("run", found)
    membership_section = next(s for s in page.sections if s.id == "membership")
    lead = membership_section.figures[0]
    assert (lead.label, lead.value) == ("strongest attack", PROXY_ATTACK)
    assert "ROC AUC 0.600" in lead.note
    assert lead.tone == privacy_headlines(found)[0].tone
    # The unresolved TPR at FPR 0.1 % is not printed as a number.
    table = membership_section.tables[0]
    column = table.headers.index("TPR at FPR 0.1%")
    assert {row[column] for row in table.rows} == {"not resolved"}
