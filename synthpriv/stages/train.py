"""Stage 1, train: split the real table, fit the generator, save the model."""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel

from synthpriv.config.model import TrainConfig
from synthpriv.data.io import write_parquet
from synthpriv.data.schema import ColumnKind, TableSchema
from synthpriv.generators.registry import get_generator
from synthpriv.reports import charts
from synthpriv.reports.model import Figure, Report, Section, Table
from synthpriv.stages.base import Stage, StageContext, StageResult


class ColumnSummary(BaseModel):
    name: str
    kind: str
    nullable: bool


class TrainSummary(BaseModel):
    generator: str
    params: dict[str, Any]
    epochs: int
    batch_size: int
    train_rows: int
    holdout_rows: int
    holdout_source: str  # "split" or "file"
    columns: list[ColumnSummary]
    fit_seconds: float
    device: str
    final_loss: float | None
    category_coverage: dict[str, float]  # per categorical column: share of its real categories the samples reproduce
    warnings: list[str]


_COVERAGE_ROWS = 10_000


def category_coverage(real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema) -> dict[str, float]:
    """Per categorical or boolean column, the share of real categories that appear in the samples.

    Below 1 on a column means the generator dropped categories: the mode collapse GANs are known for.
    """
    coverage: dict[str, float] = {}
    for column in schema.modelled():
        if column.kind in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN):
            real_values = pd.Index(real[column.name].dropna().unique())
            if len(real_values):
                coverage[column.name] = float(real_values.isin(synthetic[column.name].dropna().unique()).mean())
    return coverage


class TrainStage(Stage[TrainConfig]):
    name: ClassVar = "train"
    requires: ClassVar = frozenset[str]()
    produces: ClassVar = frozenset({"model", "split"})

    def run(self, ctx: StageContext) -> StageResult:
        schema = ctx.real.schema()
        split = ctx.real.make_split(ctx.seed)
        write_parquet(split.to_frame(), ctx.stage_dir / "split.parquet")
        train_table = ctx.real.train(split)
        holdout_rows = len(ctx.real.holdout(split))

        generator_class = get_generator(self.config.generator)
        generator = generator_class(
            self.config.params,
            epochs=self.config.epochs,
            batch_size=self.config.batch_size,
            seed=ctx.seed,
            device=self.config.device,
        )
        fit = generator.fit(train_table, schema, progress=ctx.progress)
        generator.save(ctx.stage_dir / "model")
        coverage = category_coverage(train_table, generator.sample(_COVERAGE_ROWS, seed=ctx.seed), schema)
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
            columns=[ColumnSummary(name=c.name, kind=c.kind.value, nullable=c.nullable) for c in schema.columns],
            fit_seconds=round(fit.seconds, 3),
            device=fit.device,
            final_loss=float(history["loss"].iloc[-1]) if "loss" in history and len(history) else None,
            category_coverage=coverage,
            warnings=list(getattr(ctx.real, "warnings", [])),
        )
        return StageResult(summary=summary, report=_report(ctx.run_name, summary, history))


def _report(run_name: str, summary: TrainSummary, history: pd.DataFrame) -> Report:
    epochs = history["epoch"].tolist() if "epoch" in history else list(range(1, len(history) + 1))
    # One chart per loss term: they live on different scales (a KL near 0 beside a loss near 1000).
    loss_charts = tuple(
        charts.line_chart(
            "Training loss per epoch" if column == "loss" else f"{column} per epoch",
            epochs,
            {column: history[column].tolist()},
            x_label="epoch",
            y_label="mean per row",
            caption="Aggregate over all training rows in each epoch." if column == "loss" else "",
        )
        for column in history.columns
        if column != "epoch"
    )
    coverage_chart = charts.score_bars(
        "Categories the samples reproduce, per column",
        list(summary.category_coverage),
        list(summary.category_coverage.values()),
        caption=f"Share of each column's real categories found in {_COVERAGE_ROWS:,} sampled rows; below 1 means categories were dropped (mode collapse).",
    )
    kinds = pd.Series([c.kind for c in summary.columns]).value_counts()
    kind_chart = charts.bar_chart(
        "Columns by kind", kinds.index.tolist(), {"columns": kinds.astype(float).tolist()}, value_format="{:.0f}"
    )
    overview = Section(
        title="Training",
        figures=(
            Figure("generator", summary.generator),
            Figure("epochs", str(summary.epochs), note=f"batch size {summary.batch_size}"),
            Figure("fit time", f"{summary.fit_seconds:.1f} s", note=f"on {summary.device}"),
            Figure("training rows", f"{summary.train_rows:,}", note=f"holdout {summary.holdout_rows:,} ({summary.holdout_source})"),
        ),
        charts=(*loss_charts, coverage_chart, kind_chart),
    )
    schema_table = Table(
        headers=("column", "kind", "has missing values"),
        rows=tuple((c.name, c.kind, "yes" if c.nullable else "no") for c in summary.columns),
        caption="Column names and kinds only; no values of the real table are shown.",
    )
    sections = [overview, Section(title="Schema", tables=(schema_table,))]
    if summary.warnings:
        sections.append(Section(title="Warnings", text="\n".join(summary.warnings)))
    params = Table(headers=("setting", "value"), rows=tuple((k, str(v)) for k, v in summary.params.items()))
    sections.append(Section(title="Generator settings", tables=(params,)))
    return Report(stage="train", title="Train", run_name=run_name, subtitle="Fit the generator on the real training rows", sections=tuple(sections))
