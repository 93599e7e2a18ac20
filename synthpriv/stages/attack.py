"""Stage 4, attack: privacy risks of the synthetic table, with real held-out rows as the control."""

from __future__ import annotations

from typing import ClassVar

import pandas as pd
from pydantic import BaseModel

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


class AttackStage(Stage[AttackConfig]):
    name: ClassVar = "attack"
    requires: ClassVar = frozenset({"split", "synthetic", "model"})
    produces: ClassVar = frozenset({"privacy"})

    def run(self, ctx: StageContext) -> StageResult:
        tables = evaluation_tables(ctx)
        ctx.progress.start("attack", 1)
        dcr = dcr_evaluation(tables.train, tables.holdout, tables.synthetic, tables.schema, seed=ctx.seed, max_rows=self.config.max_rows)
        columns = [c.name for c in tables.schema.modelled()]
        exact_all = exact_match_share(tables.synthetic, tables.train, columns)
        ctx.progress.advance(1)
        ctx.progress.finish()
        summary = AttackSummary(
            **dcr.model_dump(exclude={"histogram", "encoded_dims"}),
            exact_match_all_train=exact_all,
        )
        write_parquet(_scores_frame(summary), ctx.stage_dir / "attack_scores.parquet")
        gates = (
            *check_gate("max_exact_match_share", exact_all, self.gates.max_exact_match_share),
            *check_gate("max_dcr_share", dcr.dcr_share, self.gates.max_dcr_share),
        )
        return StageResult(summary=summary, report=_report(ctx.run_name, summary, dcr), gates=gates)


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
        text="Passing these does not prove privacy; failing them shows a problem. Only the proxies are measured so far.",
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
    return Report(stage="attack", title="Attack", run_name=run_name, subtitle="Could anyone learn about a real person from the synthetic table?", sections=(membership, proxies))
