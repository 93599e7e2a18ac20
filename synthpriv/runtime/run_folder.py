"""What synthpriv may write into an output folder, and what it may delete there.

synthpriv deletes only what it wrote. An output folder is used only when it is

* absent or empty, or
* a synthpriv run folder: its ``manifest.json`` is a JSON object whose ``kind`` is
  ``pipeline`` or ``evaluation`` and which has a ``synthpriv_version``, and every other entry
  is one synthpriv writes there: the five stage folders (``train/`` ... ``export/``, each
  holding only ``stage.json``, ``report.html`` and the files its ``stage.json`` lists),
  ``.staging/`` (scratch space, emptied by every run), ``.lock``, ``index.html``, and the
  temporary file an interrupted atomic write leaves (``.manifest.json.tmp-<pid>``).

Anything else (a file of the user's, a stage folder holding an unlisted file, a symbolic
link anywhere: synthpriv never makes one) is refused before anything is written, with the
first such entry named. So are the root folder, the home folder and any folder that holds
an input file. Deletion never follows a symbolic link.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from synthpriv.config.model import STAGES
from synthpriv.errors import StageError
from synthpriv.runtime.lock import LOCK_FILE

MANIFEST = "manifest.json"
INDEX = "index.html"
STAGING = ".staging"
#: A stage folder's record (written last: the stage is complete) and its page.
MARKER = "stage.json"
REPORT = "report.html"
RUN_KINDS = ("pipeline", "evaluation")
#: What `runtime.files.atomic_write_bytes` writes before its rename: ``.<name>.tmp-<pid>``.
_LEFTOVER = re.compile(r"\.(?P<name>.+)\.tmp-\d+")
#: A lock file holds a pid at most (`runtime.lock`); anything longer is not ours.
_LOCK_MAX_BYTES = 32


def check_output_folder(run_dir: Path, inputs: Iterable[tuple[str, Path]] = (), *, kind: str) -> None:
    """Refuse (StageError) an output folder synthpriv must not write to; reads, never writes.

    ``run_dir`` is resolved. ``inputs`` are (option or key, file) pairs: an output folder that
    holds one of them is refused. A run folder of another ``kind`` is refused too (a pipeline
    run is not turned into an evaluation, nor the reverse).
    """
    _refuse_special_places(run_dir, inputs)
    if run_dir.is_symlink() or not run_dir.is_dir():
        return  # absent: created empty; a file in the way: mkdir says so
    foreign = first_foreign_entry(run_dir)
    if foreign is not None:
        raise StageError(
            f"output folder holds '{foreign}', which synthpriv did not write; choose an empty or new "
            "--output-dir, or move it away (synthpriv deletes only what it wrote)",
            where=str(run_dir),
        )
    found = run_kind(run_dir)
    if found is not None and found != kind:
        command = "synthpriv run" if kind == "pipeline" else "synthpriv evaluate"
        raise StageError(
            f"output folder holds a synthpriv {found} run, which {command} does not replace; choose "
            "another --output-dir",
            where=str(run_dir),
        )


def _refuse_special_places(run_dir: Path, inputs: Iterable[tuple[str, Path]]) -> None:
    run_dir = run_dir.resolve()
    if run_dir == Path(run_dir.anchor):
        raise StageError(
            "the root folder cannot be an output folder; choose a folder of its own (--output-dir)",
            where=str(run_dir),
        )
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):  # no home folder known: nothing to protect
        home = None
    if run_dir == home:
        raise StageError(
            "the home folder cannot be an output folder; choose a folder of its own (--output-dir)",
            where=str(run_dir),
        )
    for option, path in inputs:
        resolved = Path(path).resolve()
        if resolved == run_dir or run_dir in resolved.parents:
            raise StageError(
                f"output folder holds the input {resolved} ({option}); choose another --output-dir",
                where=str(run_dir),
            )


def run_kind(run_dir: Path) -> str | None:
    """``pipeline`` or ``evaluation`` when ``run_dir/manifest.json`` marks a synthpriv run folder, else
    None."""
    manifest = run_dir / MANIFEST
    if manifest.is_symlink() or not manifest.is_file():
        return None
    try:
        content = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or not isinstance(content.get("synthpriv_version"), str):
        return None
    kind = content.get("kind")
    return kind if kind in RUN_KINDS else None


def first_foreign_entry(run_dir: Path) -> str | None:
    """The first entry (by name; ``stage/file`` inside a stage folder) that synthpriv did not write."""
    marked = run_kind(run_dir) is not None
    for entry in sorted(os.scandir(run_dir), key=lambda e: e.name):
        foreign = _foreign(entry, marked)
        if foreign is not None:
            return foreign
    return None


def _foreign(entry: os.DirEntry[str], marked: bool) -> str | None:
    name = entry.name
    if entry.is_symlink():
        return name
    if _is_lock(entry) or (_leftover_of(name) == MANIFEST and entry.is_file()):
        return None  # what a run killed before writing its manifest leaves
    if not marked:
        return name
    if name in STAGES and entry.is_dir():
        inner = first_unlisted(Path(entry.path))
        return None if inner is None else f"{name}/{inner}"
    if name == STAGING and entry.is_dir():
        return None
    if (name in (MANIFEST, INDEX) or _leftover_of(name) == INDEX) and entry.is_file():
        return None
    return name


def _is_lock(entry: os.DirEntry[str]) -> bool:
    if entry.name != LOCK_FILE or not entry.is_file():
        return False
    try:
        with open(entry.path, "rb") as handle:
            content = handle.read(_LOCK_MAX_BYTES + 1)
    except OSError:
        return False
    return len(content) <= _LOCK_MAX_BYTES and (content.strip().isdigit() or not content.strip())


def _leftover_of(name: str) -> str | None:
    """The file an interrupted atomic write of ``name`` was for (``.x.tmp-12`` -> ``x``), else None."""
    match = _LEFTOVER.fullmatch(name)
    return match.group("name") if match else None


def listed_files(stage_dir: Path) -> set[str] | None:
    """The files a stage folder's ``stage.json`` says the stage wrote, with the marker and report; None
    without a readable marker."""
    marker = stage_dir / MARKER
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        outputs = json.loads(marker.read_text(encoding="utf-8")).get("outputs", [])
        paths = {o["path"] for o in outputs if isinstance(o.get("path"), str)}
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    # Only plain relative paths inside the folder: a stage.json edited to say '../x' names nothing.
    return {p for p in paths if p and not p.startswith("/") and ".." not in p.split("/")} | {MARKER, REPORT}


def first_unlisted(stage_dir: Path) -> str | None:
    """The first entry of a stage folder (relative path) its ``stage.json`` does not list; symbolic links
    never count as listed."""
    listed = listed_files(stage_dir) or set()
    folders = {"/".join(p.split("/")[:i]) for p in listed for i in range(1, p.count("/") + 1)}
    for root, dirs, files in os.walk(stage_dir):  # never descends through a symbolic link
        dirs.sort()
        for name in sorted(dirs + files):
            path = Path(root, name)
            relative = path.relative_to(stage_dir).as_posix()
            if path.is_symlink():
                return relative
            if name in dirs:
                if relative not in folders:
                    return relative + "/"
            elif relative not in listed and _leftover_of(name) not in {p.rsplit("/", 1)[-1] for p in listed}:
                return relative
    return None


def check_stage_folder(stage_dir: Path) -> None:
    """StageError unless ``stage_dir`` is a real folder holding only what its ``stage.json`` lists."""
    foreign = (
        stage_dir.name if stage_dir.is_symlink() or not stage_dir.is_dir() else first_unlisted(stage_dir)
    )
    if foreign is not None:
        raise StageError(
            f"'{foreign}' was not written by synthpriv (not listed in {MARKER}) and is not deleted; "
            "move it away and run again",
            where=str(stage_dir),
        )


def remove_stage_folder(stage_dir: Path) -> None:
    """Delete a stage folder synthpriv wrote; StageError (nothing deleted) if it holds anything else.

    The marker goes last, so that a folder left half-deleted by a crash still lists what remains.
    """
    if not os.path.lexists(stage_dir):
        return
    check_stage_folder(stage_dir)
    for root, dirs, files in os.walk(stage_dir, topdown=False):
        for name in files:
            if not (root == str(stage_dir) and name == MARKER):
                os.unlink(os.path.join(root, name))
        for name in dirs:
            os.rmdir(os.path.join(root, name))
    (stage_dir / MARKER).unlink(missing_ok=True)
    stage_dir.rmdir()


def remove_scratch(path: Path) -> None:
    """Remove a path under ``.staging`` (synthpriv's scratch space): a link is unlinked, never followed."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)  # removes links inside as links; never follows them
