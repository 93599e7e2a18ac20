"""Empirical privacy audit: a statistical LOWER bound on epsilon from a membership attack's scores.

A DP claim is an upper bound that nobody can measure directly; an attack can refute it. For
an (epsilon, delta)-DP mechanism every membership test (Kairouz, Oh & Viswanath 2015) obeys

    TPR <= e^epsilon * FPR + delta        and        TNR <= e^epsilon * FNR + delta,

so a test observed with a high TPR at a low FPR proves epsilon >= log((TPR - delta) / FPR).
The audit (Jagielski, Ullman & Oprea 2020; Nasr et al. 2021) turns that into a bound that
holds with a stated confidence:

- the attacker says "member" when its score is at least a threshold; the counts of true and
  false positives are binomial, so we take the Clopper-Pearson LOWER bound of the TPR and
  UPPER bound of the FPR. Both inequalities use only those two bounds (TNR >= 1 - FPR_high,
  FNR <= 1 - TPR_low), so one event, "TPR >= TPR_low and FPR <= FPR_high", carries both: the
  two-sided interval at the stated confidence puts half the error on either side of it;
- the best threshold chosen on the same scores would inflate the bound (a maximum over many
  noisy estimates), so members and non-members are each split in two (seeded): thresholds
  are ranked on the selection half, and only the ``top`` best are evaluated on the other,
  untouched half, with a Bonferroni correction over those ``top`` tests;
- the result is 0 when nothing is significant: the audit found no evidence against the claim,
  which is not a proof of privacy. With n rows the bound can never exceed about
  log(n / log(2 / alpha)) (`epsilon_ceiling`), so a small audit cannot refute a large epsilon.

The binomial model is exact when each trial is an independent training run (the classic
audit). Here members are the train rows of ONE run and non-members its holdout rows; with a
random train/holdout split that is the one-run setting of Steinke, Nasr & Jagielski (2023),
in which treating rows as independent trials is a good approximation rather than a theorem.
The bound is a diagnostic beside the accountant's epsilon, never a replacement for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import Field
from scipy.stats import beta

from synthpriv.attacks.base import SeedLike, spawn_seeds
from synthpriv.config.base import StrictModel
from synthpriv.errors import DataError


class AuditResult(StrictModel):
    """The audit's bound and the held-out test it comes from (counts and rates only, no rows)."""

    epsilon_lower_bound: float = Field(ge=0)
    """With probability at least `confidence`, the mechanism is not (epsilon, delta)-DP for any
    epsilon below this. 0: the attack found no significant evidence."""
    epsilon_ceiling: float = Field(ge=0)
    """The largest bound these sample sizes could give (a perfect attack): a claim above it
    cannot be refuted by this audit."""
    confidence: float = Field(gt=0, lt=1)
    delta: float = Field(ge=0, lt=1)
    threshold: float
    """Score at or above which the attack says "member" (chosen on the selection half)."""
    tpr: float = Field(ge=0, le=1)
    """Observed true-positive rate on the evaluation half."""
    fpr: float = Field(ge=0, le=1)
    """Observed false-positive rate on the evaluation half."""
    tpr_interval: tuple[float, float]
    """Clopper-Pearson interval of the TPR at the per-test (Bonferroni) confidence."""
    fpr_interval: tuple[float, float]
    """Clopper-Pearson interval of the FPR at the per-test (Bonferroni) confidence."""
    members: int = Field(ge=1)
    """Members in the evaluation half (the trials of the TPR)."""
    nonmembers: int = Field(ge=1)
    """Non-members in the evaluation half (the trials of the FPR)."""
    tests: int = Field(ge=1)
    """Thresholds evaluated on the evaluation half (the Bonferroni factor)."""

    def describe(self) -> str:
        """One line for logs and reports."""
        found = (
            f"empirical epsilon >= {self.epsilon_lower_bound:.3g}"
            if self.epsilon_lower_bound > 0
            else "no significant membership signal (empirical epsilon lower bound 0)"
        )
        return (
            f"{found} at {self.confidence:.0%} confidence, delta={self.delta:.3g}: "
            f"TPR {self.tpr:.3f} [{self.tpr_interval[0]:.3f}, {self.tpr_interval[1]:.3f}] vs "
            f"FPR {self.fpr:.3f} [{self.fpr_interval[0]:.3f}, {self.fpr_interval[1]:.3f}] "
            f"on {self.members:,} members / {self.nonmembers:,} non-members held out "
            f"(at most {self.epsilon_ceiling:.3g} is provable with these counts)"
        )


