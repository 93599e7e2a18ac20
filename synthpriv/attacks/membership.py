"""Membership inference against a synthetic table (issue 6): four attacks, scored the same way.

Who is who. The generator saw the train rows and never the holdout rows. The holdout is
shuffled (seeded) and split in two disjoint halves:

- the *reference* half (``len(holdout) // 2`` rows, at most `MAX_DENSITY_ROWS`): real rows from
  the population that the attacker is assumed to hold, as in DOMIAS and LOGAN. They calibrate
  what "typical" looks like, so that a record is flagged for sitting closer to the synthetic
  data than the population explains, not merely for being common;
- the other half gives the *non-member* targets;
- the *member* targets are a seeded sample of train rows, as many as the non-members:
  ``n = min(len(train), len(holdout) - len(holdout) // 2, max_rows)`` of each.

A target's role never leaks into the attack: the reference and non-member halves are disjoint,
and every fitted piece (encoding, projection, densities, classifier and its ranks) sees only
the synthetic and reference rows. The synthetic table is sampled (seeded) to at most
`MAX_DENSITY_ROWS` rows.

Which way a score points is decided before the targets are scored, on the reference half
(issue 20). A score built to be higher for members can point the other way on some tables
(a generator that collapsed onto a few modes puts its rows away from the training rows it
missed): its AUC is then clearly below 0.5, and an attacker holding a reference set would
flip it. So each attack is first run once more as that attacker would check it:
``c = min(len(reference) // 2, spare train rows, CALIBRATION_ROWS)`` reference rows are set
aside as calibration non-members, the attack is fitted on the synthetic rows and the rest of
the reference (a fresh encoding, projection and forest), and it scores them against ``c``
calibration members, train rows that are not member targets. When the calibration AUC's 95 %
interval (Hanley and McNeil's normal interval, so that it does not depend on the bootstrap
setting) lies entirely below 0.5, the attack is *reversed*: its evaluation scores are negated
before any figure is computed, and every figure it reports is that of the flipped score. The
evaluation targets never take part in that choice, so the flipped figures are not selected
on the rows they are measured on. Without spare train rows or with fewer than 2 reference
rows there is no calibration, and every score keeps its built-in direction.

The attacks (higher score = "member"):

1. ``distance``, the calibrated distance-to-closest-record attack: with d_syn a target's
   distance to its nearest synthetic row and d_ref to its nearest reference row (the
   `DistanceEncoding` of `synthpriv.attacks.distance`, fitted here on synthetic + reference rows,
   what the attacker holds), score = -(d_syn + eps) / (d_ref + eps). The eps sits on both sides
   so that a record with exact copies in both sets scores a neutral ratio of 1 rather than the
   top score: it is a common record, not evidence of memorisation. eps = 1e-6 of a column's
   range (a category mismatch is 1), far below the distances that separate real rows.
2. ``domias`` (van Breugel et al., AISTATS 2023): score = log p_syn(x) - log p_ref(x), the
   log ratio of the synthetic data's density to the population's at the target. Both densities
   are nearest-neighbour estimates, p(x) = k / (N V_d r_k(x)^d) with k = 1, in a shared
   embedding: the encoded rows projected on their first `EMBEDDING_DIMENSIONS` principal
   components (fitted on synthetic + reference rows) and whitened, so d <= 10. In logs,
   log(N_ref / N_syn) + d (log r_ref - log r_syn): no power r^d to underflow, eps keeps an
   exact copy (r = 0) finite, and nearest neighbours come from `nearest_distances`' chunked
   float32 products: on Adult (16k targets, 32k + 8k rows, one core) the attack with its
   bootstrap takes about 1 s and the distance attack 2 s.
   Why k-NN and not a Gaussian KDE: a fixed bandwidth cannot resolve the spikes a memorising
   generator leaves. On a 2,000-row mixed table whose "synthetic" data copies the train rows,
   the KDE attack (each bandwidth picked by held-out likelihood, or Scott's rule, or a fiftieth
   of it) reached AUC 0.54-0.73 in 5, 10 or all 16 whitened dimensions, against 1.00 for this
   estimator and for attack 1: at small bandwidths a log KDE ratio becomes a difference of
   squared distances, dominated by how isolated a target is rather than by whether it was
   copied; at large ones the copy is averaged away. The k-NN estimate adapts its scale to the
   local spacing. Why k = 1: with k >= 2 a copied row is only one of k neighbours and its
   signal shrinks like ((k - 1) / k)^(1/d). The price of k = 1 is honesty about overlap: in
   one common embedding this ranks targets exactly as the ratio r_ref / r_syn there, so
   DOMIAS differs from attack 1 by its space, not its principle: whitened main axes of
   variation, in which a rare but structured direction counts as much as a dominant one and
   the low-variance rest (mostly noise) is dropped. Where the two disagree a generator's
   leakage lives in directions one of them down-weights.
3. ``classifier`` (LOGAN, Hayes et al. 2019, black-box variant without auxiliary generator
   access): the attacker's own classifier, trained to tell synthetic rows (1) from reference
   rows (0); a target's score is P(synthetic). The classifier is a forest of `FOREST_TREES`
   extremely randomized trees (scikit-learn's ExtraTreesClassifier, sqrt(columns) features tried
   per split) grown until every leaf is pure or its rows are alike, on the columns as numbers:
   categories as codes, numbers and datetimes as ranks (`_ranks`). Overfitting is the point, and
   legitimate for an attacker: the trees memorise the synthetic rows, so a target that is one of
   them lands in its own pure leaf and scores 1 in every tree, while a non-member shares leaves
   with reference rows in some trees. Where the generator does not copy, the forest is a local
   estimate of how much denser the synthetic rows are than the population, averaged over random
   partitions. A model that generalises cannot single rows out: the HistGradientBoosting
   classifier of the detection metric (leaves of at least 20 rows) reached AUC 0.53 (TPR@1 %
   0.01) on UCI Adult when the "synthetic" table is the 32,561 train rows, against 0.996 (TPR
   1.00) for this forest; on a third real sample both give 0.50. Other choices measured there on
   the copy: with 64 trees, one-hot features 0.969 (TPR 0.16), codes and raw numbers 0.990
   (0.52), codes and ranks 0.993 (0.70); a random forest's bootstrap leaves a member out of a
   third of the trees (0.83 with 32); HistGradientBoosting with one-row leaves 0.62 (500
   iterations) or 0.72 (255 leaves, 300 iterations: 15 s, 56 s on the control). The forest takes
   2.5-3.5 s on Adult with two cores, 7 s at the largest sizes (50k + 50k rows, 20k targets).
   Trees are grown `_TREES_PER_BATCH` at a time and their votes summed, so that memory stays
   bounded (module constants).
4. ``dcr``, the plain distance to the closest record: score = -d_syn alone, in the same
   encoding. It is the attack of the distance proxies (`synthpriv.attacks.distance`) on these
   targets, with this module's direction check; its direction is the one the proxies' figure
   is counted in (`synthpriv.attacks.summary`).

Each attack is scored on the n members (positives) and n non-members: ROC AUC; TPR at FPR 1 %
and 0.1 %, read off the ROC curve with linear interpolation between its vertices (the rate a
randomised threshold reaches); the attacker's advantage max(TPR - FPR); 95 % percentile
bootstrap intervals of AUC and TPR@1 %, members and non-members resampled separately, every
replicate scored at once from row weights (`synthpriv.metrics.features.bootstrap_weights`), the
same replicates for every attack; and the ROC curve interpolated on at most 200 points for
plots. The intervals hold the attack fixed: they measure the uncertainty from which targets
were drawn, not from refitting the attack. With n non-members the smallest non-zero FPR is 1/n,
so TPR@0.1 % is only resolved when n >= 1000 (`MembershipResult.tpr_at_fpr_0_1pct_resolved`).

Results hold aggregates only: no per-record score, distance or value.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.ensemble import ExtraTreesClassifier

from synthpriv.attacks.base import (
    Attack,
    AttackInputs,
    AttackNeeds,
    MembershipScore,
    Score,
    SeedLike,
    membership_scores,
    spawn_seeds,
)
from synthpriv.attacks.distance import DistanceEncoding, nearest_distances
from synthpriv.config.base import StrictModel
from synthpriv.data.schema import TableSchema, require_columns
from synthpriv.errors import DataError
from synthpriv.metrics.features import (
    CONTINUOUS,
    bootstrap_weights,
    group_sums,
    model_frames,
    percentile_interval,
    weighted_roc_auc,
)

#: The attacks, in the order they are reported (ties of the strongest go to the earlier one).
ATTACKS = ("distance", "domias", "classifier", "dcr")
#: Most calibration members (and as many calibration non-members) behind an attack's direction.
CALIBRATION_ROWS = 2_000
_Z95 = 1.959963984540054
#: Synthetic rows and reference rows used at most (seeded samples above it).
MAX_DENSITY_ROWS = 50_000
#: Principal components of the DOMIAS embedding.
EMBEDDING_DIMENSIONS = 10
#: Trees of the classifier attack's forest.
FOREST_TREES = 128
# Trees grown at once: a fully grown tree on N rows has at most 2N nodes of 80 bytes, so a batch
# of 8 on the largest training set (2 x MAX_DENSITY_ROWS rows) holds at most 128 MB.
_TREES_PER_BATCH = 8
# Threads growing one batch (the attack's share of a shared machine).
_FOREST_THREADS = 4
# Codes of a missing value in the forest's features: below every rank (>= -0.5) and category code (>= 0).
_MISSING_CODE = -1.0
#: The FPRs at which the TPR is reported.
_FPR_1PCT, _FPR_0_1PCT = 0.01, 0.001
#: Most points of the reported ROC curve.
_CURVE_POINTS = 200
#: Added to both distances of the calibrated distance attack (encoded units: a category
#: mismatch is 1, a column's whole range is 1).
_EPS = 1e-6
# Bounds one block of bootstrap weights (elements, float64): 16 MiB, as in `features`.
_BOOTSTRAP_ELEMENTS = 1 << 21


class AttackResult(MembershipScore):
    """One membership attack's figures (`MembershipScore`), and the direction its score was counted in."""

    reversed: bool = False
    """The score was flipped (higher = non-member) before the targets were scored, because on the
    calibration targets its AUC was clearly below 0.5 (module docstring). Every figure of this
    result is then that of the flipped score."""
    calibration_auc: float | None = Field(default=None, ge=0, le=1)
    """AUC of the score as built on the calibration targets (None: no calibration was possible)."""
    calibration_auc_ci: tuple[float, float] | None = None
    """Its 95 % normal interval (Hanley and McNeil 1982); entirely below 0.5 = reversed."""


