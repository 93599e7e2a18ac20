"""Membership inference aimed at the records most at risk: the outliers (issue 19, must-have 4).

Membership attacks against synthetic data succeed first on outliers (Stadler et al., USENIX
Security 2022; Meeus et al., "Achilles' heels", 2023): an average AUC near 0.5 over thousands
of typical rows can hide a handful of unusual records that are fully exposed. This attack
finds those records with the seed's anomaly-detection recipe and attacks them alone.

Who is who. The holdout is shuffled (seeded) and split in two halves as in
`synthpriv.attacks.membership`: the *reference* half is what the attacker holds of the
population, the other half gives the non-members. An autoencoder (`synthpriv.metrics.outliers`)
fitted on training rows scores every training row and every non-member by its reconstruction
error. For each share q of `TIERS` (1 % and 5 %), the members are the q most outlying training
rows and the non-members the q most outlying non-members, each group ranked within itself.

Why cross-fitted. A network reconstructs the rows it trained on better than others, and worst
of all fails to reconstruct the unusual rows it did *not* train on: ranked by one network fitted
on all training rows, the outlying members would be milder outliers than the outlying
non-members, and an attacker's scores differ between the two for that reason alone. So the
training rows are split in two halves (seeded), a scorer is fitted on each, every training row
is scored by the scorer of the other half and every non-member by one of the two at random:
each row is scored by networks that never saw it, the same way in both groups.

The membership attacks of `synthpriv.attacks.membership` (`ATTACKS`, fitted on the synthetic
and reference rows exactly as there) score those targets, and each tier reports every attack's
ROC AUC and TPR at FPR 1 % with bootstrap intervals (`evaluate_scores`, the same replicates for
every attack), the strongest (as `synthpriv.attacks.membership.strength` ranks them) leading.
Each score is counted in its built-in direction (the membership attack's direction check runs on
its own targets, not on these).

Small tables. A tier is measured only when it holds at least `MIN_TIER_ROWS` members and as
many non-members; a smaller one is reported as too few rows, with no number. When even the
largest tier (5 %) is too small, it is measured on the smallest share that gives both groups
`MIN_TIER_ROWS` rows, if that share is at most `MAX_WIDENED_SHARE`, and says so. A TPR at
FPR 1 % is only resolved with at least 100 non-members (`OutlierTier.tpr_at_fpr_1pct_resolved`);
below that it is kept in the result but neither scored nor shown as a figure: read off the ROC
between FPR 0 and 1/n, a null attack's TPR there is about 1/(n + 1), 9 % with 10 non-members.

Nearer a synthetic row than any real one. For each measured tier the result counts the
outlying training rows that have a synthetic row closer than their nearest other real row
(training or holdout, the row itself left out), and the same count for the outlying
non-members, the control: a generator that learned the population puts no more synthetic rows
next to the one than next to the other. Distances are those of the distance proxies
(`DistanceEncoding`, fitted here on the training and holdout rows). Counts only: no row, score
or distance of a real person leaves this module.

The gate ``max_outlier_membership_auc`` is checked against the strongest attack's AUC on the
smallest measured tier (the most outlying rows); a table too small for any tier gives no
value, so a gate set on it fails (`synthpriv.stages.attack.attack_gates`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import Field

from synthpriv.attacks.base import (
    Attack,
    AttackInputs,
    MembershipScore,
    Score,
    SeedLike,
    membership_scores,
    spawn_seeds,
)
from synthpriv.attacks.distance import DistanceEncoding, nearest_distances
from synthpriv.attacks.membership import ATTACKS, MAX_DENSITY_ROWS, _scorers, evaluate_scores, strength
from synthpriv.config.base import StrictModel
from synthpriv.data.sampling import sample_rows
from synthpriv.data.schema import TableSchema, require_columns
from synthpriv.errors import DataError
from synthpriv.metrics.distances import squared_distance_blocks

if TYPE_CHECKING:
    from synthpriv.metrics.outliers import AutoencoderSettings

#: The shares of most outlying rows attacked, smallest first.
TIERS = (0.01, 0.05)
#: Fewest members, and fewest non-members, a tier is measured on.
MIN_TIER_ROWS = 10
#: The widest share the largest tier may be widened to on a small table.
MAX_WIDENED_SHARE = 0.5
#: Non-members at which an FPR of 1 % is one of the observable rates.
_RESOLVED_NON_MEMBERS = 100


class OutlierTier(StrictModel):
    """The membership attacks on one share of the most outlying rows (aggregates only)."""

    share: float = Field(gt=0, le=1)
    """The share asked for (0.01, 0.05): the most outlying training rows and non-members."""
    measured_share: float | None = None
    """The share measured: `share`, or a wider one on a small table (`note` says so); None when
    the tier has too few rows to measure."""
    members: int = Field(default=0, ge=0)
    """Outlying training rows attacked (0 when not measured)."""
    non_members: int = Field(default=0, ge=0)
    """Outlying held-out non-members attacked (0 when not measured)."""
    note: str = ""
    """Why the tier was not measured, or was widened; empty otherwise."""
    attacks: list[MembershipScore] = Field(default_factory=list)
    """Each membership attack on the tier, in the order of `synthpriv.attacks.membership.ATTACKS`."""
    strongest: str | None = None
    """Name of the strongest attack by `synthpriv.attacks.membership.strength` (None when not measured)."""
    tpr_at_fpr_1pct_resolved: bool = False
    """Whether there are at least 100 non-members, so that TPR at FPR 1 % is measured, not interpolated."""
    members_nearer_synthetic: int | None = None
    """Of the `members`, how many have a synthetic row closer than their nearest other real row."""
    non_members_nearer_synthetic: int | None = None
    """The same count for the `non_members` (the control)."""

    @property
    def measured(self) -> bool:
        return bool(self.attacks)

    def strongest_score(self) -> MembershipScore | None:
        """The strongest attack's figures, or None when the tier was not measured."""
        return next((a for a in self.attacks if a.name == self.strongest), None)


