"""The one runner: `synthpriv run` and `synthpriv evaluate` execute their stages through it.

A `RunPlan` says what a kind of run is: the stages it has, the files it reads from outside
the run folder (the real table; for `evaluate` also the synthetic table), and which of them
each stage reads. A pipeline produces every artifact itself; an evaluation is the same plan
with the artifacts of train and synthesize given as inputs (`RunPlan.given`). `Runner` does
everything else, identically for both: the output-folder checks (`runtime.run_folder`), the
lock, the wiring and upstream checks, reuse, staging, the manifest, the outcomes table and
the index.

Each stage runs in ``<run>/.staging/<stage>`` and is moved into place only when it
succeeds, with a ``stage.json`` marker written last that lists its outputs and the sha256 of
every input it read. A stage whose fingerprint is unchanged, whose outputs are intact and
whose inputs are the files there now is reused, so running the same command twice does the
work once. A stage made from inputs that changed is never reused, never built on by a stage
that runs without it (StageError naming the file) and removed at the end of the run.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import platform
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any, ClassVar, cast

from synthpriv import __version__
from synthpriv.config.loader import LoadedConfig
from synthpriv.config.model import STAGES, PipelineConfig, StageName
from synthpriv.data.real import RealData
from synthpriv.errors import ConfigError, PrivacyConfigError, StageError
from synthpriv.reports.index import StageStatus, render_index, written_pages
from synthpriv.reports.render import render_report
from synthpriv.runtime.files import atomic_write_text, sha256_file
from synthpriv.runtime.lock import RunLock
from synthpriv.runtime.progress import Progress
from synthpriv.runtime.run_folder import MANIFEST, check_output_folder, remove_stage_folder
from synthpriv.stages.base import ARTIFACTS, EvaluationTables, Stage, StageContext, producer
from synthpriv.stages.execute import (
    MARKER,
    REPORT,
    StageRecord,
    clear_staging,
    execute_stage,
    read_marker,
    staging_dir,
)

log = logging.getLogger(__name__)

_STAGE_CLASSES: dict[StageName, str] = {
    "train": "synthpriv.stages.train:TrainStage",
    "synthesize": "synthpriv.stages.synthesize:SynthesizeStage",
    "validate": "synthpriv.stages.validate:ValidateStage",
    "attack": "synthpriv.stages.attack:AttackStage",
    "export": "synthpriv.stages.export:ExportStage",
}

#: What one invocation did with each stage (the `synthpriv run` table): ran it, reused it
#: unchanged, failed in it, kept it from an earlier run (checked against its inputs), removed
#: it (made from inputs that changed since), or did not run it.
OUTCOMES = ("ran", "reused", "failed", "kept", "removed", "not run")


def stage_class(name: StageName) -> type[Stage[Any]]:
    """The stage class of ``name`` (imported on first use: train pulls in torch)."""
    module, _, attribute = _STAGE_CLASSES[name].partition(":")
    return cast(type[Stage[Any]], getattr(importlib.import_module(module), attribute))


def upstream_stages(name: StageName) -> set[StageName]:
    """Every stage whose outputs ``name`` reads, directly or through another stage."""
    direct = {producer(artifact) for artifact in stage_class(name).requires}
    return direct.union(*(upstream_stages(up) for up in direct))


#: The attribute a failed run's exception carries its `RunResult` in (`failed_run`).
_RUN_RESULT = "synthpriv_run_result"


def stage_nav(current_depth: int, stages: tuple[str, ...] = STAGES) -> list[tuple[str, str]]:
    """Header links to the index and the stage reports, relative to a report's folder."""
    prefix = "../" * current_depth
    return [("Overview", f"{prefix}index.html")] + [
        (s.capitalize(), f"{prefix}{s}/report.html") for s in stages
    ]


@dataclass
class RunResult:
    run_dir: Path
    stages: dict[str, StageRecord]
    #: Stage -> one of `OUTCOMES`, for this invocation (``stages`` holds what the manifest says).
    outcomes: dict[str, str] = field(default_factory=dict)

    @property
    def exported(self) -> bool:
        export = self.stages.get("export")
        return export is not None and export.status in ("complete", "reused")

    def summary(self, stage: StageName) -> dict[str, Any]:
        """A finished stage's summary.json."""
        return cast(dict[str, Any], json.loads((self.run_dir / stage / "summary.json").read_text()))


