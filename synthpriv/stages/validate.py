"""Stage 3, validate: statistical fidelity of the synthetic table, beside the real holdout's."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel

from synthpriv.config.model import ValidateConfig
from synthpriv.data.io import write_parquet
from synthpriv.data.schema import ColumnKind
from synthpriv.metrics.coverage import CoverageResult, coverage
from synthpriv.metrics.detection import DetectionResult, detection
from synthpriv.metrics.diagnostic import DiagnosticResult, evaluate_diagnostic
from synthpriv.metrics.efficacy import EfficacyResult, ml_efficacy
from synthpriv.metrics.fidelity import (
    ColumnDistribution,
    ColumnScore,
    FidelityResult,
    PairScore,
    column_distributions,
    evaluate_fidelity,
)
from synthpriv.reports import charts
from synthpriv.reports.model import Chart, Figure, Report, Section, Table
from synthpriv.runtime.files import atomic_write_text
from synthpriv.stages.base import (
    GateOutcome,
    Stage,
    StageContext,
    StageResult,
    check_gate,
    read_summary,
    summary_gates,
)
from synthpriv.stages.common import evaluation_tables


class ValidateSummary(BaseModel):
    quality: float | None
    quality_default_thresholds: float | None
    column_shapes: float | None
    column_pair_trends: float | None
    holdout_quality: float | None
    holdout_column_shapes: float | None
    holdout_column_pair_trends: float | None
    validity: float | None
    holdout_validity: float | None
    structure: float | None
    detection_auc: float
    detection_auc_ci: tuple[float, float]
    holdout_detection_auc: float | None
    efficacy: EfficacyResult | None
    coverage: CoverageResult
    rows_real: int
    rows_synthetic: int
    rows_holdout: int | None
    seconds: float
    sdmetrics_seconds: float
    seconds_by_metric: dict[str, float]


class ValidateStage(Stage[ValidateConfig]):
    name: ClassVar = "validate"
    requires: ClassVar = frozenset({"split", "synthetic", "model"})
    produces: ClassVar = frozenset({"fidelity"})

    def run(self, ctx: StageContext) -> StageResult:
        started = time.perf_counter()
        config, seed = self.config, ctx.seed
        tables = evaluation_tables(ctx)
        train, synthetic, holdout, schema = tables.train, tables.synthetic, tables.holdout, tables.schema
        target = ctx.real.config.target
        ctx.progress.start("validate", 6 if target else 5)
        fidelity = evaluate_fidelity(
            train, synthetic, schema, holdout=holdout, max_rows=config.max_rows, seed=seed
        )
        ctx.progress.advance(1)
        diagnostic = evaluate_diagnostic(train, synthetic, schema, holdout=holdout)
        ctx.progress.advance(1)
        detector = detection(
            train, synthetic, schema, seed=seed, max_rows=config.model_rows, n_bootstrap=config.bootstrap
        )
        # The same detector on two real samples: how distinguishable independent real rows are.
        reference = detection(train, holdout, schema, seed=seed, max_rows=config.model_rows, n_bootstrap=0)
        ctx.progress.advance(1)
        efficacy = None
        if target:
            efficacy = ml_efficacy(
                train,
                synthetic,
                holdout,
                schema,
                target,
                seed=seed,
                n_bootstrap=config.bootstrap,
                max_rows=config.efficacy_rows,
            )
            ctx.progress.advance(1)
        covered = coverage(
            train, synthetic, schema, seed=seed, max_rows=config.neighbour_rows, holdout=holdout
        )
        ctx.progress.advance(1)
        distributions = column_distributions(train, synthetic, schema, k=config.min_count)
        ctx.progress.advance(1)
        ctx.progress.finish()

        write_parquet(fidelity.column_scores_frame(), ctx.stage_dir / "column_scores.parquet")
        write_parquet(fidelity.pair_scores_frame(), ctx.stage_dir / "pair_scores.parquet")
        write_parquet(diagnostic.columns_frame(), ctx.stage_dir / "validity_scores.parquet")
        write_parquet(
            pd.DataFrame([i.model_dump() for i in detector.importances], columns=["column", "auc_drop"]),
            ctx.stage_dir / "detection_importances.parquet",
        )
        write_parquet(
            pd.DataFrame([c.model_dump(mode="json") for c in covered.columns]),
            ctx.stage_dir / "coverage.parquet",
        )
        seconds_by_metric = {
            "fidelity": fidelity.seconds,
            "diagnostic": diagnostic.seconds,
            "detection": detector.seconds + reference.seconds,
            "efficacy": efficacy.seconds if efficacy else 0.0,
            "coverage": covered.seconds,
        }
        summary = ValidateSummary(
            **fidelity.model_dump(
                include={
                    "quality",
                    "quality_default_thresholds",
                    "column_shapes",
                    "column_pair_trends",
                    "holdout_quality",
                    "holdout_column_shapes",
                    "holdout_column_pair_trends",
                    "rows_real",
                    "rows_synthetic",
                    "rows_holdout",
                    "sdmetrics_seconds",
                }
            ),
            validity=diagnostic.validity,
            holdout_validity=diagnostic.holdout_validity,
            structure=diagnostic.structure,
            detection_auc=detector.auc,
            detection_auc_ci=detector.auc_ci,
            holdout_detection_auc=reference.auc,
            efficacy=efficacy,
            coverage=covered,
            seconds=time.perf_counter() - started,
            seconds_by_metric={k: round(v, 2) for k, v in seconds_by_metric.items()},
        )
        gates = (
            *check_gate("min_quality", fidelity.quality or 0.0, self.gates.min_quality),
            *check_gate("max_detection_auc", detector.auc, self.gates.max_detection_auc),
            *check_gate("min_validity", diagnostic.validity or 0.0, self.gates.min_validity),
            *check_gate(
                "min_ml_efficacy_ratio",
                efficacy.ratio if efficacy and efficacy.ratio is not None else 0.0,
                self.gates.min_ml_efficacy_ratio,
            ),
        )
        measures = _Measures(
            fidelity=fidelity,
            diagnostic=diagnostic,
            detection=detector,
            detection_reference=reference,
            efficacy=efficacy,
            coverage=covered,
            distributions=distributions,
            min_count=config.min_count,
            seconds=summary.seconds,
        )
        # NaN (a score sdmetrics could not compute) must survive the round trip: pydantic's JSON turns it into null.
        atomic_write_text(ctx.stage_dir / MEASURES, json.dumps(measures.model_dump(), default=str))
        return StageResult(summary=summary, gates=gates)

    @classmethod
    def build_report(cls, run_name: str, stage_dir: Path) -> Report:
        measures = _Measures.model_validate(json.loads((stage_dir / MEASURES).read_text()))
        return _report(run_name, measures, summary_gates(read_summary(stage_dir)))


#: Every aggregate the report shows, kept so that ``synthpriv report`` can render it again.
MEASURES = "measures.json"


class _Measures(BaseModel):
    fidelity: FidelityResult
    diagnostic: DiagnosticResult
    detection: DetectionResult
    detection_reference: DetectionResult
    efficacy: EfficacyResult | None
    coverage: CoverageResult
    distributions: list[ColumnDistribution]
    """Shares per bin or category, every one holding at least ``min_count`` real rows."""
    min_count: int
    seconds: float


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _tone(value: float | None, reference: float | None) -> str:
    if value is None or reference is None:
        return "neutral"
    return "good" if value >= reference - 0.05 else ("warn" if value >= reference - 0.15 else "bad")


def _interval(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"95 % interval {ci[0]:.3f} to {ci[1]:.3f}"


def _verdict(measures: _Measures, gates: tuple[GateOutcome, ...]) -> Figure:
    failed = [g for g in gates if not g.passed]
    if failed:
        return Figure("verdict", "gates failed", note="; ".join(g.describe() for g in failed), tone="bad")
    fidelity = measures.fidelity
    close = (
        fidelity.quality is not None
        and fidelity.holdout_quality is not None
        and fidelity.quality >= fidelity.holdout_quality - 0.05
    )
    note = (
        f"quality {_fmt(fidelity.quality)} against a holdout reference of {_fmt(fidelity.holdout_quality)}; "
        f"a detector tells synthetic from real rows with AUC {_fmt(measures.detection.auc)} (0.5 = not at all)"
    )
    if gates:
        note = f"all {len(gates)} gate(s) passed; " + note
    return Figure(
        "verdict",
        "close to real" if close else "usable with care",
        note=note,
        tone="good" if close else "warn",
    )


def _report(run_name: str, measures: _Measures, gates: tuple[GateOutcome, ...]) -> Report:
    result, k, seconds = measures.fidelity, measures.min_count, measures.seconds
    headline = Section(
        title="Fidelity",
        text=(
            "sdmetrics scores in [0, 1], 1 = identical. Each is shown beside the same score of the real "
            "holdout rows against the training rows: an independent real sample, the best a generator can "
            "honestly reach. Quality here uses all column pairs; sdmetrics' default skips weakly related pairs."
        ),
        figures=(
            Figure(
                "quality (all pairs)",
                _fmt(result.quality),
                note=f"holdout reference {_fmt(result.holdout_quality)}",
                tone=_tone(result.quality, result.holdout_quality),
            ),  # type: ignore[arg-type]
            Figure(
                "column shapes",
                _fmt(result.column_shapes),
                note=f"holdout reference {_fmt(result.holdout_column_shapes)}",
                tone=_tone(result.column_shapes, result.holdout_column_shapes),
            ),  # type: ignore[arg-type]
            Figure(
                "column pair trends",
                _fmt(result.column_pair_trends),
                note=f"holdout reference {_fmt(result.holdout_column_pair_trends)}",
                tone=_tone(result.column_pair_trends, result.holdout_column_pair_trends),
            ),  # type: ignore[arg-type]
            Figure(
                "quality (sdmetrics default)",
                _fmt(result.quality_default_thresholds),
                note="weak pairs skipped",
            ),
        ),
    )
    sections = [headline, _usefulness_section(measures), _coverage_section(measures)]
    columns = sorted(result.column_scores, key=lambda s: np.nan_to_num(s.score, nan=-1.0))
    shape_chart = charts.score_bars(
        "Column shapes, worst first",
        [s.column for s in columns],
        [float(np.nan_to_num(s.score)) for s in columns],
        reference=[
            float(np.nan_to_num(s.holdout_score)) if s.holdout_score is not None else 0.0 for s in columns
        ],
        caption="Bar: synthetic vs real. Tick: real holdout vs real train.",
        value_label="synthetic vs real",
        reference_label="holdout vs train",
    )
    names = [s.column for s in result.column_scores]
    worst_pairs = sorted(result.pair_scores, key=lambda p: np.nan_to_num(p.score, nan=-1.0))[:10]
    pair_table = Table(
        headers=("column 1", "column 2", "metric", "score", "holdout reference"),
        rows=tuple(
            (p.column_1, p.column_2, p.metric, _fmt(p.score), _fmt(p.holdout_score)) for p in worst_pairs
        ),
        caption="The ten column pairs whose relationship the synthetic rows reproduce worst.",
    )
    sections += [
        Section(title="Columns", charts=(shape_chart,)),
        Section(
            title="Column pairs",
            charts=(_pair_heatmap(result, names), _difference_heatmap(result, names)),
            tables=(pair_table,),
        ),
        Section(
            title="Distributions, real against synthetic",
            text=f"Bins and categories with fewer than {k} real rows are merged, so no single real row can be read off a chart.",
            charts=tuple(_distribution_chart(d) for d in _worst_first(measures.distributions, columns)),
        ),
        Section(
            title="Sample sizes",
            figures=(
                Figure("real rows compared", f"{result.rows_real:,}"),
                Figure("synthetic rows compared", f"{result.rows_synthetic:,}"),
                Figure(
                    "detector rows",
                    f"{measures.detection.rows_real:,} + {measures.detection.rows_synthetic:,}",
                    note=f"{measures.detection.folds}-fold",
                ),
                Figure("time", f"{seconds:.1f} s", note=f"sdmetrics {result.sdmetrics_seconds:.1f} s"),
            ),
        ),
    ]
    return Report(
        stage="validate",
        title="Validate",
        run_name=run_name,
        subtitle="Is the synthetic table faithful to the real one?",
        verdict=_verdict(measures, gates),
        sections=tuple(sections),
    )


def _usefulness_section(measures: _Measures) -> Section:
    detector, reference = measures.detection, measures.detection_reference
    figures = [
        Figure(
            "detection AUC",
            _fmt(detector.auc),
            note=f"{_interval(detector.auc_ci)}; real holdout vs train {_fmt(reference.auc)}; ideal 0.5",
            tone="good" if detector.auc <= 0.6 else ("warn" if detector.auc <= 0.8 else "bad"),
        )
    ]
    efficacy = measures.efficacy
    if efficacy is not None:
        metric = "ROC AUC" if efficacy.headline_metric == "roc_auc" else "R²"
        synthetic_score = (
            efficacy.synthetic_roc_auc if efficacy.headline_metric == "roc_auc" else efficacy.synthetic_r2
        )
        real_score = efficacy.real_roc_auc if efficacy.headline_metric == "roc_auc" else efficacy.real_r2
        synthetic_ci = (
            efficacy.synthetic_roc_auc_ci
            if efficacy.headline_metric == "roc_auc"
            else efficacy.synthetic_r2_ci
        )
        figures += [
            Figure(
                f"ML efficacy: {metric} trained on synthetic",
                _fmt(synthetic_score),
                note=f"{_interval(synthetic_ci)}; trained on real {_fmt(real_score)}",
            ),
            Figure(
                "efficacy ratio",
                _fmt(efficacy.ratio),
                note=f"synthetic / real; {_interval(efficacy.ratio_ci)}; ideal 1",
                tone="neutral"
                if efficacy.ratio is None
                else ("good" if efficacy.ratio >= 0.95 else ("warn" if efficacy.ratio >= 0.85 else "bad")),
            ),
        ]
        if efficacy.synthetic_f1_macro is not None:
            figures.append(
                Figure(
                    "macro F1 trained on synthetic",
                    _fmt(efficacy.synthetic_f1_macro),
                    note=f"trained on real {_fmt(efficacy.real_f1_macro)}",
                )
            )
    top = detector.importances[:10]
    importance_chart = charts.score_bars(
        "What gives synthetic rows away",
        [i.column for i in top],
        [max(0.0, i.auc_drop) for i in top],
        caption="Drop of the detector's AUC when the column is shuffled; longer = a stronger giveaway.",
        value_label="AUC drop",
    )
    notes = " ".join(efficacy.notes) if efficacy is not None else ""
    text = (
        "A gradient-boosting classifier tries to tell real training rows from synthetic ones "
        "(cross-validated; 0.5 means it cannot). Machine-learning efficacy trains the same kind of model "
        "on synthetic rows and on real rows and scores both on the real holdout."
    )
    return Section(
        title="Usefulness", text=f"{text} {notes}".strip(), figures=tuple(figures), charts=(importance_chart,)
    )


def _coverage_section(measures: _Measures) -> Section:
    covered, diagnostic = measures.coverage, measures.diagnostic
    figures = (
        Figure(
            "precision",
            _fmt(covered.precision),
            note=f"synthetic rows that look real; holdout reference {_fmt(covered.holdout_precision)}",
            tone=_tone(covered.precision, covered.holdout_precision),
        ),
        Figure(
            "recall",
            _fmt(covered.recall),
            note=f"real rows the synthetic data covers; holdout reference {_fmt(covered.holdout_recall)}",
            tone=_tone(covered.recall, covered.holdout_recall),
        ),
        Figure(
            "validity",
            _fmt(diagnostic.validity),
            note=f"values inside the real domain; holdout reference {_fmt(diagnostic.holdout_validity)}",
            tone=_tone(diagnostic.validity, diagnostic.holdout_validity),
        ),
        Figure(
            "categories missed / invented",
            f"{covered.missed_categories} / {covered.invented_categories}",
            note="ideal 0 / 0",
        ),
    )
    rows = tuple(
        (
            c.column,
            c.kind.value,
            "–"
            if c.missed_categories is None
            else f"{c.missed_categories} of {c.real_categories} ({c.missed_real_share:.1%} of real rows)",
            "–"
            if c.invented_categories is None
            else f"{c.invented_categories} ({c.invented_synthetic_share:.1%} of synthetic rows)",
            "–" if c.out_of_range_share is None else f"{c.out_of_range_share:.1%}",
        )
        for c in covered.columns
    )
    table = Table(
        headers=("column", "kind", "real categories missed", "categories invented", "outside the real range"),
        rows=rows,
        caption="Counts and shares only; the categories themselves are not shown.",
    )
    text = (
        f"Precision and recall in the k-nearest-neighbour form (k = {covered.k}, Kynkäänniemi et al. 2019) on "
        f"{covered.rows_real:,} rows a side: precision separates realistic from implausible rows, recall diverse "
        "from collapsed ones."
    )
    return Section(title="Coverage and validity", text=text, figures=figures, tables=(table,))


def _pair_matrix(
    result: FidelityResult, names: list[str], value: Callable[[PairScore], float], diagonal: float
) -> list[list[float | None]]:
    """A symmetric matrix of ``value`` per column pair (None where a pair has no finite value)."""
    position = {name: i for i, name in enumerate(names)}
    matrix: list[list[float | None]] = [[None] * len(names) for _ in names]
    for i in range(len(names)):
        matrix[i][i] = diagonal
    for pair in result.pair_scores:
        number = value(pair)
        if pair.column_1 in position and pair.column_2 in position and np.isfinite(number):
            i, j = position[pair.column_1], position[pair.column_2]
            matrix[i][j] = matrix[j][i] = float(number)
    return matrix


def _pair_heatmap(result: FidelityResult, names: list[str]) -> Chart:
    return charts.heatmap(
        "Pair trend scores (1 = relationship reproduced)",
        names,
        _pair_matrix(result, names, lambda pair: pair.score, diagonal=1.0),
        vmin=0.0,
        vmax=1.0,
        caption="Correlation similarity for two numerical columns, contingency similarity otherwise.",
    )


def _difference_heatmap(result: FidelityResult, names: list[str]) -> Chart:
    return charts.heatmap(
        "Association difference |synthetic − real| (0 = same strength)",
        names,
        _pair_matrix(result, names, lambda pair: abs(pair.synthetic_value - pair.real_value), diagonal=0.0),
        vmin=0.0,
        vmax=0.5,
        caption="Pearson correlation for two numerical columns, Cramér's V otherwise; 0.5 and above share one colour.",
    )


def _worst_first(
    distributions: list[ColumnDistribution], ordered: list[ColumnScore]
) -> list[ColumnDistribution]:
    rank = {score.column: i for i, score in enumerate(ordered)}
    return sorted(distributions, key=lambda d: rank.get(d.column, len(rank)))


def _distribution_chart(distribution: ColumnDistribution) -> Chart:
    """Numbers as overlaid histograms on one axis, everything else as grouped bars."""
    edges = distribution.edges
    if edges is not None and distribution.kind is ColumnKind.NUMERICAL and len(edges) >= 2:
        bins = len(edges) - 1
        series = {"real": distribution.real_share[:bins], "synthetic": distribution.synthetic_share[:bins]}
        rest = [
            f"{label}: real {r:.0%}, synthetic {q:.0%}"
            for label, r, q in zip(
                distribution.labels[bins:],
                distribution.real_share[bins:],
                distribution.synthetic_share[bins:],
                strict=True,
            )
        ]
        caption = "numerical: share of rows per bin (real filled, synthetic outlined)"
        return charts.histogram_chart(
            distribution.column, list(edges), series, caption="; ".join([caption, *rest])
        )
    series = {"real": distribution.real_share, "synthetic": distribution.synthetic_share}
    unit = "category" if edges is None else "bin"
    return charts.bar_chart(
        distribution.column,
        distribution.labels,
        series,
        caption=f"{distribution.kind}: share of rows per {unit}",
    )
