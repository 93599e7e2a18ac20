"""Running one stage safely: in a staging folder, moved into place only when it succeeded.

Shared by the pipeline (`synthpriv.pipeline`) and the evaluation of an outside synthetic
table (`synthpriv.evaluate`). A stage writes only under ``<run>/.staging/<stage>``; its
summary, report and the ``stage.json`` marker (written last) complete it; then the folder
replaces ``<run>/<stage>`` in one rename. A crash at any point leaves either the old
complete folder or none, never a half-written one that looks complete. The folder it replaces
is deleted only if it holds nothing but the files its own ``stage.json`` lists
(`runtime.run_folder`), and nothing is ever deleted through a symbolic link.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthpriv.reports.render import render_report
from synthpriv.runtime.files import atomic_write_text, sha256_file
from synthpriv.runtime.run_folder import (
    MARKER,
    REPORT,
    STAGING,
    check_stage_folder,
    remove_scratch,
    remove_stage_folder,
)
from synthpriv.stages.base import SUMMARY, Stage, StageContext

__all__ = ["MARKER", "REPORT", "StageRecord", "clear_staging", "execute_stage", "read_marker", "staging_dir"]
# REPORT (report.html) is the page a stage renders from its summary; a view, re-rendered by
# ``synthpriv report``, so not among the outputs whose hashes say a stage is intact.


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
    #: Every file the stage read, with its sha256 when read: {"path", "sha256"}. ``path`` is
    #: relative to the run folder for an upstream stage's output (``train/model/weights.pt``),
    #: or names where a real table came from (``data.path``, ``data.holdout``, ``--synthetic``).
    inputs: list[dict[str, str]] = field(default_factory=list)


def staging_dir(run_dir: Path, name: str) -> Path:
    """A fresh, empty staging folder for stage ``name`` of the run in ``run_dir``."""
    root = run_dir / STAGING
    if root.is_symlink():  # never write (or delete) through a link: replace it by a folder
        root.unlink()
    root.mkdir(exist_ok=True)
    staging = root / name
    remove_scratch(staging)
    staging.mkdir()
    return staging


def clear_staging(run_dir: Path) -> None:
    """Remove what killed runs left in ``<run>/.staging`` (call it holding the run's lock).

    A ``.staging`` that is a symbolic link is unlinked; what it points to is not touched.
    """
    remove_scratch(run_dir / STAGING)


def execute_stage(
    stage: Stage[Any],
    ctx: StageContext,
    fingerprint: str,
    *,
    nav: list[tuple[str, str]],
    inputs: list[dict[str, str]] | None = None,
) -> StageRecord:
    """Run ``stage`` in ``ctx.stage_dir`` (a `staging_dir`) and move it into ``ctx.run_dir``.

    ``inputs`` (what the stage reads, with hashes) is recorded in its ``stage.json``. On any
    exception the staging folder is removed and the exception propagates; what was in place
    before stays untouched.
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
        remove_scratch(staging)
        raise
    record = StageRecord(
        name=stage.name,
        status="complete",
        seconds=round(time.perf_counter() - started, 3),
        fingerprint=fingerprint,
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        outputs=describe_outputs(staging),
        gates=[asdict(g) for g in result.gates],
        inputs=list(inputs or []),
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
    except (ValueError, TypeError, RecursionError):  # RecursionError: JSON nested too deep
        return None


def describe_outputs(stage_dir: Path) -> list[dict[str, Any]]:
    """Every file of a stage folder but its marker and report, with its hash and size."""
    files = sorted(
        p
        for p in stage_dir.rglob("*")
        if p.is_file() and not p.is_symlink() and p.relative_to(stage_dir).as_posix() not in (MARKER, REPORT)
    )
    return [
        {"path": p.relative_to(stage_dir).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in files
    ]


def _swap_into_place(staging: Path, final: Path) -> None:
    """Replace ``final`` by ``staging``; the old folder is removed only after the new one is in place.

    StageError, with nothing moved, if the old folder holds anything its ``stage.json`` does
    not list (or is a link): synthpriv deletes only what it wrote.
    """
    trash = final.parent / STAGING / f"{final.name}.old-{os.getpid()}"
    if os.path.lexists(final):
        check_stage_folder(final)
        remove_scratch(trash)
        os.replace(final, trash)
    os.replace(staging, final)
    remove_stage_folder(trash)