def failed_run(exc: BaseException) -> RunResult | None:
    """What the run folder holds after the run that raised ``exc`` (None: raised before any stage)."""
    result = getattr(exc, _RUN_RESULT, None)
    return result if isinstance(result, RunResult) else None


#: What an outcome of `OUTCOMES` says beside a stage that did not run now.
_OUTCOME_NOTES = {
    "kept": "from an earlier run; its inputs are unchanged",
    "removed": "made from inputs that changed since",
}


def outcome_lines(result: RunResult) -> list[str]:
    """The stage table a terminal shows after a run, passed or failed, and the page to open.

    One line per stage: its name, what this invocation did with it (`OUTCOMES`, never an old
    status) and its seconds when it ran; then ``open <run>/index.html``.
    """
    lines = []
    for name, record in result.stages.items():
        outcome = result.outcomes.get(name, "not run")
        seconds = f"{record.seconds:.1f} s" if outcome == "ran" and record.seconds is not None else ""
        lines.append(f"  {name:<11} {outcome:<8} {seconds or _OUTCOME_NOTES.get(outcome, '')}".rstrip())
    index = result.run_dir / "index.html"
    if index.is_file():
        lines.append(f"open {index}")
    return lines


class RunPlan(ABC):
    """What one kind of run is; `Runner` executes it. Subclasses: `Pipeline`, `evaluate.EvaluationPlan`."""

    #: The manifest's ``kind``; an output folder holding a run of another kind is refused.
    kind: ClassVar[str]
    #: The stages this kind of run has, in order. Artifacts of any other stage are given (`given`).
    stages: ClassVar[tuple[StageName, ...]]
    #: The config sections the manifest records (None: the whole configuration).
    manifest_sections: ClassVar[set[str] | None] = None

    loaded: LoadedConfig
    real: RealData
    run_dir: Path
    progress: Progress

    @property
    def config(self) -> PipelineConfig:
        return self.loaded.config

    @property
    def config_sha256(self) -> str:
        """The hash of the parsed configuration, in the manifest and the export's metadata."""
        return hashlib.sha256(self.config.model_dump_json(by_alias=True).encode()).hexdigest()

    @abstractmethod
    def input_files(self) -> dict[str, Path]:
        """The files the run reads from outside its folder, by the key or option that names them."""

    @abstractmethod
    def input_sha256(self) -> dict[str, str]:
        """Those files' sha256 (a folder of Parquet files: one hash over its files), by the same keys."""

    @abstractmethod
    def inputs_read_by(self, name: StageName) -> tuple[str, ...]:
        """The keys of `input_files` that stage ``name`` reads."""

    def given(self) -> EvaluationTables | None:
        """The tables validate and attack judge when train and synthesize are inputs, not stages."""
        return None

    def build_stage(self, name: StageName) -> Stage[Any]:
        return stage_class(name)(self.config.section(name), self.config.gates)

    def fingerprint_extra(self, name: StageName) -> str:
        """What else a stage's fingerprint covers besides its config section (and the gates)."""
        return ""

    def removed_when_failed(self, name: StageName, error: BaseException) -> tuple[StageName, ...]:
        """Stages that must not outlive a failure of ``name`` (a pipeline's export after a failed gate)."""
        return ()

    def manifest_extra(self) -> dict[str, Any]:
        return {}

    def fingerprints(self) -> dict[StageName, str]:
        """One hash per stage over its config, the inputs and every stage before it."""
        chain = hashlib.sha256()
        chain.update(json.dumps({"version": __version__, "seed": self.config.seed}).encode())
        chain.update(self.config.data.model_dump_json().encode())
        chain.update(":".join(self.input_sha256().values()).encode())
        out: dict[StageName, str] = {}
        for name in self.stages:
            chain.update(name.encode())
            chain.update(self.config.section(name).model_dump_json().encode())
            if name in ("validate", "attack", "export"):
                chain.update(self.config.gates.model_dump_json().encode())
            chain.update(self.fingerprint_extra(name).encode())
            out[name] = chain.copy().hexdigest()
        return out

    def manifest(self) -> dict[str, Any]:
        """What the manifest says besides the stage records (the same keys for every kind)."""
        config = self.config.model_dump(mode="json", by_alias=True)
        if self.manifest_sections is not None:
            aliases = {"validate_": "validate"}  # the field's name and its key in the file
            keys = {aliases.get(s, s) for s in self.manifest_sections}
            config = {key: value for key, value in config.items() if key in keys}
        return {
            "kind": self.kind,
            "synthpriv_version": __version__,
            "name": self.config.name,
            "config_file": str(self.loaded.path) if self.loaded.path else None,
            "config_sha256": self.config_sha256,
            "config": config,
            "seed": self.config.seed,
            "inputs": self.input_sha256(),
            "versions": package_versions(),
            **self.manifest_extra(),
        }


