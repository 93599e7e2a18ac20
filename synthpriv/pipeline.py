"""The pipeline: checks the wiring, then runs the five stages in order.

Each stage runs in ``<run>/.staging/<stage>`` and is moved into place only when it
succeeds, with a ``stage.json`` marker written last that lists its outputs and the sha256 of
every input it read. A stage whose config is unchanged, whose outputs are intact and whose
inputs are the files upstream stages hold now is reused, so running the same command twice
does the work once. A stage made from inputs that changed is never reused, never trusted by
``--only``/``--from`` (StageError naming the file) and removed at the end of the run.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import logging
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

from synthpriv import __version__
from synthpriv.config.loader import LoadedConfig, load_config, parse_config
from synthpriv.config.model import STAGES, PipelineConfig, StageName
from synthpriv.data.io import resolve_source
from synthpriv.data.real import RealData
from synthpriv.data.schema import TableSchema
from synthpriv.errors import ConfigError, DataError, GateFailedError, PrivacyConfigError, StageError
from synthpriv.reports.index import render_index
from synthpriv.runtime.files import atomic_write_text, sha256_file
from synthpriv.runtime.lock import RunLock
from synthpriv.runtime.progress import NullProgress, Progress
from synthpriv.runtime.run_folder import MANIFEST, check_output_folder, remove_stage_folder
from synthpriv.stages.base import ARTIFACTS, REAL_DATA_READERS, Stage, StageContext, producer
from synthpriv.stages.execute import (
    MARKER,
    StageRecord,
    clear_staging,
    execute_stage,
    read_marker,
    staging_dir,
)

if TYPE_CHECKING:  # torch and opacus load only when a pipeline asks for DP
    from synthpriv.privacy.plan import PrivacyPlan

log = logging.getLogger(__name__)

_STAGE_CLASSES: dict[StageName, str] = {
    "train": "synthpriv.stages.train:TrainStage",
    "synthesize": "synthpriv.stages.synthesize:SynthesizeStage",
    "validate": "synthpriv.stages.validate:ValidateStage",
    "attack": "synthpriv.stages.attack:AttackStage",
    "export": "synthpriv.stages.export:ExportStage",
}


def stage_class(name: StageName) -> type[Stage[Any]]:
    module, _, attribute = _STAGE_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


def upstream_stages(name: StageName) -> set[StageName]:
    """Every stage whose outputs ``name`` reads, directly or through another stage."""
    direct = {producer(artifact) for artifact in stage_class(name).requires}
    return direct.union(*(upstream_stages(up) for up in direct))


def stage_nav(current_depth: int, stages: tuple[str, ...] = STAGES) -> list[tuple[str, str]]:
    """Header links to the index and the stage reports, relative to a report's folder."""
    prefix = "../" * current_depth
    return [("Overview", f"{prefix}index.html")] + [
        (s.capitalize(), f"{prefix}{s}/report.html") for s in stages
    ]


#: What one invocation did with each stage (the `synthpriv run` table): ran it, reused it
#: unchanged, failed in it, kept it from an earlier run (checked against its inputs), removed
#: it (made from inputs that changed since), or did not run it.
OUTCOMES = ("ran", "reused", "failed", "kept", "removed", "not run")


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
        return json.loads((self.run_dir / stage / "summary.json").read_text())  # type: ignore[no-any-return]