def strength(auc: float, auc_ci: tuple[float, float]) -> tuple[float, float]:
    """How attacks are ranked: by the lower end of the AUC's interval, then by the AUC.

    Why the lower end: an attack measured on few targets can reach a high AUC by chance; the
    strongest is the one whose figure the rows support best (issue 20).
    """
    return auc_ci[0], auc


class MembershipResult(StrictModel):
    """The membership attacks on one synthetic table (module docstring)."""

    attacks: list[AttackResult]
    """In the order of `ATTACKS`."""
    strongest: str
    """Name of the strongest attack by `strength` (ties: the earlier one)."""
    members: int = Field(ge=1)
    """Member targets: a seeded sample of train rows."""
    non_members: int = Field(ge=1)
    """Non-member targets: holdout rows outside the reference half."""
    reference_rows: int = Field(ge=1)
    """Real holdout rows the attacker holds (disjoint from the non-member targets)."""
    synthetic_rows: int = Field(ge=1)
    """Synthetic rows used (a seeded sample above `MAX_DENSITY_ROWS`)."""
    tpr_at_fpr_0_1pct_resolved: bool
    """Whether there are at least 1000 non-members, so that an FPR of 0.1 % is one of the
    observable rates and `AttackResult.tpr_at_fpr_0_1pct` is measured rather than interpolated."""
    n_bootstrap: int = Field(ge=0)
    calibration_rows: int = Field(default=0, ge=0)
    """Calibration members, and as many calibration non-members, behind each attack's direction
    (0: none, every score kept its built-in direction)."""
    seconds: float = Field(ge=0)
    """Wall-clock time of the whole evaluation."""

    def attack(self, name: str) -> AttackResult:
        """The result of the attack called ``name``."""
        for result in self.attacks:
            if result.name == name:
                return result
        raise KeyError(name)


