"""Stage 1, train: split the real table, fit the generator, save the model.

With ``train.privacy`` the fit executes the run's privacy plan (`privacy_plan`, the same
function ``synthpriv check`` prints it with): the planned preprocessing releases, then
DP-SGD with the planned noise, each release charged to the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pandas as pd

from synthpriv.config.model import ColumnDeclaration, TrainConfig
from synthpriv.data.io import write_parquet
from synthpriv.data.schema import ColumnKind, TableSchema
from synthpriv.generators.base import FitReport, Generator
from synthpriv.generators.model_files import save_generator
from synthpriv.generators.registry import get_generator
from synthpriv.privacy.ledger import PrivacyLedger
from synthpriv.reports.model import Report
from synthpriv.reports.pages.train import train_report
from synthpriv.reports.summaries import COVERAGE_ROWS, ColumnSummary, TrainSummary
from synthpriv.runtime.files import atomic_write_text
from synthpriv.runtime.progress import Progress
from synthpriv.stages.base import Stage, StageContext, StageResult, read_summary

if TYPE_CHECKING:  # opacus loads only when a DP fit runs
    from synthpriv.privacy.marginal_plan import MarginalPlan
    from synthpriv.privacy.plan import PrivacyPlan


def category_coverage(real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema) -> dict[str, float]:
    """Per categorical or boolean column, the share of real categories that appear in the samples.

    Below 1 on a column means the generator dropped categories: the mode collapse GANs are known for.
    """
    coverage: dict[str, float] = {}
    for column in schema.modelled():
        if column.kind in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN):
            real_values = pd.Index(real[column.name].dropna().unique())
            if len(real_values):
                coverage[column.name] = float(
                    real_values.isin(synthetic[column.name].dropna().unique()).mean()
                )
    return coverage


class TrainStage(Stage[TrainConfig]):
    name: ClassVar = "train"
    requires: ClassVar = frozenset[str]()
    produces: ClassVar = frozenset({"model", "split", "ledger", "training"})

    def run(self, ctx: StageContext) -> StageResult:
        schema = ctx.real.schema()
        split = ctx.real.make_split(ctx.seed)  # drawn once, here, and stored: later stages read the file
        write_parquet(split.to_frame(), ctx.stage_dir / "split.parquet")
        train_table = ctx.real.train(split)
        holdout_rows = len(ctx.real.holdout(split))

        generator = build_generator(
            self.config,
            seed=ctx.stream_seed("train", "fit"),
            # used only when no DP transformer is given
            min_category_count=ctx.real.config.min_category_count,
        )
        declarations = ctx.real.declarations()
        target = ctx.real.config.target
        plan = privacy_plan(self.config, generator, schema, declarations, len(train_table), target=target)
        fit, ledger = fit_generator(generator, train_table, schema, plan, declarations, ctx.progress)
        save_generator(generator, ctx.stage_dir / "model")
        claim = {"differential_privacy": False} if ledger is None else ledger.to_claim()
        atomic_write_text(ctx.stage_dir / "privacy.json", json.dumps(claim, indent=2))
        sampled = generator.sample(COVERAGE_ROWS, seed=ctx.stream_seed("train", "coverage"))
        coverage = category_coverage(train_table, sampled, schema)
        history = pd.DataFrame(fit.history)
        write_parquet(history, ctx.stage_dir / "loss.parquet")

        summary = TrainSummary(
            generator=self.config.generator,
            params=self.config.params.model_dump(mode="json"),
            epochs=generator.epochs,
            batch_size=generator.batch_size,
            train_rows=len(train_table),
            holdout_rows=holdout_rows,
            holdout_source="file" if ctx.real.holdout_path is not None else "split",
            columns=[
                ColumnSummary(name=c.name, kind=c.kind.value, nullable=c.nullable) for c in schema.columns
            ],
            fit_seconds=round(fit.seconds, 3),
            device=fit.device,
            final_loss=float(history["loss"].iloc[-1]) if "loss" in history and len(history) else None,
            category_coverage=coverage,
            warnings=list(getattr(ctx.real, "warnings", [])),
            privacy=ledger,
        )
        return StageResult(summary=summary)

    @classmethod
    def build_report(cls, run_name: str, stage_dir: Path) -> Report:
        summary = TrainSummary.model_validate(read_summary(stage_dir))
        return train_report(run_name, summary, pd.read_parquet(stage_dir / "loss.parquet"))


def build_generator(config: TrainConfig, *, seed: int, min_category_count: int) -> Generator:
    """The generator ``train`` configures, unfitted."""
    return get_generator(config.generator)(
        config.params,
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=seed,
        device=config.device,
        min_category_count=min_category_count,
    )


def privacy_plan(
    config: TrainConfig,
    generator: Generator,
    schema: TableSchema,
    declarations: Mapping[str, ColumnDeclaration],
    rows: int,
    target: str | None = None,
) -> PrivacyPlan | MarginalPlan | None:
    """The privacy plan of a DP fit of ``generator`` on ``rows`` training rows; None without
    ``train.privacy``. ``synthpriv check`` prints it and the train stage executes it: one
    function, so the noise checked is the noise trained. PrivacyConfigError when the run
    cannot keep its promise; reads no value of the table."""
    if config.privacy is None:
        return None
    from synthpriv.privacy.attach import PrivateTrainer
    from synthpriv.privacy.marginal_plan import MarginalPlan
    from synthpriv.privacy.plan import PrivacyPlan

    shape = generator.fit_shape(rows, fixed_budget=PrivateTrainer.fixed_budget, transformer_given=True)
    if config.privacy.mechanism == "marginals":
        return MarginalPlan.build(config.privacy, schema, declarations, shape, target=target)
    return PrivacyPlan.build(config.privacy, schema, declarations, shape)


def fit_generator(
    generator: Generator,
    table: pd.DataFrame,
    schema: TableSchema,
    plan: PrivacyPlan | MarginalPlan | None,
    declarations: Mapping[str, ColumnDeclaration],
    progress: Progress | None = None,
) -> tuple[FitReport, PrivacyLedger | None]:
    """Fit ``generator`` on ``table``; with a privacy ``plan``, execute it: its preprocessing
    releases fit the transformer, its trainer trains with its noise, and the ledger returned
    holds every release (None without a plan)."""
    if plan is None:
        return generator.fit(table, schema, progress=progress), None
    ledger, transformer = plan.fit_preprocessing(table, schema, declarations)
    trainer = plan.trainer()
    fit = generator.fit(table, schema, transformer=transformer, trainer=trainer, progress=progress)
    if trainer.release is None:
        raise RuntimeError("the private fit recorded no release")
    ledger.charge(trainer.release)
    return fit, ledger
