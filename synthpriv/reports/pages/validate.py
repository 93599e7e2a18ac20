"""The validate page: is the synthetic table faithful to the real one, beside the real holdout?

Rendered from `ValidateMeasures` (validate's ``measures.json``) and the recorded gates; every
tone comes from `reports.verdicts`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synthpriv.data.schema import ColumnKind
from synthpriv.metrics.efficacy import EfficacyResult
from synthpriv.metrics.fidelity import ColumnDistribution, ColumnScore
from synthpriv.metrics.rowlogic import RowLogicResult
from synthpriv.reports import charts
from synthpriv.reports.formatting import number
from synthpriv.reports.headline import in_samples
from synthpriv.reports.model import Chart, Figure, Report, Section, Table
from synthpriv.reports.pages.fidelity_sections import column_accuracy_section, pair_section
from synthpriv.reports.summaries import GateLike, ValidateMeasures
from synthpriv.reports.verdicts import (
    tone_closeness,
    tone_coverage,
    tone_detection_auc,
    tone_ml_efficacy,
    tone_row_logic,
    tone_verdict,
)


def _interval(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"95 % interval {ci[0]:.3f} to {ci[1]:.3f}"


def _verdict(measures: ValidateMeasures, gates: Sequence[GateLike]) -> Figure:
    failed = [g for g in gates if not g.passed]
    if failed:
        note = "; ".join(g.describe() for g in failed)
        return Figure("verdict", "gates failed", note=note, tone=tone_verdict(True), kind="verdict")
    fidelity = measures.fidelity
    close = tone_closeness(fidelity.quality, fidelity.holdout_quality) == "good"
    note = (
        f"quality {number(fidelity.quality)} against a holdout reference of "
        f"{number(fidelity.holdout_quality)}; a detector tells synthetic from real rows with AUC "
        f"{number(measures.detection.auc)} (0.5 = not at all)"
    )
    if gates:
        note = f"all {len(gates)} gate(s) passed; " + note
    return Figure(
        "verdict",
        "close to real" if close else "usable with care",
        note=note,
        tone=tone_verdict(False, caveat=not close),
        kind="verdict",
    )


def _closeness_figure(label: str, value: float | None, reference: float | None, sample: str = "") -> Figure:
    return Figure(
        label,
        number(value),
        note=f"holdout reference {number(reference)}{sample}",
        tone=tone_closeness(value, reference),
        kind="fidelity",
    )


def _sample(measures: ValidateMeasures, *used: tuple[int | None, str]) -> str:
    """The "; in a sample of N of M training rows" of the tables a figure sampled (`in_samples`)."""
    tables = {"training rows": measures.table_rows_train, "synthetic rows": measures.table_rows_synthetic}
    return in_samples(*((rows, tables[what], what) for rows, what in used))


def _fidelity_section(measures: ValidateMeasures) -> Section:
    result = measures.fidelity
    sample = _sample(measures, (result.rows_real, "training rows"), (result.rows_synthetic, "synthetic rows"))
    return Section(
        title="Fidelity",
        text=(
            "sdmetrics scores in [0, 1], 1 = identical. Each is shown beside the same score of the real "
            "holdout rows against the training rows: an independent real sample, the best a generator can "
            "honestly reach. Quality here uses all column pairs; sdmetrics' default skips weakly related "
            "pairs."
        ),
        figures=(
            _closeness_figure("quality (all pairs)", result.quality, result.holdout_quality, sample),
            _closeness_figure("column shapes", result.column_shapes, result.holdout_column_shapes),
            _closeness_figure(
                "column pair trends", result.column_pair_trends, result.holdout_column_pair_trends
            ),
            Figure(
                "quality (sdmetrics default)",
                number(result.quality_default_thresholds),
                note="weak pairs skipped",
            ),
        ),
    )


def _columns_sections(measures: ValidateMeasures) -> list[Section]:
    """Per column and per pair (`reports.pages.fidelity_sections`), then each column's distribution,
    worst column first."""
    result, k = measures.fidelity, measures.min_count
    columns = sorted(result.column_scores, key=lambda s: np.nan_to_num(s.score, nan=-1.0))
    return [
        column_accuracy_section(result),
        pair_section(result),
        Section(
            title="Distributions, real against synthetic",
            text=(
                f"Bins and categories with fewer than {k} real rows are merged, so no single real row can "
                "be read off a chart."
            ),
            charts=tuple(_distribution_chart(d) for d in _worst_first(measures.distributions, columns)),
        ),
    ]


def _sizes_section(measures: ValidateMeasures) -> Section:
    result, detection = measures.fidelity, measures.detection
    return Section(
        title="Sample sizes",
        text="Rows each measure used; above a stage's row limit a metric uses a seeded sample.",
        figures=(
            Figure(
                "real rows compared", f"{result.rows_real:,}", note=_of(measures.table_rows_train, "training")
            ),
            Figure(
                "synthetic rows compared",
                f"{result.rows_synthetic:,}",
                note=_of(measures.table_rows_synthetic, "synthetic"),
            ),
            Figure(
                "detector rows",
                f"{detection.rows_real:,} + {detection.rows_synthetic:,}",
                note=f"{detection.folds}-fold; real + synthetic, as many of each",
            ),
            Figure("time", f"{measures.seconds:.1f} s", note=f"sdmetrics {result.sdmetrics_seconds:.1f} s"),
        ),
    )


def _of(table_rows: int | None, what: str) -> str:
    return "" if table_rows is None else f"of {table_rows:,} {what} rows"


def validate_report(run_name: str, measures: ValidateMeasures, gates: Sequence[GateLike]) -> Report:
    """The validate stage's page."""
    sections = [
        _fidelity_section(measures),
        _usefulness_section(measures),
        _coverage_section(measures),
        *([_row_logic_section(measures.row_logic)] if measures.row_logic is not None else []),
        *_columns_sections(measures),
        _sizes_section(measures),
    ]
    return Report(
        stage="validate",
        title="Validate",
        run_name=run_name,
        subtitle="Is the synthetic table faithful to the real one?",
        verdict=_verdict(measures, gates),
        sections=tuple(sections),
    )


