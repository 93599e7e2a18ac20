"""evaluate_diagnostic: validity and structure on hand-made tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema
from synthpriv.metrics.diagnostic import evaluate_diagnostic

SCHEMA = TableSchema(
    columns=(
        ColumnSpec("amount", ColumnKind.NUMERICAL, "float64", nullable=False),
        ColumnSpec("colour", ColumnKind.CATEGORICAL, "object", nullable=False),
    )
)


def table(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"amount": rng.uniform(0, 10, rows), "colour": rng.choice(["red", "green", "blue"], rows)}
    )


def test_a_copy_is_perfectly_valid() -> None:
    real = table(400, 0)
    result = evaluate_diagnostic(real, real.copy(), SCHEMA)
    assert result.validity == 1.0 and result.structure == 1.0
    assert [c.column for c in result.columns] == ["amount", "colour"]
    assert {c.metric for c in result.columns} == {"BoundaryAdherence", "CategoryAdherence"}


def test_values_outside_the_real_domain_lower_validity_by_their_share() -> None:
    real, synthetic = table(400, 0), table(400, 1)
    synthetic.loc[:99, "amount"] = 50.0  # a quarter of the rows above the real maximum
    synthetic.loc[:199, "colour"] = "purple"  # half the rows an invented category
    result = evaluate_diagnostic(real, synthetic, SCHEMA, holdout=table(400, 2))
    scores = {c.column: c.score for c in result.columns}
    assert scores["amount"] == pytest.approx(0.75, abs=0.01)
    assert scores["colour"] == pytest.approx(0.5)
    assert result.validity == pytest.approx((scores["amount"] + 0.5) / 2)
    assert result.holdout_validity is not None and result.holdout_validity > 0.98
    frame = result.columns_frame()
    assert list(frame.columns) == ["column", "metric", "score", "holdout_score"]
    assert frame["holdout_score"].notna().all()


def test_ids_are_left_out() -> None:
    schema = TableSchema(
        columns=(ColumnSpec("row_id", ColumnKind.ID, "int64", False, integer=True), *SCHEMA.columns)
    )
    real = table(100, 0).assign(row_id=np.arange(100))
    result = evaluate_diagnostic(real, real.assign(row_id=-1), schema)
    assert [c.column for c in result.columns] == ["amount", "colour"]
    assert result.validity == 1.0
