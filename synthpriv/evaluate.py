"""Bring your own synthetic table: the validate and attack stages on a table made by any tool.

`Evaluation` judges a synthetic table against the real rows it was made from (``train``) and
real rows its maker never saw (``holdout``, the control), with the same stages, reports and
``summary.json`` as a pipeline run; there is no train, synthesize or export stage. Settings
(validate, attack, gates, target, seed) come from an optional pipeline file, and the command
line's ``target``, ``quasi_identifiers`` and ``sensitive`` override it. A table from outside
carries no differential-privacy claim we could prove, so none is shown.

An evaluation is a pipeline whose train and synthesize outputs are given as inputs rather than
produced: `EvaluationPlan` is its `runner.RunPlan`, and the one runner (`synthpriv.runner`)
executes it exactly as it executes `synthpriv run`: the same output-folder checks (new, empty
or an earlier evaluation's run folder, never one holding the input tables), staging, reuse
(the same command twice does the work once), manifest and index. Each stage's ``stage.json``
records the sha256 of the three tables it read (``--train``, ``--holdout``, ``--synthetic``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import ValidationError

from synthpriv.config.loader import LoadedConfig, load_config
from synthpriv.config.model import AttackConfig, PipelineConfig, StageName
from synthpriv.data.align import align_to_real
from synthpriv.data.io import fingerprint_source, read_table, resolve_source
from synthpriv.data.real import RealData
from synthpriv.errors import ConfigError, DataError
from synthpriv.pipeline import Pipeline
from synthpriv.runner import Runner, RunPlan, RunResult
from synthpriv.runtime.progress import NullProgress, Progress
from synthpriv.stages.base import EvaluationTables, GateOutcome

EVALUATED_STAGES: tuple[StageName, ...] = ("validate", "attack")


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

        ``stages`` picks validate, attack or both (the default). Every table is read and checked
        before anything is written; a stage whose settings and tables are unchanged is reused.
        """
        unknown = [name for name in stages if name not in EVALUATED_STAGES]
        if unknown or not stages:
            raise ValueError(f"stages must be among {EVALUATED_STAGES}, got {list(stages)}")
        selected = tuple(name for name in EVALUATED_STAGES if name in stages)
        plan = EvaluationPlan(self.pipeline, self.synthetic_path, self._tables())
        return Runner(plan).run(selected)

    def _tables(self) -> EvaluationTables:
        """The three tables, checked and aligned; DataError naming the command-line option."""
        real = self.pipeline.real
        try:
            columns = real.source().columns
            for option, column in self.flag_columns:
                if column not in columns:
                    raise DataError(f"column '{column}' is not in the train table", where=option)
            schema = self.pipeline.check(privacy=False)
            # Given, not drawn: every --train row trained the synthetic table's maker.
            split = real.make_split(self.pipeline.config.seed)
            train, holdout = real.train(split), real.holdout(split)
        except DataError as exc:
            raise self._name_the_option(exc) from None
        where = f"--synthetic {self.synthetic_path}"
        synthetic = align_to_real(
            read_table(self.synthetic_path, where="--synthetic"), train, schema, where=where
        )
        return EvaluationTables(train=train, holdout=holdout, synthetic=synthetic, schema=schema)

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


@dataclass
class EvaluationPlan(RunPlan):
    """The `RunPlan` of an evaluation: a pipeline's validate and attack, with train and synthesize given.

    The given artifacts (the split, the model's schema, the synthetic table) are the three
    tables, so the input files every stage reads, verifies and is fingerprinted by are
    ``--train``, ``--holdout`` and ``--synthetic``.
    """

    kind: ClassVar[str] = "evaluation"
    stages: ClassVar[tuple[StageName, ...]] = EVALUATED_STAGES
    manifest_sections: ClassVar[set[str] | None] = {"seed", "data", "validate_", "attack", "gates"}

    pipeline: Pipeline
    synthetic_path: Path
    tables: EvaluationTables
    _sha256: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.loaded: LoadedConfig = self.pipeline.loaded
        self.real: RealData = self.pipeline.real
        self.run_dir: Path = self.pipeline.run_dir
        self.progress: Progress = self.pipeline.progress

    def given(self) -> EvaluationTables:
        return self.tables

    def input_files(self) -> dict[str, Path]:
        """The three tables, by the option that named them."""
        files = {"--train": resolve_source(self.real.source_path), "--synthetic": self.synthetic_path}
        if self.real.holdout_path is not None:  # always, as `Evaluation.from_files` builds it
            files["--holdout"] = self.real.holdout_path
        return files

    def input_sha256(self) -> dict[str, str]:
        if not self._sha256:
            self._sha256 = {option: fingerprint_source(path) for option, path in self.input_files().items()}
        return self._sha256

    def inputs_read_by(self, name: StageName) -> tuple[str, ...]:
        return tuple(sorted(self.input_files()))


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