def membership_inference(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    seed: SeedLike,
    max_rows: int = 10_000,
    n_bootstrap: int = 200,
) -> MembershipResult:
    """Run the distance, DOMIAS, classifier and dcr membership attacks (module docstring).

    ``max_rows`` caps the members and the non-members (each). Raises DataError when a table
    is empty or lacks a modelled column, or the holdout has fewer than 2 rows (it must give
    both a reference and a non-member).
    """
    started = time.perf_counter()
    columns = [c.name for c in schema.modelled()]
    _check_arguments(train, holdout, synthetic, columns, max_rows, n_bootstrap)
    # A child's stream depends on its index only: adding a child leaves the others as they were.
    split_seed, member_seed, synthetic_seed, boot_seed, forest_seed, calibration_seed = spawn_seeds(seed, 6)
    roles = _roles(train, holdout, synthetic, max_rows, (split_seed, member_seed, synthetic_seed))
    n = len(roles.members)
    calibration = _calibration(train, roles, calibration_seed)
    directions = (
        _directions(calibration, roles.synthetic, schema, columns, forest_seed) if calibration else {}
    )
    targets = pd.concat([roles.members, roles.non_members], ignore_index=True)
    scorers = _scorers(targets, roles.synthetic, roles.reference, schema, columns, forest_seed)
    results = _score_each(scorers, n, n_bootstrap, boot_seed, directions)
    # max keeps the first of equal strengths
    strongest = max(results, key=lambda r: strength(r.auc, r.auc_ci)).name
    return MembershipResult(
        attacks=results,
        strongest=strongest,
        members=n,
        non_members=n,
        reference_rows=len(roles.reference),
        synthetic_rows=len(roles.synthetic),
        tpr_at_fpr_0_1pct_resolved=n >= 1000,
        n_bootstrap=n_bootstrap,
        calibration_rows=len(calibration.members) if calibration else 0,
        seconds=time.perf_counter() - started,
    )


