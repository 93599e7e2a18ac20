"""Bring your own synthetic table: the validate and attack stages on a table made by any tool.

`Evaluation` judges a synthetic table against the real rows it was made from (``train``) and
real rows its maker never saw (``holdout``, the control), with the same stages, reports and
``summary.json`` as a pipeline run; there is no train, synthesize or export stage. Settings
(validate, attack, gates, target, seed) come from an optional pipeline file, and the command
line's ``target``, ``quasi_identifiers`` and ``sensitive`` override it. A table from outside
carries no differential-privacy claim we could prove, so none is shown.

The run folder has the pipeline's layout: ``validate/``, ``attack/``, ``manifest.json`` and
``index.html``; each stage is written in staging and moved into place only when complete.
The output folder must be new, empty or an earlier evaluation's run folder, and must not hold
the input tables (`runtime.run_folder`); each stage's ``stage.json`` records the sha256 of
the three tables it read.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import ValidationError

from synthpriv import __version__
from synthpriv.config.loader import LoadedConfig, load_config
from synthpriv.config.model import AttackConfig, PipelineConfig
from synthpriv.data.align import align_to_real
from synthpriv.data.io import fingerprint_source, read_table, resolve_source
from synthpriv.errors import ConfigError, DataError
from synthpriv.pipeline import Pipeline, RunResult, stage_class, stage_nav
from synthpriv.reports.index import render_index
from synthpriv.runtime.files import atomic_write_text
from synthpriv.runtime.lock import RunLock
from synthpriv.runtime.progress import NullProgress, Progress
from synthpriv.runtime.run_folder import MANIFEST, check_output_folder
from synthpriv.stages.base import GateOutcome, StageContext
from synthpriv.stages.common import EvaluationTables
from synthpriv.stages.execute import StageRecord, clear_staging, execute_stage, staging_dir

EVALUATED_STAGES = ("validate", "attack")


@dataclass
class Evaluation:
    """A synthetic table, the real rows behind it, and where the reports go."""

    pipeline: Pipeline
    """Holds the settings and the real data (``data.path`` = train, ``data.holdout`` = holdout)."""
    synthetic_path: Path
    flag_columns: tuple[tuple[str, str], ...] = ()
    """(option, column) for each column named on the command line, for errors that name the option."""

    @classmethod
    def from_files(
        cls,
        train: str | Path,
        holdout: str | Path,
        synthetic: str | Path,
        *,
        output_dir: str | Path,
        pipeline_file: str | Path | None = None,
        target: str | None = None,
        quasi_identifiers: Sequence[str] | None = None,
        sensitive: str | None = None,
        seed: int | None = None,
        progress: Progress | None = None,
        drop_holdout_duplicates: bool | None = None,
    ) -> Evaluation:
        """Settings from ``pipeline_file`` (if any) with the given arguments on top.

        The pipeline file's ``data.path`` and ``data.holdout`` are replaced by ``train`` and
        ``holdout``; its ``train``, ``synthesize`` and ``export`` sections are ignored.
        """
        if pipeline_file is not None:
            loaded = load_config(pipeline_file)
        else:
            name = Path(output_dir).resolve().name or "evaluation"
            default = PipelineConfig.model_validate({"name": _safe_name(name), "data": {"path": str(train)}})
            loaded = LoadedConfig(config=default, path=None, text="")
        config = loaded.config
        data = config.data.model_copy(
            update={"path": str(Path(train).resolve()), "holdout": str(Path(holdout).resolve())}
        )
        if target is not None:
            data = data.model_copy(update={"target": target})
        if drop_holdout_duplicates is not None:
            data = data.model_copy(update={"drop_holdout_duplicates": drop_holdout_duplicates})
        attack = _attack_with_flags(config.attack, quasi_identifiers, sensitive)
        updates: dict[str, object] = {"data": data, "attack": attack}
        if seed is not None:
            updates["seed"] = seed
        merged = LoadedConfig(config=config.model_copy(update=updates), path=loaded.path, text=loaded.text)
        flags = [("--target", target)] if target else []
        flags += [("--quasi-identifiers", column) for column in quasi_identifiers or ()]
        flags += [("--sensitive", sensitive)] if sensitive else []
        pipeline = Pipeline(merged, output_dir=output_dir, progress=progress or NullProgress())
        pipeline.real.drop_duplicates_remedy = (
            "pass --drop-holdout-duplicates"  # the command's option, not a key
        )
        return cls(pipeline, Path(synthetic), tuple(flags))

    @property
    def run_dir(self) -> Path:
        return self.pipeline.run_dir

    def run(self, stages: Sequence[str] = EVALUATED_STAGES) -> RunResult:
        """Validate and attack the synthetic table; gates are evaluated, not enforced (see `failed_gates`).

        ``stages`` picks validate, attack or both (the default).
        """
        unknown = [name for name in stages if name not in EVALUATED_STAGES]
        if unknown or not stages:
            raise ValueError(f"stages must be among {EVALUATED_STAGES}, got {list(stages)}")
        selected = tuple(name for name in EVALUATED_STAGES if name in stages)
        pipeline, config = self.pipeline, self.pipeline.config
        try:
            columns = pipeline.real.source().columns
            for option, column in self.flag_columns:
                if column not in columns:
                    raise DataError(f"column '{column}' is not in the train table", where=option)
            schema = pipeline.check(privacy=False)
            real = pipeline.real
            split = real.make_split(config.seed)
            train = real.train(split)
            holdout = real.holdout(split)
        except DataError as exc:
            raise self._name_the_option(exc) from None
        where = f"--synthetic {self.synthetic_path}"
        synthetic = align_to_real(
            read_table(self.synthetic_path, where="--synthetic"), train, schema, where=where
        )
        tables = EvaluationTables(train=train, holdout=holdout, synthetic=synthetic, schema=schema)
        fingerprint = self._fingerprint()
        check_output_folder(self.run_dir, self._input_files().items(), kind="evaluation")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        records: dict[str, StageRecord] = {}
        outcomes = dict.fromkeys(selected, "not run")
        with RunLock(self.run_dir):
            clear_staging(self.run_dir)  # a killed evaluation's half-written stage, never read
            self._write_manifest(records)  # marks the folder as synthpriv's before any stage writes in it
            inputs = self._inputs()
            try:
                for name in selected:
                    stage = stage_class(name)(config.section(name), config.gates)  # type: ignore[arg-type]
                    ctx = StageContext(
                        run_name=config.name,
                        run_dir=self.run_dir,
                        stage_dir=staging_dir(self.run_dir, name),
                        seed=config.seed,
                        real=real,
                        progress=pipeline.progress,
                        evaluation=tables,
                    )
                    try:
                        records[name] = execute_stage(
                            stage, ctx, fingerprint, nav=stage_nav(1, selected), inputs=inputs
                        )
                        outcomes[name] = "ran"
                    except BaseException as exc:
                        records[name] = StageRecord(name=name, status="failed", error=type(exc).__name__)
                        outcomes[name] = "failed"
                        raise
            finally:
                self._write_manifest(records)
                render_index(self.run_dir, config.name, records, nav=stage_nav(0, selected))
        return RunResult(run_dir=self.run_dir, stages=dict(records), outcomes=outcomes)

    def _input_files(self) -> dict[str, Path]:
        """The three tables, by the option that named them."""
        real = self.pipeline.real
        files = {"--train": resolve_source(real.source_path), "--synthetic": self.synthetic_path}
        if real.holdout_path is not None:  # always, as `from_files` builds it
            files["--holdout"] = real.holdout_path
        return files

    def _inputs(self) -> list[dict[str, str]]:
        """What each stage reads, with hashes (recorded in its stage.json)."""
        return [
            {"path": option, "sha256": fingerprint_source(path)}
            for option, path in sorted(self._input_files().items())
        ]

    def _name_the_option(self, error: DataError) -> DataError:
        """The error with the command-line option in place of the config key it was read through."""
        where = error.where or ""
        for key, option, path in (
            ("data.holdout", "--holdout", self.pipeline.real.holdout_path),
            ("data.path", "--train", self.pipeline.real.source_path),
        ):
            if key in where:
                return DataError(error.message, where=f"{option} {path}")
        return error

    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update(self.pipeline.real.fingerprint().encode())
        digest.update(fingerprint_source(self.synthetic_path).encode())
        digest.update(self.pipeline.config.model_dump_json(by_alias=True).encode())
        return digest.hexdigest()

    def _write_manifest(self, records: dict[str, StageRecord]) -> None:
        config = self.pipeline.config
        manifest = {
            "synthpriv_version": __version__,
            "kind": "evaluation",
            "name": config.name,
            "config_file": str(self.pipeline.loaded.path) if self.pipeline.loaded.path else None,
            "config": config.model_dump(
                mode="json", by_alias=True, include={"seed", "data", "validate_", "attack", "gates"}
            ),
            "inputs": {
                "train_and_holdout_sha256": self.pipeline.real.fingerprint(),
                "synthetic_sha256": fingerprint_source(self.synthetic_path),
            },
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "stages": {name: asdict(record) for name, record in records.items()},
        }
        atomic_write_text(self.run_dir / MANIFEST, json.dumps(manifest, indent=2))


def failed_gates(result: RunResult) -> list[str]:
    """One line per failed gate of an evaluation (or a run), in stage order."""
    return [
        GateOutcome(**g).describe()
        for record in result.stages.values()
        for g in record.gates
        if not g["passed"]
    ]


def _attack_with_flags(
    attack: AttackConfig, quasi_identifiers: Sequence[str] | None, sensitive: str | None
) -> AttackConfig:
    """The attack settings with the command's flags on top, validated as the pipeline file's are.

    (A repeated quasi-identifier, or a sensitive column that is also one, is refused here too.)
    """
    flags: dict[str, object] = {}
    if quasi_identifiers is not None:
        flags["quasi_identifiers"] = list(quasi_identifiers)
    if sensitive is not None:
        flags["sensitive"] = sensitive
    try:
        merged = AttackConfig.model_validate({**attack.model_dump(), **flags})
    except ValidationError as exc:
        error = exc.errors()[0]
        option = "--sensitive" if error["loc"][:1] == ("sensitive",) else "--quasi-identifiers"
        raise ConfigError(error["msg"], where=option) from None
    # Each registered attack's settings (`attack.settings`), as `synthpriv check` reads them; the
    # gates are evaluated, not refused: one whose attacks cannot run fails with a line of its own.
    from synthpriv.attacks.registry import config_problems
    from synthpriv.config.loader import format_loc
    from synthpriv.config.model import GatesConfig

    for loc, message in config_problems(merged, GatesConfig()):
        raise ConfigError(message, where=format_loc(loc))
    return merged


def _safe_name(name: str) -> str:
    """A pipeline name (letters, digits, ``._-``) from a folder name."""
    cleaned = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name).strip("-._")
    if not cleaned:
        return "evaluation"
    if not cleaned[0].isalnum():
        cleaned = "e" + cleaned
    return cleaned[:100]
