"""The synthesize page: how many rows were sampled, how fast, under which conditions."""

from __future__ import annotations

from synthpriv.reports import charts
from synthpriv.reports.model import Figure, Report, Section
from synthpriv.reports.summaries import SynthesizeSummary


def synthesize_report(run_name: str, summary: SynthesizeSummary) -> Report:
    """The synthesize stage's page (synthetic rows only: the real table is not read here)."""
    names = list(summary.missing_share)
    chart = charts.score_bars(
        "Missing values per column (synthetic)",
        names,
        [summary.missing_share[n] for n in names],
        caption="Share of synthetic rows with a missing value; missingness is learned, not filled in.",
        value_label="share missing",
    )
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
        audience="Synthetic rows only; the real table is not read in this stage.",
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