def _scorers(
    targets: pd.DataFrame,
    synthetic: pd.DataFrame,
    reference: pd.DataFrame,
    schema: TableSchema,
    columns: list[str],
    forest_seed: np.random.SeedSequence,
) -> dict[str, Callable[[], np.ndarray]]:
    """Each attack's scoring of ``targets`` by an attacker holding ``synthetic`` and ``reference`` rows."""
    # The attacker fits its encoding on what it holds: synthetic and reference rows.
    encoding = DistanceEncoding.fit(pd.concat([synthetic, reference], ignore_index=True), schema)
    synthetic_x, reference_x = encoding.transform(synthetic), encoding.transform(reference)
    targets_x = encoding.transform(targets)
    to_synthetic: list[np.ndarray] = []  # d_syn, shared by the distance and dcr attacks

    def nearest_synthetic() -> np.ndarray:
        if not to_synthetic:
            to_synthetic.append(nearest_distances(targets_x, synthetic_x))
        return to_synthetic[0]

    return {
        "distance": lambda: _distance_scores(nearest_synthetic(), targets_x, reference_x),
        "domias": lambda: _domias_scores(targets_x, synthetic_x, reference_x),
        "classifier": lambda: _classifier_scores(targets, synthetic, reference, schema, columns, forest_seed),
        "dcr": lambda: -nearest_synthetic(),
    }


def _score_each(
    scorers: dict[str, Callable[[], np.ndarray]],
    n: int,
    n_bootstrap: int,
    boot_seed: np.random.SeedSequence,
    directions: dict[str, _Direction],
) -> list[AttackResult]:
    """Each attack's figures, in the order of `ATTACKS`, from its scores (n members, then non-members),
    flipped where its calibration said so."""
    results = []
    for name in ATTACKS:
        attack_started = time.perf_counter()
        direction = directions.get(name)
        sign = -1.0 if direction is not None and direction.reversed else 1.0
        scores = sign * scorers[name]()
        figures = evaluate_scores(
            name,
            scores[:n],
            scores[n:],
            n_bootstrap=n_bootstrap,
            # The same replicates for every attack: their intervals are paired.
            rng=np.random.default_rng(boot_seed),
            started=attack_started,
        )
        results.append(
            AttackResult(
                **figures.model_dump(),
                reversed=sign < 0,
                calibration_auc=direction.auc if direction else None,
                calibration_auc_ci=direction.auc_ci if direction else None,
            )
        )
    return results


class _Roles(NamedTuple):
    """Who is who (module docstring): the attacker's reference rows, the targets, the synthetic rows."""

    reference: pd.DataFrame
    members: pd.DataFrame
    non_members: pd.DataFrame
    synthetic: pd.DataFrame
    member_index: np.ndarray
    """Positions of the member targets in the train table (calibration members avoid them)."""


def _roles(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    max_rows: int,
    seeds: tuple[np.random.SeedSequence, ...],
) -> _Roles:
    """Reference rows, members, non-members and synthetic rows (module docstring: who is who)."""
    split_seed, member_seed, synthetic_seed = seeds
    order = np.random.default_rng(split_seed).permutation(len(holdout))
    half = len(holdout) // 2
    n = min(len(train), len(holdout) - half, max_rows)
    member_index = np.random.default_rng(member_seed).choice(len(train), size=n, replace=False)
    return _Roles(
        reference=_rows(holdout, order[: min(half, MAX_DENSITY_ROWS)]),
        members=_rows(train, member_index),
        non_members=_rows(holdout, order[half : half + n]),
        synthetic=_rows(
            synthetic,
            np.random.default_rng(synthetic_seed).permutation(len(synthetic))[:MAX_DENSITY_ROWS],
        ),
        member_index=member_index,
    )