class OutlierMembershipResult(StrictModel):
    """Membership inference on the most outlying rows (module docstring)."""

    tiers: list[OutlierTier]
    """One per share of `TIERS`, smallest first."""
    training_rows: int = Field(ge=1)
    """Training rows scored (a seeded sample above the attack's ``max_rows``)."""
    reference_rows: int = Field(ge=0)
    """Real holdout rows the attacker holds (disjoint from the non-members)."""
    non_member_rows: int = Field(ge=0)
    """Held-out rows the non-member tiers are drawn from."""
    synthetic_rows: int = Field(ge=1)
    median_score_train: float | None = None
    """Median cross-fitted outlier score of the training rows (None when no tier was measured)."""
    median_score_non_members: float | None = None
    """Median outlier score of the non-members: near the training rows', as both are scored by
    networks that never saw them."""
    n_bootstrap: int = Field(ge=0)
    seconds: float = Field(ge=0)

    def gate_tier(self) -> OutlierTier | None:
        """The smallest measured tier: the most outlying rows the table resolves."""
        return next((tier for tier in self.tiers if tier.measured), None)


@dataclass(frozen=True)
class _TierPlan:
    share: float
    measured_share: float | None
    members: int
    non_members: int
    note: str


def outlier_membership(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    seed: SeedLike,
    max_rows: int = 50_000,
    n_bootstrap: int = 200,
    autoencoder: AutoencoderSettings | None = None,
) -> OutlierMembershipResult:
    """Attack the most outlying training rows against equally outlying holdout rows (module docstring).

    Train and holdout are sampled (seeded) to at most ``max_rows`` rows each; ``autoencoder``
    sets the scorer's networks (its defaults when None). Raises DataError when a table is empty
    or lacks a modelled column, or the holdout has fewer than 2 rows.
    """
    started = time.perf_counter()
    _check_arguments(train, holdout, synthetic, [c.name for c in schema.modelled()])
    sample_seed, split_seed, synthetic_seed, scorer_seed, boot_seed, forest_seed = spawn_seeds(seed, 6)
    roles = _Roles.draw(train, holdout, synthetic, max_rows, (sample_seed, split_seed, synthetic_seed))
    plans = plan_tiers(len(roles.train), len(roles.non_member_at))
    figures: dict[str, Any] = {"tiers": [OutlierTier(share=p.share, note=p.note) for p in plans]}
    if any(plan.measured_share for plan in plans):
        ranked = _ranked_rows(roles, schema, scorer_seed, autoencoder)
        largest = max(plans, key=lambda p: p.members)
        members_at = ranked.train_order[: largest.members]
        non_members_at = roles.non_member_at[ranked.non_member_order[: largest.non_members]]
        targets = pd.concat([roles.train.iloc[members_at], roles.holdout.iloc[non_members_at]])
        attack_scores = _attack_scores(targets, roles, schema, forest_seed)
        nearer = _nearer_synthetic(roles, schema, np.r_[members_at, len(roles.train) + non_members_at])
        figures = {
            "tiers": [
                _tier(p, attack_scores, nearer, largest.members, n_bootstrap, boot_seed) for p in plans
            ],
            "median_score_train": ranked.median_train,
            "median_score_non_members": ranked.median_non_members,
        }
    return OutlierMembershipResult(
        training_rows=len(roles.train),
        reference_rows=len(roles.reference),
        non_member_rows=len(roles.non_member_at),
        synthetic_rows=len(roles.synthetic),
        n_bootstrap=n_bootstrap,
        seconds=time.perf_counter() - started,
        **figures,
    )


