"""coverage (categories, ranges, k-NN precision and recall) on small hand-made tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from synthpriv.data.schema import ColumnKind, TableSchema, infer_schema
from synthpriv.errors import DataError
from synthpriv.metrics.coverage import CoverageResult, coverage


def make_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.random(n) < 0.35
    x1 = rng.normal(size=n) + 1.5 * label
    x2 = 0.6 * x1 + rng.normal(size=n) + label
    x2[rng.random(n) < 0.05] = np.nan  # some missing numbers
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
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


def by_column(result: CoverageResult) -> dict[str, object]:
    return {c.column: c for c in result.columns}


def test_identical_table_covers_everything(real: pd.DataFrame, schema: TableSchema) -> None:
    result = coverage(real, real.copy(), schema, seed=0)
    assert result.precision == 1.0 and result.recall == 1.0
    assert result.missed_categories == 0 and result.invented_categories == 0
    columns = by_column(result)
    assert [c.column for c in result.columns] == schema.names
    for name in ("x1", "x2", "joined"):
        assert columns[name].out_of_range_share == 0.0 and columns[name].missed_categories is None
    for name, count in (("color", 3), ("member", 2), ("label", 2)):
        column = columns[name]
        assert column.real_categories == count and column.out_of_range_share is None
        assert column.missed_real_share == 0.0 and column.invented_synthetic_share == 0.0
    assert (result.rows_real, result.rows_synthetic, result.rows_holdout) == (600, 600, None)
    assert result.holdout_precision is None and result.holdout_recall is None
    # 2 numbers (x2 with a missing flag), 1 datetime, one-hot + "other" for 3 + 2 + 2 categories.
    assert result.encoded_dims == 1 + 2 + 1 + 4 + 3 + 3


def test_dropped_and_invented_categories_are_counted_not_named(real, schema) -> None:
    synthetic = real.copy()
    synthetic["color"] = synthetic["color"].replace({"blue": "purple"})
    result = coverage(real, synthetic, schema, seed=0)
    color = by_column(result)["color"]
    blue_share = float((real["color"] == "blue").mean())
    assert (color.missed_categories, color.invented_categories) == (1, 1)
    assert color.missed_real_share == pytest.approx(blue_share)
    assert color.invented_synthetic_share == pytest.approx(blue_share)
    assert (result.missed_categories, result.invented_categories) == (1, 1)
    text = result.model_dump_json()
    assert "blue" not in text and "purple" not in text and "red" not in text


def test_values_shifted_out_of_range(real, schema) -> None:
    synthetic = real.copy()
    synthetic["x1"] = synthetic["x1"] + 100.0
    synthetic["joined"] = synthetic["joined"] - pd.Timedelta(days=5000)
    synthetic.loc[:49, "x2"] = 1e6  # 50 of the 600 rows, of which the rest keeps its real values
    columns = by_column(coverage(real, synthetic, schema, seed=0))
    assert columns["x1"].out_of_range_share == 1.0
    assert columns["joined"].out_of_range_share == 1.0
    assert columns["x2"].out_of_range_share == pytest.approx(50 / synthetic["x2"].notna().sum())


def test_collapsed_synthetic_rows_keep_precision_and_lose_recall(real, schema) -> None:
    collapsed = real.iloc[np.zeros(len(real), dtype=int)].reset_index(drop=True)
    result = coverage(real, collapsed, schema, seed=0)
    assert result.precision == 1.0
    assert result.recall < 0.05


def test_noise_rows_lose_precision(real, schema) -> None:
    far = make_table(seed=1)
    far["x1"] = far["x1"] * 8.0
    far["x2"] = far["x2"] * 8.0
    result = coverage(real, far, schema, seed=0)
    assert result.precision < 0.6


def test_holdout_reference_and_subsampling(real, schema) -> None:
    holdout = make_table(n=400, seed=2)
    result = coverage(real, make_table(seed=1), schema, seed=0, holdout=holdout)
    assert (result.rows_real, result.rows_synthetic, result.rows_holdout) == (600, 600, 400)
    # An independent sample from the same population sits inside the real manifold and covers most of it.
    assert result.holdout_precision > 0.8 and result.holdout_recall > 0.8
    assert result.precision > 0.8 and result.recall > 0.8
    small = coverage(real, make_table(seed=1), schema, seed=0, holdout=holdout, max_rows=200, k=3)
    again = coverage(real, make_table(seed=1), schema, seed=0, holdout=holdout, max_rows=200, k=3)
    assert (small.rows_real, small.rows_synthetic, small.rows_holdout, small.k) == (200, 200, 200, 3)
    assert small.model_dump(exclude={"seconds"}) == again.model_dump(exclude={"seconds"})
    data = json.loads(small.model_dump_json())
    assert data["columns"][2]["kind"] == ColumnKind.CATEGORICAL.value
    assert CoverageResult.model_validate(data) == small


def test_unusable_inputs_are_data_errors(real, schema) -> None:
    with pytest.raises(DataError, match="holdout"):
        coverage(real, real, schema, seed=0, holdout=real.iloc[:0])
    with pytest.raises(DataError, match="more than k=5 rows"):
        coverage(real, real.iloc[:5], schema, seed=0)