# --- which way each score points ------------------------------------------------------------


class _Calibration(NamedTuple):
    """The calibrating attacker's rows: its reference, and targets apart from the evaluation's."""

    reference: pd.DataFrame
    """The reference rows not set aside (what the attack is fitted on)."""
    members: pd.DataFrame
    """Train rows that are not member targets."""
    non_members: pd.DataFrame
    """Reference rows set aside, as many as ``members``."""


class _Direction(NamedTuple):
    auc: float
    auc_ci: tuple[float, float]

    @property
    def reversed(self) -> bool:
        return self.auc_ci[1] < 0.5


def _calibration(train: pd.DataFrame, roles: _Roles, seed: np.random.SeedSequence) -> _Calibration | None:
    """Calibration targets drawn apart from the evaluation's (module docstring); None when there are none."""
    spare = np.setdiff1d(np.arange(len(train)), roles.member_index)
    size = min(len(roles.reference) // 2, spare.size, CALIBRATION_ROWS)
    if size < 1:
        return None
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(roles.reference))
    return _Calibration(
        reference=_rows(roles.reference, order[size:]),
        members=_rows(train, rng.choice(spare, size=size, replace=False)),
        non_members=_rows(roles.reference, order[:size]),
    )


def _directions(
    calibration: _Calibration,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    columns: list[str],
    forest_seed: np.random.SeedSequence,
) -> dict[str, _Direction]:
    """Each attack's AUC, with its interval, on the calibration targets: fitted on the calibrating
    attacker's reference rows, never on an evaluation target."""
    size = len(calibration.members)
    targets = pd.concat([calibration.members, calibration.non_members], ignore_index=True)
    scorers = _scorers(targets, synthetic, calibration.reference, schema, columns, forest_seed)
    out = {}
    for name in ATTACKS:
        scores = scorers[name]()
        out[name] = _Direction(*auc_normal_interval(scores[:size], scores[size:]))
    return out


def auc_normal_interval(members: np.ndarray, non_members: np.ndarray) -> tuple[float, tuple[float, float]]:
    """ROC AUC of ``members`` against ``non_members`` (ties count half) and its 95 % normal interval,
    with Hanley and McNeil's (1982) standard error, clipped to [0, 1].

    SE^2 = (A (1 - A) + (m - 1) (Q1 - A^2) + (n - 1) (Q2 - A^2)) / (m n), Q1 = A / (2 - A),
    Q2 = 2 A^2 / (1 + A), for m members and n non-members.
    """
    m, n = len(members), len(non_members)
    positive = np.r_[np.ones(m, dtype=bool), np.zeros(n, dtype=bool)]
    auc = float(weighted_roc_auc(np.ones((1, m + n)), positive, np.r_[members, non_members])[0])
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    variance = (auc * (1 - auc) + (m - 1) * (q1 - auc * auc) + (n - 1) * (q2 - auc * auc)) / (m * n)
    half = _Z95 * math.sqrt(max(variance, 0.0))
    return auc, (max(0.0, auc - half), min(1.0, auc + half))


