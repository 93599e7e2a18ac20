"""Stage 4, attack: privacy risks of the synthetic table, with real held-out rows as the control."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel

from synthpriv.attacks.audit import AuditResult, epsilon_lower_bound
from synthpriv.attacks.distance import DCRResult, dcr_evaluation, exact_match_share
from synthpriv.config.model import AttackConfig
from synthpriv.data.io import write_parquet
from synthpriv.reports import charts
from synthpriv.reports.model import Figure, Report, Section, Table
from synthpriv.stages.base import Stage, StageContext, StageResult, check_gate
from synthpriv.stages.common import evaluation_tables


class AttackSummary(BaseModel):
    dcr_share: float
    dcr_share_ci: tuple[float, float]
    median_dcr_train: float
    median_dcr_holdout: float
    exact_match_train: float
    exact_match_holdout: float
    exact_match_all_train: float  # against every training row, not just the sample the same size as the holdout
    mia_auc: float
    mia_auc_ci: tuple[float, float]
    rows_train: int
    rows_holdout: int
    rows_synthetic: int
    seconds: float
    claimed_epsilon: float | None = None
    """The (epsilon, delta) the train stage can prove (its privacy ledger); None without DP."""
    claimed_delta: float | None = None
    audit: AuditResult | None = None
    """Empirical lower bound on epsilon from the distance membership attack."""


class AttackStage(Stage[AttackConfig]):
    name: ClassVar = "attack"
    requires: ClassVar = frozenset({"split", "synthetic", "model", "ledger"})
    produces: ClassVar = frozenset({"privacy"})

    def run(self, ctx: StageContext) -> StageResult:
        tables = evaluation_tables(ctx)
        ctx.progress.start("attack", 1)
        dcr = dcr_evaluation(tables.train, tables.holdout, tables.synthetic, tables.schema, seed=ctx.seed, max_rows=self.config.max_rows)
        columns = [c.name for c in tables.schema.modelled()]
        exact_all = exact_match_share(tables.synthetic, tables.train, columns)
        claim = _privacy_claim(ctx)
        # Without a claim, the audit still says how much leakage the attack can prove, at a
        # delta of 1 / (10 n), the usual default.
        delta = claim["delta"] if claim else 1.0 / (10.0 * len(tables.train))
        members, non_members = dcr.membership_distances
        audit = epsilon_lower_bound(-members, -non_members, delta=delta, seed=ctx.seed)
        ctx.progress.advance(1)
        ctx.progress.finish()
        summary = AttackSummary(
            **dcr.model_dump(exclude={"histogram", "encoded_dims"}),
            exact_match_all_train=exact_all,
            claimed_epsilon=claim["epsilon"] if claim else None,
            claimed_delta=claim["delta"] if claim else None,
            audit=audit,
        )
        write_parquet(_scores_frame(summary), ctx.stage_dir / "attack_scores.parquet")
        gates = (
            *check_gate("max_exact_match_share", exact_all, self.gates.max_exact_match_share),
            *check_gate("max_dcr_share", dcr.dcr_share, self.gates.max_dcr_share),
        )
        return StageResult(summary=summary, report=_report(ctx.run_name, summary, dcr), gates=gates)


def _privacy_claim(ctx: StageContext) -> dict[str, Any] | None:
    """The total (epsilon, delta) the train stage's ledger proves, or None for a run without DP."""
    ledger = json.loads(ctx.artifact("ledger").read_text())
    if not ledger.get("differential_privacy"):
        return None
    return {"epsilon": float(ledger["spent"]["epsilon"]), "delta": float(ledger["spent"]["delta"])}


def _scores_frame(summary: AttackSummary) -> pd.DataFrame:
    """One row per attack figure: value, interval, and what it should be compared with."""
    rows = [
        ("distance membership inference", "roc_auc", summary.mia_auc, *summary.mia_auc_ci, 0.5),
        ("closer to train than holdout", "share", summary.dcr_share, *summary.dcr_share_ci, 0.5),
        ("identical to a training row", "share", summary.exact_match_all_train, float("nan"), float("nan"), summary.exact_match_holdout),
    ]
    return pd.DataFrame(rows, columns=["attack", "measure", "value", "ci_low", "ci_high", "control"])


