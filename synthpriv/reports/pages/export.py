"""The export page: what left the building, on which gates, with which provenance."""

from __future__ import annotations

from collections.abc import Sequence

from synthpriv.reports import charts
from synthpriv.reports.datacard import DATACARD_JSON, DATACARD_MD
from synthpriv.reports.headline import gate_table
from synthpriv.reports.model import Chart, Figure, Link, Report, Section, Table
from synthpriv.reports.summaries import ExportSummary, GateLike
from synthpriv.reports.verdicts import tone_dp_epsilon, tone_verdict


def _gates_section(outcomes: Sequence[GateLike]) -> Section:
    gates = gate_table(
        [{"name": g.name, "value": g.value, "bound": g.bound, "passed": g.passed} for g in outcomes],
        "Gates come from the pipeline file's gates section."
        if outcomes
        else "No gates are set in the pipeline file.",
    )
    bars: tuple[Chart, ...] = ()
    if outcomes:
        bars = (
            charts.score_bars(
                "Gate figures against their bounds",
                [g.name for g in outcomes],
                [g.value for g in outcomes],
                reference=[g.bound for g in outcomes],
                caption=(
                    "The tick on each bar marks the gate's bound (min_ gates: at least; max_ gates: at most)."
                ),
                reference_label="bound",
            ),
        )
    return Section(title="Gates", charts=bars, tables=(gates,))


def _verdict(summary: ExportSummary, outcomes: Sequence[GateLike]) -> Figure:
    if summary.gates_forced:
        failed = sum(not g.passed for g in outcomes)
        note = f"{failed} gate(s) failed; forced with --allow-failed-gates"
        return Figure(
            "export",
            "exported despite failed gates",
            note=note,
            tone=tone_verdict(False, True),
            kind="verdict",
        )
    note = "every gate passed" if outcomes else "no gates were set"
    tone = tone_verdict(False, caveat=not outcomes)
    return Figure("export", "exported", note=note, tone=tone, kind="verdict")


def _dp_figure(dp: dict[str, float] | str) -> Figure:
    if isinstance(dp, str):  # "none": trained without differential privacy
        return Figure("differential privacy", "none", note="trained without DP", kind="dp_epsilon")
    return Figure(
        "differential privacy",
        f"epsilon {dp['epsilon']:.3g}",
        note=f"delta {dp['delta']:.2g}",
        tone=tone_dp_epsilon(dp["epsilon"]),
        kind="dp_epsilon",
    )


def _exported_section(summary: ExportSummary) -> Section:
    files = Table(
        headers=("file", "rows", "size", "sha256"),
        rows=tuple(
            (f["path"], f"{f['rows']:,}", f"{f['bytes'] / 1e6:.2f} MB", f["sha256"][:16] + "…")
            for f in summary.files
        ),
        caption="In this folder. The Parquet keeps the input's column names, order and dtypes; its key-value "
        "metadata ('synthpriv') holds the provenance below.",
    )
    return Section(
        title="What was exported",
        figures=(Figure("rows", f"{summary.rows:,}"), _dp_figure(summary.differential_privacy)),
        tables=(files,),
        links=(
            Link(
                DATACARD_MD,
                DATACARD_MD,
                note="the data card: what was generated, how faithful, how private; read it first",
            ),
            Link(DATACARD_JSON, DATACARD_JSON, note="the same, for programs"),
        ),
    )


def export_report(run_name: str, summary: ExportSummary, outcomes: Sequence[GateLike]) -> Report:
    """The export stage's page, from its summary and the gates the export was decided on."""
    provenance = Table(
        headers=("key", "value"),
        rows=tuple(
            (key, str(value))
            for key, value in summary.provenance.items()
            if key not in ("gates", "differential_privacy")
        ),
    )
    return Report(
        stage="export",
        title="Export",
        run_name=run_name,
        subtitle="The synthetic table, exported only when every gate passed",
        verdict=_verdict(summary, outcomes),
        sections=(
            _exported_section(summary),
            _gates_section(outcomes),
            Section(title="Provenance", tables=(provenance,)),
        ),
        audience="Synthetic rows and gate results only.",
    )
