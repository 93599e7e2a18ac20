"""Stage 5, export: the synthetic table leaves the building only when every gate passed.

The export is the synthesize stage's Parquet copied row group by row group (never the whole
table in memory), with the run's provenance in its key-value metadata, an optional CSV
beside it, and a data card (`reports.datacard`) for whoever receives it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq
from pydantic import BaseModel

from synthpriv import __version__
from synthpriv.config.model import ExportConfig, GatesConfig
from synthpriv.errors import GateFailedError
from synthpriv.reports import charts
from synthpriv.reports.datacard import DATACARD_JSON, DATACARD_MD, build_datacard, render_markdown
from synthpriv.reports.headline import gate_table, guarantee
from synthpriv.reports.model import Figure, Link, Report, Section, Table
from synthpriv.runtime.files import atomic_write_text, sha256_file
from synthpriv.stages.base import GateOutcome, Stage, StageContext, StageResult, read_summary

#: The key of the export's Parquet key-value metadata that holds the provenance (JSON).
METADATA_KEY = b"synthpriv"
#: Rows converted to CSV at a time: bounded memory whatever the table's size.
CSV_BATCH_ROWS = 50_000


class ExportSummary(BaseModel):
    rows: int
    files: list[dict[str, Any]]
    """Each exported file: path, rows, bytes, sha256."""
    gate_results: list[dict[str, Any]]
    """The validate and attack gates this export was decided on."""
    gates_forced: bool
    """Whether a gate failed and the export went ahead with --allow-failed-gates."""
    allow_failed_gates: bool
    synthetic_sha256: str
    """The synthesize stage's Parquet the export was copied from."""
    provenance: dict[str, Any]
    """What the exported Parquet's metadata says (version, generator, seed, config hash, DP, gates)."""
    differential_privacy: dict[str, Any] | str = "none"


class ExportStage(Stage[ExportConfig]):
    name: ClassVar = "export"
    requires: ClassVar = frozenset({"synthetic", "fidelity", "privacy", "ledger", "training", "sampling"})
    produces: ClassVar = frozenset({"export"})

    def __init__(
        self, config: ExportConfig, gates: GatesConfig | None = None, *, allow_failed_gates: bool = False
    ) -> None:
        super().__init__(config, gates)
        self.allow_failed_gates = allow_failed_gates

    def run(self, ctx: StageContext) -> StageResult:
        summaries = {
            stage: read_summary(ctx.run_dir / stage)
            for stage in ("train", "synthesize", "validate", "attack")
        }
        outcomes = [
            GateOutcome(**g) for stage in ("validate", "attack") for g in summaries[stage].get("gates", [])
        ]
        failed = [g for g in outcomes if not g.passed]
        if failed and not self.allow_failed_gates:
            raise GateFailedError(
                "nothing exported (use --allow-failed-gates to export anyway)",
                where="gates",
                failed=[g.describe() for g in failed],
            )
        dp = guarantee(summaries)
        gate_results = [g.__dict__ for g in outcomes]
        provenance = {
            "synthpriv_version": __version__,
            "run": ctx.run_name,
            "generator": summaries["train"]["generator"],
            "seed": ctx.seed,
            "sampling_seed": summaries["synthesize"]["seed"],
            "config_sha256": ctx.config_sha256,
            "differential_privacy": dp.to_metadata(),
            "gates": gate_results,
            "gates_forced": bool(failed),
        }
        source = ctx.artifact("synthetic")
        files = _copy_out(source, ctx.stage_dir, self.config.formats, provenance)
        card = build_datacard(
            summaries,
            run_name=ctx.run_name,
            files=files,
            gates=gate_results,
            gates_forced=bool(failed),
            config_sha256=ctx.config_sha256,
        )
        atomic_write_text(ctx.stage_dir / DATACARD_JSON, json.dumps(card, indent=2))
        atomic_write_text(ctx.stage_dir / DATACARD_MD, render_markdown(card))
        summary = ExportSummary(
            rows=files[0]["rows"],
            files=files,
            gate_results=gate_results,
            gates_forced=bool(failed),
            allow_failed_gates=self.allow_failed_gates,
            synthetic_sha256=sha256_file(source),
            provenance=provenance,
            differential_privacy=dp.to_metadata(),
        )
        return StageResult(summary=summary)

    @classmethod
    def build_report(cls, run_name: str, stage_dir: Path) -> Report:
        summary = ExportSummary.model_validate(read_summary(stage_dir))
        return _report(run_name, summary, [GateOutcome(**g) for g in summary.gate_results])


