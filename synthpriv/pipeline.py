"""The pipeline: checks the wiring, then runs the five stages in order.

Each stage runs in ``<run>/.staging/<stage>`` and is moved into place only when it
succeeds, with a ``stage.json`` marker written last. A stage whose config, inputs and
upstream stages are unchanged is reused, so running the same command twice does the work once.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import logging
import platform
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthpriv import __version__
from synthpriv.config.loader import LoadedConfig, load_config, parse_config
from synthpriv.config.model import STAGES, PipelineConfig, StageName
from synthpriv.data.real import RealData
from synthpriv.data.schema import TableSchema
from synthpriv.errors import ConfigError, DataError, GateFailedError, PrivacyConfigError, StageError
from synthpriv.reports.index import render_index
from synthpriv.runtime.files import atomic_write_text, sha256_file
from synthpriv.runtime.lock import RunLock
from synthpriv.runtime.progress import NullProgress, Progress
from synthpriv.stages.base import ARTIFACTS, Stage, StageContext
from synthpriv.stages.execute import (
    MARKER,
    StageRecord,
    clear_staging,
    execute_stage,
    read_marker,
    staging_dir,
)

if TYPE_CHECKING:  # torch and opacus load only when a pipeline asks for DP
    from synthpriv.privacy.dpsgd import NoiseCalibration
    from synthpriv.privacy.ledger import PrivacyLedger

log = logging.getLogger(__name__)

_STAGE_CLASSES: dict[StageName, str] = {
    "train": "synthpriv.stages.train:TrainStage",
    "synthesize": "synthpriv.stages.synthesize:SynthesizeStage",
    "validate": "synthpriv.stages.validate:ValidateStage",
    "attack": "synthpriv.stages.attack:AttackStage",
    "export": "synthpriv.stages.export:ExportStage",
}
MANIFEST = "manifest.json"


def stage_class(name: StageName) -> type[Stage[Any]]:
    module, _, attribute = _STAGE_CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


def stage_nav(current_depth: int, stages: tuple[str, ...] = STAGES) -> list[tuple[str, str]]:
    """Header links to the index and the stage reports, relative to a report's folder."""
    prefix = "../" * current_depth
    return [("Overview", f"{prefix}index.html")] + [(s.capitalize(), f"{prefix}{s}/report.html") for s in stages]


@dataclass(frozen=True)
class PrivacyPreflight:
    """What a DP run will spend, worked out before training (`Pipeline.check_privacy`)."""

    train_rows: int
    ledger: PrivacyLedger
    """The budget with the planned preprocessing releases charged (DP-SGD not yet)."""
    calibration: NoiseCalibration
    """The DP-SGD noise that makes the configured epochs spend what preprocessing leaves."""