@dataclass(frozen=True)
class _Roles:
    """Who is who (module docstring): the tables as attacked, and the holdout's two halves."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    synthetic: pd.DataFrame
    reference: pd.DataFrame
    """The attacker's rows: the reference half of the holdout (at most `MAX_DENSITY_ROWS`)."""
    non_member_at: np.ndarray
    """Positions in ``holdout`` of the other half, where the non-members come from."""

    @classmethod
    def draw(
        cls,
        train: pd.DataFrame,
        holdout: pd.DataFrame,
        synthetic: pd.DataFrame,
        max_rows: int,
        seeds: tuple[np.random.SeedSequence, ...],
    ) -> _Roles:
        sample_seed, split_seed, synthetic_seed = seeds
        rng = np.random.default_rng(sample_seed)
        train = sample_rows(train, min(len(train), max_rows), rng)
        holdout = sample_rows(holdout, min(len(holdout), max_rows), rng)
        order = np.random.default_rng(split_seed).permutation(len(holdout))
        half = len(holdout) // 2
        return cls(
            train=train,
            holdout=holdout,
            synthetic=sample_rows(
                synthetic, min(len(synthetic), MAX_DENSITY_ROWS), np.random.default_rng(synthetic_seed)
            ),
            reference=holdout.iloc[np.sort(order[: min(half, MAX_DENSITY_ROWS)])].reset_index(drop=True),
            non_member_at=np.sort(order[half:]),
        )


def plan_tiers(train_rows: int, non_member_rows: int) -> list[_TierPlan]:
    """Each tier's share and row counts, or why it is not measured (module docstring: small tables)."""
    plans = []
    for share in TIERS:
        members, non_members = _count(share, train_rows), _count(share, non_member_rows)
        if members >= MIN_TIER_ROWS and non_members >= MIN_TIER_ROWS:
            plans.append(_TierPlan(share, share, members, non_members, ""))
            continue
        shortage = (
            f"too few rows for {share:.0%}: {share:.0%} of {train_rows:,} training rows and of "
            f"{non_member_rows:,} held-out non-members is {members} and {non_members} rows "
            f"(at least {MIN_TIER_ROWS} of each are needed)"
        )
        plans.append(_TierPlan(share, None, 0, 0, shortage))
    if plans[-1].measured_share is None:
        plans[-1] = _widened(plans[-1], train_rows, non_member_rows)
    return plans


def _widened(plan: _TierPlan, train_rows: int, non_member_rows: int) -> _TierPlan:
    """The largest tier on the smallest share that gives both groups `MIN_TIER_ROWS` rows, if any."""
    fewest = min(train_rows, non_member_rows)
    share = MIN_TIER_ROWS / fewest if fewest else math.inf
    if share > MAX_WIDENED_SHARE:
        return plan
    note = f"{plan.note}; measured on the {share:.0%} most outlying instead"
    return _TierPlan(plan.share, share, _count(share, train_rows), _count(share, non_member_rows), note)


def _count(share: float, rows: int) -> int:
    # The small subtraction keeps 0.07 * 100 (7.000000000000001 in floats) at 7 rows.
    return max(0, math.ceil(share * rows - 1e-9))


def _check_arguments(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str]
) -> None:
    for role, table in (("train", train), ("holdout", holdout), ("synthetic", synthetic)):
        require_columns(table, columns, role)
    if len(holdout) < 2:
        raise DataError(
            "the outlier membership attack needs at least 2 holdout rows (a reference and a non-member)",
            where="holdout table",
        )