def _copy_out(
    source: Path, folder: Path, formats: list[str], provenance: dict[str, Any]
) -> list[dict[str, Any]]:
    """Write the export files from ``source``, one row group (or CSV batch) at a time."""
    parquet = pq.ParquetFile(source)
    schema = parquet.schema_arrow
    metadata = {**(schema.metadata or {}), METADATA_KEY: json.dumps(provenance).encode()}
    written: list[Path] = []
    # Each file is written under a temporary name and renamed into place when complete.
    if "parquet" in formats:
        target = folder / "synthetic.parquet"
        tmp = _partial(target)
        with pq.ParquetWriter(tmp, schema.with_metadata(metadata), compression="zstd") as writer:
            for group in range(parquet.num_row_groups):
                writer.write_table(parquet.read_row_group(group))
        os.replace(tmp, target)
        written.append(target)
    if "csv" in formats:
        target = folder / "synthetic.csv"
        tmp = _partial(target)
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            for number, batch in enumerate(parquet.iter_batches(batch_size=CSV_BATCH_ROWS)):
                # Through pandas, so that categories, nullable integers and datetimes print as they read.
                batch.to_pandas().to_csv(handle, header=number == 0, index=False)
        os.replace(tmp, target)
        written.append(target)
    rows = parquet.metadata.num_rows
    return [
        {"path": p.name, "rows": rows, "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in written
    ]


def _partial(path: Path) -> Path:
    """The temporary name ``path`` is written under before it is renamed into place."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _report(run_name: str, summary: ExportSummary, outcomes: list[GateOutcome]) -> Report:
    gates = gate_table(
        [g.__dict__ for g in outcomes],
        "Gates come from the pipeline file's gates section."
        if outcomes
        else "No gates are set in the pipeline file.",
    )
    charts_ = ()
    if outcomes:
        charts_ = (
            charts.score_bars(
                "Gate figures against their bounds",
                [g.name for g in outcomes],
                [g.value for g in outcomes],
                reference=[g.bound for g in outcomes],
                caption="The tick on each bar marks the gate's bound (min_ gates: at least; max_ gates: at most).",
                reference_label="bound",
            ),
        )
    if summary.gates_forced:
        failed = sum(not g.passed for g in outcomes)
        verdict = Figure(
            "export",
            "exported despite failed gates",
            note=f"{failed} gate(s) failed; forced with --allow-failed-gates",
            tone="warn",
        )
    else:
        verdict = Figure(
            "export", "exported", note="every gate passed" if outcomes else "no gates were set", tone="good"
        )
    dp = summary.differential_privacy
    files = Table(
        headers=("file", "rows", "size", "sha256"),
        rows=tuple(
            (f["path"], f"{f['rows']:,}", f"{f['bytes'] / 1e6:.2f} MB", f["sha256"][:16] + "…")
            for f in summary.files
        ),
        caption="In this folder. The Parquet keeps the input's column names, order and dtypes; its key-value "
        "metadata ('synthpriv') holds the provenance below.",
    )
    provenance = Table(
        headers=("key", "value"),
        rows=tuple(
            (key, str(value))
            for key, value in summary.provenance.items()
            if key not in ("gates", "differential_privacy")
        ),
    )
    section = Section(
        title="What was exported",
        figures=(
            Figure("rows", f"{summary.rows:,}"),
            Figure(
                "differential privacy",
                "none" if dp == "none" else f"epsilon {dp['epsilon']:.3g}",  # type: ignore[index]
                note="trained without DP" if dp == "none" else f"delta {dp['delta']:.2g}",  # type: ignore[index]
                tone="neutral" if dp == "none" else "good",
            ),
        ),
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
    return Report(
        stage="export",
        title="Export",
        run_name=run_name,
        subtitle="The synthetic table, exported only when every gate passed",
        verdict=verdict,
        sections=(
            section,
            Section(title="Gates", charts=charts_, tables=(gates,)),
            Section(title="Provenance", tables=(provenance,)),
        ),
        audience="Synthetic rows and gate results only.",
    )