def _tone_half(value: float, ci: tuple[float, float]) -> str:
    return "good" if ci[0] <= 0.5 + 0.02 else ("warn" if value < 0.6 else "bad")


def _report(run_name: str, summary: AttackSummary, dcr: DCRResult) -> Report:
    membership = Section(
        title="Membership inference (distance to closest record)",
        text=(
            "The attacker scores each real person by how close the nearest synthetic row is. Members are "
            "training rows; non-members are real held-out rows the generator never saw, the control. "
            "An AUC of 0.5 means the synthetic table tells the attacker nothing about who trained it."
        ),
        figures=(
            Figure("attack ROC AUC", f"{summary.mia_auc:.3f}", note=f"95% CI {summary.mia_auc_ci[0]:.3f}–{summary.mia_auc_ci[1]:.3f}; ideal 0.5", tone=_tone_half(summary.mia_auc, summary.mia_auc_ci)),  # type: ignore[arg-type]
            Figure("members / non-members", f"{summary.rows_train:,} / {summary.rows_holdout:,}"),
        ),
    )
    hist = dcr.histogram
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
        text="Passing these does not prove privacy; failing them shows a problem.",
        figures=(
            Figure("closer to train than holdout", f"{summary.dcr_share:.3f}", note=f"95% CI {summary.dcr_share_ci[0]:.3f}–{summary.dcr_share_ci[1]:.3f}; ideal 0.5", tone=_tone_half(summary.dcr_share, summary.dcr_share_ci)),  # type: ignore[arg-type]
            Figure(
                "identical to a training row",
                f"{summary.exact_match_all_train:.2%}",
                note=f"sample-matched: train {summary.exact_match_train:.2%} vs holdout control {summary.exact_match_holdout:.2%}",
                tone="good" if summary.exact_match_train <= summary.exact_match_holdout + 0.01 else "bad",
            ),
            Figure("median distance", f"{summary.median_dcr_train:.3f}", note=f"to train; to holdout {summary.median_dcr_holdout:.3f}"),
        ),
        charts=(distance_chart,),
        tables=(
            Table(
                headers=("figure", "value", "95% interval", "control / ideal"),
                rows=(
                    ("membership AUC", f"{summary.mia_auc:.3f}", f"{summary.mia_auc_ci[0]:.3f}–{summary.mia_auc_ci[1]:.3f}", "0.5"),
                    ("closer-to-train share", f"{summary.dcr_share:.3f}", f"{summary.dcr_share_ci[0]:.3f}–{summary.dcr_share_ci[1]:.3f}", "0.5"),
                    ("exact matches (sample-matched)", f"{summary.exact_match_train:.4f}", "–", f"holdout {summary.exact_match_holdout:.4f}"),
                ),
            ),
        ),
    )
    sections = (membership, _audit_section(summary), proxies) if summary.audit else (membership, proxies)
    return Report(stage="attack", title="Attack", run_name=run_name, subtitle="Could anyone learn about a real person from the synthetic table?", sections=sections)


def _audit_section(summary: AttackSummary) -> Section:
    audit = summary.audit
    assert audit is not None
    if summary.claimed_epsilon is None:
        claim = Figure("claimed epsilon", "none", note="this run was trained without differential privacy")
        verdict = "warn" if audit.epsilon_lower_bound > 0 else "good"
    else:
        claim = Figure("claimed epsilon", f"{summary.claimed_epsilon:.3g}", note=f"delta {summary.claimed_delta:.2g}; from the privacy ledger")
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
            Figure("provable at most", f"{audit.epsilon_ceiling:.3g}", note="the bound a perfect attack would give here"),
        ),
    )
