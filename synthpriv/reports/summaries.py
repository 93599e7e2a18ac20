"""What the train, synthesize, validate and export stages write, as typed models the pages read.

A stage computes these and writes them (``summary.json``, validate's ``measures.json``); the
pages in `reports.pages` render them, and `synthpriv report` validates them back from disk.
They live here, below the stages, so that the report package never imports a stage. The
attack stage's summary belongs to the attack interface (`reports.pages.attack`).
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from synthpriv.metrics.coverage import CoverageResult
from synthpriv.metrics.detection import DetectionResult
from synthpriv.metrics.diagnostic import DiagnosticResult
from synthpriv.metrics.efficacy import EfficacyResult
from synthpriv.metrics.fidelity import ColumnDistribution, FidelityResult
from synthpriv.metrics.rowlogic import RowLogicResult
from synthpriv.privacy.ledger import LedgerField

#: Synthetic rows the train stage samples to measure category coverage.
COVERAGE_ROWS = 10_000


class GateLike(Protocol):
    """One evaluated gate, as the stages record it (`stages.base.GateOutcome`)."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def bound(self) -> float: ...
    @property
    def passed(self) -> bool: ...
    def describe(self) -> str: ...


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
    category_coverage: dict[str, float]
    """Per categorical column: share of its real categories the samples reproduce."""
    warnings: list[str]
    privacy: LedgerField | None = None
    """The privacy ledger when trained with DP (written as `PrivacyLedger.to_dict`, read through
    `from_dict`)."""


class SynthesizeSummary(BaseModel):
    rows: int
    seed: int
    batch_size: int
    seconds: float
    rows_per_second: float
    missing_share: dict[str, float]  # of the synthetic rows, per column
    #: Per modelled column, the share of the real training rows with a missing value: the missing
    #: values chart's reference. Shares only; None in summaries written before it was recorded.
    real_missing_share: dict[str, float] | None = None
    conditions: dict[str, str | bool | int | float]
    #: Rows of the conditions file whose empty cells were filled in (imputation); None without
    #: one. Its count only: the file's cells are the user's, and not recorded.
    conditions_file_rows: int | None = None
    #: ``{column: {category: share of every batch}}`` (``synthesize.rebalance``), categories as text.
    rebalance: dict[str, dict[str, float]] = {}  # pydantic copies the default per instance


class ValidateSummary(BaseModel):
    quality: float | None
    quality_default_thresholds: float | None
    column_shapes: float | None
    column_pair_trends: float | None
    holdout_quality: float | None
    holdout_column_shapes: float | None
    holdout_column_pair_trends: float | None
    validity: float | None
    holdout_validity: float | None
    structure: float | None
    detection_auc: float
    detection_auc_ci: tuple[float, float]
    holdout_detection_auc: float | None
    efficacy: EfficacyResult | None
    coverage: CoverageResult
    rows_real: int
    rows_synthetic: int
    rows_holdout: int | None
    seconds: float
    sdmetrics_seconds: float
    seconds_by_metric: dict[str, float]
    # Row logic (None in summaries written before it was measured).
    rules: int | None = None
    """Rules mined from the real training rows (`synthpriv.metrics.rowlogic`)."""
    rule_violation_share: float | None = None
    """Share of synthetic rows breaking the worst-kept rule: what ``max_rule_violation_share`` judges."""
    holdout_rule_violation_share: float | None = None
    unseen_pattern_share: float | None = None
    """Synthetic rows whose missing values follow no pattern of the real training rows."""
    holdout_unseen_pattern_share: float | None = None
    form_violation_share: float | None = None
    """Synthetic numbers and dates outside the real precision or value set."""
    holdout_form_violation_share: float | None = None
    # What the sampled figures were measured on (None in summaries written before they were recorded).
    detection_rows_real: int | None = None
    """Real training rows the detector used (a seeded sample, as many as its synthetic rows)."""
    detection_rows_synthetic: int | None = None
    table_rows_train: int | None = None
    """Rows of the whole tables validate read, so that a figure on fewer can say "in a sample of N of
    M" even where no train or synthesize summary gives M (an evaluation of an outside table)."""
    table_rows_synthetic: int | None = None


