"""detection (real-vs-synthetic classifier AUC and column importances) on small hand-made tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.errors import DataError
from synthpriv.metrics.detection import DetectionResult, detection


def make_table(n: int = 500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.random(n) < 0.35
    x1 = rng.normal(size=n) + 1.5 * label
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": 0.6 * x1 + rng.normal(size=n) + label,
            "color": rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]),
            "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
            "member": rng.random(n) < 0.5,
            "label": np.where(label, "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return make_table(seed=0)


@pytest.fixture(scope="module")
def schema(real: pd.DataFrame) -> TableSchema:
    return infer_schema(real)


def assert_interval_brackets(result: DetectionResult) -> None:
    low, high = result.auc_ci
    assert 0.0 <= low <= result.auc <= high <= 1.0


def test_identical_table_is_indistinguishable(real: pd.DataFrame, schema: TableSchema) -> None:
    result = detection(real, real.copy(), schema, seed=0)
    # Copies share a fold with their twin: split apart they would push the AUC near 0, not 0.5.
    assert 0.4 <= result.auc <= 0.6
    assert_interval_brackets(result)
    assert (result.rows_real, result.rows_synthetic, result.folds) == (500, 500, 5)
    assert sorted(i.column for i in result.importances) == sorted(schema.names)
    # Nothing gives the copy away: no column matters much.
    assert max(i.auc_drop for i in result.importances) < 0.1


def test_an_independent_sample_is_near_chance(real: pd.DataFrame, schema: TableSchema) -> None:
    result = detection(real, make_table(seed=1), schema, seed=0)
    assert 0.4 <= result.auc <= 0.6
    assert_interval_brackets(result)


@pytest.mark.parametrize(
    ("column", "broken"),
    [
        ("x1", lambda t: t.assign(x1=0.0)),  # constant
        ("x2", lambda t: t.assign(x2=t["x2"] + 10.0)),  # shifted far
        ("joined", lambda t: t.assign(joined=t["joined"] + pd.Timedelta(days=2000))),
    ],
)
def test_a_broken_column_is_detected_and_ranked_first(real, schema, column, broken) -> None:
    result = detection(real, broken(make_table(seed=1)), schema, seed=0, folds=3)
    assert result.auc >= 0.9
    assert_interval_brackets(result)
    assert result.importances[0].column == column
    assert result.importances[0].auc_drop > 0.2
    drops = [i.auc_drop for i in result.importances]
    assert drops == sorted(drops, reverse=True)


def test_rows_collapsed_onto_one_real_row_are_detected(real, schema) -> None:
    collapsed = real.iloc[np.zeros(len(real), dtype=int)].reset_index(drop=True)
    result = detection(real, collapsed, schema, seed=0, folds=3)
    assert result.auc >= 0.9
    assert_interval_brackets(result)


def test_max_rows_takes_equal_seeded_samples(real, schema) -> None:
    synthetic = make_table(n=800, seed=1)
    first = detection(real, synthetic, schema, seed=0, max_rows=300, folds=3, n_bootstrap=50)
    again = detection(real, synthetic, schema, seed=0, max_rows=300, folds=3, n_bootstrap=50)
    assert (first.rows_real, first.rows_synthetic, first.folds) == (300, 300, 3)
    assert first.model_dump(exclude={"seconds"}) == again.model_dump(exclude={"seconds"})
    data = json.loads(first.model_dump_json())
    assert isinstance(data["auc_ci"], list) and isinstance(data["importances"][0]["auc_drop"], float)
    assert DetectionResult.model_validate(data) == first


def test_unusable_inputs_are_data_errors(real, schema) -> None:
    with pytest.raises(DataError, match="synthetic"):
        detection(real, real.drop(columns="x1"), schema, seed=0)
    with pytest.raises(DataError, match="at least 5 rows"):
        detection(real, real.iloc[:3], schema, seed=0)
