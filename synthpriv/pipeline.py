"""The pipeline: checks the file and the data, then runs the five stages through the runner.

`Pipeline` is the `runner.RunPlan` of `synthpriv run`: every stage's artifacts are produced by
the run itself, and the real table's files (``data.path``, ``data.holdout``) are the inputs
from outside its folder. Running, reuse, staging, upstream checks and the manifest are the
runner's (`synthpriv.runner`), shared with `synthpriv evaluate`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from synthpriv.config.loader import LoadedConfig, load_config, parse_config
from synthpriv.config.model import STAGES, PipelineConfig, StageName
from synthpriv.data.io import resolve_source
from synthpriv.data.real import RealData
from synthpriv.data.schema import TableSchema
from synthpriv.errors import ConfigError, DataError, GateFailedError, PrivacyConfigError
from synthpriv.runner import (
    OUTCOMES,
    Runner,
    RunPlan,
    RunResult,
    stage_class,
    stage_nav,
    upstream_stages,
)
from synthpriv.runtime.files import sha256_file
from synthpriv.runtime.progress import NullProgress, Progress
from synthpriv.runtime.seeding import stream_seed
from synthpriv.stages.base import REAL_DATA_READERS, Stage

__all__ = [
    "OUTCOMES",
    "Pipeline",
    "RunResult",
    "stage_class",
    "stage_nav",
    "upstream_stages",
]

if TYPE_CHECKING:  # torch and opacus load only when a pipeline asks for DP
    from synthpriv.privacy.marginal_plan import MarginalPlan
    from synthpriv.privacy.plan import PrivacyPlan


class Pipeline(RunPlan):
    """A configured pipeline; `run()` for the whole thing, `run_stage()` for notebooks."""

    kind: ClassVar[str] = "pipeline"
    stages: ClassVar[tuple[StageName, ...]] = STAGES

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        output_dir: str | Path | None = None,
        progress: Progress | None = None,
        allow_failed_gates: bool = False,
    ) -> None:
        self.loaded = loaded
        self.progress = progress or NullProgress()
        self.allow_failed_gates = allow_failed_gates
        #: What a DP run will spend, set by `check` when the pipeline trains with privacy.
        self.preflight: PrivacyPlan | MarginalPlan | None = None
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
        Runner(self).check_wiring(stages)

    def check(self, *, privacy: bool = True) -> TableSchema:
        """Load the data and check every column the pipeline file names; returns the schema.

        With ``privacy`` (and `train.privacy` set) also the DP preflight, `check_privacy`,
        whose plan is kept in ``preflight``.
        """
        source = self._checked_source()
        self._check_split_possible()
        self._check_columns_exist(source)
        schema = self._checked_schema()
        self._check_holdout_file()
        self._check_target_gates()
        self._check_conditions_file()
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

    def _check_conditions_file(self) -> None:
        """A file of partial rows needs a generator that imputes: refused before training."""
        if self.config.synthesize.conditions_file is None:
            return
        from synthpriv.generators.registry import get_generator  # torch, only for such a file

        kind = self.config.train.generator
        if not get_generator(kind).imputes:
            raise ConfigError(
                f"generator {kind} cannot impute a file of partial rows; use train.generator: autoregressive",
                where=self.loaded.where(("synthesize", "conditions")),
            )

    def _checked_source(self) -> pd.DataFrame:
        """The real table as read; DataError naming ``data.path``'s line and the file."""
        try:
            return self.real.source()
        except DataError as exc:
            detail = (exc.where or "").removeprefix("data.path").strip()  # the file, once
            raise DataError(
                exc.message, where=f"{self.loaded.where(('data', 'path'))} {detail}".strip()
            ) from None

    def _check_split_possible(self) -> None:
        """Too few rows for the split is known before any work (counted: the train stage draws the split)."""
        try:
            self.real.train_rows()
        except DataError as exc:
            loc = ("data", "holdout") if self.real.holdout_path is None else ("data", "path")
            raise DataError(exc.message, where=self.loaded.where(loc)) from None

    def _check_columns_exist(self, source: pd.DataFrame) -> None:
        for loc, column in self.config.column_references():
            if column not in source.columns:
                close = difflib.get_close_matches(column, [str(c) for c in source.columns], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else "; fix the name or remove it"
                raise DataError(f"column '{column}' not in data{hint}", where=self.loaded.where(loc))

    def _checked_schema(self) -> TableSchema:
        try:
            return self.real.schema()
        except DataError as exc:
            raise DataError(
                exc.message, where=f"{self.loaded.where(('data',))} {exc.where or ''}".strip()
            ) from None

    def _check_holdout_file(self) -> None:
        """Every file the run reads: the holdout file, its columns, its overlap with the training rows."""
        if self.real.holdout_path is None:
            return
        try:
            self.real.holdout_overlap()
        except DataError as exc:
            detail = (exc.where or "").removeprefix("data.holdout").strip()
            raise DataError(
                exc.message, where=f"{self.loaded.where(('data', 'holdout'))} {detail}".strip()
            ) from None

    def _check_target_gates(self) -> None:
        if self.config.data.target is None:
            for gate in self.config.gates.needing_target():
                raise ConfigError(
                    f"gate {gate} needs data.target (the column a model learns to predict)",
                    where=self.loaded.where(("gates", gate)),
                )

    def check_privacy(self, schema: TableSchema) -> PrivacyPlan | MarginalPlan | None:
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
        rows = self.real.train_rows()  # counted, not drawn: train draws the split
        # The plan depends on the generator's shape, not its seed; the train stage's stream all the same.
        seed = stream_seed(self.config.seed, "train", "fit", bits=32)
        generator = build_generator(train, seed=seed, min_category_count=self.config.data.min_category_count)
        target = self.config.data.target
        return privacy_plan(train, generator, schema, self.real.declarations(), rows, target=target)

    # -- running ----------------------------------------------------------------------------

    def run(self, *, only: StageName | None = None, from_stage: StageName | None = None) -> RunResult:
        """Run the stages (all, one with ``only``, or from one on with ``from_stage``).

        The file and its data are checked first (`check`); the runner then refuses an output
        folder it may not use before writing anything. A stage named by ``only``/``from_stage``
        runs even when unchanged; every stage the selected ones build on without running must
        be intact and current. A failed validate or attack removes an earlier export; at the
        end, every stage made from inputs that have changed since is removed.
        """
        runner = Runner(self)
        selected = runner.select(only, from_stage)
        self.check(privacy="train" in selected)
        return runner.run(selected, forced=frozenset(selected) if only or from_stage else frozenset())

    def run_stage(self, name: StageName) -> RunResult:
        """Run one stage again (for notebooks); the upstream stages it reads must be intact and current."""
        return self.run(only=name)

    def check_upstream(self, stages: tuple[StageName, ...] = STAGES) -> None:
        """Every stage that ``stages`` read from but do not run is intact and current, else StageError
        naming the file."""
        Runner(self).check_upstream(stages)

    # -- the plan the runner executes ---------------------------------------------------------

    def input_files(self) -> dict[str, Path]:
        """The real table's files by their key in the pipeline file."""
        files = {"data.path": resolve_source(self.real.source_path)}
        if self.real.holdout_path is not None:
            files["data.holdout"] = Path(self.real.holdout_path)
        return files

    def input_sha256(self) -> dict[str, str]:
        """The real table's files' hashes by key, as the run's data fingerprint has them
        ("source:holdout")."""
        return dict(zip(self.input_files(), self.real.fingerprint().split(":"), strict=True))

    def inputs_read_by(self, name: StageName) -> tuple[str, ...]:
        return tuple(self.input_files()) if name in REAL_DATA_READERS else ()

    def build_stage(self, name: StageName) -> Stage[Any]:
        if name == "export":
            from synthpriv.stages.export import ExportStage

            return ExportStage(
                self.config.export, self.config.gates, allow_failed_gates=self.allow_failed_gates
            )
        if name == "synthesize":
            from synthpriv.stages.synthesize import SynthesizeStage

            return SynthesizeStage(
                self.config.synthesize, self.config.gates, conditions_path=self.conditions_path()
            )
        return super().build_stage(name)

    def conditions_path(self) -> Path | str | None:
        """``synthesize.conditions``'s file of partial rows, relative to the pipeline file as
        ``data.path`` is; None without one."""
        name = self.config.synthesize.conditions_file
        return self.loaded.resolve_data_path(name) if name is not None else None

    def fingerprint_extra(self, name: StageName) -> str:
        if name == "synthesize":
            # A changed file of partial rows samples again (and so validates, attacks, exports again).
            path = self.conditions_path()
            return sha256_file(path) if isinstance(path, Path) and path.is_file() else ""
        return str(self.allow_failed_gates) if name == "export" else ""

    def removed_when_failed(self, name: StageName, error: BaseException) -> tuple[StageName, ...]:
        # An export from an earlier run must not outlive a gate or a check that now fails.
        return ("export",) if isinstance(error, GateFailedError) or name in ("validate", "attack") else ()

    def manifest_extra(self) -> dict[str, Any]:
        return {"allow_failed_gates": self.allow_failed_gates, "data_sha256": self.real.fingerprint()}