def _efficacy_figures(efficacy: EfficacyResult, sample: str) -> list[Figure]:
    """The model trained on synthetic rows, scored on the real holdout, beside one trained on real rows."""
    metric = "ROC AUC" if efficacy.headline_metric == "roc_auc" else "R²"
    synthetic_score = (
        efficacy.synthetic_roc_auc if efficacy.headline_metric == "roc_auc" else efficacy.synthetic_r2
    )
    real_score = efficacy.real_roc_auc if efficacy.headline_metric == "roc_auc" else efficacy.real_r2
    synthetic_ci = (
        efficacy.synthetic_roc_auc_ci if efficacy.headline_metric == "roc_auc" else efficacy.synthetic_r2_ci
    )
    figures = [
        Figure(
            f"ML efficacy: {metric} trained on synthetic",
            number(synthetic_score),
            note=f"{_interval(synthetic_ci)}; trained on real {number(real_score)}",
        ),
        Figure(
            "efficacy ratio",
            number(efficacy.ratio),
            note=f"synthetic / real; {_interval(efficacy.ratio_ci)}; ideal 1{sample}",
            tone=tone_ml_efficacy(efficacy.ratio),
            kind="ml_efficacy",
        ),
    ]
    if efficacy.synthetic_f1_macro is not None:
        figures.append(
            Figure(
                "macro F1 trained on synthetic",
                number(efficacy.synthetic_f1_macro),
                note=f"trained on real {number(efficacy.real_f1_macro)}",
            )
        )
    return figures


