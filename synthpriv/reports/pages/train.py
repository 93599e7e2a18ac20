"""The train page: how the generator was fitted, the schema it saw, and the privacy ledger."""

from __future__ import annotations

import pandas as pd

from synthpriv.privacy.ledger import PrivacyLedger, Release
from synthpriv.reports import charts
from synthpriv.reports.model import Chart, Figure, Report, Section, Table
from synthpriv.reports.references import for_training
from synthpriv.reports.summaries import COVERAGE_ROWS, TrainSummary
from synthpriv.reports.verdicts import tone_dp_epsilon


def _schedule(release: Release) -> str:
    """How the mechanism ran: DP-SGD's steps and sampling rate, the marginals' rounds and rho."""
    if release.rho is not None:
        return f"{release.steps or 0:,} selection rounds, zCDP rho {release.rho:.4g}"
    if release.steps is None or release.sample_rate is None:
        return "–"
    return f"{release.steps:,} steps at rate {release.sample_rate:.4g}"


def _privacy_section(ledger: PrivacyLedger) -> Section:
    rows = tuple(
        (
            r.what,
            r.mechanism,
            f"{r.epsilon:.4g}",
            f"{r.delta:.3g}",
            "–" if r.noise is None else f"{r.noise:.4g}",
            _schedule(r),
        )
        for r in ledger.releases
    )
    return Section(
        title="Differential privacy ledger",
        anchor="ledger",
        text=(
            "Every computation that read the real table, with what it cost. The total is their sequential "
            "composition (epsilons add up, deltas add up), which holds for any mix of mechanisms. DP-SGD's "
            "epsilon is the accountant's value after training, for the steps actually taken; the marginals' "
            "is their zCDP total (rho) converted to (epsilon, delta)."
        ),
        figures=(
            Figure(
                "epsilon spent",
                f"{ledger.spent_epsilon:.4g}",
                note=f"budget {ledger.epsilon:.4g}",
                tone=tone_dp_epsilon(ledger.spent_epsilon),
                kind="dp_epsilon",
            ),
            Figure("delta spent", f"{ledger.spent_delta:.3g}", note=f"budget {ledger.delta:.3g}"),
        ),
        tables=(Table(headers=("release", "mechanism", "epsilon", "delta", "noise", "sampling"), rows=rows),),
    )


def _training_charts(summary: TrainSummary, history: pd.DataFrame) -> tuple[Chart, ...]:
    epochs = history["epoch"].tolist() if "epoch" in history else list(range(1, len(history) + 1))
    # One chart per loss term: they live on different scales (a KL near 0 beside a loss near 1000).
    loss_charts = tuple(
        charts.line_chart(
            "Training loss per epoch" if column == "loss" else f"{column} per epoch",
            epochs,
            {column: history[column].tolist()},
            x_label="epoch",
            y_label="mean per row",
            caption="Aggregate over all training rows in each epoch." if column == "loss" else "",
        )
        for column in history.columns
        if column != "epoch"
    )
    coverage_chart = charts.score_bars(
        "Categories the samples reproduce, per column",
        list(summary.category_coverage),
        list(summary.category_coverage.values()),
        caption=(
            f"Share of each column's real categories found in {COVERAGE_ROWS:,} sampled rows; below 1 means "
            "categories were dropped (mode collapse)."
        ),
    )
    kinds = pd.Series([c.kind for c in summary.columns]).value_counts()
    kind_chart = charts.bar_chart(
        "Columns by kind",
        kinds.index.tolist(),
        {"columns": kinds.astype(float).tolist()},
        value_format="{:.0f}",
    )
    return (*loss_charts, coverage_chart, kind_chart)


def _overview(summary: TrainSummary, history: pd.DataFrame) -> Section:
    return Section(
        title="Training",
        figures=(
            Figure("generator", summary.generator),
            Figure("epochs", str(summary.epochs), note=f"batch size {summary.batch_size}"),
            Figure("fit time", f"{summary.fit_seconds:.1f} s", note=f"on {summary.device}"),
            Figure(
                "training rows",
                f"{summary.train_rows:,}",
                note=f"holdout {summary.holdout_rows:,} ({summary.holdout_source})",
            ),
        ),
        charts=_training_charts(summary, history),
    )


def train_report(run_name: str, summary: TrainSummary, history: pd.DataFrame) -> Report:
    """The train stage's page, from its summary and its per-epoch loss history."""
    schema_table = Table(
        headers=("column", "kind", "has missing values"),
        rows=tuple((c.name, c.kind, "yes" if c.nullable else "no") for c in summary.columns),
        caption="Column names and kinds only; no values of the real table are shown.",
    )
    sections = [_overview(summary, history), Section(title="Schema", tables=(schema_table,))]
    if summary.privacy is not None:
        sections.insert(1, _privacy_section(summary.privacy))
    if summary.warnings:
        sections.append(Section(title="Warnings", text="\n".join(summary.warnings)))
    params = Table(headers=("setting", "value"), rows=tuple((k, str(v)) for k, v in summary.params.items()))
    sections.append(Section(title="Generator settings", tables=(params,)))
    mechanisms = frozenset(r.mechanism for r in summary.privacy.releases) if summary.privacy else frozenset()
    return Report(
        stage="train",
        title="Train",
        run_name=run_name,
        subtitle="Fit the generator on the real training rows",
        sections=tuple(sections),
        references=for_training(summary.generator, summary.privacy is not None, mechanisms),
    )