#: validate's file of every aggregate its report shows, kept so that ``synthpriv report`` can render it again.
VALIDATE_MEASURES = "measures.json"


class ValidateMeasures(BaseModel):
    """Every aggregate the validate page shows (more than its summary: per column and pair)."""

    fidelity: FidelityResult
    diagnostic: DiagnosticResult
    detection: DetectionResult
    detection_reference: DetectionResult
    efficacy: EfficacyResult | None
    coverage: CoverageResult
    distributions: list[ColumnDistribution]
    """Shares per bin or category, every one holding at least ``min_count`` real rows."""
    min_count: int
    seconds: float
    row_logic: RowLogicResult | None = None
    """None in measures written before row logic was measured."""
    table_rows_train: int | None = None
    """Rows of the whole training table (the metrics may use a sample); None in older measures."""
    table_rows_synthetic: int | None = None
    """Rows of the whole synthetic table."""

    def summary(self) -> ValidateSummary:
        """The validate stage's summary.json: the headline figures of these measures."""
        fidelity, diagnostic, efficacy = self.fidelity, self.diagnostic, self.efficacy
        seconds_by_metric = {
            "fidelity": fidelity.seconds,
            "diagnostic": diagnostic.seconds,
            "detection": self.detection.seconds + self.detection_reference.seconds,
            "efficacy": efficacy.seconds if efficacy else 0.0,
            "coverage": self.coverage.seconds,
            "row_logic": self.row_logic.seconds if self.row_logic else 0.0,
        }
        return ValidateSummary(
            **fidelity.model_dump(include=_FIDELITY_HEADLINES),
            validity=diagnostic.validity,
            holdout_validity=diagnostic.holdout_validity,
            structure=diagnostic.structure,
            detection_auc=self.detection.auc,
            detection_auc_ci=self.detection.auc_ci,
            holdout_detection_auc=self.detection_reference.auc,
            efficacy=efficacy,
            coverage=self.coverage,
            seconds=self.seconds,
            seconds_by_metric={k: round(v, 2) for k, v in seconds_by_metric.items()},
            **_row_logic_headlines(self.row_logic),
            detection_rows_real=self.detection.rows_real,
            detection_rows_synthetic=self.detection.rows_synthetic,
            table_rows_train=self.table_rows_train,
            table_rows_synthetic=self.table_rows_synthetic,
        )


def _row_logic_headlines(logic: RowLogicResult | None) -> dict[str, Any]:
    """The row-logic fields of `ValidateSummary` (none when it was not measured)."""
    if logic is None:
        return {}
    return {
        "rules": len(logic.rules),
        "rule_violation_share": logic.worst_rule_share,
        "holdout_rule_violation_share": logic.holdout_worst_rule_share,
        "unseen_pattern_share": logic.unseen_pattern_share,
        "holdout_unseen_pattern_share": logic.holdout_unseen_pattern_share,
        "form_violation_share": logic.form_share,
        "holdout_form_violation_share": logic.holdout_form_share,
    }


_FIDELITY_HEADLINES = {
    "quality",
    "quality_default_thresholds",
    "column_shapes",
    "column_pair_trends",
    "holdout_quality",
    "holdout_column_shapes",
    "holdout_column_pair_trends",
    "rows_real",
    "rows_synthetic",
    "rows_holdout",
    "sdmetrics_seconds",
}


class ExportSummary(BaseModel):
    rows: int
    files: list[dict[str, Any]]
    """Each exported file: path, rows, bytes, sha256."""
    gate_results: list[dict[str, Any]]
    """The validate and attack gates this export was decided on."""
    gates_forced: bool
    """Whether a gate failed and the export went ahead with --allow-failed-gates."""
    allow_failed_gates: bool
    synthetic_sha256: str
    """The synthesize stage's Parquet the export was copied from."""
    provenance: dict[str, Any]
    """What the exported Parquet's metadata says (version, generator, seed, config hash, DP, gates)."""
    differential_privacy: dict[str, Any] | str = "none"
