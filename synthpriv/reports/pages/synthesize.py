"""The synthesize page: how many rows were sampled, how fast, under which conditions."""

from __future__ import annotations

from collections.abc import Mapping

from synthpriv.reports import charts
from synthpriv.reports.model import Chart, Figure, Report, Section
from synthpriv.reports.summaries import SynthesizeSummary


def synthesize_report(run_name: str, summary: SynthesizeSummary) -> Report:
    """The synthesize stage's page: the synthetic rows, and of the real training rows only each
    column's share of missing values."""
    chart = missing_chart(summary.missing_share, summary.real_missing_share)
    section = Section(
        title="Sampling",
        figures=(
            Figure("rows", f"{summary.rows:,}"),
            Figure("seed", str(summary.seed)),
            Figure("time", f"{summary.seconds:.2f} s", note=f"{summary.rows_per_second:,.0f} rows/s"),
            Figure(
                "batches",
                str(-(-summary.rows // summary.batch_size)),
                note=f"{summary.batch_size:,} rows each",
            ),
            _conditions_figure(summary),
            *_rebalance_figures(summary),
        ),
        charts=(chart,),
    )
    return Report(
        stage="synthesize",
        title="Synthesize",
        run_name=run_name,
        subtitle="Sample synthetic rows from the trained model",
        sections=(section,),
        audience=(
            "Synthetic rows, beside one aggregate of the real training rows: each column's share of "
            "missing values."
        ),
    )


def missing_chart(synthetic: Mapping[str, float], real: Mapping[str, float] | None) -> Chart:
    """Share of rows with a missing value per column: synthetic beside the real training rows.

    Columns missing in neither are left out (a row of zeros says nothing); the axis fits the
    largest share. Without the real shares (a summary written before they were recorded) the
    synthetic bars stand alone and the caption says so.
    """
    names = [n for n in synthetic if synthetic[n] > 0 or (real is not None and real.get(n, 0.0) > 0)]
    caption = "Share of rows with a missing value; missingness is learned, not filled in."
    if not names:
        return charts.score_bars(
            "Missing values per column", [], [], caption="No column has a missing value."
        )
    if real is None:
        return charts.score_bars(
            "Missing values per column (synthetic)",
            names,
            [synthetic[n] for n in names],
            caption=caption + " The real training rows' shares were not recorded by this run.",
            value_label="synthetic share missing",
            fit=True,
        )
    return charts.bar_chart(
        "Missing values per column, real against synthetic",
        names,
        {"real": [real.get(n, 0.0) for n in names], "synthetic": [synthetic[n] for n in names]},
        caption=caption + " Real: the training rows (an aggregate per column).",
    )


def _conditions_figure(summary: SynthesizeSummary) -> Figure:
    if summary.conditions_file_rows is not None:
        return Figure(
            "conditions",
            f"file of {summary.conditions_file_rows:,} partial rows",
            note="imputed: empty cells drawn given the row's given cells, which are kept",
        )
    return Figure(
        "conditions",
        ", ".join(f"{k} = {v}" for k, v in summary.conditions.items()) or "none",
        note="every row honours them" if summary.conditions else "unconditional sampling",
    )


def _rebalance_figures(summary: SynthesizeSummary) -> tuple[Figure, ...]:
    return tuple(
        Figure(
            "rebalanced",
            ", ".join(f"{column} = {category}: {share * 100:g} %" for category, share in shares.items()),
            note="share of every batch; other categories in the model's own proportions",
        )
        for column, shares in summary.rebalance.items()
    )