class Pipeline:
    """A configured pipeline; `run()` for the whole thing, `run_stage()` for notebooks."""

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        output_dir: str | Path | None = None,
        progress: Progress | None = None,
        allow_failed_gates: bool = False,
    ) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.progress = progress or NullProgress()
        self.allow_failed_gates = allow_failed_gates
        #: What a DP run will spend, set by `check` when the pipeline trains with privacy.
        self.preflight: PrivacyPlan | None = None
        chosen = output_dir or self.config.output_dir or Path("reports") / self.config.name
        self.run_dir = Path(chosen).resolve()
        #: sha256 of the files read this session, by (path, inode, size, mtime): each hashed once.
        self._hashes: dict[tuple[str, int, int, int], str] = {}
        holdout = self.config.data.holdout
        self.real = RealData(
            config=self.config.data,
            source_path=loaded.resolve_data_path(self.config.data.path),
            holdout_path=Path(loaded.resolve_data_path(holdout)) if isinstance(holdout, str) else None,
            private=self.config.train.privacy is not None,
        )

    @classmethod
    def from_yaml(cls, path: str | Path, **kwargs: Any) -> Pipeline:
        return cls(load_config(path), **kwargs)

    @classmethod
    def from_config(cls, config: PipelineConfig | dict[str, Any], **kwargs: Any) -> Pipeline:
        """From a config object or dict (data paths relative to the working directory)."""
        if isinstance(config, dict):
            import yaml

            return cls(parse_config(yaml.safe_dump(config)), **kwargs)
        return cls(LoadedConfig(config=config, path=None, text=""), **kwargs)

    # -- checks before any work ---------------------------------------------------------

    def check_wiring(self, stages: tuple[StageName, ...] = STAGES) -> None:
        """Every artifact a stage reads is produced upstream or already on disk."""
        produced: set[str] = set()
        for name in STAGES:
            cls = stage_class(name)
            if name in stages:
                for artifact in sorted(cls.requires - produced):
                    if not self._artifact_complete(artifact):
                        producer = ARTIFACTS[artifact].split("/")[0]
                        raise StageError(
                            f"stage '{name}' needs '{artifact}' from stage '{producer}'; run it first",
                            where=str(self.run_dir),
                        )
                produced |= cls.produces

    def check(self, *, privacy: bool = True) -> TableSchema:
        """Load the data and check every column the pipeline file names; returns the schema.

        With ``privacy`` (and `train.privacy` set) also the DP preflight, `check_privacy`,
        whose plan is kept in ``preflight``.
        """
        try:
            source = self.real.source()
        except DataError as exc:
            detail = (exc.where or "").removeprefix("data.path").strip()  # the file, once
            raise DataError(
                exc.message, where=f"{self.loaded.where(('data', 'path'))} {detail}".strip()
            ) from None
        try:  # too few rows for the split is known before any work
            self.real.make_split(self.config.seed)
        except DataError as exc:
            loc = ("data", "holdout") if self.real.holdout_path is None else ("data", "path")
            raise DataError(exc.message, where=self.loaded.where(loc)) from None
        for loc, column in self.config.column_references():
            if column not in source.columns:
                close = difflib.get_close_matches(column, [str(c) for c in source.columns], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else "; fix the name or remove it"
                raise DataError(f"column '{column}' not in data{hint}", where=self.loaded.where(loc))
        try:
            schema = self.real.schema()
        except DataError as exc:
            raise DataError(
                exc.message, where=f"{self.loaded.where(('data',))} {exc.where or ''}".strip()
            ) from None
        if (
            self.real.holdout_path is not None
        ):  # every file the run reads: the holdout, its columns, its overlap
            try:
                self.real.holdout_overlap()
            except DataError as exc:
                detail = (exc.where or "").removeprefix("data.holdout").strip()
                raise DataError(
                    exc.message, where=f"{self.loaded.where(('data', 'holdout'))} {detail}".strip()
                ) from None
        if self.config.data.target is None:
            for gate in self.config.gates.needing_target():
                raise ConfigError(
                    f"gate {gate} needs data.target (the column a model learns to predict)",
                    where=self.loaded.where(("gates", gate)),
                )
        # Every registered attack's settings and gates (an attack gate whose attacks cannot run);
        # imported here, as the stages are, so that the command starts without the attack libraries.
        from synthpriv.attacks.registry import config_problems as attack_config_problems

        for loc, message in attack_config_problems(self.config.attack, self.config.gates)[:1]:
            raise ConfigError(message, where=self.loaded.where(loc))
        for loc, column in self.config.column_references():
            if loc[:2] != ("data", "drop") and column in self.config.data.drop:
                raise DataError(f"column '{column}' is also in data.drop", where=self.loaded.where(loc))
        if privacy:
            try:
                self.preflight = self.check_privacy(schema)
            except PrivacyConfigError as exc:
                loc = tuple((exc.where or "train.privacy").split("."))
                raise PrivacyConfigError(exc.message, where=self.loaded.where(loc)) from None
        return schema

    def check_privacy(self, schema: TableSchema) -> PrivacyPlan | None:
        """The run's privacy plan, decided without training; None without `train.privacy`.

        Built by `synthpriv.stages.train.privacy_plan`, the function the train stage executes
        the plan with, from the same inputs, so what ``check`` prints is what ``train`` does.
        It fails `synthpriv check` (PrivacyConfigError, one line) when the generator has no
        recipe for DP-SGD, delta is not below 1 / n for the n training rows, a numerical or
        datetime column lacks declared bounds, or the DP-SGD noise cannot be calibrated for
        the configured epochs and batch size with the epsilon preprocessing leaves. Only the
        number of training rows is read, which DP-SGD's accounting treats as public anyway.
        """
        from synthpriv.stages.train import build_generator, privacy_plan

        train = self.config.train
        if train.privacy is None:
            return None
        rows = len(self.real.make_split(self.config.seed).train)
        generator = build_generator(train, seed=0, min_category_count=self.config.data.min_category_count)
        return privacy_plan(train, generator, schema, self.real.declarations(), rows)

    # -- running --------------------------------------------------------------------------

    def fingerprints(self) -> dict[StageName, str]:
        """One hash per stage over its config, the data and every stage before it."""
        chain = hashlib.sha256()
        chain.update(json.dumps({"version": __version__, "seed": self.config.seed}).encode())
        chain.update(self.config.data.model_dump_json().encode())
        chain.update(self.real.fingerprint().encode())
        out: dict[StageName, str] = {}
        for name in STAGES:
            chain.update(name.encode())
            chain.update(self.config.section(name).model_dump_json().encode())
            if name in ("validate", "attack", "export"):
                chain.update(self.config.gates.model_dump_json().encode())
            if name == "export":
                chain.update(str(self.allow_failed_gates).encode())
            out[name] = chain.copy().hexdigest()
        return out

    def run(self, *, only: StageName | None = None, from_stage: StageName | None = None) -> RunResult:
        """Run the stages (all, one with ``only``, or from one on with ``from_stage``).

        Nothing is written before the output folder is known to be empty, new or a pipeline
        run folder (`check_output_folder`). Every stage the selected ones read from without
        running it must be intact and made from what its own upstream holds now
        (`check_upstream`). A failed validate or attack removes an earlier export; at the end,
        every stage made from inputs that have changed since is removed.
        """
        if only and from_stage:
            raise StageError("use either --only or --from, not both", where="command line")
        selected = (
            STAGES if not (only or from_stage) else ((only,) if only else STAGES[STAGES.index(from_stage) :])
        )  # type: ignore[arg-type]
        forced = set(selected) if (only or from_stage) else set()
        self.check(privacy="train" in selected)
        check_output_folder(self.run_dir, self._data_files().items(), kind="pipeline")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with RunLock(self.run_dir):
            clear_staging(self.run_dir)  # a killed run's half-written stage, never read
            self.check_wiring(selected)
            self.check_upstream(selected)
            fingerprints = self.fingerprints()
            records = self._load_records()
            outcomes = dict.fromkeys(STAGES, "not run")
            self._write_manifest(records)  # marks the folder as synthpriv's before any stage writes in it
            try:
                for name in selected:
                    try:
                        records[name], outcomes[name] = self._run_or_reuse(
                            name, fingerprints[name], force=name in forced
                        )
                    except BaseException as exc:
                        records[name] = StageRecord(name=name, status="failed", error=type(exc).__name__)
                        outcomes[name] = "failed"
                        if isinstance(exc, OSError) and not exc.filename:
                            exc.filename = str(
                                self.run_dir / name
                            )  # a write that failed (disk full): say whose
                        if isinstance(exc, ConfigError | PrivacyConfigError) and _is_config_key(exc.where):
                            # A stage names a key of the file (synthesize.conditions.x): add its line.
                            exc.where = self.loaded.where(tuple(exc.where.split(".")))
                        if isinstance(exc, GateFailedError) or name in ("validate", "attack"):
                            # An export from an earlier run must not outlive a gate or a check that now fails.
                            self._remove("export", records, outcomes)
                        raise
                    self._write_manifest(records)
            finally:
                self._remove_outdated(records, outcomes)
                self._write_manifest(records)
                render_index(self.run_dir, self.config.name, records, nav=stage_nav(0))
        return RunResult(run_dir=self.run_dir, stages=records, outcomes=outcomes)

    def run_stage(self, name: StageName) -> RunResult:
        """Run one stage again (for notebooks); the upstream stages it reads must be intact and current."""
        return self.run(only=name)

    def check_upstream(self, stages: tuple[StageName, ...] = STAGES) -> None:
        """Every stage that ``stages`` read from but do not run is intact and current, else StageError naming the file.

        Intact: each output its ``stage.json`` lists has the recorded sha256. Current: each input
        it recorded (upstream outputs, the real table's files) has the sha256 it had when read.
        """
        needed = set().union(*(upstream_stages(name) for name in stages)) - set(stages)
        for name in (s for s in STAGES if s in needed):
            record = self._read_marker(name)
            reason = (
                f"{name}/{MARKER} is missing or unreadable"
                if record is None
                else self._stale_reason(name, record)
            )
            if reason is not None:
                raise StageError(f"{reason}; run that stage again (--from {name})", where=str(self.run_dir))

    def _run_or_reuse(self, name: StageName, fingerprint: str, *, force: bool) -> tuple[StageRecord, str]:
        previous = self._read_marker(name)
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
        kwargs = {"allow_failed_gates": self.allow_failed_gates} if name == "export" else {}
        stage = stage_class(name)(self.config.section(name), self.config.gates, **kwargs)
        ctx = StageContext(
            run_name=self.config.name,
            run_dir=self.run_dir,
            stage_dir=staging_dir(self.run_dir, name),
            seed=self.config.seed,
            real=self.real,
            progress=self.progress,
            config_sha256=self.config_sha256,
        )
        return execute_stage(stage, ctx, fingerprint, nav=stage_nav(1), inputs=self._inputs_of(name))

    # -- what each stage read, and whether it still holds ---------------------------------

    def _data_files(self) -> dict[str, Path]:
        """The real table's files by their key in the pipeline file."""
        files = {"data.path": resolve_source(self.real.source_path)}
        if self.real.holdout_path is not None:
            files["data.holdout"] = Path(self.real.holdout_path)
        return files

    def _data_sha256(self) -> dict[str, str]:
        """The real table's files' hashes by key, as the run's data fingerprint has them ("source:holdout")."""
        return dict(zip(self._data_files(), self.real.fingerprint().split(":"), strict=True))

    def _inputs_of(self, name: StageName) -> list[dict[str, str]]:
        """What stage ``name`` reads, with hashes: the upstream outputs under its artifacts, and the real table's files."""
        inputs = dict(self._data_sha256()) if name in REAL_DATA_READERS else {}
        for artifact in stage_class(name).requires:
            stage = producer(artifact)
            prefix = ARTIFACTS[artifact].removeprefix(f"{stage}/")
            record = self._read_marker(stage)
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

        ``path`` is a key of `_data_files` or a path in the run folder. A link in the run
        folder is never followed: synthpriv writes none, so a link where a file was is a change.
        """
        data = self._data_sha256()
        if path in data:
            return data[path]
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

    def _remove(self, name: StageName, records: dict[str, StageRecord], outcomes: dict[str, str]) -> None:
        """Delete a stage folder (only the files its stage.json lists); the record says "not run"."""
        if not os.path.lexists(self.run_dir / name):
            return
        remove_stage_folder(self.run_dir / name)
        if outcomes[name] != "failed":  # a failed stage's record says why it is gone
            records[name], outcomes[name] = StageRecord(name=name), "removed"

    def _remove_outdated(self, records: dict[str, StageRecord], outcomes: dict[str, str]) -> None:
        """Remove every stage this run did not run or reuse whose inputs have changed since (cascading downstream)."""
        for name in STAGES:
            if outcomes[name] in ("ran", "reused", "failed"):
                continue
            record = self._read_marker(name)
            if record is None:
                continue
            reason = self._outdated_reason(name, record)
            if reason is None:
                outcomes[name] = "kept"
                continue
            log.info("stage %s removed: %s", name, reason)
            self._remove(name, records, outcomes)

    # -- bookkeeping ----------------------------------------------------------------------

    def _read_marker(self, name: str) -> StageRecord | None:
        return read_marker(self.run_dir / name)

    def _artifact_complete(self, artifact: str) -> bool:
        stage = ARTIFACTS[artifact].split("/")[0]
        return (self.run_dir / stage / MARKER).exists() and (self.run_dir / ARTIFACTS[artifact]).exists()

    def _load_records(self) -> dict[str, StageRecord]:
        return {name: self._read_marker(name) or StageRecord(name=name) for name in STAGES}

    @property
    def config_sha256(self) -> str:
        """The hash of the parsed configuration, in the manifest and the export's metadata."""
        return hashlib.sha256(self.config.model_dump_json(by_alias=True).encode()).hexdigest()

    def _write_manifest(self, records: dict[str, StageRecord]) -> None:
        manifest = {
            "kind": "pipeline",
            "synthpriv_version": __version__,
            "name": self.config.name,
            "config_file": str(self.loaded.path) if self.loaded.path else None,
            "config_sha256": self.config_sha256,
            "allow_failed_gates": self.allow_failed_gates,
            "config": self.config.model_dump(mode="json", by_alias=True),
            "seed": self.config.seed,
            "data_sha256": self.real.fingerprint(),
            "versions": _package_versions(),
            "stages": {name: asdict(record) for name, record in records.items()},
        }
        atomic_write_text(self.run_dir / MANIFEST, json.dumps(manifest, indent=2))


def _is_config_key(where: str | None) -> bool:
    """Whether an error's place is a key path of the pipeline file (``synthesize.conditions.x``)."""
    return bool(where) and where.split(".")[0] in (*STAGES, "data", "gates")


def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("torch", "numpy", "pandas", "pyarrow", "sdmetrics", "opacus", "scikit-learn", "pydantic"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out
