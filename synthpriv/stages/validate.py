"""Stage 3, validate: statistical fidelity of the synthetic table, beside the real holdout's."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import BaseModel

from synthpriv.config.model import ValidateConfig
from synthpriv.data.io import write_parquet
from synthpriv.metrics.fidelity import ColumnDistribution, ColumnScore, FidelityResult, column_distributions, evaluate_fidelity
from synthpriv.reports import charts
from synthpriv.reports.model import Chart, Figure, Report, Section, Table
from synthpriv.stages.base import Stage, StageContext, StageResult, check_gate
from synthpriv.stages.common import evaluation_tables


class ValidateSummary(BaseModel):
    quality: float | None
    quality_default_thresholds: float | None
    column_shapes: float | None
    column_pair_trends: float | None
    holdout_quality: float | None
    holdout_column_shapes: float | None
    holdout_column_pair_trends: float | None
    rows_real: int
    rows_synthetic: int
    rows_holdout: int | None
    seconds: float
    sdmetrics_seconds: float


class ValidateStage(Stage[ValidateConfig]):
    name: ClassVar = "validate"
    requires: ClassVar = frozenset({"split", "synthetic", "model"})
    produces: ClassVar = frozenset({"fidelity"})

    def run(self, ctx: StageContext) -> StageResult:
        tables = evaluation_tables(ctx)
        ctx.progress.start("validate", 2)
        result = evaluate_fidelity(
            tables.train, tables.synthetic, tables.schema, holdout=tables.holdout, max_rows=self.config.max_rows, seed=ctx.seed
        )
        ctx.progress.advance(1)
        distributions = column_distributions(tables.train, tables.synthetic, tables.schema, k=self.config.min_count)
        ctx.progress.advance(1)
        ctx.progress.finish()
        write_parquet(result.column_scores_frame(), ctx.stage_dir / "column_scores.parquet")
        write_parquet(result.pair_scores_frame(), ctx.stage_dir / "pair_scores.parquet")
        summary = ValidateSummary(
            **result.model_dump(
                include={
                    "quality", "quality_default_thresholds", "column_shapes", "column_pair_trends",
                    "holdout_quality", "holdout_column_shapes", "holdout_column_pair_trends",
                    "rows_real", "rows_synthetic", "rows_holdout", "seconds", "sdmetrics_seconds",
                }
            )
        )
        gates = tuple(check_gate("min_quality", result.quality or 0.0, self.gates.min_quality))
        report = _report(ctx.run_name, result, distributions, self.config.min_count)
        return StageResult(summary=summary, report=report, gates=gates)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _tone(value: float | None, reference: float | None) -> str:
    if value is None or reference is None:
        return "neutral"
    return "good" if value >= reference - 0.05 else ("warn" if value >= reference - 0.15 else "bad")


def _report(run_name: str, result: FidelityResult, distributions: list[ColumnDistribution], k: int) -> Report:
    headline = Section(
        title="Fidelity",
        text=(
            "sdmetrics scores in [0, 1], 1 = identical. Each is shown beside the same score of the real "
            "holdout rows against the training rows: an independent real sample, the best a generator can "
            "honestly reach. Quality here uses all column pairs; sdmetrics' default skips weakly related pairs."
        ),
        figures=(
            Figure("quality (all pairs)", _fmt(result.quality), note=f"holdout reference {_fmt(result.holdout_quality)}", tone=_tone(result.quality, result.holdout_quality)),  # type: ignore[arg-type]
            Figure("column shapes", _fmt(result.column_shapes), note=f"holdout reference {_fmt(result.holdout_column_shapes)}", tone=_tone(result.column_shapes, result.holdout_column_shapes)),  # type: ignore[arg-type]
            Figure("column pair trends", _fmt(result.column_pair_trends), note=f"holdout reference {_fmt(result.holdout_column_pair_trends)}", tone=_tone(result.column_pair_trends, result.holdout_column_pair_trends)),  # type: ignore[arg-type]
            Figure("quality (sdmetrics default)", _fmt(result.quality_default_thresholds), note="weak pairs skipped"),
        ),
    )
    columns = sorted(result.column_scores, key=lambda s: (np.nan_to_num(s.score, nan=-1.0)))
    shape_chart = charts.score_bars(
        "Column shapes, worst first",
        [s.column for s in columns],
        [float(np.nan_to_num(s.score)) for s in columns],
        reference=[float(np.nan_to_num(s.holdout_score)) if s.holdout_score is not None else 0.0 for s in columns],
        caption="Bar: synthetic vs real. Tick: real holdout vs real train.",
    )
    names = [s.column for s in result.column_scores]
    heat = _pair_heatmap(result, names)
    worst_pairs = sorted(result.pair_scores, key=lambda p: np.nan_to_num(p.score, nan=-1.0))[:10]
    pair_table = Table(
        headers=("column 1", "column 2", "metric", "score", "holdout reference"),
        rows=tuple((p.column_1, p.column_2, p.metric, _fmt(p.score), _fmt(p.holdout_score)) for p in worst_pairs),
        caption="The ten column pairs whose relationship the synthetic rows reproduce worst.",
    )
    sections = [
        headline,
        Section(title="Columns", charts=(shape_chart,)),
        Section(title="Column pairs", charts=(heat,), tables=(pair_table,)),
        Section(
            title="Distributions, real against synthetic",
            text=f"Bins and categories with fewer than {k} real rows are merged, so no single real row can be read off a chart.",
            charts=tuple(_distribution_chart(d) for d in _worst_first(distributions, columns)),
        ),
        Section(
            title="Sample sizes",
            figures=(
                Figure("real rows compared", f"{result.rows_real:,}"),
                Figure("synthetic rows compared", f"{result.rows_synthetic:,}"),
                Figure("time", f"{result.seconds:.1f} s", note=f"sdmetrics {result.sdmetrics_seconds:.1f} s"),
            ),
        ),
    ]
    return Report(stage="validate", title="Validate", run_name=run_name, subtitle="Is the synthetic table faithful to the real one?", sections=tuple(sections))


def _pair_heatmap(result: FidelityResult, names: list[str]) -> Chart:
    position = {name: i for i, name in enumerate(names)}
    matrix: list[list[float | None]] = [[None] * len(names) for _ in names]
    for i in range(len(names)):
        matrix[i][i] = 1.0
    for pair in result.pair_scores:
        if pair.column_1 in position and pair.column_2 in position and np.isfinite(pair.score):
            i, j = position[pair.column_1], position[pair.column_2]
            matrix[i][j] = matrix[j][i] = float(pair.score)
    return charts.heatmap(
        "Pair trend scores (1 = relationship reproduced)", names, matrix, vmin=0.0, vmax=1.0,
        caption="Correlation similarity for two numerical columns, contingency similarity otherwise.",
    )


def _worst_first(distributions: list[ColumnDistribution], ordered: list[ColumnScore]) -> list[ColumnDistribution]:
    rank = {score.column: i for i, score in enumerate(ordered)}
    return sorted(distributions, key=lambda d: rank.get(d.column, len(rank)))


def _distribution_chart(distribution: ColumnDistribution) -> Chart:
    series = {"real": distribution.real_share, "synthetic": distribution.synthetic_share}
    return charts.bar_chart(distribution.column, distribution.labels, series, caption=f"{distribution.kind}: share of rows per {'category' if distribution.edges is None else 'bin'}")
