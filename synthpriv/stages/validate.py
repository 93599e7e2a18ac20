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
from synthpriv.reports.model import Report
from synthpriv.reports.pages.validate import validate_report
from synthpriv.reports.summaries import VALIDATE_MEASURES, ValidateMeasures
from synthpriv.runtime.files import atomic_write_text
from synthpriv.stages.base import (
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
        started = time.perf_counter()
        config = self.config

        def seed(purpose: str) -> int:  # each metric draws from its own stream of the run's seed
            return ctx.stream_seed("validate", purpose)

        tables = evaluation_tables(ctx)
        train, synthetic, holdout, schema = tables.train, tables.synthetic, tables.holdout, tables.schema
        target = ctx.real.config.target
        ctx.progress.start("validate", 6 if target else 5)
        fidelity = evaluate_fidelity(
            train, synthetic, schema, holdout=holdout, max_rows=config.max_rows, seed=seed("fidelity")
        )
        ctx.progress.advance(1)
        diagnostic = evaluate_diagnostic(train, synthetic, schema, holdout=holdout)
        ctx.progress.advance(1)
        detector = detection(
            train,
            synthetic,
            schema,
            seed=seed("detection"),
            max_rows=config.model_rows,
            n_bootstrap=config.bootstrap,
        )
        # The same detector on two real samples: how distinguishable independent real rows are.
        reference = detection(
            train, holdout, schema, seed=seed("detection"), max_rows=config.model_rows, n_bootstrap=0
        )
        ctx.progress.advance(1)
        efficacy = None
        if target:
            efficacy = ml_efficacy(
                train,
                synthetic,
                holdout,
                schema,
                target,
                seed=seed("efficacy"),
                n_bootstrap=config.bootstrap,
                max_rows=config.efficacy_rows,
            )
            ctx.progress.advance(1)
        covered = coverage(
            train, synthetic, schema, seed=seed("coverage"), max_rows=config.neighbour_rows, holdout=holdout
        )
        ctx.progress.advance(1)
        distributions = column_distributions(train, synthetic, schema, k=config.min_count)
        ctx.progress.advance(1)
        ctx.progress.finish()

        write_parquet(fidelity.column_scores_frame(), ctx.stage_dir / "column_scores.parquet")
        write_parquet(fidelity.pair_scores_frame(), ctx.stage_dir / "pair_scores.parquet")
        write_parquet(diagnostic.columns_frame(), ctx.stage_dir / "validity_scores.parquet")
        write_parquet(
            pd.DataFrame([i.model_dump() for i in detector.importances], columns=["column", "auc_drop"]),
            ctx.stage_dir / "detection_importances.parquet",
        )
        write_parquet(
            pd.DataFrame([c.model_dump(mode="json") for c in covered.columns]),
            ctx.stage_dir / "coverage.parquet",
        )
        measures = ValidateMeasures(
            fidelity=fidelity,
            diagnostic=diagnostic,
            detection=detector,
            detection_reference=reference,
            efficacy=efficacy,
            coverage=covered,
            distributions=distributions,
            min_count=config.min_count,
            seconds=time.perf_counter() - started,
        )
        summary = measures.summary()
        gates = (
            *check_gate("min_quality", fidelity.quality or 0.0, self.gates.min_quality),
            *check_gate("max_detection_auc", detector.auc, self.gates.max_detection_auc),
            *check_gate("min_validity", diagnostic.validity or 0.0, self.gates.min_validity),
            *check_gate(
                "min_ml_efficacy_ratio",
                efficacy.ratio if efficacy and efficacy.ratio is not None else 0.0,
                self.gates.min_ml_efficacy_ratio,
            ),
        )
        # NaN (a score sdmetrics could not compute) must survive the round trip: pydantic's JSON turns it into null.
        atomic_write_text(ctx.stage_dir / VALIDATE_MEASURES, json.dumps(measures.model_dump(), default=str))
        return StageResult(summary=summary, gates=gates)

    @classmethod
    def build_report(cls, run_name: str, stage_dir: Path) -> Report:
        measures = ValidateMeasures.model_validate(json.loads((stage_dir / VALIDATE_MEASURES).read_text()))
        return validate_report(run_name, measures, summary_gates(read_summary(stage_dir)))
