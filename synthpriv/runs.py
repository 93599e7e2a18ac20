"""Finished run folders: render their reports again, and list them with their verdicts.

Both read only what a run left on disk (``manifest.json``, each stage's ``stage.json`` and
``summary.json`` and the aggregates beside it): no real table, no model, no recomputation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from synthpriv.config.model import STAGES
from synthpriv.errors import StageError
from synthpriv.pipeline import MANIFEST, stage_class, stage_nav
from synthpriv.reports.headline import guarantee
from synthpriv.reports.index import read_summaries, render_index, verdict
from synthpriv.reports.render import render_report
from synthpriv.runtime.lock import RunLock
from synthpriv.stages.execute import REPORT, StageRecord, read_marker


def _manifest(run_dir: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text())
    except FileNotFoundError:
        raise StageError("not a synthpriv run folder (no manifest.json)", where=str(run_dir)) from None
    except (OSError, ValueError) as exc:
        raise StageError(f"manifest.json cannot be read ({type(exc).__name__})", where=str(run_dir)) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("stages"), dict):
        raise StageError("manifest.json has no stage records", where=str(run_dir))
    return manifest


def _records(manifest: dict[str, Any]) -> dict[str, StageRecord]:
    return {name: StageRecord(**record) for name, record in manifest["stages"].items() if name in STAGES}


def rerender(run_dir: Path) -> list[Path]:
    """Render every completed stage's report and the index again; returns the pages written.

    Each page is rendered fully before it replaces the old one, so a failure (a summary
    from an incompatible version, say) leaves the previous page in place.
    """
    run_dir = Path(run_dir).resolve()
    manifest = _manifest(run_dir)
    records = _records(manifest)
    stages = tuple(records)
    written: list[Path] = []
    with RunLock(run_dir):
        for name in stages:
            stage_dir = run_dir / name
            if read_marker(stage_dir) is None:
                continue
            try:
                report = stage_class(name).build_report(manifest["name"], stage_dir)  # type: ignore[arg-type]
            except (OSError, ValueError, KeyError, ValidationError) as exc:
                raise StageError(
                    f"cannot render the {name} report from its summary ({type(exc).__name__}); "
                    "was it written by another synthpriv version?",
                    where=str(stage_dir),
                ) from None
            render_report(report, stage_dir / REPORT, nav=stage_nav(1, stages))
            written.append(stage_dir / REPORT)
        render_index(run_dir, manifest["name"], records, nav=stage_nav(0, stages))  # type: ignore[arg-type]
    written.append(run_dir / "index.html")
    return written


@dataclass(frozen=True)
class RunInfo:
    """One line of `synthpriv runs`."""

    path: Path
    name: str
    kind: str
    verdict: str
    reason: str
    generator: str
    privacy: str
    finished_at: str


def list_runs(root: Path) -> list[RunInfo]:
    """The run folders directly under ``root`` (those with a readable manifest), newest first."""
    out: list[RunInfo] = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []:
        try:
            manifest = _manifest(folder)
            records = _records(manifest)
        except (StageError, TypeError):
            continue
        summaries = read_summaries(folder, [n for n, r in records.items() if r.status in ("complete", "reused")])
        judged = verdict(records)  # type: ignore[arg-type]
        dp = guarantee(summaries)
        finished = max((r.finished_at or "" for r in records.values()), default="") or manifest.get("finished_at", "")
        out.append(
            RunInfo(
                path=folder,
                name=str(manifest.get("name", folder.name)),
                kind=str(manifest.get("kind", "pipeline")),
                verdict=judged.value,
                reason=judged.note,
                generator=str(summaries.get("train", {}).get("generator", "–")),
                privacy=f"epsilon {dp.epsilon:.3g}" if dp.private else ("no DP" if "train" in summaries else "–"),
                finished_at=finished,
            )
        )
    return sorted(out, key=lambda r: r.finished_at, reverse=True)