def clopper_pearson(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided binomial interval for ``successes`` out of ``trials``.

    Each side errs with probability at most (1 - confidence) / 2, so either end alone is a
    one-sided bound at 1 - (1 - confidence) / 2. 0 successes give a lower end of exactly 0,
    ``trials`` successes an upper end of exactly 1.
    """
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes} of {trials}")
    _check_confidence(confidence)
    low, high = _clopper_pearson(np.array([successes]), trials, confidence)
    return float(low[0]), float(high[0])


def epsilon_ceiling(
    members: int, nonmembers: int, delta: float, confidence: float = 0.95, *, tests: int = 1
) -> float:
    """The bound a perfect attack (every member found, no false positive) would prove with these counts."""
    _check_confidence(confidence)
    if members < 1 or nonmembers < 1 or tests < 1:
        raise ValueError(
            f"need at least one member, non-member and test, got {members}, {nonmembers}, {tests}"
        )
    per_test = 1.0 - (1.0 - confidence) / tests
    # Both inequalities grow with true positives and shrink with false ones, so this is the maximum.
    eps, _, _ = _bound(np.array([members]), members, np.array([0]), nonmembers, delta, per_test)
    return float(eps[0])


def epsilon_lower_bound(
    member_scores: np.ndarray | Sequence[float],
    nonmember_scores: np.ndarray | Sequence[float],
    delta: float,
    confidence: float = 0.95,
    thresholds: int | Sequence[float] | None = None,
    *,
    top: int = 1,
    selection_share: float = 0.5,
    seed: SeedLike,
) -> AuditResult:
    """Lower bound on epsilon, holding with probability ``confidence``, from a membership attack.

    Higher scores must mean "more likely a member" (for the distance attack: minus the
    distance to the nearest synthetic row); the orientation is part of the attack, so scores
    that run the other way prove nothing. ``thresholds`` are the candidates ranked on the
    selection half: None for the midpoints between consecutive distinct scores there, an int
    for that many evenly spaced quantiles, or explicit values. The ``top`` best (by the bound
    they give on the selection half) are evaluated on the evaluation half at confidence
    1 - (1 - confidence) / top each, and the
    largest of their bounds is reported. ``selection_share`` of members and of non-members
    (seeded by ``seed``) go to the selection half.
    """
    _check_arguments(delta, confidence, top, selection_share)
    members = _scores(member_scores, "member")
    nonmembers = _scores(nonmember_scores, "non-member")
    member_rng, nonmember_rng = (np.random.default_rng(s) for s in spawn_seeds(seed, 2))
    select_m, eval_m = _split(members, selection_share, member_rng, "member")
    select_n, eval_n = _split(nonmembers, selection_share, nonmember_rng, "non-member")

    candidates = _candidates(np.concatenate([select_m, select_n]), thresholds)
    select_tp = _at_or_above(select_m, candidates)
    select_fp = _at_or_above(select_n, candidates)
    select_eps = _bound(select_tp, select_m.size, select_fp, select_n.size, delta, confidence)[0]
    # Ties (often all zero on a weak signal) go to the larger observed advantage |TPR - FPR|.
    advantage = np.abs(select_tp / select_m.size - select_fp / select_n.size)
    chosen = candidates[np.lexsort((advantage, select_eps))[::-1][:top]]

    tests = chosen.size
    per_test = 1.0 - (1.0 - confidence) / tests
    tp = _at_or_above(eval_m, chosen)
    fp = _at_or_above(eval_n, chosen)
    eps, tpr_ci, fpr_ci = _bound(tp, eval_m.size, fp, eval_n.size, delta, per_test)
    best = int(np.argmax(eps))
    return AuditResult(
        epsilon_lower_bound=float(eps[best]),
        epsilon_ceiling=epsilon_ceiling(eval_m.size, eval_n.size, delta, confidence, tests=tests),
        confidence=confidence,
        delta=delta,
        threshold=float(chosen[best]),
        tpr=float(tp[best] / eval_m.size),
        fpr=float(fp[best] / eval_n.size),
        tpr_interval=(float(tpr_ci[0][best]), float(tpr_ci[1][best])),
        fpr_interval=(float(fpr_ci[0][best]), float(fpr_ci[1][best])),
        members=eval_m.size,
        nonmembers=eval_n.size,
        tests=tests,
    )


def _bound(
    tp: np.ndarray, members: int, fp: np.ndarray, nonmembers: int, delta: float, confidence: float
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Per threshold: the epsilon bound (the larger of the two inequalities) and both intervals."""
    tpr_low, tpr_high = _clopper_pearson(tp, members, confidence)
    fpr_low, fpr_high = _clopper_pearson(fp, nonmembers, confidence)
    # TPR <= e^eps FPR + delta, and its mirror TNR <= e^eps FNR + delta (the test "score below t").
    direct = _epsilon(tpr_low, fpr_high, delta)
    mirror = _epsilon(1.0 - fpr_high, 1.0 - tpr_low, delta)
    return np.maximum(direct, mirror), (tpr_low, tpr_high), (fpr_low, fpr_high)


def _epsilon(rate_low: np.ndarray, rate_high: np.ndarray, delta: float) -> np.ndarray:
    """log((rate_low - delta) / rate_high), 0 where that is not positive.

    ``rate_high`` is a Clopper-Pearson upper end (or one minus a lower end short of 1), so it
    is never 0 and the ratio is finite.
    """
    numerator = rate_low - delta
    positive = numerator > rate_high
    ratio = np.divide(numerator, rate_high, out=np.ones_like(numerator), where=positive)
    return np.log(ratio)


def _clopper_pearson(successes: np.ndarray, trials: int, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized Clopper-Pearson ends: beta quantiles of the binomial's conjugate bounds."""
    k = np.asarray(successes, dtype=float)
    tail = (1.0 - confidence) / 2.0
    # beta.ppf needs positive shape parameters; the edge cases are set exactly afterwards.
    low = beta.ppf(tail, np.maximum(k, 1.0), trials - k + 1.0)
    high = beta.ppf(1.0 - tail, k + 1.0, np.maximum(trials - k, 1.0))
    return np.where(k == 0, 0.0, low), np.where(k == trials, 1.0, high)


def _at_or_above(scores_sorted: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """How many of the sorted scores are at least each threshold."""
    return scores_sorted.size - np.searchsorted(scores_sorted, thresholds, side="left")


def _candidates(pooled: np.ndarray, thresholds: int | Sequence[float] | None) -> np.ndarray:
    if thresholds is None:
        distinct = np.unique(pooled)
        if distinct.size == 1:
            return distinct
        # Midway between neighbours rather than at an observed score: a threshold on a selection
        # score puts the evaluation half's scores just below it on the wrong side for nothing.
        return distinct[:-1] + np.diff(distinct) / 2.0
    if isinstance(thresholds, int | np.integer):
        if thresholds < 1:
            raise ValueError(f"thresholds must be at least 1, got {thresholds}")
        return np.unique(np.quantile(pooled, np.linspace(0.0, 1.0, int(thresholds))))
    values = np.unique(np.asarray(thresholds, dtype=float))
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError("explicit thresholds must be a non-empty list of finite numbers")
    return values


def _split(
    scores: np.ndarray, share: float, rng: np.random.Generator, role: str
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split into a selection and an evaluation half, each sorted for the counts."""
    selected = math.floor(share * scores.size)
    if selected < 1 or selected >= scores.size:
        raise DataError(
            f"the audit needs at least one {role} score on each side of the split, got {scores.size} scores",
            where="attack.audit",
        )
    order = rng.permutation(scores.size)
    return np.sort(scores[order[:selected]]), np.sort(scores[order[selected:]])


def _scores(values: np.ndarray | Sequence[float], role: str) -> np.ndarray:
    scores = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(scores).all():
        raise ValueError(f"{role} scores must be finite numbers")
    return scores


def _check_arguments(delta: float, confidence: float, top: int, selection_share: float) -> None:
    _check_confidence(confidence)
    if not 0 <= delta < 1:
        raise ValueError(f"delta must be in [0, 1), got {delta}")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    if not 0 < selection_share < 1:
        raise ValueError(f"selection_share must be in (0, 1), got {selection_share}")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