@dataclass
class RunResult:
    run_dir: Path
    stages: dict[str, StageRecord]

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
        self.preflight: PrivacyPreflight | None = None
        chosen = output_dir or self.config.output_dir or Path("reports") / self.config.name
        self.run_dir = Path(chosen).resolve()
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
            raise DataError(exc.message, where=f"{self.loaded.where(('data', 'path'))} {detail}".strip()) from None
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
            raise DataError(exc.message, where=f"{self.loaded.where(('data',))} {exc.where or ''}".strip()) from None
        if self.real.holdout_path is not None:  # every file the run reads: the holdout, its columns, its overlap
            try:
                self.real.holdout_overlap()
            except DataError as exc:
                detail = (exc.where or "").removeprefix("data.holdout").strip()
                raise DataError(exc.message, where=f"{self.loaded.where(('data', 'holdout'))} {detail}".strip()) from None
        if self.config.data.target is None:
            for gate in self.config.gates.needing_target():
                raise ConfigError(
                    f"gate {gate} needs data.target (the column a model learns to predict)",
                    where=self.loaded.where(("gates", gate)),
                )
        attack, gates = self.config.attack, self.config.gates
        if gates.max_inference_risk is not None and not (attack.quasi_identifiers and attack.sensitive):
            raise ConfigError(
                "gate max_inference_risk needs attack.quasi_identifiers and attack.sensitive",
                where=self.loaded.where(("gates", "max_inference_risk")),
            )
        if gates.max_linkage_risk is not None and len(attack.quasi_identifiers) < 2:
            raise ConfigError(
                "gate max_linkage_risk needs at least two attack.quasi_identifiers (split between two datasets)",
                where=self.loaded.where(("gates", "max_linkage_risk")),
            )
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

    def check_privacy(self, schema: TableSchema) -> PrivacyPreflight | None:
        """Whether a DP run can keep its promise, decided without training; None without `train.privacy`.

        The train stage takes the same decisions in the same order, but only after the split
        is written; here they fail `synthpriv check` (PrivacyConfigError, one line): the
        generator must support DP, delta must be below 1 / n for the n training rows, every
        numerical and datetime column needs declared bounds (the plan of DP preprocessing,
        which reads no values), and the DP-SGD noise must be calibratable for the configured
        epochs and batch size with the epsilon preprocessing leaves. Only the number of
        training rows is read, which DP-SGD's accounting treats as public anyway.
        """
        from synthpriv.generators.params import default_epochs
        from synthpriv.generators.registry import get_generator
        from synthpriv.privacy.dpsgd import DPSGDSettings, calibrate
        from synthpriv.privacy.ledger import PrivacyLedger
        from synthpriv.privacy.preprocessing import plan_private_preprocessing
        from synthpriv.stages.train import check_privacy_budget

        train = self.config.train
        privacy = train.privacy
        if privacy is None:
            return None
        generator_class = get_generator(train.generator)
        if not generator_class.supports_privacy:
            raise PrivacyConfigError(
                f"differential privacy is not available for the {train.generator} generator yet",
                where="train.generator",
            )
        rows = len(self.real.make_split(self.config.seed).train)
        ledger = PrivacyLedger(epsilon=privacy.epsilon, delta=check_privacy_budget(privacy, rows))
        plan = plan_private_preprocessing(
            schema,
            self.real.declarations(),
            epsilon=privacy.preprocessing_share * privacy.epsilon,
            delta=ledger.remaining_delta,
        )
        for planned in plan:
            ledger.charge(planned.release())
        settings = DPSGDSettings(
            epsilon=ledger.remaining_epsilon,
            delta=ledger.remaining_delta,
            max_grad_norm=privacy.max_grad_norm,
            accountant=privacy.accountant,
            total_epsilon=privacy.epsilon,
        )
        generator = generator_class(
            train.params, epochs=train.epochs, batch_size=train.batch_size, privacy=settings
        )
        if train.epochs is None:  # as `Generator.fit` resolves them
            generator.epochs = default_epochs(generator.kind, rows, generator.batch_size, private=True)
        # The generator counts its own steps (a GAN critic may step several times per batch).
        steps = generator._private_steps(rows)
        calibration = calibrate(settings, rows=rows, batch_size=generator.batch_size, steps=steps)
        return PrivacyPreflight(train_rows=rows, ledger=ledger, calibration=calibration)

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
        """Run the stages (all, one with ``only``, or from one on with ``from_stage``)."""
        if only and from_stage:
            raise StageError("use either --only or --from, not both", where="command line")
        selected = STAGES if not (only or from_stage) else ((only,) if only else STAGES[STAGES.index(from_stage) :])  # type: ignore[arg-type]
        forced = set(selected) if (only or from_stage) else set()
        self.check(privacy="train" in selected)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with RunLock(self.run_dir):
            clear_staging(self.run_dir)  # a killed run's half-written stage, never read
            self.check_wiring(selected)
            fingerprints = self.fingerprints()
            records = self._load_records()
            try:
                for name in selected:
                    try:
                        records[name] = self._run_or_reuse(name, fingerprints[name], force=name in forced)
                    except BaseException as exc:
                        records[name] = StageRecord(name=name, status="failed", error=type(exc).__name__)
                        if isinstance(exc, OSError) and not exc.filename:
                            exc.filename = str(self.run_dir / name)  # a write that failed (disk full): say whose
                        if isinstance(exc, ConfigError | PrivacyConfigError) and _is_config_key(exc.where):
                            # A stage names a key of the file (synthesize.conditions.x): add its line.
                            exc.where = self.loaded.where(tuple(exc.where.split(".")))
                        if isinstance(exc, GateFailedError):
                            # An export from an earlier run must not outlive a gate that now fails.
                            shutil.rmtree(self.run_dir / name, ignore_errors=True)
                        raise
                    self._write_manifest(records)
            finally:
                self._write_manifest(records)
                render_index(self.run_dir, self.config.name, records, nav=stage_nav(0))
        return RunResult(run_dir=self.run_dir, stages=records)

    def run_stage(self, name: StageName) -> RunResult:
        """Run one stage again, whatever is on disk (for notebooks)."""
        return self.run(only=name)

    def _run_or_reuse(self, name: StageName, fingerprint: str, *, force: bool) -> StageRecord:
        previous = self._read_marker(name)
        if not force and previous is not None and previous.fingerprint == fingerprint and self._outputs_intact(name, previous):
            previous.status = "reused"
            log.info("stage %s unchanged: reused", name)
            return previous
        log.info("stage %s: running", name)
        return self._execute(name, fingerprint)

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
        return execute_stage(stage, ctx, fingerprint, nav=stage_nav(1))

    # -- bookkeeping ----------------------------------------------------------------------

    def _read_marker(self, name: str) -> StageRecord | None:
        return read_marker(self.run_dir / name)

    def _outputs_intact(self, name: str, record: StageRecord) -> bool:
        stage_dir = self.run_dir / name
        return all(
            (stage_dir / o["path"]).is_file() and sha256_file(stage_dir / o["path"]) == o["sha256"]
            for o in record.outputs
        )

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
