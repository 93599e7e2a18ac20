"""The one verdict table: every threshold and tone (good / warn / bad / neutral) the product shows.

Every page (the index, each stage report) and the data card ask this module how to colour a
figure, so the same number always has the same colour everywhere, and every page can print
the same words for what its colours mean (`legend_for`). Nothing here reads a summary: each
rule takes the numbers it judges.

One principle runs through the privacy rules. A privacy figure has a no-leak value (0.5 for an
AUC or a closer-to-train share, 0 for a risk) and comes with a 95 % interval. It is **good**
only when the whole interval stays within the tolerance (the measurement shows any leak is
small), **bad** only when the whole interval lies beyond the bad bound (the measurement shows
a leak), and **warn** when the interval straddles a bound: these rows cannot tell, more rows
would decide. A figure without an interval is judged on its value alone.

Where the index and the attack page used to disagree (the attack page called an AUC good
when its interval merely reached down to 0.52, the index only when its interval stayed
below 0.56), the index's rule is the one kept: an interval reaching up to 0.6 cannot show
that nothing leaks. A membership figure reaches these rules in the direction the attack was
counted: an attack whose score pointed the wrong way on its reference half is flipped before
its targets are scored (`synthpriv.attacks.membership`), so the AUC judged here is already the
flipped one, and an AUC below 0.5 in that direction is an attack that fails, no leak (issue 20).
Only an attack whose direction was never checked is judged flipped here, and never better than
warn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Tone = Literal["good", "warn", "bad", "neutral"]
"""The colour of a figure: green, amber, red, or grey (informational, not judged)."""

TONES: tuple[Tone, ...] = ("good", "warn", "bad", "neutral")
COLOUR: dict[Tone, str] = {"good": "green", "warn": "amber", "bad": "red", "neutral": "grey"}

Kind = Literal[
    "fidelity",
    "detection_auc",
    "ml_efficacy",
    "coverage",
    "row_logic",
    "membership_auc",
    "tpr_at_low_fpr",
    "closer_share",
    "exact_match",
    "holdout_control",
    "nndr",
    "risk",
    "dp_epsilon",
    "audit_epsilon",
    "gate",
    "verdict",
    "stage",
]
"""The kinds of figure the product colours; each has one rule below and one legend entry."""

Interval = Sequence[float] | None
"""A 95 % interval (low, high), or None where the stage measured none."""

# Fidelity: a synthetic score against the same score of real holdout rows (the best honest value).
CLOSENESS_GOOD_GAP = 0.05
CLOSENESS_WARN_GAP = 0.15
# Detection: AUC of a classifier telling real from synthetic rows (0.5 = cannot).
DETECTION_GOOD_MAX = 0.6
DETECTION_WARN_MAX = 0.8
# ML efficacy: score of a model trained on synthetic rows over one trained on real rows.
EFFICACY_GOOD_MIN = 0.95
EFFICACY_WARN_MIN = 0.85
# Row logic: shares of synthetic rows or values breaking the real table's rules or forms,
# against the same share of real holdout rows.
ROW_LOGIC_GOOD_SLACK = 0.01
ROW_LOGIC_WARN_SLACK = 0.05
# Membership AUC and closer-to-train share: no leak at 0.5.
HALF_GOOD_MAX = 0.56
HALF_BAD_MIN = 0.6
# Anonymeter risks: no leak at 0 (success on training rows no better than on the control).
RISK_GOOD_MAX = 0.1
RISK_BAD_MIN = 0.1
# TPR at a low FPR: no leak when members are found no more often than non-members are accused.
TPR_GOOD_TIMES_FPR = 2.0
TPR_BAD_TIMES_FPR = 5.0
# Exact copies: any share above EXACT_MATCH_MAX is red (copies of real people), and so is a
# sample-matched share more than EXACT_MATCH_SLACK above the held-out control's.
EXACT_MATCH_MAX = 0.01
EXACT_MATCH_SLACK = 0.01
# Nearest-neighbour distance ratio, against the held-out control.
NNDR_SLACK = 0.05
# Differential privacy: an epsilon above this bounds little (each unit multiplies odds by e).
EPSILON_WEAK_ABOVE = 10.0


def _known(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _bounds(value: float, interval: Interval) -> tuple[float, float]:
    if interval is None or len(interval) != 2 or not _known(*interval):
        return value, value
    return float(interval[0]), float(interval[1])


def _leak_tone(low: float, high: float, good_max: float, bad_min: float) -> Tone:
    """Good when the whole interval is within ``good_max``, bad when it is all above ``bad_min``."""
    if low > bad_min:
        return "bad"
    return "good" if high <= good_max else "warn"


def tone_closeness(value: float | None, reference: float | None) -> Tone:
    """A fidelity score in [0, 1] (quality, column shapes, pair trends) against the real holdout's.

    good: within 0.05 of the holdout reference (or above it); warn: within 0.15; bad: further.
    Why: the holdout is an independent real sample scored the same way, the best a generator
    can honestly reach, so the gap to it, not the raw score, says how faithful the rows are.
    Neutral when either score is missing or not a number.
    """
    if not _known(value, reference):
        return "neutral"
    assert value is not None and reference is not None
    if value >= reference - CLOSENESS_GOOD_GAP:
        return "good"
    return "warn" if value >= reference - CLOSENESS_WARN_GAP else "bad"


def tone_coverage(value: float | None, reference: float | None) -> Tone:
    """Precision, recall or validity against the real holdout's: the same rule as `tone_closeness`.

    Why: these are shares in [0, 1] measured the same way on the holdout, so the same gaps apply.
    """
    return tone_closeness(value, reference)


def tone_row_logic(share: float | None, reference: float | None) -> Tone:
    """A share of synthetic rows (or values) breaking the real table's logic: a rule every real
    training row keeps, a missing pattern no real row has, a value outside the real precision.

    good: at most one percentage point above the real holdout's share (0 without a holdout);
    warn: at most five points above; bad: more. Neutral when there is no share. Why: every
    real training row keeps these rules, and holdout rows nearly all do, so a synthetic row that
    breaks one (a salary for a student not placed) is visibly wrong to anyone who reads it;
    a few in a hundred are noticed, more make the table look broken.
    """
    if not _known(share):
        return "neutral"
    assert share is not None
    base = reference if _known(reference) else 0.0
    assert base is not None
    if share <= base + ROW_LOGIC_GOOD_SLACK:
        return "good"
    return "warn" if share <= base + ROW_LOGIC_WARN_SLACK else "bad"


def tone_detection_auc(value: float | None) -> Tone:
    """Detection AUC (a classifier telling real from synthetic rows; 0.5 = cannot).

    good: at most 0.6; warn: at most 0.8; bad: above. Why: real rows against real holdout
    rows already score a little above 0.5 on small tables, and above 0.8 the synthetic rows
    are easy to tell apart, so a model trained on them learns artefacts.
    """
    if not _known(value):
        return "neutral"
    assert value is not None
    if value <= DETECTION_GOOD_MAX:
        return "good"
    return "warn" if value <= DETECTION_WARN_MAX else "bad"


def tone_ml_efficacy(ratio: float | None) -> Tone:
    """ML efficacy ratio: the score of a model trained on synthetic rows over one trained on real rows.

    good: at least 0.95; warn: at least 0.85; bad: below. Neutral when there is no ratio (no
    target, or a real score of 0). Why: within 5 % of real training, a data scientist loses
    little by using the synthetic table; beyond 15 % conclusions drawn from it may not hold.
    """
    if not _known(ratio):
        return "neutral"
    assert ratio is not None
    if ratio >= EFFICACY_GOOD_MIN:
        return "good"
    return "warn" if ratio >= EFFICACY_WARN_MIN else "bad"


def tone_membership_auc(value: float, interval: Interval = None, *, direction_checked: bool = True) -> Tone:
    """A membership-inference attack's ROC AUC (0.5 = the attacker learns nothing), with its interval.

    good: the interval's upper end is at most 0.56; bad: its lower end is above 0.6; warn:
    between (the rows cannot tell). Why: good must mean the measurement shows the attack is
    near chance, so a wide interval reaching 0.6 is not good, however close the value.

    ``direction_checked``: the AUC is the one the attack was counted with, its score's direction
    checked on the reference half first (a reversed attack's is its flipped score's, module
    docstring), so one below 0.5 is an attack that fails on these targets. Where the direction
    was not checked (the outlier tiers' attacks), an interval wholly below 0.5 says the score
    points the wrong way and an attacker would flip it: judged as 1 - AUC, never better than warn.
    """
    low, high = _bounds(value, interval)
    if not direction_checked and high < 0.5:
        flipped = _leak_tone(1.0 - high, 1.0 - low, HALF_GOOD_MAX, HALF_BAD_MIN)
        return "bad" if flipped == "bad" else "warn"
    return _leak_tone(low, high, HALF_GOOD_MAX, HALF_BAD_MIN)


def tone_closer_share(value: float, interval: Interval = None) -> Tone:
    """Share of synthetic rows closer to a training row than to a held-out one (0.5 = no leak).

    The same bounds as the membership AUC (good: upper end at most 0.56; bad: lower end
    above 0.6). Below 0.5 is not a leak (synthetic rows sit nearer unseen rows), so it is good.
    """
    low, high = _bounds(value, interval)
    return _leak_tone(low, high, HALF_GOOD_MAX, HALF_BAD_MIN)


def tone_risk(value: float, interval: Interval = None) -> Tone:
    """An Anonymeter risk: (success on training rows - control) / (1 - control); 0 = no leak.

    good: the interval's upper end is at most 0.1; bad: its lower end is above 0.1; warn:
    the interval straddles 0.1. Why: the control (real rows the generator never saw) already
    carries what the population teaches; a risk shown to be above 0.1 means one person in
    ten more is exposed because they were in the training table.
    """
    low, high = _bounds(value, interval)
    return _leak_tone(low, high, RISK_GOOD_MAX, RISK_BAD_MIN)


def tone_tpr_at_fpr(value: float, interval: Interval, fpr: float, resolved: bool = True) -> Tone:
    """True-positive rate of a membership attack at a low false-positive rate ``fpr`` (0.01, 0.001).

    good: the interval's upper end is at most 2 x FPR; bad: its lower end is above 5 x FPR;
    warn: between. Neutral when too few non-members resolve that FPR. Why: at the ideal the
    attacker finds members only as often as it wrongly accuses non-members (TPR = FPR);
    confidently identifying a few people is what matters (Carlini et al. 2022), not the AUC.
    """
    if not resolved or not _known(value, fpr):
        return "neutral"
    low, high = _bounds(value, interval)
    return _leak_tone(low, high, TPR_GOOD_TIMES_FPR * fpr, TPR_BAD_TIMES_FPR * fpr)


def tone_exact_match(all_train_share: float, train_share: float, holdout_share: float) -> Tone:
    """ "Identical to a training row": red above 1 %, whatever the held-out control says.

    ``all_train_share`` is every synthetic row against every training row; ``train_share`` and
    ``holdout_share`` are the sample-matched shares, against as many training rows as there are
    held-out rows and against the held-out rows (the control). bad: more than one synthetic
    row in a hundred is a training row, or the matched share exceeds the control's by more than
    one percentage point; good otherwise. Why: a table of common rows repeats training rows in
    its holdout too, yet a synthetic row identical to a training row is a copy of a real person
    whatever the control says; below 1 %, copies beyond the control's are still memorised.
    """
    if all_train_share > EXACT_MATCH_MAX:
        return "bad"
    return "good" if train_share <= holdout_share + EXACT_MATCH_SLACK else "bad"


def tone_holdout_control(rows_dropped: int) -> Tone:
    """The held-out control: warn when holdout rows were dropped because they repeated training rows.

    Why: a true holdout needs none dropped; the control the privacy figures lean on is then
    smaller than the file given, and the overlap itself says the two files were not independent.
    """
    return "warn" if rows_dropped else "good"


def tone_nndr(train_median: float, holdout_median: float) -> Tone:
    """Median nearest / second-nearest distance ratio against training rows, beside the holdout's.

    good: not more than 0.05 below the holdout's; bad: lower. Why: a ratio well below the
    control's means synthetic rows sit right next to one training row, a sign of copying.
    """
    return "good" if train_median >= holdout_median - NNDR_SLACK else "bad"


def tone_dp_epsilon(epsilon: float | None) -> Tone:
    """The proven differential-privacy epsilon of a run (None: trained without DP).

    good: at most 10; warn: above 10; neutral without DP (no proof, the attacks judge it).
    Why: epsilon bounds how much one person can change any output by a factor e^epsilon;
    above 10 the factor exceeds 20,000 and the proof says little.
    """
    if epsilon is None:
        return "neutral"
    return "good" if epsilon <= EPSILON_WEAK_ABOVE else "warn"


def tone_audit_epsilon(lower_bound: float, claimed: float | None) -> Tone:
    """The epsilon a membership attack proves (a lower bound), against the claimed epsilon.

    With a claim: bad when the bound exceeds it (the claim is refuted), good otherwise.
    Without DP: warn when the attack proves any leakage (bound above 0), good otherwise.
    Why: a bound of 0 proves nothing either way, so it is never more than good.
    """
    if claimed is None:
        return "warn" if lower_bound > 0 else "good"
    return "bad" if lower_bound > claimed else "good"


def tone_gate(passed: bool) -> Tone:
    """A gate from the pipeline file: good when it passed, bad when it failed."""
    return "good" if passed else "bad"


def tone_verdict(failed: bool, caveat: bool = False) -> Tone:
    """A page's or the run's verdict: bad when a gate or a stage failed, warn with a caveat, else good.

    The caveat is one the verdict's note names: no gates were set (nothing was checked), the
    export went ahead only by force, not every stage ran, a figure no gate checks is bad, or
    the fidelity is more than 0.05 below the real holdout's. Why: good must mean checked and fine.
    """
    if failed:
        return "bad"
    return "warn" if caveat else "good"


def tone_stage(status: str, failed_gates: int) -> Tone:
    """A stage's card on the index: bad when it failed or failed a gate, good when it ran, else neutral."""
    if status == "failed" or failed_gates:
        return "bad"
    return "good" if status in ("complete", "reused") else "neutral"


@dataclass(frozen=True)
class KindLegend:
    """What each colour means for one kind of figure, in words."""

    kind: Kind
    title: str
    meanings: tuple[tuple[Tone, str], ...]
    """(tone, what it means), in the order good, warn, bad, neutral; only the tones the kind uses."""

    def tones(self) -> frozenset[Tone]:
        return frozenset(tone for tone, _ in self.meanings)


def _entry(kind: Kind, title: str, **meanings: str) -> KindLegend:
    return KindLegend(kind, title, tuple((t, meanings[t]) for t in TONES if t in meanings))


LEGEND: dict[Kind, KindLegend] = {
    e.kind: e
    for e in (
        _entry(
            "fidelity",
            "fidelity scores (quality, shapes, pair trends)",
            good="within 0.05 of the real holdout's score, or above it",
            warn="0.05 to 0.15 below the real holdout's score",
            bad="more than 0.15 below the real holdout's score",
            neutral="no holdout reference to compare with",
        ),
        _entry(
            "coverage",
            "coverage and validity (precision, recall, validity)",
            good="within 0.05 of the real holdout's figure, or above it",
            warn="0.05 to 0.15 below the real holdout's figure",
            bad="more than 0.15 below the real holdout's figure",
            neutral="no holdout reference to compare with",
        ),
        _entry(
            "row_logic",
            "row logic (rules, missing patterns, value forms)",
            good="at most one percentage point above the real holdout's share",
            warn="one to five percentage points above the real holdout's share",
            bad="more than five percentage points above: many rows break what every real row keeps",
            neutral="not measured",
        ),
        _entry(
            "detection_auc",
            "detection AUC (real vs synthetic)",
            good="at most 0.6: synthetic rows are hard to tell from real ones",
            warn="above 0.6, at most 0.8",
            bad="above 0.8: synthetic rows are easy to tell apart",
        ),
        _entry(
            "ml_efficacy",
            "ML efficacy ratio (synthetic / real)",
            good="at least 0.95",
            warn="0.85 to 0.95",
            bad="below 0.85",
            neutral="no target column, or no ratio to compute",
        ),
        _entry(
            "membership_auc",
            "membership inference AUC (a reversed attack's: its flipped score, as it is counted)",
            good="the whole 95 % interval is at most 0.56: the attack is shown to be near chance",
            warn=(
                "the interval reaches above 0.56 but not all of it above 0.6 (these rows cannot tell); or, "
                "where the direction was not checked (outlier tiers), it lies below 0.5: flipped, the "
                "attack would do better"
            ),
            bad="the whole 95 % interval is above 0.6: the attack tells members from non-members",
        ),
        _entry(
            "closer_share",
            "closer to a training row than to a held-out one",
            good="the whole 95 % interval is at most 0.56",
            warn="the interval reaches above 0.56, not all of it above 0.6",
            bad="the whole 95 % interval is above 0.6: synthetic rows crowd around training rows",
        ),
        _entry(
            "tpr_at_low_fpr",
            "true-positive rate at a low false-positive rate",
            good="the interval's upper end is at most twice the false-positive rate",
            warn="between twice and five times the false-positive rate",
            bad="the interval's lower end is above five times the false-positive rate",
            neutral="too few non-members to resolve this false-positive rate",
        ),
        _entry(
            "risk",
            "Anonymeter risks (inference, linkability, singling out)",
            good="the whole 95 % interval is at most 0.1",
            warn="the interval straddles 0.1: these rows cannot tell",
            bad="the whole 95 % interval is above 0.1: the training rows are exposed beyond the control",
        ),
        _entry(
            "exact_match",
            "identical to a training row",
            good="at most 1 % of synthetic rows, and no more than the held-out control plus one point",
            bad=(
                "above 1 %: more than one synthetic row in a hundred copies a training row, whatever the "
                "control says; or more copies than the control explains"
            ),
        ),
        _entry(
            "holdout_control",
            "held-out control",
            good="no holdout row repeated a training row",
            warn="holdout rows that repeated training rows were dropped: the control is smaller than given",
        ),
        _entry(
            "nndr",
            "nearest-neighbour distance ratio",
            good="not more than 0.05 below the held-out control's",
            bad="well below the control's: synthetic rows sit next to single training rows",
        ),
        _entry(
            "dp_epsilon",
            "differential privacy epsilon",
            good="a proven guarantee with epsilon at most 10",
            warn="a proven guarantee, but epsilon above 10 bounds little",
            neutral="trained without differential privacy: no proof, the attacks are empirical",
        ),
        _entry(
            "audit_epsilon",
            "epsilon the audit attack proves",
            good="the proven lower bound does not exceed the claim (or is 0 without DP)",
            warn="without DP, the attack proves some leakage",
            bad="the proven lower bound exceeds the claimed epsilon: the claim is refuted",
        ),
        _entry("gate", "gates", good="the gate passed", bad="the gate failed"),
        _entry(
            "verdict",
            "verdict",
            good="every gate passed and nothing below needs a second look",
            warn=(
                "no gates were set, the export was forced past failed gates, not every stage ran, a figure "
                "no gate checks is red, or the fidelity is more than 0.05 below the real holdout's"
            ),
            bad="a gate failed or a stage failed",
        ),
        _entry(
            "stage",
            "stage cards",
            good="the stage completed",
            bad="the stage failed or one of its gates failed",
            neutral="the stage has not run",
        ),
    )
}


def legend(kind: Kind) -> KindLegend:
    """What each colour means for one kind of figure."""
    return LEGEND[kind]


def legend_for(kinds: Iterable[str]) -> tuple[KindLegend, ...]:
    """The legend entries of ``kinds`` (unknown and empty names skipped), once each, in table order."""
    wanted = set(kinds)
    return tuple(entry for kind, entry in LEGEND.items() if kind in wanted)
