"""Finished run folders: render their reports again, and list them with their verdicts.

Both read only what a run left on disk (``manifest.json``, each stage's ``stage.json`` and
``summary.json`` and the aggregates beside it): no real table, no model, no recomputation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError

from synthpriv.config.loader import format_loc
from synthpriv.config.model import STAGES, StageName
from synthpriv.errors import StageError
from synthpriv.reports.headline import guarantee
from synthpriv.reports.index import StageStatus, read_summaries, render_index, verdict
from synthpriv.reports.model import Report
from synthpriv.reports.render import render_report
from synthpriv.runner import stage_class, stage_nav
from synthpriv.runtime.lock import RunLock
from synthpriv.runtime.run_folder import MANIFEST
from synthpriv.stages.base import GateOutcome
from synthpriv.stages.execute import REPORT, StageRecord, read_marker

#: What a record may hold: the fields of the record this version writes, with their types.
_RECORD_KEYS = frozenset(f.name for f in fields(StageRecord))
_RECORD = TypeAdapter(StageRecord)
_GATE = TypeAdapter(GateOutcome)
#: What reading a stage summary written by another version (or edited by hand) raises in the
#: code that renders it: a key missing, a value of the wrong type, JSON nested too deep.
_MALFORMED = (LookupError, TypeError, ValueError, AttributeError, StopIteration, RecursionError)


def _manifest(run_dir: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text())
    except FileNotFoundError:
        raise StageError("not a synthpriv run folder (no manifest.json)", where=str(run_dir)) from None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        raise StageError(f"manifest.json cannot be read ({type(exc).__name__})", where=str(run_dir)) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("stages"), dict):
        raise StageError("manifest.json has no stage records", where=str(run_dir))
    if not isinstance(manifest.get("name"), str):
        raise StageError("manifest.json has no run name", where=str(run_dir))
    return manifest


def _record(name: str, raw: Any, run_dir: Path) -> StageRecord:
    """One stage's record from the manifest, checked key by key and type by type."""
    if not isinstance(raw, dict):
        raise StageError(f"manifest.json: the {name} record is not a mapping", where=str(run_dir))
    unknown = sorted(str(key) for key in raw if key not in _RECORD_KEYS)
    if unknown:
        raise StageError(
            f"manifest.json: the {name} record has an unknown key '{unknown[0]}'; was it written by "
            "another synthpriv version?",
            where=str(run_dir),
        )
    record = _validated(_RECORD, raw, (name,), run_dir)
    # The verdict reads each gate's name, value, bound and passed: each must be there, typed.
    gates = [
        asdict(_validated(_GATE, gate, (name, "gates", i), run_dir)) for i, gate in enumerate(record.gates)
    ]
    return replace(record, gates=gates)


def _validated(adapter: TypeAdapter[Any], raw: Any, loc: tuple[str | int, ...], run_dir: Path) -> Any:
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = format_loc((*loc, *first["loc"]))
        raise StageError(f"manifest.json: {key}: {first['msg']}", where=str(run_dir)) from None


def _records(manifest: dict[str, Any], run_dir: Path) -> dict[str, StageRecord]:
    return {name: _record(name, raw, run_dir) for name, raw in manifest["stages"].items() if name in STAGES}


def _statuses(records: dict[str, StageRecord]) -> dict[str, StageStatus]:
    """The records as the index reads them (a mapping of its protocol: ``dict`` is invariant)."""
    return dict(records)


@contextmanager
def _summaries_readable(what: str, where: Path) -> Iterator[None]:
    """Turn a malformed summary met while rendering ``what`` into one StageError line."""
    try:
        yield
    except _MALFORMED as exc:
        raise StageError(
            f"cannot render {what} from the stage summaries ({type(exc).__name__}); was the run written by "
            "another synthpriv version?",
            where=str(where),
        ) from None


def rerender(run_dir: Path) -> list[Path]:
    """Render every completed stage's report and the index again; returns the pages written.

    Each page links to exactly the pages the folder holds once this is done, as the runner's
    pages do at the end of a run (`stage_nav` over the stages with a page): a stage that failed
    or did not run (export after a failed gate) has no page and no tab. Every page is rendered
    fully before any replaces the old one, so a failure (a summary from an incompatible version,
    say) leaves the previous pages in place.
    """
    run_dir = Path(run_dir).resolve()
    manifest = _manifest(run_dir)
    records = _records(manifest, run_dir)
    stages = tuple(records)
    with RunLock(run_dir):
        reports = {
            name: _report(name, manifest["name"], run_dir / name) for name in _finished(run_dir, stages)
        }
        nav = stage_nav(1, tuple(reports))
        for name, report in reports.items():
            render_report(report, run_dir / name / REPORT, nav=nav)
        with _summaries_readable("index.html", run_dir):
            render_index(run_dir, manifest["name"], _statuses(records), nav=stage_nav(0, stages))
    return [*(run_dir / name / REPORT for name in reports), run_dir / "index.html"]


def _finished(run_dir: Path, stages: tuple[str, ...]) -> tuple[str, ...]:
    """The stages whose folder holds a finished stage (its marker): the ones that have a page."""
    return tuple(name for name in stages if read_marker(run_dir / name) is not None)


def _report(name: str, run_name: str, stage_dir: Path) -> Report:
    """Stage ``name``'s page, built from what it left in ``stage_dir``; StageError when it cannot be."""
    try:
        return stage_class(cast(StageName, name)).build_report(run_name, stage_dir)
    except (OSError, ValidationError, *_MALFORMED) as exc:
        raise StageError(
            f"cannot render the {name} report from its summary ({type(exc).__name__}); "
            "was it written by another synthpriv version?",
            where=str(stage_dir),
        ) from None


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
    """The run folders directly under ``root``, newest first.

    A folder with no ``manifest.json`` is not a run and is left out; one whose manifest or
    summaries cannot be read is listed as ``unreadable``, with the reason, after the others.
    """
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []
    out: list[RunInfo] = []
    for folder in folders:
        if not (folder / MANIFEST).exists():
            continue
        try:
            out.append(_run_info(folder))
        except StageError as exc:
            out.append(_unreadable(folder, exc.message))
    return sorted(out, key=lambda r: r.finished_at, reverse=True)


def _run_info(folder: Path) -> RunInfo:
    manifest = _manifest(folder)
    records = _records(manifest, folder)
    summaries = read_summaries(folder, [n for n, r in records.items() if r.status in ("complete", "reused")])
    with _summaries_readable("the run's verdict", folder):
        judged = verdict(_statuses(records))
        dp = guarantee(summaries)
        privacy = f"epsilon {dp.epsilon:.3g}" if dp.private else ("no DP" if "train" in summaries else "–")
    finished = max((r.finished_at or "" for r in records.values()), default="") or str(
        manifest.get("finished_at", "")
    )
    return RunInfo(
        path=folder,
        name=manifest["name"],
        kind=str(manifest.get("kind", "pipeline")),
        verdict=judged.value,
        reason=judged.note,
        generator=str(summaries.get("train", {}).get("generator", "–")),
        privacy=privacy,
        finished_at=finished,
    )


def _unreadable(folder: Path, reason: str) -> RunInfo:
    return RunInfo(
        path=folder,
        name=folder.name,
        kind="pipeline",
        verdict="unreadable",
        reason=reason,
        generator="–",
        privacy="–",
        finished_at="",
    )
