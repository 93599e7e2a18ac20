"""The verdict table's rules at their boundaries, and its legend covering every tone a rule gives."""

from __future__ import annotations

import itertools
import math
from typing import get_args

import pytest

from synthpriv.reports import verdicts as v
from synthpriv.reports.verdicts import LEGEND, Kind, legend, legend_for


@pytest.mark.parametrize(
    ("value", "reference", "tone"),
    [
        (0.85, 0.90, "good"),  # exactly 0.05 below the holdout
        (0.849, 0.90, "warn"),
        (0.75, 0.90, "warn"),  # exactly 0.15 below
        (0.749, 0.90, "bad"),
        (0.95, 0.90, "good"),  # above the holdout is good too
        (None, 0.90, "neutral"),
        (0.9, None, "neutral"),
        (math.nan, 0.9, "neutral"),  # a score sdmetrics could not compute is not "bad"
    ],
)
def test_closeness_is_judged_by_the_gap_to_the_holdout(
    value: float | None, reference: float | None, tone: str
) -> None:
    assert v.tone_closeness(value, reference) == tone
    assert v.tone_coverage(value, reference) == tone


@pytest.mark.parametrize(
    ("value", "tone"), [(0.6, "good"), (0.601, "warn"), (0.8, "warn"), (0.801, "bad"), (None, "neutral")]
)
def test_detection_auc(value: float | None, tone: str) -> None:
    assert v.tone_detection_auc(value) == tone


@pytest.mark.parametrize(
    ("ratio", "tone"), [(0.95, "good"), (0.949, "warn"), (0.85, "warn"), (0.849, "bad"), (None, "neutral")]
)
def test_ml_efficacy_ratio(ratio: float | None, tone: str) -> None:
    assert v.tone_ml_efficacy(ratio) == tone


@pytest.mark.parametrize(
    ("value", "interval", "tone"),
    [
        (0.53, (0.50, 0.56), "good"),  # the whole interval at most 0.56
        (0.53, (0.50, 0.561), "warn"),  # reaches past 0.56: these rows cannot tell
        (0.566, (0.53, 0.60), "warn"),  # issue 20's 0.566: amber on every page
        (0.65, (0.60, 0.70), "warn"),  # the lower end must be above 0.6 to be bad
        (0.65, (0.601, 0.70), "bad"),
        (0.50, None, "good"),  # no interval: the value alone
        (0.58, None, "warn"),
        (0.61, None, "bad"),
        (0.49, (0.45, 0.53), "good"),  # straddles 0.5: not reversed
    ],
)
def test_membership_auc_by_its_interval(
    value: float, interval: tuple[float, float] | None, tone: str
) -> None:
    assert v.tone_membership_auc(value, interval) == tone


def test_a_membership_auc_below_half_is_judged_as_counted_no_leak() -> None:
    # Figures reach the rule already flipped where the attack's reference-half check found its
    # score reversed (issue 20's DOMIAS 0.408-0.498 is counted as 0.502-0.592). What is still
    # below 0.5 in the counted direction is an attack that fails on these targets: no leak.
    assert v.tone_membership_auc(0.45, (0.408, 0.498)) == "good"
    assert v.tone_membership_auc(0.30, (0.25, 0.35)) == "good"
    assert v.tone_membership_auc(0.547, (0.502, 0.592)) == "warn"  # the same DOMIAS, flipped
    assert "flipped" in legend("membership_auc").title


def test_an_unchecked_direction_below_half_is_judged_flipped_and_never_good() -> None:
    # The outlier tiers' attacks keep their built-in direction: below 0.5 an attacker would flip them.
    assert v.tone_membership_auc(0.45, (0.408, 0.498), direction_checked=False) == "warn"
    assert v.tone_membership_auc(0.48, (0.47, 0.499), direction_checked=False) == "warn"  # flipped: good
    assert v.tone_membership_auc(0.30, (0.25, 0.35), direction_checked=False) == "bad"  # flipped 0.65-0.75
    assert v.tone_membership_auc(0.45, (0.40, 0.50), direction_checked=False) == "good"  # touches 0.5