def _usefulness_section(measures: ValidateMeasures) -> Section:
    detector, reference, efficacy = measures.detection, measures.detection_reference, measures.efficacy
    sample = _sample(
        measures, (detector.rows_real, "training rows"), (detector.rows_synthetic, "synthetic rows")
    )
    figures = [
        Figure(
            "detection AUC",
            number(detector.auc),
            note=(
                f"{_interval(detector.auc_ci)}; real holdout vs train {number(reference.auc)}; "
                f"ideal 0.5{sample}"
            ),
            tone=tone_detection_auc(detector.auc),
            kind="detection_auc",
        )
    ]
    if efficacy is not None:
        used = (efficacy.rows_train_real, "training rows"), (efficacy.rows_synthetic, "synthetic rows")
        figures += _efficacy_figures(efficacy, _sample(measures, *used))
    top = detector.importances[:10]
    importance_chart = charts.score_bars(
        "What gives synthetic rows away",
        [i.column for i in top],
        [max(0.0, i.auc_drop) for i in top],
        caption=(
            "Drop of the detector's AUC when the column is shuffled; longer = a stronger giveaway. The axis "
            "ends just above the largest drop."
        ),
        value_label="AUC drop",
        fit=True,
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


def _coverage_section(measures: ValidateMeasures) -> Section:
    covered, diagnostic = measures.coverage, measures.diagnostic
    figures = (
        Figure(
            "precision",
            number(covered.precision),
            note=f"synthetic rows that look real; holdout reference {number(covered.holdout_precision)}",
            tone=tone_coverage(covered.precision, covered.holdout_precision),
            kind="coverage",
        ),
        Figure(
            "recall",
            number(covered.recall),
            note=f"real rows the synthetic data covers; holdout reference {number(covered.holdout_recall)}",
            tone=tone_coverage(covered.recall, covered.holdout_recall),
            kind="coverage",
        ),
        Figure(
            "validity",
            number(diagnostic.validity),
            note=f"values inside the real domain; holdout reference {number(diagnostic.holdout_validity)}",
            tone=tone_coverage(diagnostic.validity, diagnostic.holdout_validity),
            kind="coverage",
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
        f"Precision and recall in the k-nearest-neighbour form (k = {covered.k}, Kynkäänniemi et al. 2019) "
        f"on {covered.rows_real:,} rows a side: precision separates realistic from implausible rows, recall "
        "diverse from collapsed ones."
    )
    return Section(title="Coverage and validity", text=text, figures=figures, tables=(table,))


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _row_logic_figure(label: str, share: float, reference: float | None, note: str) -> Figure:
    return Figure(
        label,
        _share(share),
        note=f"{note}; holdout reference {_share(reference)}; ideal 0",
        tone=tone_row_logic(share, reference),
        kind="row_logic",
    )


def _row_logic_section(logic: RowLogicResult) -> Section:
    """Rules every real training row keeps, missing patterns and value forms: how often synthetic
    rows break them, beside the real holdout rows."""
    figures = (
        _row_logic_figure(
            "rows breaking a rule (worst rule)",
            logic.worst_rule_share,
            logic.holdout_worst_rule_share,
            f"{len(logic.rules)} rule(s) mined",
        ),
        _row_logic_figure(
            "rows with a missing pattern no real row has",
            logic.unseen_pattern_share,
            logic.holdout_unseen_pattern_share,
            "which columns are blank together",
        ),
        _row_logic_figure(
            "values outside the real form",
            logic.form_share,
            logic.holdout_form_share,
            "decimals, whole numbers, few-valued sets, date steps",
        ),
    )
    rules = Table(
        headers=("rule", "synthetic rows breaking it", "holdout rows breaking it"),
        rows=tuple((r.rule, _share(r.synthetic_share), _share(r.holdout_share)) for r in logic.rules),
        caption=f"Worst first. A value is named only where at least {logic.min_support} real rows hold it.",
    )
    forms = Table(
        headers=("column", "real values", "synthetic values outside", "holdout values outside"),
        rows=tuple(
            (f.column, f.form, _share(f.synthetic_share), _share(f.holdout_share)) for f in logic.forms
        ),
        caption="Shares of the non-missing values; the real values themselves are not shown.",
    )
    text = (
        "Rules that every real training row keeps, mined from them (support at least "
        f"{logic.min_support} rows): columns missing together, a value that implies columns missing or "
        "present, a column that determines another, the patterns of missing values. A synthetic row that "
        "breaks one (a salary for a student not placed) is visibly wrong. The real holdout rows were not "
        "mined: their shares show how often independent real rows break the same rules."
    )
    tables = tuple(t for t in (rules, forms) if t.rows)
    return Section(title="Row logic", text=text, figures=figures, tables=tables)


def _worst_first(
    distributions: list[ColumnDistribution], ordered: list[ColumnScore]
) -> list[ColumnDistribution]:
    rank = {score.column: i for i, score in enumerate(ordered)}
    return sorted(distributions, key=lambda d: rank.get(d.column, len(rank)))


def _distribution_chart(distribution: ColumnDistribution) -> Chart:
    """Numbers as overlaid histograms on one axis, whole numbers with few values and everything else
    as grouped bars (one per value, bin or category)."""
    edges = distribution.edges
    numbers = distribution.kind is ColumnKind.NUMERICAL and not distribution.whole_numbers
    if edges is not None and numbers and len(edges) >= 2:
        return _histogram(distribution, edges)
    shown = _drawn_bars(distribution)
    series = {
        "real": [distribution.real_share[i] for i in shown],
        "synthetic": [distribution.synthetic_share[i] for i in shown],
    }
    unit = "category" if edges is None else "value" if distribution.whole_numbers else "bin"
    return charts.bar_chart(
        distribution.column,
        [distribution.labels[i] for i in shown],
        series,
        caption=f"{distribution.kind}: share of rows per {unit}{_beyond_note(distribution)}",
    )


def _drawn_bars(distribution: ColumnDistribution) -> list[int]:
    """Every bucket, but a whole number neither side holds: a bar of 0 % on both says nothing."""
    shares = zip(distribution.real_share, distribution.synthetic_share, strict=True)
    return [i for i, pair in enumerate(shares) if any(pair) or not distribution.whole_numbers]


def _histogram(distribution: ColumnDistribution, edges: list[float]) -> Chart:
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
    ends = [
        f"the first bin also holds every value below {edges[0]:,.6g}" if distribution.beyond_low else "",
        f"the last bin also holds every value above {edges[-1]:,.6g}" if distribution.beyond_high else "",
    ]
    caption = "numerical: share of rows per bin (real filled, synthetic outlined)"
    return charts.histogram_chart(
        distribution.column, list(edges), series, caption="; ".join([caption, *filter(None, ends), *rest])
    )


def _beyond_note(distribution: ColumnDistribution) -> str:
    """Why a bar reads "or more" (or "below"): rare extreme values are counted with their neighbours."""
    if not (distribution.beyond_low or distribution.beyond_high):
        return ""
    return (
        "; the values beyond the real rows' common range are counted in the edge bars, so none is drawn alone"
    )
