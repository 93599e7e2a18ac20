"""Stage 5, export: the synthetic table leaves the building only when every gate passed.

The export is the synthesize stage's Parquet copied row group by row group (never the whole
table in memory), with the run's provenance in its key-value metadata, an optional CSV
beside it, and a data card (`reports.datacard`) for whoever receives it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq

from synthpriv import __version__
from synthpriv.config.model import ExportConfig, GatesConfig
from synthpriv.errors import GateFailedError
from synthpriv.reports.datacard import DATACARD_JSON, DATACARD_MD, build_datacard, render_markdown
from synthpriv.reports.headline import guarantee
from synthpriv.reports.model import Report
from synthpriv.reports.pages.export import export_report
from synthpriv.reports.summaries import ExportSummary
from synthpriv.runtime.files import atomic_write_text, sha256_file
from synthpriv.stages.base import GateOutcome, Stage, StageContext, StageResult, read_summary

#: The key of the export's Parquet key-value metadata that holds the provenance (JSON).
METADATA_KEY = b"synthpriv"
#: Rows converted to CSV at a time: bounded memory whatever the table's size.
CSV_BATCH_ROWS = 50_000


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
        return export_report(run_name, summary, [GateOutcome(**g) for g in summary.gate_results])


def _copy_out(
    source: Path, folder: Path, formats: Sequence[str], provenance: dict[str, Any]
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