def test_closer_share_below_half_is_no_leak() -> None:
    assert v.tone_closer_share(0.40, (0.35, 0.45)) == "good"
    assert v.tone_closer_share(0.55, (0.52, 0.58)) == "warn"
    assert v.tone_closer_share(0.65, (0.61, 0.69)) == "bad"


@pytest.mark.parametrize(
    ("value", "interval", "tone"),
    [
        (0.05, (0.0, 0.1), "good"),
        (0.067, (0.0, 0.13), "warn"),  # issue 20's attribute inference 0.067
        (0.15, (0.1, 0.2), "warn"),
        (0.15, (0.101, 0.2), "bad"),
        (0.0, None, "good"),
    ],
)
def test_risk_by_its_interval(value: float, interval: tuple[float, float] | None, tone: str) -> None:
    assert v.tone_risk(value, interval) == tone


def test_tpr_at_low_fpr_against_multiples_of_the_fpr() -> None:
    assert v.tone_tpr_at_fpr(0.01, (0.0, 0.02), 0.01) == "good"
    assert v.tone_tpr_at_fpr(0.02, (0.01, 0.021), 0.01) == "warn"
    assert v.tone_tpr_at_fpr(0.08, (0.051, 0.1), 0.01) == "bad"
    assert v.tone_tpr_at_fpr(0.08, (0.05, 0.1), 0.01) == "warn"
    assert v.tone_tpr_at_fpr(0.5, (0.4, 0.6), 0.001, resolved=False) == "neutral"


def test_copies_nndr_control_epsilon_audit_gates_verdicts_stages() -> None:
    assert v.tone_nndr(0.75, 0.80) == "good" and v.tone_nndr(0.749, 0.80) == "bad"
    assert v.tone_holdout_control(0) == "good" and v.tone_holdout_control(3) == "warn"
    assert v.tone_dp_epsilon(None) == "neutral"
    assert v.tone_dp_epsilon(10.0) == "good" and v.tone_dp_epsilon(10.5) == "warn"
    assert v.tone_audit_epsilon(0.0, None) == "good" and v.tone_audit_epsilon(0.2, None) == "warn"
    assert v.tone_audit_epsilon(3.0, 3.0) == "good" and v.tone_audit_epsilon(3.01, 3.0) == "bad"
    assert v.tone_gate(True) == "good" and v.tone_gate(False) == "bad"
    assert v.tone_verdict(True, caveat=False) == "bad"
    assert v.tone_verdict(False, caveat=True) == "warn" and v.tone_verdict(False) == "good"
    assert v.tone_stage("failed", 0) == "bad" and v.tone_stage("complete", 1) == "bad"
    assert v.tone_stage("reused", 0) == "good" and v.tone_stage("pending", 0) == "neutral"


@pytest.mark.parametrize(
    ("all_train", "train", "holdout", "tone"),
    [
        (0.01, 0.0, 0.0, "good"),  # exactly 1 %
        (0.0101, 0.0, 0.0, "bad"),  # red above 1 %
        (0.05, 0.05, 0.05, "bad"),  # common rows: the control repeats them as often, yet they are copies
        (0.009, 0.02, 0.01, "good"),  # matched share exactly the control plus one point
        (0.009, 0.0201, 0.01, "bad"),  # beyond the control in the matched sample
    ],
)
def test_exact_match_is_red_above_one_percent_whatever_the_control(
    all_train: float, train: float, holdout: float, tone: str
) -> None:
    assert v.tone_exact_match(all_train, train, holdout) == tone
    # The legend prints the colour's name before its meaning: "red above 1 %: ...".
    assert dict(legend("exact_match").meanings)["bad"].startswith("above 1 %")


