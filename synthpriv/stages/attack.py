"""Stage 4, attack: privacy risks of the synthetic table, with real held-out rows as the control."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel

from synthpriv.attacks.anonymeter import RiskResult, inference_risk, linkability_risk
from synthpriv.attacks.audit import AuditResult, epsilon_lower_bound
from synthpriv.attacks.distance import DistanceHistogram, dcr_evaluation, exact_match_share
from synthpriv.attacks.membership import MembershipResult, membership_inference
from synthpriv.attacks.singling_out import singling_out_risk
from synthpriv.config.model import AttackConfig
from synthpriv.data.io import write_parquet
from synthpriv.data.sampling import sample_rows
from synthpriv.reports import charts
from synthpriv.reports.model import Figure, Report, Section, Table
from synthpriv.stages.base import Stage, StageContext, StageResult, check_gate, read_summary
from synthpriv.stages.common import evaluation_tables

T = TypeVar("T")


class AttackSummary(BaseModel):
    dcr_share: float
    dcr_share_ci: tuple[float, float]
    median_dcr_train: float
    median_dcr_holdout: float
    exact_match_train: float
    exact_match_holdout: float
    exact_match_all_train: (
        float  # against every training row, not just the sample the same size as the holdout
    )
    median_nndr_train: float
    """Median ratio of a synthetic row's nearest to second-nearest train-sample distance (proxy)."""
    median_nndr_holdout: float
    low_nndr_train: float
    """Share of synthetic rows with that ratio below 0.5 against train; compare with the holdout's."""
    low_nndr_holdout: float
    mia_auc: float
    mia_auc_ci: tuple[float, float]
    rows_train: int
    rows_holdout: int
    rows_synthetic: int
    holdout_rows_dropped: int = 0
    """Rows of the holdout file left out because they repeated training rows (`data.drop_holdout_duplicates`)."""
    seconds: float
    claimed_epsilon: float | None = None
    """The (epsilon, delta) the train stage can prove (its privacy ledger); None without DP."""
    claimed_delta: float | None = None
    audit: AuditResult | None = None
    """Empirical lower bound on epsilon from the distance membership attack."""
    membership: MembershipResult | None = None
    """Distance, DOMIAS and classifier membership attacks with a reference set (attacks.membership)."""
    inference: RiskResult | None = None
    """Attribute inference of attack.sensitive from attack.quasi_identifiers; None unless both are set."""
    linkability: RiskResult | None = None
    """Linking two halves of attack.quasi_identifiers through the synthetic table; None with fewer than two."""
    singling_out_univariate: RiskResult | None = None
    """Queries on one rare value of the synthetic table: do they single out a train row more often than a holdout row?"""
    singling_out_multivariate: RiskResult | None = None
    """The same with attack.singling_out_columns columns per query; None when the table has fewer columns."""
    seconds_by_part: dict[str, float] = {}
    distance_histogram: DistanceHistogram
    """Distances of the synthetic rows to the closest train and holdout row, binned (the report's chart)."""