@dataclass
class RunState:
    """What the manifest says about each stage, and what this invocation did with it."""

    records: dict[str, StageRecord]
    outcomes: dict[str, str]


class Runner:
    """Executes a `RunPlan`'s stages in its folder: checks, reuse, staging, manifest, outcomes."""

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        self.run_dir = plan.run_dir
        #: sha256 of the files read this session, by (path, inode, size, mtime): each hashed once.
        self._hashes: dict[tuple[str, int, int, int], str] = {}

    def select(
        self, only: StageName | None = None, from_stage: StageName | None = None
    ) -> tuple[StageName, ...]:
        """The stages to run: all, ``only`` one, or ``from_stage`` on (both: StageError)."""
        if only and from_stage:
            raise StageError("use either --only or --from, not both", where="command line")
        if only:
            return (only,)
        stages = self.plan.stages
        return stages[stages.index(from_stage) :] if from_stage else stages

    def run(
        self, selected: tuple[StageName, ...], *, forced: frozenset[StageName] = frozenset()
    ) -> RunResult:
        """Run ``selected`` (``forced`` ones even when unchanged) in the plan's folder.

        Nothing is written before the output folder is known to be new, empty or a run folder
        of the plan's kind. Every stage ``selected`` builds on without running it must be
        intact and current (`check_upstream`). At the end every stage made from inputs that
        changed since is removed, and the manifest and index say what the folder holds.
        """
        check_output_folder(self.run_dir, self.plan.input_files().items(), kind=self.plan.kind)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with RunLock(self.run_dir):
            clear_staging(self.run_dir)  # a killed run's half-written stage, never read
            self.check_wiring(selected)
            self.check_upstream(selected)
            state = RunState(self._load_records(), dict.fromkeys(self.plan.stages, "not run"))
            self._write_manifest(state)  # marks the folder as synthpriv's before any stage writes in it
            try:
                self._run_stages(selected, forced, state)
            except BaseException as exc:
                self._finish(state)
                # What the folder holds now, for the terminal's stage table (`failed_run`).
                setattr(exc, _RUN_RESULT, RunResult(self.run_dir, state.records, state.outcomes))
                raise
            self._finish(state)
        return RunResult(run_dir=self.run_dir, stages=state.records, outcomes=state.outcomes)

    # -- checks before any stage runs ---------------------------------------------------------

    def check_wiring(self, selected: tuple[StageName, ...]) -> None:
        """Every artifact a selected stage reads is given, produced by a stage before it, or on disk."""
        produced = {a for a in ARTIFACTS if producer(a) not in self.plan.stages}  # given as inputs
        for name in (s for s in self.plan.stages if s in selected):
            cls = stage_class(name)
            missing = [a for a in sorted(cls.requires - produced) if not self._artifact_complete(a)]
            if missing:
                raise StageError(
                    f"stage '{name}' needs '{missing[0]}' from stage '{producer(missing[0])}'; run it first",
                    where=str(self.run_dir),
                )
            produced |= cls.produces

    def check_upstream(self, selected: tuple[StageName, ...]) -> None:
        """Every stage of the plan that ``selected`` read from but do not run is intact and current.

        Intact: each output its ``stage.json`` lists has the recorded sha256. Current: each input
        it recorded (upstream outputs, the input files) has the sha256 it had when read.
        """
        needed = set().union(*(upstream_stages(name) for name in selected)) - set(selected)
        for name in (s for s in self.plan.stages if s in needed):
            record = read_marker(self.run_dir / name)
            reason = (
                f"{name}/{MARKER} is missing or unreadable"
                if record is None
                else self._stale_reason(name, record)
            )
            if reason is not None:
                raise StageError(f"{reason}; run that stage again (--from {name})", where=str(self.run_dir))

    # -- running ------------------------------------------------------------------------------

    def _run_stages(
        self, selected: tuple[StageName, ...], forced: frozenset[StageName], state: RunState
    ) -> None:
        fingerprints = self.plan.fingerprints()
        for name in selected:
            try:
                state.records[name], state.outcomes[name] = self._run_or_reuse(
                    name, fingerprints[name], force=name in forced
                )
            except BaseException as exc:
                self._fail(name, exc, state)
                raise
            self._write_manifest(state)

    def _run_or_reuse(self, name: StageName, fingerprint: str, *, force: bool) -> tuple[StageRecord, str]:
        previous = read_marker(self.run_dir / name)
        if not force and previous is not None and previous.fingerprint == fingerprint:
            reason = self._stale_reason(name, previous)
            if reason is None:
                previous.status = "reused"
                log.info("stage %s unchanged: reused", name)
                return previous, "reused"
            log.info("stage %s runs again: %s", name, reason)
        log.info("stage %s: running", name)
        return self._execute(name, fingerprint), "ran"

    def _execute(self, name: StageName, fingerprint: str) -> StageRecord:
        config = self.plan.config
        ctx = StageContext(
            run_name=config.name,
            run_dir=self.run_dir,
            stage_dir=staging_dir(self.run_dir, name),
            seed=config.seed,
            real=self.plan.real,
            progress=self.plan.progress,
            evaluation=self.plan.given(),
            config_sha256=self.plan.config_sha256,
        )
        return execute_stage(
            self.plan.build_stage(name),
            ctx,
            fingerprint,
            nav=stage_nav(1, self.plan.stages),
            inputs=self._inputs_of(name),
        )

    def _fail(self, name: StageName, exc: BaseException, state: RunState) -> None:
        """Record a failed stage, make its error name what it was about, remove what must not outlive it."""
        state.records[name] = StageRecord(name=name, status="failed", error=type(exc).__name__)
        state.outcomes[name] = "failed"
        if isinstance(exc, OSError) and not exc.filename:
            exc.filename = str(self.run_dir / name)  # a write that failed (disk full): say whose
        if isinstance(exc, ConfigError | PrivacyConfigError) and exc.where and _is_config_key(exc.where):
            # A stage names a key of the file (synthesize.conditions.x): add its line.
            exc.where = self.plan.loaded.where(tuple(exc.where.split(".")))
        for other in self.plan.removed_when_failed(name, exc):
            self._remove(other, state)

    def _finish(self, state: RunState) -> None:
        """Remove the stages made from inputs that changed, then write the manifest and the index, and
        take links to pages that do not exist out of the stage pages."""
        self._remove_outdated(state)
        self._write_manifest(state)
        records: dict[str, StageStatus] = dict(state.records)
        render_index(self.run_dir, self.plan.config.name, records, nav=stage_nav(0, self.plan.stages))
        self._relink_pages(state)

    def _relink_pages(self, state: RunState) -> None:
        """Render stage pages again so that each links to exactly the pages the folder holds.

        A stage page is rendered when its stage ends, linking to every stage of the plan; a stage
        that then failed or did not run (export after a failed gate) has no page, and a page kept
        or reused from an earlier run links to the pages there were then. So pages rendered by an
        earlier run are rendered again, and every page when a stage has none. Reports are views of
        the summaries (not among a stage's outputs), so this changes no stage's record.
        """
        pages = written_pages(self.run_dir, self.plan.stages)
        complete = len(pages) == len(self.plan.stages)
        nav = stage_nav(1, tuple(name for name in self.plan.stages if name in pages))
        for name in (n for n in self.plan.stages if n in pages):
            if complete and state.outcomes[name] == "ran":
                continue  # rendered now, with a link to every stage: all have pages
            stage_dir = self.run_dir / name
            try:
                report = stage_class(name).build_report(self.plan.config.name, stage_dir)
            except (OSError, ValueError, LookupError, TypeError) as exc:  # a summary this version cannot read
                log.warning("the %s page keeps its links: it cannot be rendered again (%s)", name, exc)
                continue
            render_report(report, stage_dir / REPORT, nav=nav)

    # -- what each stage read, and whether it still holds -------------------------------------

    def _inputs_of(self, name: StageName) -> list[dict[str, str]]:
        """What stage ``name`` reads, with hashes: input files, and the upstream outputs under its
        artifacts."""
        files = self.plan.input_sha256()
        inputs = {key: files[key] for key in self.plan.inputs_read_by(name)}
        for artifact in stage_class(name).requires:
            stage = producer(artifact)
            if stage not in self.plan.stages:
                continue  # given: among the input files
            prefix = ARTIFACTS[artifact].removeprefix(f"{stage}/")
            record = read_marker(self.run_dir / stage)
            for output in record.outputs if record else []:
                if output["path"] == prefix or output["path"].startswith(f"{prefix}/"):
                    inputs[f"{stage}/{output['path']}"] = output["sha256"]
        return [{"path": path, "sha256": digest} for path, digest in sorted(inputs.items())]

    def _stale_reason(self, name: str, record: StageRecord) -> str | None:
        """Why a completed stage cannot be used as it is (an output or an input changed), or None."""
        for output in record.outputs:
            path = f"{name}/{output['path']}"
            if self._current_sha256(path) != output["sha256"]:
                return f"{path} {self._what_happened(path)} since stage {name} wrote it"
        return self._outdated_reason(name, record)

    def _outdated_reason(self, name: str, record: StageRecord) -> str | None:
        """Why a completed stage was made from other inputs than those there now, or None."""
        if not record.inputs:
            return f"{name}/{MARKER} records no inputs (written by an older synthpriv)"
        for item in record.inputs:
            if self._current_sha256(item["path"]) != item["sha256"]:
                return f"{item['path']} {self._what_happened(item['path'])} since stage {name} read it"
        return None

    def _what_happened(self, path: str) -> str:
        return "is gone" if self._current_sha256(path) is None else "changed"

    def _current_sha256(self, path: str) -> str | None:
        """The sha256 of a recorded input or output as it is now; None if it is not a regular file.

        ``path`` is a key of the plan's input files or a path in the run folder. A link in the
        run folder is never followed: synthpriv writes none, so a link where a file was is a change.
        """
        files = self.plan.input_sha256()
        if path in files:
            return files[path]
        file = self.run_dir / path
        try:
            status = os.lstat(file)
        except OSError:
            return None
        if not S_ISREG(status.st_mode):
            return None
        key = (str(file), status.st_ino, status.st_size, status.st_mtime_ns)
        if key not in self._hashes:
            self._hashes[key] = sha256_file(file)
        return self._hashes[key]

    # -- removing what must not stay ----------------------------------------------------------

    def _remove(self, name: StageName, state: RunState) -> None:
        """Delete a stage folder (only the files its stage.json lists); the record says "not run"."""
        if not os.path.lexists(self.run_dir / name):
            return
        remove_stage_folder(self.run_dir / name)
        if state.outcomes[name] != "failed":  # a failed stage's record says why it is gone
            state.records[name], state.outcomes[name] = StageRecord(name=name), "removed"

    def _remove_outdated(self, state: RunState) -> None:
        """Remove every stage this run did not run or reuse whose inputs have changed since (cascading
        downstream)."""
        for name in self.plan.stages:
            if state.outcomes[name] in ("ran", "reused", "failed"):
                continue
            record = read_marker(self.run_dir / name)
            if record is None:
                continue
            reason = self._outdated_reason(name, record)
            if reason is None:
                state.outcomes[name] = "kept"
                continue
            log.info("stage %s removed: %s", name, reason)
            self._remove(name, state)

    # -- bookkeeping --------------------------------------------------------------------------

    def _artifact_complete(self, artifact: str) -> bool:
        stage = producer(artifact)
        return (self.run_dir / stage / MARKER).exists() and (self.run_dir / ARTIFACTS[artifact]).exists()

    def _load_records(self) -> dict[str, StageRecord]:
        return {name: read_marker(self.run_dir / name) or StageRecord(name=name) for name in self.plan.stages}

    def _write_manifest(self, state: RunState) -> None:
        manifest = {
            **self.plan.manifest(),
            "stages": {name: asdict(record) for name, record in state.records.items()},
        }
        atomic_write_text(self.run_dir / MANIFEST, json.dumps(manifest, indent=2))


def _is_config_key(where: str) -> bool:
    """Whether an error's place is a key path of the pipeline file (``synthesize.conditions.x``)."""
    return where.split(".")[0] in (*STAGES, "data", "gates")


def package_versions() -> dict[str, str]:
    """The versions of Python and the packages a run's numbers depend on (in the manifest)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("torch", "numpy", "pandas", "pyarrow", "sdmetrics", "opacus", "scikit-learn", "pydantic"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out
