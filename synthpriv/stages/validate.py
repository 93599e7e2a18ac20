"""Stage 3, validate: statistical fidelity of the synthetic table, beside the real holdout's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import ClassVar

import pandas as pd

from synthpriv.config.model import ValidateConfig
from synthpriv.data.io import write_parquet
from synthpriv.metrics.coverage import coverage
from synthpriv.metrics.detection import detection
from synthpriv.metrics.diagnostic import evaluate_diagnostic
from synthpriv.metrics.efficacy import ml_efficacy
from synthpriv.metrics.fidelity import column_distributions, evaluate_fidelity
from synthpriv.metrics.rowlogic import row_logic
from synthpriv.reports.model import Report
from synthpriv.reports.pages.validate import validate_report
from synthpriv.reports.summaries import VALIDATE_MEASURES, ValidateMeasures
from synthpriv.runtime.files import atomic_write_text
from synthpriv.stages.base import (
    GateOutcome,
    Stage,
    StageContext,
    StageResult,
    check_gate,
    read_summary,
    summary_gates,
)
from synthpriv.stages.common import evaluation_tables


class ValidateStage(Stage[ValidateConfig]):
    name: ClassVar = "validate"
    requires: ClassVar = frozenset({"split", "synthetic", "model"})
    produces: ClassVar = frozenset({"fidelity"})

    def run(self, ctx: StageContext) -> StageResult:
        measures = self._measure(ctx)
        _write_tables(measures, ctx.stage_dir)
        # NaN (a score sdmetrics could not compute) must survive the round trip: pydantic's JSON turns it
        # into null.
        atomic_write_text(ctx.stage_dir / VALIDATE_MEASURES, json.dumps(measures.model_dump(), default=str))
        return StageResult(summary=measures.summary(), gates=self._gates(measures))

    def _measure(self, ctx: StageContext) -> ValidateMeasures:
        """Every fidelity measure of the synthetic table, each beside the real holdout's."""
        started, config = time.perf_counter(), self.config

        def seed(purpose: str) -> int:  # each metric draws from its own stream of the run's seed
            return ctx.stream_seed("validate", purpose)

        tables = evaluation_tables(ctx)
        train, synthetic, holdout, schema = tables.train, tables.synthetic, tables.holdout, tables.schema
        target = ctx.real.config.target
        ctx.progress.start("validate", 7 if target else 6)
        fidelity = evaluate_fidelity(
            train, synthetic, schema, holdout=holdout, max_rows=config.max_rows, seed=seed("fidelity")
        )
        ctx.progress.advance(1)
        diagnostic = evaluate_diagnostic(train, synthetic, schema, holdout=holdout)
        ctx.progress.advance(1)
        rows, bootstrap = config.model_rows, config.bootstrap
        detector = detection(
            train, synthetic, schema, seed=seed("detection"), max_rows=rows, n_bootstrap=bootstrap
        )
        # The same detector on two real samples: how distinguishable independent real rows are.
        reference = detection(train, holdout, schema, seed=seed("detection"), max_rows=rows, n_bootstrap=0)
        ctx.progress.advance(1)
        efficacy = None
        if target:
            efficacy = ml_efficacy(
                *(train, synthetic, holdout, schema, target),
                seed=seed("efficacy"),
                n_bootstrap=bootstrap,
                max_rows=config.efficacy_rows,
            )
            ctx.progress.advance(1)
        covered = coverage(
            train, synthetic, schema, seed=seed("coverage"), max_rows=config.neighbour_rows, holdout=holdout
        )
        ctx.progress.advance(1)
        distributions = column_distributions(train, synthetic, schema, k=config.min_count)
        ctx.progress.advance(1)
        # Mined from the real training rows here, as a measurement, whether or not the generator
        # was given them (a private fit never is); no value below min_category_count rows is kept.
        logic = row_logic(
            train, synthetic, schema, holdout=holdout, min_count=ctx.real.config.min_category_count
        )
        ctx.progress.advance(1)
        ctx.progress.finish()
        return ValidateMeasures(
            fidelity=fidelity,
            diagnostic=diagnostic,
            detection=detector,
            detection_reference=reference,
            efficacy=efficacy,
            coverage=covered,
            distributions=distributions,
            min_count=config.min_count,
            seconds=time.perf_counter() - started,
            row_logic=logic,
            table_rows_train=len(train),
            table_rows_synthetic=len(synthetic),
        )

    def _gates(self, measures: ValidateMeasures) -> tuple[GateOutcome, ...]:
        efficacy = measures.efficacy
        return (
            *check_gate("min_quality", measures.fidelity.quality or 0.0, self.gates.min_quality),
            *check_gate("max_detection_auc", measures.detection.auc, self.gates.max_detection_auc),
            *check_gate("min_validity", measures.diagnostic.validity or 0.0, self.gates.min_validity),
            *check_gate(
                "max_rule_violation_share",
                measures.row_logic.worst_rule_share if measures.row_logic else 0.0,
                self.gates.max_rule_violation_share,
            ),
            *check_gate(
                "min_ml_efficacy_ratio",
                efficacy.ratio if efficacy and efficacy.ratio is not None else 0.0,
                self.gates.min_ml_efficacy_ratio,
            ),
        )

    @classmethod
    def build_report(cls, run_name: str, stage_dir: Path) -> Report:
        measures = ValidateMeasures.model_validate(json.loads((stage_dir / VALIDATE_MEASURES).read_text()))
        return validate_report(run_name, measures, summary_gates(read_summary(stage_dir)))


def _write_tables(measures: ValidateMeasures, folder: Path) -> None:
    """The per-column and per-pair aggregates as Parquet, for programs that read the run."""
    fidelity = measures.fidelity
    write_parquet(fidelity.column_scores_frame(), folder / "column_scores.parquet")
    write_parquet(fidelity.pair_scores_frame(), folder / "pair_scores.parquet")
    write_parquet(measures.diagnostic.columns_frame(), folder / "validity_scores.parquet")
    write_parquet(
        pd.DataFrame(
            [i.model_dump() for i in measures.detection.importances], columns=["column", "auc_drop"]
        ),
        folder / "detection_importances.parquet",
    )
    write_parquet(
        pd.DataFrame([c.model_dump(mode="json") for c in measures.coverage.columns]),
        folder / "coverage.parquet",
    )