class AttackStage(Stage[AttackConfig]):
    name: ClassVar = "attack"
    requires: ClassVar = frozenset({"split", "synthetic", "model", "ledger"})
    produces: ClassVar = frozenset({"privacy"})

    def run(self, ctx: StageContext) -> StageResult:
        tables = evaluation_tables(ctx)
        train, holdout, synthetic, schema = tables.train, tables.holdout, tables.synthetic, tables.schema
        config, seed = self.config, ctx.seed
        quasi, sensitive = config.quasi_identifiers, config.sensitive
        seconds: dict[str, float] = {}

        def timed(part: str, work: Callable[[], T]) -> T:
            started = time.perf_counter()
            out = work()
            seconds[part] = round(time.perf_counter() - started, 3)
            ctx.progress.advance(1)
            return out

        ctx.progress.start("attack", 5)
        dcr = timed(
            "distance proxies",
            lambda: dcr_evaluation(train, holdout, synthetic, schema, seed=seed, max_rows=config.max_rows),
        )
        exact_all = exact_match_share(synthetic, train, [c.name for c in schema.modelled()])
        claim = _privacy_claim(ctx)
        # Without a claim, the audit still says how much leakage the attack can prove, at a
        # delta of 1 / (10 n), the usual default.
        delta = claim["delta"] if claim else 1.0 / (10.0 * len(train))
        members, non_members = dcr.membership_distances
        audit = timed("audit", lambda: epsilon_lower_bound(-members, -non_members, delta=delta, seed=seed))
        membership = timed(
            "membership attacks",
            lambda: membership_inference(
                train, holdout, synthetic, schema, seed=seed, max_rows=config.max_rows
            ),
        )
        # The row-level attacks search the synthetic table per target: past max_rows they use a
        # seeded sample of it (at 1M rows the full search took 88 s of the stage's 128).
        attacked = sample_rows(synthetic, min(len(synthetic), config.max_rows), np.random.default_rng(seed))

        def inference_and_linkability() -> tuple[RiskResult | None, RiskResult | None]:
            inference = (
                inference_risk(
                    train,
                    holdout,
                    attacked,
                    schema,
                    quasi_identifiers=quasi,
                    sensitive=sensitive,
                    seed=seed,
                    max_rows=config.risk_targets,
                )
                if quasi and sensitive
                else None
            )
            linkability = (
                linkability_risk(
                    train,
                    holdout,
                    attacked,
                    schema,
                    quasi_identifiers=quasi,
                    seed=seed,
                    max_rows=config.risk_targets,
                    n_neighbors=min(config.linkability_neighbors, len(attacked)),
                )
                if len(quasi) >= 2
                else None
            )
            return inference, linkability

        def singling_out() -> tuple[RiskResult, RiskResult | None]:
            def attack(mode: str, n_cols: int) -> RiskResult:
                return singling_out_risk(
                    train,
                    holdout,
                    attacked,
                    schema,
                    mode=mode,
                    n_attacks=config.singling_out_queries,  # type: ignore[arg-type]
                    n_cols=n_cols,
                    seed=seed,
                    max_attempts=config.singling_out_attempts,
                )

            n_cols = config.singling_out_columns
            return attack("univariate", 1), attack("multivariate", n_cols) if len(
                schema.modelled()
            ) >= n_cols else None

        inference, linkability = timed("inference and linkability", inference_and_linkability)
        univariate, multivariate = timed("singling out", singling_out)
        ctx.progress.finish()
        summary = AttackSummary(
            **dcr.model_dump(exclude={"histogram", "encoded_dims"}),
            distance_histogram=dcr.histogram,
            exact_match_all_train=exact_all,
            claimed_epsilon=claim["epsilon"] if claim else None,
            claimed_delta=claim["delta"] if claim else None,
            audit=audit,
            membership=membership,
            inference=inference,
            linkability=linkability,
            singling_out_univariate=univariate,
            singling_out_multivariate=multivariate,
            seconds_by_part=seconds,
            holdout_rows_dropped=ctx.real.dropped_holdout_rows,
        )
        write_parquet(_scores_frame(summary), ctx.stage_dir / "attack_scores.parquet")
        gates = (
            *check_gate("max_exact_match_share", exact_all, self.gates.max_exact_match_share),
            *check_gate("max_dcr_share", dcr.dcr_share, self.gates.max_dcr_share),
            *check_gate(
                "max_membership_auc",
                membership.attack(membership.strongest).auc,
                self.gates.max_membership_auc,
            ),
            *check_gate(
                "max_inference_risk", inference.risk if inference else 1.0, self.gates.max_inference_risk
            ),
            *check_gate(
                "max_singling_out_risk",
                max(r.risk for r in (univariate, multivariate) if r),
                self.gates.max_singling_out_risk,
            ),
            *check_gate(
                "max_linkage_risk", linkability.risk if linkability else 1.0, self.gates.max_linkage_risk
            ),
        )
        return StageResult(summary=summary, gates=gates)

    @classmethod
    def build_report(cls, run_name: str, stage_dir: Path) -> Report:
        return _report(run_name, AttackSummary.model_validate(read_summary(stage_dir)))


def _privacy_claim(ctx: StageContext) -> dict[str, Any] | None:
    """The total (epsilon, delta) the train stage's ledger proves, or None for a run without DP.

    A table evaluated from outside a run (`synthpriv evaluate`) carries no claim we could prove.
    """
    if ctx.evaluation is not None:
        return None
    ledger = json.loads(ctx.artifact("ledger").read_text())
    if not ledger.get("differential_privacy"):
        return None
    return {"epsilon": float(ledger["spent"]["epsilon"]), "delta": float(ledger["spent"]["delta"])}


