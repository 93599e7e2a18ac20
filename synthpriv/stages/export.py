"""Stage 5, export: the synthetic table leaves the building only when every gate passed."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pyarrow.parquet as pq
from pydantic import BaseModel

from synthpriv import __version__
from synthpriv.config.model import ExportConfig, GatesConfig
from synthpriv.errors import GateFailedError
from synthpriv.reports import charts
from synthpriv.reports.model import Figure, Report, Section, Table
from synthpriv.runtime.files import sha256_file
from synthpriv.stages.base import GateOutcome, Stage, StageContext, StageResult


class ExportSummary(BaseModel):
    rows: int
    files: list[str]
    gates: list[dict[str, Any]]
    gates_forced: bool
    synthetic_sha256: str
    differential_privacy: dict[str, Any] | str = "none"


class ExportStage(Stage[ExportConfig]):
    name: ClassVar = "export"
    requires: ClassVar = frozenset({"synthetic", "fidelity", "privacy", "ledger"})
    produces: ClassVar = frozenset({"export"})

    def __init__(self, config: ExportConfig, gates: GatesConfig | None = None, *, allow_failed_gates: bool = False) -> None:
        super().__init__(config, gates)
        self.allow_failed_gates = allow_failed_gates

    def run(self, ctx: StageContext) -> StageResult:
        outcomes = _upstream_gates(ctx)
        failed = [g for g in outcomes if not g.passed]
        if failed and not self.allow_failed_gates:
            lines = "; ".join(g.describe() for g in failed)
            raise GateFailedError(f"nothing exported: {lines} (use --allow-failed-gates to export anyway)", where="gates")
        source = ctx.artifact("synthetic")
        table = pq.read_table(source)
        guarantee = differential_privacy(json.loads(ctx.artifact("ledger").read_text()))
        metadata = {
            **(table.schema.metadata or {}),
            b"synthpriv": json.dumps(
                {
                    "version": __version__,
                    "run": ctx.run_name,
                    "seed": ctx.seed,
                    "differential_privacy": guarantee,
                    "gates": [g.__dict__ for g in outcomes],
                    "gates_forced": bool(failed),
                }
            ).encode(),
        }
        files = []
        if "parquet" in self.config.formats:
            target = ctx.stage_dir / "synthetic.parquet"
            pq.write_table(table.replace_schema_metadata(metadata), target, compression="zstd")
            files.append(target.name)
        if "csv" in self.config.formats:
            table.to_pandas().to_csv(ctx.stage_dir / "synthetic.csv", index=False)
            files.append("synthetic.csv")
        summary = ExportSummary(
            rows=table.num_rows,
            files=files,
            gates=[g.__dict__ for g in outcomes],
            gates_forced=bool(failed),
            synthetic_sha256=sha256_file(source),
            differential_privacy=guarantee,
        )
        return StageResult(summary=summary, report=_report(ctx.run_name, summary, outcomes))


def differential_privacy(ledger: dict[str, Any]) -> dict[str, Any] | str:
    """What the export may claim: the ledger's proven total, or "none"."""
    if not ledger.get("differential_privacy"):
        return "none"
    return {
        "epsilon": ledger["spent"]["epsilon"],
        "delta": ledger["spent"]["delta"],
        "composition": ledger["composition"],
        "releases": len(ledger["releases"]),
    }


def _upstream_gates(ctx: StageContext) -> list[GateOutcome]:
    outcomes: list[GateOutcome] = []
    for artifact in ("fidelity", "privacy"):
        summary = json.loads(ctx.artifact(artifact).read_text())
        outcomes += [GateOutcome(**g) for g in summary.get("gates", [])]
    return outcomes


def _report(run_name: str, summary: ExportSummary, outcomes: list[GateOutcome]) -> Report:
    gate_table = Table(
        headers=("gate", "value", "bound", "result"),
        rows=tuple((g.name, f"{g.value:.4g}", f"{g.bound:.4g}", "passed" if g.passed else "FAILED") for g in outcomes),
        caption="Gates come from the pipeline file's gates section." if outcomes else "No gates are set in the pipeline file.",
    )
    charts_ = ()
    if outcomes:
        charts_ = (
            charts.score_bars(
                "Gate figures against their bounds",
                [g.name for g in outcomes],
                [g.value for g in outcomes],
                reference=[g.bound for g in outcomes],
                caption="The tick on each bar marks the gate's bound.",
            ),
        )
    else:
        charts_ = (charts.bar_chart("Exported rows", ["synthetic"], {"rows": [float(summary.rows)]}, value_format="{:,.0f}"),)
    verdict = Figure(
        "export",
        "exported" if not summary.gates_forced else "exported despite failed gates",
        note=", ".join(summary.files),
        tone="warn" if summary.gates_forced else "good",
    )
    section = Section(
        title="What was exported",
        figures=(Figure("rows", f"{summary.rows:,}"), Figure("files", ", ".join(summary.files)), Figure("sha256", summary.synthetic_sha256[:16] + "…")),
        charts=charts_,
        tables=(gate_table,),
    )
    return Report(
        stage="export",
        title="Export",
        run_name=run_name,
        subtitle="The synthetic table, exported only when every gate passed",
        verdict=verdict,
        sections=(section,),
        audience="Synthetic rows and gate results only.",
    )