@dataclass(frozen=True)
class _Ranked:
    """Training rows and non-members, most outlying first (positions), and their median scores."""

    train_order: np.ndarray
    non_member_order: np.ndarray
    median_train: float
    median_non_members: float


def _ranked_rows(
    roles: _Roles,
    schema: TableSchema,
    seed: np.random.SeedSequence,
    settings: AutoencoderSettings | None,
) -> _Ranked:
    """Cross-fitted scores: the training rows in two halves, a scorer fitted on each, every training
    row scored by the other half's scorer and every non-member by one of the two at random."""
    # Imported here: the scorer trains torch networks, and the registry (which `synthpriv
    # check` imports) should not load torch.
    from synthpriv.metrics.outliers import OutlierScorer

    train, non_members = roles.train, roles.holdout.iloc[roles.non_member_at].reset_index(drop=True)
    fold_seed, assign_seed, first_seed, second_seed = seed.spawn(4)
    in_first = np.zeros(len(train), dtype=bool)
    in_first[np.random.default_rng(fold_seed).permutation(len(train))[: len(train) // 2]] = True
    first, second = (
        OutlierScorer(schema, seed=_integer(child), settings=settings).fit(train[rows].reset_index(drop=True))
        for child, rows in ((first_seed, in_first), (second_seed, ~in_first))
    )
    train_scores = np.empty(len(train))
    for scorer, rows in ((second, in_first), (first, ~in_first)):
        train_scores[rows] = scorer.score(train[rows]).scores
    by_first = np.random.default_rng(assign_seed).random(len(non_members)) < 0.5
    non_member_scores = np.empty(len(non_members))
    for scorer, rows in ((first, by_first), (second, ~by_first)):
        non_member_scores[rows] = scorer.score(non_members[rows]).scores
    return _Ranked(
        train_order=np.argsort(-train_scores, kind="stable"),
        non_member_order=np.argsort(-non_member_scores, kind="stable"),
        median_train=float(np.median(train_scores)),
        median_non_members=float(np.median(non_member_scores)),
    )


def _integer(seed: np.random.SeedSequence) -> int:
    return int(seed.generate_state(1, dtype=np.uint64)[0] >> 1)


def _attack_scores(
    targets: pd.DataFrame, roles: _Roles, schema: TableSchema, forest_seed: np.random.SeedSequence
) -> dict[str, np.ndarray]:
    """Each membership attack's score of every target, fitted on the synthetic and reference rows
    as in `membership_inference` (the same scorers)."""
    columns = [c.name for c in schema.modelled()]
    targets = targets.reset_index(drop=True)
    scorers = _scorers(targets, roles.synthetic, roles.reference, schema, columns, forest_seed)
    return {name: scorers[name]() for name in ATTACKS}


def _nearer_synthetic(roles: _Roles, schema: TableSchema, own: np.ndarray) -> np.ndarray:
    """Whether each target (the real row at each position of ``own``, in train then holdout) has a
    synthetic row strictly closer than its nearest other real row."""
    real = pd.concat([roles.train, roles.holdout], ignore_index=True)
    encoding = DistanceEncoding.fit(real, schema)
    real_x = encoding.transform(real)
    targets_x = real_x[own]
    to_synthetic = nearest_distances(targets_x, encoding.transform(roles.synthetic))
    return to_synthetic < nearest_other(targets_x, real_x, own)


def nearest_other(queries: np.ndarray, reference: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Euclidean distance (float64) of each query row to its nearest ``reference`` row other than
    ``reference[own[i]]``, the query itself."""
    out = np.empty(len(queries))
    for start, block in squared_distance_blocks(queries, reference, chunk=512):
        rows = slice(start, start + len(block))
        block[np.arange(len(block)), own[rows]] = np.inf  # the block is ours until the next one
        nearest = block.argmin(axis=1)
        # The chosen neighbour's distance again in float64: an identical row gives exactly 0.
        difference = reference[nearest].astype(np.float64) - queries[rows]
        out[rows] = np.sqrt(np.einsum("ij,ij->i", difference, difference))
    return out


def _tier(
    plan: _TierPlan,
    attack_scores: dict[str, np.ndarray],
    nearer: np.ndarray,
    largest_members: int,
    n_bootstrap: int,
    boot_seed: np.random.SeedSequence,
) -> OutlierTier:
    """One tier's figures from the scores of the largest tier's targets (its members first)."""
    if plan.measured_share is None:
        return OutlierTier(share=plan.share, note=plan.note)
    m, k = plan.members, plan.non_members
    members, non_members = slice(0, m), slice(largest_members, largest_members + k)
    results = [
        evaluate_scores(
            name,
            scores[members],
            scores[non_members],
            n_bootstrap=n_bootstrap,
            # The same replicates for every attack: their intervals are paired.
            rng=np.random.default_rng(boot_seed),
        )
        for name, scores in attack_scores.items()
    ]
    return OutlierTier(
        share=plan.share,
        measured_share=plan.measured_share,
        members=m,
        non_members=k,
        note=plan.note,
        attacks=results,
        # As the membership attack ranks them; max keeps the first of equal strengths.
        strongest=max(results, key=lambda r: strength(r.auc, r.auc_ci)).name,
        tpr_at_fpr_1pct_resolved=k >= _RESOLVED_NON_MEMBERS,
        members_nearer_synthetic=int(nearer[members].sum()),
        non_members_nearer_synthetic=int(nearer[non_members].sum()),
    )


# --- the registered attack ----------------------------------------------------------------


class OutlierSettings(StrictModel):
    """``attack.settings.outlier_membership``."""

    bootstrap: int = Field(default=200, ge=0, le=10_000)
    """Bootstrap replicates behind the AUC and TPR intervals (0: none)."""


def tier_label(tier: OutlierTier) -> str:
    """``1 % most outlying`` (or the share measured, when widened)."""
    share = tier.measured_share if tier.measured_share is not None else tier.share
    return f"{share:.0%} most outlying"


class OutlierMembershipAttack(Attack[OutlierSettings, OutlierMembershipResult]):
    """The membership attacks on the 1 % and 5 % most outlying rows, by an autoencoder's score."""

    name = "outlier_membership"
    title = "membership inference on the most outlying rows"
    kind = "membership"
    description = (
        "An autoencoder fitted on the training rows ranks every row by its reconstruction error; the "
        "membership attackers then score the most outlying training rows against equally outlying "
        "held-out rows."
    )
    settings_model = OutlierSettings
    result_model = OutlierMembershipResult
    gates = ("max_outlier_membership_auc",)

    def run(self, inputs: AttackInputs, settings: OutlierSettings) -> OutlierMembershipResult:
        return outlier_membership(
            inputs.train,
            inputs.holdout,
            inputs.synthetic,
            inputs.schema,
            seed=inputs.seed_sequence(self.name),
            max_rows=inputs.max_rows,
            n_bootstrap=settings.bootstrap,
        )

    def scores(self, result: OutlierMembershipResult) -> list[Score]:
        rows: list[Score] = []
        for tier in result.tiers:
            strongest = tier.strongest_score()
            if strongest is None:
                continue
            label = f"{strongest.name} membership inference, {tier_label(tier)}"
            rows += _tier_scores(self.name, label, strongest, tier)
        return rows

    def gate_values(self, result: OutlierMembershipResult) -> dict[str, float]:
        tier = result.gate_tier()
        strongest = tier.strongest_score() if tier else None
        return {} if strongest is None else {"max_outlier_membership_auc": strongest.auc}


def _tier_scores(attack: str, label: str, strongest: MembershipScore, tier: OutlierTier) -> list[Score]:
    """AUC, TPR at FPR 1 % where resolved, and the share of members nearer a synthetic row."""
    # A tier's membership rows are the generic ones, less what its few rows cannot resolve.
    kept = {"roc_auc", "tpr_at_fpr_1pct"} if tier.tpr_at_fpr_1pct_resolved else {"roc_auc"}
    rows = [row for row in membership_scores(attack, label, strongest) if row.measure in kept]
    nearer, control = tier.members_nearer_synthetic or 0, tier.non_members_nearer_synthetic or 0
    rows.append(
        Score(
            attack=attack,
            label=f"{tier_label(tier)} training rows nearer a synthetic row than any other real row",
            measure="share",
            value=nearer / max(tier.members, 1),
            control=control / max(tier.non_members, 1),
        )
    )
    return rows
