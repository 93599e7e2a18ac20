"""Stage 1, train: split the real table, fit the generator, save the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from synthpriv.config.model import TrainConfig
from synthpriv.config.privacy import PrivacyConfig
from synthpriv.data.io import write_parquet
from synthpriv.data.schema import ColumnKind, TableSchema
from synthpriv.errors import PrivacyConfigError
from synthpriv.generators.model_files import save_generator
from synthpriv.generators.registry import get_generator
from synthpriv.privacy.ledger import PrivacyLedger
from synthpriv.reports.model import Report
from synthpriv.reports.pages.train import train_report
from synthpriv.reports.summaries import COVERAGE_ROWS, ColumnSummary, TrainSummary
from synthpriv.runtime.files import atomic_write_text
from synthpriv.stages.base import Stage, StageContext, StageResult, read_summary

if TYPE_CHECKING:  # torch and opacus load only when a DP fit runs
    from synthpriv.data.transform import TabularTransformer
    from synthpriv.privacy.dpsgd import DPSGDSettings


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

        generator_class = get_generator(self.config.generator)
        ledger, transformer, dp_settings = None, None, None
        if self.config.privacy is not None:
            ledger, transformer, dp_settings = private_preprocessing(
                self.config.privacy, train_table, schema, ctx.real.declarations()
            )
        generator = generator_class(
            self.config.params,
            epochs=self.config.epochs,
            batch_size=self.config.batch_size,
            seed=ctx.stream_seed("train", "fit"),
            device=self.config.device,
            privacy=dp_settings,
            min_category_count=ctx.real.config.min_category_count,  # used only when no DP transformer is given
        )
        fit = generator.fit(train_table, schema, transformer=transformer, progress=ctx.progress)
        if ledger is not None:
            assert generator.privacy_release is not None
            ledger.charge(generator.privacy_release)
        save_generator(generator, ctx.stage_dir / "model")
        claim = (
            {"differential_privacy": False}
            if ledger is None
            else {"differential_privacy": True, **ledger.to_dict()}
        )
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
            privacy=ledger.to_dict() if ledger is not None else None,
        )
        return StageResult(summary=summary)

    @classmethod
    def build_report(cls, run_name: str, stage_dir: Path) -> Report:
        summary = TrainSummary.model_validate(read_summary(stage_dir))
        return train_report(run_name, summary, pd.read_parquet(stage_dir / "loss.parquet"))


def check_privacy_budget(privacy: PrivacyConfig, rows: int) -> float:
    """The delta a DP fit of ``rows`` rows uses; PrivacyConfigError when it is not below 1 / n."""
    delta = privacy.resolved_delta(rows)
    if delta >= 1.0 / rows:
        raise PrivacyConfigError(
            f"delta {delta:.3g} must be below 1/n = {1.0 / rows:.3g} for {rows:,} training rows "
            "(a larger delta allows releasing a whole row)",
            where="train.privacy.delta",
        )
    return delta


def private_preprocessing(
    privacy: PrivacyConfig, table: pd.DataFrame, schema: TableSchema, declarations: dict[str, Any]
) -> tuple[PrivacyLedger, TabularTransformer, DPSGDSettings]:
    """The ledger, the privately fitted transformer, and what DP-SGD may spend after it.

    Noise is drawn from fresh OS entropy, not the pipeline's seed: the seed is printed in the
    manifest, and noise an adversary can regenerate protects nothing. DP runs are therefore
    not bit-reproducible.
    """
    from synthpriv.privacy.dpsgd import DPSGDSettings
    from synthpriv.privacy.preprocessing import fit_private_transformer

    ledger = PrivacyLedger(epsilon=privacy.epsilon, delta=check_privacy_budget(privacy, len(table)))
    transformer, _ = fit_private_transformer(
        table, schema, declarations, ledger, privacy.preprocessing_share * privacy.epsilon, rng_seed=None
    )
    settings = DPSGDSettings(
        epsilon=ledger.remaining_epsilon,
        delta=ledger.remaining_delta,
        max_grad_norm=privacy.max_grad_norm,
        accountant=privacy.accountant,
        total_epsilon=privacy.epsilon,
    )
    return ledger, transformer, settings