def _scores_frame(summary: AttackSummary) -> pd.DataFrame:
    """One row per attack figure: value, interval, and what it should be compared with."""
    rows = [
        ("distance membership inference", "roc_auc", summary.mia_auc, *summary.mia_auc_ci, 0.5),
        ("closer to train than holdout", "share", summary.dcr_share, *summary.dcr_share_ci, 0.5),
        (
            "identical to a training row",
            "share",
            summary.exact_match_all_train,
            float("nan"),
            float("nan"),
            summary.exact_match_holdout,
        ),
    ]
    if summary.membership is not None:
        for attack in summary.membership.attacks:
            rows.append(
                (
                    f"{attack.name} membership inference (reference set)",
                    "roc_auc",
                    attack.auc,
                    *attack.auc_ci,
                    0.5,
                )
            )
            rows.append(
                (
                    f"{attack.name} membership inference (reference set)",
                    "tpr_at_fpr_1pct",
                    attack.tpr_at_fpr_1pct,
                    *attack.tpr_at_fpr_1pct_ci,
                    0.01,
                )
            )
    return pd.DataFrame(rows, columns=["attack", "measure", "value", "ci_low", "ci_high", "control"])


def _dropped_note(summary: AttackSummary) -> str:
    """Say so when the control lost holdout rows that were copies of training rows."""
    dropped = summary.holdout_rows_dropped
    return f"{dropped:,} holdout rows that repeated training rows were dropped" if dropped else ""


def _tone_half(value: float, ci: tuple[float, float]) -> str:
    return "good" if ci[0] <= 0.5 + 0.02 else ("warn" if value < 0.6 else "bad")


def _report(run_name: str, summary: AttackSummary) -> Report:
    membership = Section(
        title="Membership inference (distance to closest record)",
        text=(
            "The attacker scores each real person by how close the nearest synthetic row is. Members are "
            "training rows; non-members are real held-out rows the generator never saw, the control. "
            "An AUC of 0.5 means the synthetic table tells the attacker nothing about who trained it."
        ),
        figures=(
            Figure(
                "attack ROC AUC",
                f"{summary.mia_auc:.3f}",
                note=f"95% CI {summary.mia_auc_ci[0]:.3f}–{summary.mia_auc_ci[1]:.3f}; ideal 0.5",
                tone=_tone_half(summary.mia_auc, summary.mia_auc_ci),
            ),  # type: ignore[arg-type]
            Figure(
                "members / non-members",
                f"{summary.rows_train:,} / {summary.rows_holdout:,}",
                note=_dropped_note(summary),
            ),
        ),
    )
    hist = summary.distance_histogram
    distance_chart = charts.histogram_chart(
        "Distance of each synthetic row to its nearest real row",
        hist.edges,
        {
            "train": [c / max(sum(hist.train_counts), 1) for c in hist.train_counts],
            "holdout": [c / max(sum(hist.holdout_counts), 1) for c in hist.holdout_counts],
        },
        caption="If the two shapes match, synthetic rows are no closer to training rows than to unseen real rows.",
    )
    proxies = Section(
        title="Proxies (necessary, not sufficient)",
        text=(
            "These are proxies, not attacks: passing them does not prove privacy (a generator can pass every one "
            "and still leak, e.g. through rare combinations); failing them shows a problem. Each is set beside the "
            "same figure for real held-out rows, which is what an honest generator looks like."
        ),
        figures=(
            Figure(
                "closer to train than holdout",
                f"{summary.dcr_share:.3f}",
                note=f"95% CI {summary.dcr_share_ci[0]:.3f}–{summary.dcr_share_ci[1]:.3f}; ideal 0.5",
                tone=_tone_half(summary.dcr_share, summary.dcr_share_ci),
            ),  # type: ignore[arg-type]
            Figure(
                "identical to a training row",
                f"{summary.exact_match_all_train:.2%}",
                note=f"sample-matched: train {summary.exact_match_train:.2%} vs holdout control {summary.exact_match_holdout:.2%}",
                tone="good" if summary.exact_match_train <= summary.exact_match_holdout + 0.01 else "bad",
            ),
            Figure(
                "median distance",
                f"{summary.median_dcr_train:.3f}",
                note=f"to train; to holdout {summary.median_dcr_holdout:.3f}",
            ),
            Figure(
                "nearest-neighbour distance ratio",
                f"{summary.median_nndr_train:.3f}",
                note=f"median against train; against holdout {summary.median_nndr_holdout:.3f} (lower than the holdout's: rows sit next to one training row)",
                tone="good" if summary.median_nndr_train >= summary.median_nndr_holdout - 0.05 else "bad",
            ),
        ),
        charts=(distance_chart,),
        tables=(
            Table(
                headers=("figure", "value", "95% interval", "control / ideal"),
                rows=(
                    (
                        "membership AUC",
                        f"{summary.mia_auc:.3f}",
                        f"{summary.mia_auc_ci[0]:.3f}–{summary.mia_auc_ci[1]:.3f}",
                        "0.5",
                    ),
                    (
                        "closer-to-train share",
                        f"{summary.dcr_share:.3f}",
                        f"{summary.dcr_share_ci[0]:.3f}–{summary.dcr_share_ci[1]:.3f}",
                        "0.5",
                    ),
                    (
                        "exact matches (sample-matched)",
                        f"{summary.exact_match_train:.4f}",
                        "–",
                        f"holdout {summary.exact_match_holdout:.4f}",
                    ),
                    (
                        "median NNDR (nearest / second-nearest)",
                        f"{summary.median_nndr_train:.3f}",
                        "–",
                        f"holdout {summary.median_nndr_holdout:.3f}; ideal: not below it",
                    ),
                    (
                        "share with NNDR < 0.5",
                        f"{summary.low_nndr_train:.3f}",
                        "–",
                        f"holdout {summary.low_nndr_holdout:.3f}; ideal: not above it",
                    ),
                ),
            ),
        ),
    )
    attacks = (_membership_section(summary.membership),) if summary.membership is not None else ()
    risks = [
        r
        for r in (
            summary.inference,
            summary.linkability,
            summary.singling_out_univariate,
            summary.singling_out_multivariate,
        )
        if r is not None
    ]
    if risks:
        attacks = (*attacks, _risk_section(risks))
    sections = (*attacks, membership, *((_audit_section(summary),) if summary.audit else ()), proxies)
    return Report(
        stage="attack",
        title="Attack",
        run_name=run_name,
        subtitle="Could anyone learn about a real person from the synthetic table?",
        sections=sections,
    )