def test_row_logic_against_the_holdout_share() -> None:
    assert v.tone_row_logic(0.0, 0.0) == "good" and v.tone_row_logic(0.01, 0.0) == "good"
    assert v.tone_row_logic(0.011, 0.0) == "warn" and v.tone_row_logic(0.05, 0.0) == "warn"
    assert v.tone_row_logic(0.051, 0.0) == "bad" and v.tone_row_logic(0.051, None) == "bad"
    assert v.tone_row_logic(0.03, 0.025) == "good"  # the holdout breaks it too
    assert v.tone_row_logic(None, 0.0) == "neutral"


def test_every_kind_has_a_legend_in_words() -> None:
    assert set(LEGEND) == set(get_args(Kind))
    for kind, entry in LEGEND.items():
        assert entry.kind == kind and entry.title
        assert all(meaning.strip() for _, meaning in entry.meanings)
        assert legend(kind) is entry
    assert legend_for(["risk", "nonsense", "", "risk", "fidelity"]) == (LEGEND["fidelity"], LEGEND["risk"])


# Every rule over a grid of inputs: each tone it can give must be in its kind's legend.
_GRID = [0.0, 0.3, 0.49, 0.5, 0.55, 0.56, 0.58, 0.6, 0.61, 0.8, 0.9, 1.0]
_INTERVALS = [None, *((a, b) for a, b in itertools.combinations(_GRID, 2))]
_RULES: dict[str, list[str]] = {
    "fidelity": [v.tone_closeness(a, b) for a in [*_GRID, None] for b in [*_GRID, None]],
    "coverage": [v.tone_coverage(a, b) for a in [*_GRID, None] for b in _GRID],
    "detection_auc": [v.tone_detection_auc(a) for a in _GRID],
    "row_logic": [v.tone_row_logic(a, b) for a in [*_GRID, None] for b in [*_GRID, None]],
    "ml_efficacy": [v.tone_ml_efficacy(a) for a in [*_GRID, None]],
    "membership_auc": [
        v.tone_membership_auc(0.5, i, direction_checked=c) for i in _INTERVALS for c in (True, False)
    ]
    + [v.tone_membership_auc(a) for a in _GRID],
    "closer_share": [v.tone_closer_share(0.5, i) for i in _INTERVALS],
    "risk": [v.tone_risk(0.1, i) for i in _INTERVALS],
    "tpr_at_low_fpr": [v.tone_tpr_at_fpr(0.1, i, f) for i in _INTERVALS for f in (0.01, 0.1)]
    + [v.tone_tpr_at_fpr(0.1, None, 0.01, resolved=False)],
    "exact_match": [v.tone_exact_match(a, b, c) for a in _GRID for b in _GRID for c in _GRID],
    "holdout_control": [v.tone_holdout_control(n) for n in (0, 1)],
    "nndr": [v.tone_nndr(a, b) for a in _GRID for b in _GRID],
    "dp_epsilon": [v.tone_dp_epsilon(e) for e in (None, 1.0, 50.0)],
    "audit_epsilon": [v.tone_audit_epsilon(a, c) for a in (0.0, 1.0) for c in (None, 0.5, 2.0)],
    "gate": [v.tone_gate(p) for p in (True, False)],
    "verdict": [v.tone_verdict(f, c) for f in (True, False) for c in (True, False)],
    "stage": [v.tone_stage(s, n) for s in ("complete", "failed", "pending") for n in (0, 1)],
}


@pytest.mark.parametrize("kind", sorted(_RULES))
def test_the_legend_explains_every_tone_its_rule_gives(kind: str) -> None:
    (entry,) = legend_for([kind])
    given = set(_RULES[kind])
    assert given <= entry.tones(), f"{kind}: {given - entry.tones()} unexplained"
    assert entry.tones() <= given, f"{kind}: the legend explains tones the rule never gives"


def test_every_kind_has_a_rule_under_test() -> None:
    assert set(_RULES) == set(get_args(Kind))
