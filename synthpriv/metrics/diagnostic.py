"""Diagnostic: is the synthetic table *valid* (values inside the real domain, the right columns)?

sdmetrics' ``DiagnosticReport``: per column, ``BoundaryAdherence`` (the share of synthetic
numbers and dates inside the real [min, max]) or ``CategoryAdherence`` (the share of synthetic
values that are real categories); and ``TableStructure`` (same column names and types). A
generator should score 1 on all of them; unlike fidelity, anything below 1 is a defect, not a
matter of degree. The real holdout scores below 1 by chance (a holdout value just outside the
train range), which is why it is shown as a reference.

Only scores are kept: never the bounds or the categories themselves.
"""

from __future__ import annotations

import time
import warnings
from typing import SupportsFloat

import numpy as np
import pandas as pd
from pydantic import Field

from synthpriv.config.base import StrictModel
from synthpriv.data.schema import TableSchema

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from sdmetrics.reports.single_table import DiagnosticReport

_VALIDITY = "Data Validity"
_STRUCTURE = "Data Structure"


class ValidityScore(StrictModel):
    """One column's validity: the share of synthetic values inside the real domain; ideal 1."""

    column: str
    metric: str
    """BoundaryAdherence (numbers, dates) or CategoryAdherence (categories, booleans)."""
    score: float
    holdout_score: float | None = None
    """The same for the real holdout rows; None without a holdout."""


class DiagnosticResult(StrictModel):
    validity: float | None = Field(default=None, ge=0, le=1)
    """Mean of the per-column validity scores; ideal 1."""
    structure: float | None = Field(default=None, ge=0, le=1)
    """TableStructure: the synthetic table has the real table's columns and types; ideal 1."""
    holdout_validity: float | None = Field(default=None, ge=0, le=1)
    columns: list[ValidityScore] = Field(default_factory=list)
    seconds: float = Field(ge=0)

    def columns_frame(self) -> pd.DataFrame:
        """The per-column scores (for ``validity_scores.parquet``)."""
        frame = pd.DataFrame([c.model_dump() for c in self.columns], columns=list(ValidityScore.model_fields))
        return frame.astype({"holdout_score": float})


def evaluate_diagnostic(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    schema: TableSchema,
    *,
    holdout: pd.DataFrame | None = None,
) -> DiagnosticResult:
    """sdmetrics' diagnostic report of ``synthetic`` (and of ``holdout``) against ``real``.

    The tables are the ones fidelity compares (already subsampled); only modelled columns count.
    """
    started = time.perf_counter()
    columns = [c.name for c in schema.modelled()]
    metadata = schema.to_sdmetrics_metadata()
    validity, structure = _run(real[columns], synthetic[columns], metadata)
    reference = None
    holdout_validity: float | None = None
    if holdout is not None:
        reference, _ = _run(real[columns], holdout[columns], metadata)
        holdout_validity = _mean(reference["Score"])
    holdout_scores = (
        dict(zip(reference["Column"], reference["Score"], strict=True)) if reference is not None else {}
    )
    scores = [
        ValidityScore(
            column=str(column),
            metric=str(metric),
            score=float(score),
            holdout_score=_finite(holdout_scores.get(column)),
        )
        for column, metric, score in zip(
            validity["Column"], validity["Metric"], validity["Score"], strict=True
        )
    ]
    return DiagnosticResult(
        validity=_mean(validity["Score"]),
        structure=structure,
        holdout_validity=holdout_validity,
        columns=scores,
        seconds=time.perf_counter() - started,
    )


def _run(
    real: pd.DataFrame, other: pd.DataFrame, metadata: dict[str, object]
) -> tuple[pd.DataFrame, float | None]:
    report = DiagnosticReport()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        report.generate(real, other, metadata, verbose=False)
    validity = report.get_details(_VALIDITY).reset_index(drop=True)
    structure = report.get_details(_STRUCTURE)
    return validity, _mean(structure["Score"]) if len(structure) else None


def _finite(value: object) -> float | None:
    if not isinstance(value, SupportsFloat | str):  # None: no holdout score for the column
        return None
    number = float(value)
    return number if np.isfinite(number) else None


def _mean(values: pd.Series) -> float | None:
    finite = pd.to_numeric(values, errors="coerce").dropna()
    return float(np.clip(finite.mean(), 0.0, 1.0)) if len(finite) else None