def _audit_section(summary: AttackSummary) -> Section:
    audit = summary.audit
    assert audit is not None
    if summary.claimed_epsilon is None:
        claim = Figure("claimed epsilon", "none", note="this run was trained without differential privacy")
        verdict = "warn" if audit.epsilon_lower_bound > 0 else "good"
    else:
        claim = Figure(
            "claimed epsilon",
            f"{summary.claimed_epsilon:.3g}",
            note=f"delta {summary.claimed_delta:.2g}; from the privacy ledger",
        )
        verdict = "bad" if audit.epsilon_lower_bound > summary.claimed_epsilon else "good"
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
                note=f"TPR {audit.tpr:.3f} vs FPR {audit.fpr:.3f} on {audit.members:,} / {audit.nonmembers:,} held-out rows",
                tone=verdict,  # type: ignore[arg-type]
            ),
            Figure(
                "provable at most",
                f"{audit.epsilon_ceiling:.3g}",
                note="the bound a perfect attack would give here",
            ),
        ),
    )


def _membership_section(result: MembershipResult) -> Section:
    """The three membership attacks, strongest first, with ROC curves on one chart."""
    ordered = sorted(result.attacks, key=lambda a: a.auc, reverse=True)
    strongest = ordered[0]
    grid = np.linspace(0.0, 1.0, 101)
    series = {a.name: np.interp(grid, a.roc_fpr, a.roc_tpr).tolist() for a in ordered}
    series["chance"] = grid.tolist()
    roc = charts.line_chart(
        "ROC of each membership attack",
        grid.tolist(),
        series,
        x_label="false-positive rate",
        y_label="true-positive rate",
        caption="Members: training rows; non-members: held-out rows, the control. The diagonal is guessing.",
    )
    resolved = "" if result.tpr_at_fpr_0_1pct_resolved else " (too few non-members to resolve 0.1 %)"
    rows = tuple(
        (
            a.name,
            f"{a.auc:.3f}",
            f"{a.auc_ci[0]:.3f}–{a.auc_ci[1]:.3f}",
            f"{a.tpr_at_fpr_1pct:.3f} ({a.tpr_at_fpr_1pct_ci[0]:.3f}–{a.tpr_at_fpr_1pct_ci[1]:.3f})",
            f"{a.tpr_at_fpr_0_1pct:.4f}{resolved}",
            f"{a.advantage:.3f}",
        )
        for a in ordered
    )
    table = Table(
        headers=(
            "attack",
            "ROC AUC",
            "95% interval",
            "TPR at FPR 1% (95% interval)",
            "TPR at FPR 0.1%",
            "advantage",
        ),
        rows=rows,
        caption="Ideal: AUC 0.5, TPR equal to the FPR, advantage 0. Intervals: bootstrap over the target rows.",
    )
    text = (
        f"Three attackers, each holding the synthetic table and {result.reference_rows:,} real rows from the population "
        f"(half of the holdout), score {result.members:,} training rows (members) and {result.non_members:,} other "
        "held-out rows (non-members): by the distance to the closest synthetic row relative to the closest reference "
        "row, by DOMIAS' density ratio (synthetic over reference), and by a classifier trained to tell synthetic from "
        "reference rows. The strongest leads."
    )
    tone = "good" if strongest.auc_ci[0] <= 0.52 else ("warn" if strongest.auc < 0.6 else "bad")
    figures = (
        Figure(
            "strongest attack",
            strongest.name,
            note=f"ROC AUC {strongest.auc:.3f}, 95% CI {strongest.auc_ci[0]:.3f}–{strongest.auc_ci[1]:.3f}; ideal 0.5",
            tone=tone,
        ),  # type: ignore[arg-type]
        Figure(
            "TPR at FPR 1%",
            f"{strongest.tpr_at_fpr_1pct:.3f}",
            note="ideal 0.01: members found no more often than non-members are wrongly accused",
        ),
        Figure("attacker's advantage", f"{strongest.advantage:.3f}", note="max TPR − FPR; ideal 0"),
    )
    return Section(
        title="Membership inference: the strongest attack",
        text=text,
        figures=figures,
        charts=(roc,),
        tables=(table,),
    )


