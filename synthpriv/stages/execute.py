"""Running one stage safely: in a staging folder, moved into place only when it succeeded.

Shared by the pipeline (`synthpriv.pipeline`) and the evaluation of an outside synthetic
table (`synthpriv.evaluate`). A stage writes only under ``<run>/.staging/<stage>``; its
summary, report and the ``stage.json`` marker (written last) complete it; then the folder
replaces ``<run>/<stage>`` in one rename. A crash at any point leaves either the old
complete folder or none, never a half-written one that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthpriv.reports.render import render_report
from synthpriv.runtime.files import atomic_write_text, sha256_file
from synthpriv.stages.base import SUMMARY, Stage, StageContext

MARKER = "stage.json"
#: The page a stage renders from its summary; a view, re-rendered by ``synthpriv report``, so
#: not among the outputs whose hashes say a stage is intact.
REPORT = "report.html"


@dataclass
class StageRecord:
    """What the manifest says about one stage."""

    name: str
    status: str = "not run"  # complete | reused | failed | not run
    seconds: float | None = None
    fingerprint: str | None = None
    finished_at: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def staging_dir(run_dir: Path, name: str) -> Path:
    """A fresh, empty staging folder for stage ``name`` of the run in ``run_dir``."""
    staging = run_dir / ".staging" / name
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def clear_staging(run_dir: Path) -> None:
    """Remove what killed runs left in ``<run>/.staging`` (call it holding the run's lock)."""
    shutil.rmtree(run_dir / ".staging", ignore_errors=True)


def execute_stage(
    stage: Stage[Any], ctx: StageContext, fingerprint: str, *, nav: list[tuple[str, str]]
) -> StageRecord:
    """Run ``stage`` in ``ctx.stage_dir`` (a `staging_dir`) and move it into ``ctx.run_dir``.

    On any exception the staging folder is removed and the exception propagates; what was
    in place before stays untouched.
    """
    staging = ctx.stage_dir
    started = time.perf_counter()
    try:
        result = stage.run(ctx)
        summary = {
            "stage": stage.name,
            **result.summary.model_dump(mode="json"),
            "gates": [asdict(g) for g in result.gates],
        }
        atomic_write_text(staging / SUMMARY, json.dumps(summary, indent=2))
        render_report(type(stage).build_report(ctx.run_name, staging), staging / REPORT, nav=nav)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    record = StageRecord(
        name=stage.name,
        status="complete",
        seconds=round(time.perf_counter() - started, 3),
        fingerprint=fingerprint,
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        outputs=describe_outputs(staging),
        gates=[asdict(g) for g in result.gates],
    )
    atomic_write_text(staging / MARKER, json.dumps(asdict(record), indent=2))
    _swap_into_place(staging, ctx.run_dir / stage.name)
    return record


def read_marker(stage_dir: Path) -> StageRecord | None:
    """The record a completed stage left in its folder, or None (absent or unreadable)."""
    marker = stage_dir / MARKER
    if not marker.exists():
        return None
    try:
        return StageRecord(**json.loads(marker.read_text()))
    except (ValueError, TypeError):
        return None


def describe_outputs(stage_dir: Path) -> list[dict[str, Any]]:
    """Every file of a stage folder but its marker and report, with its hash and size."""
    files = sorted(p for p in stage_dir.rglob("*") if p.is_file() and p.relative_to(stage_dir).as_posix() not in (MARKER, REPORT))
    return [
        {"path": p.relative_to(stage_dir).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in files
    ]


def _swap_into_place(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging``; the old folder is removed only after the new one is in place."""
    trash = final.parent / ".staging" / f"{final.name}.old-{os.getpid()}"
    if final.exists():
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(final, trash)
    os.replace(staging, final)
    shutil.rmtree(trash, ignore_errors=True)