def _check_arguments(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    columns: list[str],
    max_rows: int,
    n_bootstrap: int,
) -> None:
    """ValueError for a bad limit; DataError for a table without a modelled column, or too short a holdout."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be at least 0, got {n_bootstrap}")
    for role, table in (("train", train), ("holdout", holdout), ("synthetic", synthetic)):
        require_columns(table, columns, role)
    if len(holdout) < 2:
        raise DataError(
            "membership inference needs at least 2 holdout rows (a reference and a non-member)",
            where="holdout table",
        )


def evaluate_scores(
    name: str,
    member_scores: np.ndarray,
    non_member_scores: np.ndarray,
    *,
    rng: np.random.Generator,
    n_bootstrap: int = 200,
    started: float | None = None,
) -> MembershipScore:
    """AUC, TPR at FPR 1 % and 0.1 %, advantage, bootstrap intervals and ROC curve of one attack.

    Higher scores mean "member". Members and non-members are resampled separately
    (``n_bootstrap`` replicates); ``started`` (a ``time.perf_counter()`` value) is where
    `AttackResult.seconds` counts from, by default this call.
    """
    started = time.perf_counter() if started is None else started
    members = np.asarray(member_scores, dtype=float)
    non_members = np.asarray(non_member_scores, dtype=float)
    if members.size == 0 or non_members.size == 0:
        raise ValueError("an attack needs at least one member and one non-member")
    if not (np.isfinite(members).all() and np.isfinite(non_members).all()):
        raise ValueError("attack scores must be finite")
    scores = np.concatenate([members, non_members])
    positive = np.r_[np.ones(members.size, dtype=bool), np.zeros(non_members.size, dtype=bool)]
    # Distinct scores and each row's rank among them, once for the point estimate and every replicate.
    _, rank = np.unique(scores, return_inverse=True)
    rank = rank.ravel()

    ones = np.ones((1, scores.size))
    auc = float(weighted_roc_auc(ones, positive, scores)[0])
    fpr, tpr = _roc(ones, positive, rank)
    tpr_1, tpr_01 = _tpr_at(fpr, tpr, np.array([_FPR_1PCT, _FPR_0_1PCT]))[0]
    advantage = float(np.max(tpr - fpr))

    auc_replicates, tpr_replicates = [], []
    for weights in _stratified_weights(members.size, non_members.size, n_bootstrap, rng):
        auc_replicates.append(weighted_roc_auc(weights, positive, scores))
        replicate_fpr, replicate_tpr = _roc(weights, positive, rank)
        tpr_replicates.append(_tpr_at(replicate_fpr, replicate_tpr, np.array([_FPR_1PCT]))[:, 0])
    empty = [np.empty(0)]
    curve_fpr, curve_tpr = _curve(fpr[0], tpr[0], non_members.size)
    return MembershipScore(
        name=name,
        auc=auc,
        auc_ci=percentile_interval(np.concatenate(auc_replicates or empty), auc),
        tpr_at_fpr_1pct=float(tpr_1),
        tpr_at_fpr_1pct_ci=percentile_interval(np.concatenate(tpr_replicates or empty), float(tpr_1)),
        tpr_at_fpr_0_1pct=float(tpr_01),
        advantage=min(1.0, max(0.0, advantage)),
        roc_fpr=curve_fpr.tolist(),
        roc_tpr=curve_tpr.tolist(),
        seconds=time.perf_counter() - started,
    )


# --- the attacks --------------------------------------------------------------------------


def _distance_scores(to_synthetic: np.ndarray, targets: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """-(d_syn + eps) / (d_ref + eps): near the synthetic rows, far from what the population explains."""
    to_reference = nearest_distances(targets, reference)
    return -(to_synthetic + _EPS) / (to_reference + _EPS)


def _domias_scores(targets: np.ndarray, synthetic: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """log p_syn - log p_ref with nearest-neighbour densities in the whitened principal-component
    embedding."""
    project = _whitening_projection(np.vstack([synthetic, reference]))
    if project is None:
        # Every synthetic and reference row encodes alike: no density tells targets apart.
        return np.zeros(len(targets))
    z_synthetic, z_reference, z_targets = project(synthetic), project(reference), project(targets)
    dims = z_targets.shape[1]
    # p(x) = k / (N V_d r_k(x)^d) with k = 1; V_d cancels in the ratio. Logs of distances, not
    # powers: r^d underflows in 10 dimensions, and eps keeps an exact copy (r = 0) finite.
    log_r_synthetic = np.log(nearest_distances(z_targets, z_synthetic) + _EPS)
    log_r_reference = np.log(nearest_distances(z_targets, z_reference) + _EPS)
    return math.log(len(reference) / len(synthetic)) + dims * (log_r_reference - log_r_synthetic)


def _classifier_scores(
    targets: pd.DataFrame,
    synthetic: pd.DataFrame,
    reference: pd.DataFrame,
    schema: TableSchema,
    columns: list[str],
    seed: np.random.SeedSequence,
) -> np.ndarray:
    """P(synthetic) of a forest of fully grown extremely randomized trees trained on synthetic (1)
    against reference (0) rows, grown `_TREES_PER_BATCH` at a time so that memory stays bounded."""
    synthetic_x, reference_x, targets_x = _forest_features(synthetic, reference, targets, schema, columns)
    x = np.vstack([synthetic_x, reference_x])
    y = np.r_[np.ones(len(synthetic_x), dtype=np.int64), np.zeros(len(reference_x), dtype=np.int64)]
    states = seed.generate_state(FOREST_TREES // _TREES_PER_BATCH)
    total = np.zeros(len(targets_x))
    for state in states:
        # Leaves of one row (the default min_samples_leaf=1): the attacker's model may memorise
        # the synthetic rows, and a target that is one of them then lands in its pure leaf.
        forest = ExtraTreesClassifier(
            n_estimators=_TREES_PER_BATCH,
            max_features="sqrt",
            n_jobs=min(_FOREST_THREADS, os.cpu_count() or 1),
            random_state=int(state),
        ).fit(x, y)
        total += forest.predict_proba(targets_x)[:, 1]
    return total / len(states)


def _forest_features(
    synthetic: pd.DataFrame,
    reference: pd.DataFrame,
    targets: pd.DataFrame,
    schema: TableSchema,
    columns: list[str],
) -> list[np.ndarray]:
    """The three tables as float32 matrices (rows x columns) for the forest.

    A category is its code in `model_frames`' shared category set; a number (or datetime) its
    rank among the distinct synthetic and reference values (`_ranks`). Missing values of
    either kind are `_MISSING_CODE`, so that no scikit-learn version needs NaN support.
    """
    frames = model_frames([synthetic, reference, targets], schema, columns)
    out = [np.empty((len(frame), len(columns)), dtype=np.float32) for frame in frames]
    for j, name in enumerate(columns):
        if schema[name].kind in CONTINUOUS:
            values = [frame[name].to_numpy(dtype=float) for frame in frames]
            known = np.concatenate(values[:2])
            distinct = np.unique(known[~np.isnan(known)])
            for matrix, column in zip(out, values):
                matrix[:, j] = _ranks(column, distinct)
        else:
            for matrix, frame in zip(out, frames):
                # pandas codes a missing category -1, which is `_MISSING_CODE`.
                matrix[:, j] = frame[name].cat.codes.to_numpy()
    return out


def _ranks(values: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """Each value's position among the sorted ``distinct`` values; between two of them (or
    beyond the ends) it gets the half-way position, and missing values `_MISSING_CODE`.

    Why ranks: an extremely randomized tree draws each threshold uniformly between a node's
    smallest and largest value, so on a skewed column (Adult's capital_gain: mostly 0, up to
    99,999) raw-value thresholds almost never split the bulk; ranks space the distinct values
    evenly. And float32, the trees' type, holds ranks exactly, where it would round a datetime
    in seconds to about 2 minutes and merge distinct rows.
    """
    position = np.searchsorted(distinct, values).astype(np.float64)
    ranked = np.where(np.isin(values, distinct), position, position - 0.5)
    return np.where(np.isnan(values), _MISSING_CODE, ranked)


# --- density estimation -------------------------------------------------------------------


def _whitening_projection(rows: np.ndarray) -> Callable[[np.ndarray], np.ndarray] | None:
    """Map onto the first `EMBEDDING_DIMENSIONS` principal components of ``rows``, each scaled to
    unit variance.

    Components with (numerically) no variance are dropped; None when none is left.
    """
    center = rows.mean(axis=0, dtype=np.float64)
    centred = rows.astype(np.float64) - center
    # The covariance is width x width (about 100 x 100): its eigenvectors cost far less than an
    # SVD of the rows.
    covariance = (centred.T @ centred) / max(len(rows) - 1, 1)
    values, vectors = np.linalg.eigh(covariance)
    keep = np.argsort(values)[::-1][:EMBEDDING_DIMENSIONS]
    keep = keep[values[keep] > 1e-9 * max(float(values.max()), 1e-300)]
    if keep.size == 0:
        return None
    basis = vectors[:, keep] / np.sqrt(values[keep])

    def project(x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - center) @ basis

    return project


# --- ROC ------------------------------------------------------------------------------------


def _roc(weights: np.ndarray, positive: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC vertices of each replicate (row of ``weights``): (replicates x (distinct scores + 1)) FPR and TPR.

    Thresholds run from the highest distinct score down; the first vertex is (0, 0) and the
    last (1, 1). Rows sharing a score move both rates at once (a diagonal step), as in sklearn.
    """
    n_scores = int(rank.max()) + 1
    sums = group_sums(weights, rank * 2 + positive.astype(np.int64), 2 * n_scores)
    sums = sums.reshape(weights.shape[0], n_scores, 2)[:, ::-1, :]
    cumulative = np.zeros((weights.shape[0], n_scores + 1, 2))
    np.cumsum(sums, axis=1, out=cumulative[:, 1:, :])
    totals = cumulative[:, -1:, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = cumulative / np.where(totals > 0, totals, 1.0)
    return rates[:, :, 0], rates[:, :, 1]


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """TPR at each FPR in ``targets`` for each ROC (row): (replicates x targets).

    Linear between the last vertex with FPR <= target (the top of a vertical run there) and
    the next one: the rate a threshold randomised between the two reaches.
    """
    last = fpr.shape[1] - 1
    # Rows are non-decreasing, so counting the vertices at or below the target finds the last one.
    below = (fpr[:, None, :] <= targets[None, :, None]).sum(axis=2) - 1
    after = np.minimum(below + 1, last)
    f0, f1 = np.take_along_axis(fpr, below, axis=1), np.take_along_axis(fpr, after, axis=1)
    t0, t1 = np.take_along_axis(tpr, below, axis=1), np.take_along_axis(tpr, after, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(f1 > f0, (targets[None, :] - f0) / np.where(f1 > f0, f1 - f0, 1.0), 0.0)
    return np.clip(t0 + share * (t1 - t0), 0.0, 1.0)


def _curve(fpr: np.ndarray, tpr: np.ndarray, n_negative: int) -> tuple[np.ndarray, np.ndarray]:
    """The ROC curve on at most `_CURVE_POINTS` FPRs: about half log-spaced from min(1/n, 0.1 %)
    (low FPRs matter most for privacy), half evenly spaced, the two reported FPRs (so that a
    plot's marked points lie on its curve), and the start (0, 0)."""
    logarithmic = (_CURVE_POINTS - 3) // 2
    grid = np.unique(
        np.concatenate(
            [
                np.geomspace(min(1.0 / n_negative, _FPR_0_1PCT), 1.0, logarithmic),
                np.linspace(0.0, 1.0, _CURVE_POINTS - 3 - logarithmic),
                [_FPR_0_1PCT, _FPR_1PCT],
            ]
        )
    )
    values = _tpr_at(fpr[None, :], tpr[None, :], grid)[0]
    # A vertical run at FPR 0 makes (0, 0) and (0, TPR(0)) two points of the curve.
    return np.r_[0.0, grid], np.r_[0.0, values]


# --- helpers --------------------------------------------------------------------------------


def _stratified_weights(
    n_members: int, n_non_members: int, n_bootstrap: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Blocks of bootstrap weights (replicates x members + non-members), each group resampled on its own.

    Two `bootstrap_weights` streams whose element limits give both the same replicates per
    block, so that their blocks line up; each block is bounded like one of theirs.
    """
    per_block = max(1, _BOOTSTRAP_ELEMENTS // (n_members + n_non_members))
    members = bootstrap_weights(n_members, n_bootstrap, rng, max_elements=per_block * n_members)
    non_members = bootstrap_weights(n_non_members, n_bootstrap, rng, max_elements=per_block * n_non_members)
    for member_w, non_member_w in zip(members, non_members):
        yield np.hstack([member_w, non_member_w])


def _rows(table: pd.DataFrame, index: np.ndarray) -> pd.DataFrame:
    return table.iloc[np.sort(index)].reset_index(drop=True)


# --- the registered attack ----------------------------------------------------------------


class MembershipSettings(StrictModel):
    """``attack.settings.membership``."""

    bootstrap: int = Field(default=200, ge=0, le=10_000)
    """Bootstrap replicates behind the AUC and TPR intervals (0: none)."""


class MembershipAttack(Attack[MembershipSettings, MembershipResult]):
    """The distance, DOMIAS, classifier and dcr attackers with half the holdout as their reference set."""

    name = "membership"
    title = "membership inference (reference set)"
    kind = "membership"
    description = (
        "Four attackers, each holding the synthetic table and real rows from the population (half of the "
        "holdout), score training rows (members) and other held-out rows (non-members)."
    )
    settings_model = MembershipSettings
    result_model = MembershipResult
    needs = AttackNeeds(reference_rows=True)
    gates = ("max_membership_auc",)

    def run(self, inputs: AttackInputs, settings: MembershipSettings) -> MembershipResult:
        return membership_inference(
            inputs.train,
            inputs.holdout,
            inputs.synthetic,
            inputs.schema,
            seed=inputs.seed_sequence(self.name),
            max_rows=inputs.max_rows,
            n_bootstrap=settings.bootstrap,
        )

    def scores(self, result: MembershipResult) -> list[Score]:
        return [
            row
            for attack in result.attacks
            for row in membership_scores(self.name, f"{attack.name} {self.title}", attack)
        ]

    def gate_values(self, result: MembershipResult) -> dict[str, float]:
        # The strongest attacker, as a real attacker would pick it. The attack stage checks the gate
        # against the strongest of every membership attack (`AttackSummary.strongest_membership`).
        return {"max_membership_auc": result.attack(result.strongest).auc}