_RISK_LABELS = {
    "inference": "attribute inference",
    "linkability": "linkability",
    "singling_out_univariate": "singling out (one column)",
    "singling_out_multivariate": "singling out (several columns)",
}


def _trials(r: RiskResult) -> str:
    """What the rates are shares of: targets a side, or queries asked (and how many were found)."""
    if r.queries is None:
        return f"{r.targets:,} targets a side"
    return f"{r.targets:,} queries asked, {r.queries:,} found" + (
        " (risk is a lower bound)" if r.queries < r.targets else ""
    )


def _risk_section(risks: list[RiskResult]) -> Section:
    """Anonymeter's threat models: success on training rows against the holdout control."""
    rows = tuple(
        (
            _RISK_LABELS.get(r.name, r.name),
            f"{r.attack_rate:.3f} ({r.attack_rate_ci[0]:.3f}–{r.attack_rate_ci[1]:.3f})",
            f"{r.control_rate:.3f} ({r.control_rate_ci[0]:.3f}–{r.control_rate_ci[1]:.3f})",
            f"{r.baseline_rate:.3f}",
            f"{r.risk:.3f} ({r.risk_ci[0]:.3f}–{r.risk_ci[1]:.3f})",
            _trials(r) + ("; weaker than random guessing" if r.weaker_than_baseline else ""),
        )
        for r in risks
    )
    table = Table(
        headers=(
            "attack",
            "success on training rows (95% Wilson)",
            "on holdout rows: the control",
            "random baseline",
            "risk (95%)",
            "trials",
        ),
        rows=rows,
        caption=(
            "Risk = (train − control) / (1 − control); 0 = the synthetic table helps no more on people it was trained on "
            "than on others. The interval carries the uncertainty of both rates."
        ),
    )
    figures = tuple(
        Figure(
            f"{_RISK_LABELS.get(r.name, r.name)} risk",
            f"{r.risk:.3f}",
            note=f"95% interval {r.risk_ci[0]:.3f}–{r.risk_ci[1]:.3f}; ideal 0",
            tone="good" if r.risk_ci[0] <= 0.01 else ("warn" if r.risk < 0.1 else "bad"),  # type: ignore[arg-type]
        )
        for r in risks
    )
    text = (
        "Attribute inference: an attacker who knows a person's quasi-identifiers takes the sensitive value of "
        "the closest synthetic row. Linkability: an attacker holds two halves of the quasi-identifiers from two "
        "sources and counts them linked when the synthetic rows nearest to each half overlap. Singling out: the "
        "attacker writes queries (a rare value, or a few columns' values) that match exactly one synthetic row and "
        "checks whether they match exactly one real person. Each is scored on training rows and, as the control, on "
        "as many real rows the generator never saw. Inference and linkage only use rows near the person, so with "
        "few, coarse quasi-identifiers (many people alike) they are weak: their risks are lower bounds, not proofs of safety."
    )
    return Section(
        title="Inference, linkage and singling out (Anonymeter's threat models)",
        text=text,
        figures=figures,
        tables=(table,),
    )
