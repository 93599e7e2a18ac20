"""evaluate_fidelity and column_distributions on sdmetrics' demo table and tiny hand-made frames."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sdmetrics

from synthpriv.data.redact import OTHER_LABEL
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, infer_schema
from synthpriv.errors import DataError
from synthpriv.metrics.fidelity import (
    MISSING_LABEL,
    QualityReport,
    column_distributions,
    evaluate_fidelity,
)

DEMO = Path(sdmetrics.__file__).parent / "demos" / "single_table"


@pytest.fixture(scope="module")
def real(demo_table: pd.DataFrame) -> pd.DataFrame:
    return demo_table


@pytest.fixture(scope="module")
def schema(real: pd.DataFrame) -> TableSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # student_id is reported as an id
        return infer_schema(real)


@pytest.fixture(scope="module")
def sdv_synthetic() -> pd.DataFrame:
    return pd.read_csv(DEMO / "student_placements_synthetic.csv")


def _shuffled_columns(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Every column permuted independently: marginals kept, every pair trend destroyed."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: table[c].to_numpy()[rng.permutation(len(table))] for c in table.columns})


def _default_report(real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema) -> QualityReport:
    columns = [c.name for c in schema.modelled()]
    report = QualityReport()
    report.num_rows_subsample = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real[columns], synthetic[columns], schema.to_sdmetrics_metadata(), verbose=False)
    return report


def test_real_against_itself_scores_one(real: pd.DataFrame, schema: TableSchema) -> None:
    result = evaluate_fidelity(real, real, schema, seed=0)
    assert result.quality == pytest.approx(1.0)
    assert result.column_shapes == pytest.approx(1.0)
    assert result.column_pair_trends == pytest.approx(1.0)
    assert result.quality_default_thresholds == pytest.approx(1.0)
    assert result.shape_error == pytest.approx(0.0, abs=1e-9)


def test_shuffled_columns_keep_shapes_but_lose_trends(real: pd.DataFrame, schema: TableSchema) -> None:
    result = evaluate_fidelity(real, _shuffled_columns(real), schema, seed=0)
    assert result.column_shapes == pytest.approx(1.0)
    assert result.column_pair_trends is not None and result.column_pair_trends < 0.95
    assert result.quality is not None and result.quality < 0.98


def test_default_threshold_score_equals_a_default_report(
    real: pd.DataFrame, schema: TableSchema, sdv_synthetic: pd.DataFrame
) -> None:
    for synthetic in (sdv_synthetic, _shuffled_columns(real, seed=3)):
        result = evaluate_fidelity(real, synthetic, schema, seed=0)
        report = _default_report(real, synthetic, schema)
        trends = report.get_properties().set_index("Property")["Score"]["Column Pair Trends"]
        assert result.quality_default_thresholds == pytest.approx(report.get_score(), abs=1e-12)
        assert result.column_pair_trends_default_thresholds == pytest.approx(trends, abs=1e-12)
        kept = report.get_details("Column Pair Trends")["Meets Threshold?"].astype("boolean").fillna(False)
        assert [p.meets_default_threshold for p in result.pair_scores] == kept.tolist()


def test_all_pairs_score_equals_an_all_pairs_report(
    real: pd.DataFrame, schema: TableSchema, sdv_synthetic: pd.DataFrame
) -> None:
    result = evaluate_fidelity(real, sdv_synthetic, schema, seed=0)
    columns = [c.name for c in schema.modelled()]
    report = QualityReport()
    report.real_correlation_threshold = 0
    report.real_association_threshold = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real[columns], sdv_synthetic[columns], schema.to_sdmetrics_metadata(), verbose=False)
    assert result.quality == pytest.approx(report.get_score(), abs=1e-12)
    assert result.quality != pytest.approx(result.quality_default_thresholds)


def test_holdout_reference_and_tables(
    real: pd.DataFrame, schema: TableSchema, sdv_synthetic: pd.DataFrame
) -> None:
    holdout = real.sample(n=100, random_state=0)
    result = evaluate_fidelity(real, sdv_synthetic, schema, holdout=holdout, seed=0)
    assert result.holdout_quality is not None and 0.5 < result.holdout_quality < 1.0
    assert result.rows_holdout == 100
    columns = result.column_scores_frame()
    pairs = result.pair_scores_frame()
    n = len(schema.modelled())
    assert list(columns["column"]) == [c.name for c in schema.modelled()]
    assert len(pairs) == n * (n - 1) // 2
    assert columns["holdout_score"].notna().all()
    assert set(pairs.columns) >= {"column_1", "column_2", "metric", "score", "real_value", "synthetic_value"}
    assert "student_id" not in set(columns["column"]) | set(pairs["column_1"]) | set(pairs["column_2"])


def test_subsampling_is_seeded_and_recorded(
    real: pd.DataFrame, schema: TableSchema, sdv_synthetic: pd.DataFrame
) -> None:
    first = evaluate_fidelity(real, sdv_synthetic, schema, max_rows=120, seed=4)
    again = evaluate_fidelity(real, sdv_synthetic, schema, max_rows=120, seed=4)
    assert (first.rows_real, first.rows_synthetic) == (120, 120)
    assert first.quality == again.quality


def test_nan_scores_are_kept_in_tables_and_skipped_in_averages() -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=60), "y": rng.choice(["a", "b"], 60), "empty": np.nan})
    schema = TableSchema(
        columns=(
            ColumnSpec("x", ColumnKind.NUMERICAL, "float64", False),
            ColumnSpec("y", ColumnKind.CATEGORICAL, "object", False),
            ColumnSpec("empty", ColumnKind.NUMERICAL, "float64", True),
        )
    )
    result = evaluate_fidelity(table, table, schema, seed=0)
    scores = result.column_scores_frame().set_index("column")["score"]
    assert math.isnan(scores["empty"])
    assert result.column_shapes == pytest.approx(1.0)
    assert result.quality == pytest.approx(1.0)
    assert result.model_dump_json()  # NaN serialises


def test_missing_column_is_a_data_error(real: pd.DataFrame, schema: TableSchema) -> None:
    with pytest.raises(DataError, match="gender"):
        evaluate_fidelity(real, real.drop(columns="gender"), schema, seed=0)


def test_distributions_never_name_a_rare_category() -> None:
    real = pd.DataFrame({"city": ["A"] * 30 + ["B"] * 12 + ["rare"] * 3 + [None] * 2})
    synthetic = pd.DataFrame({"city": ["A"] * 20 + ["B"] * 10 + ["rare"] * 5 + ["new"] * 5})
    schema = TableSchema(columns=(ColumnSpec("city", ColumnKind.CATEGORICAL, "object", True),))
    (dist,) = column_distributions(real, synthetic, schema, k=10)
    assert dist.labels == ["A", "B", OTHER_LABEL]
    assert "rare" not in dist.labels and MISSING_LABEL not in dist.labels  # 2 missing < k
    assert dist.real_share == pytest.approx([30 / 47, 12 / 47, 5 / 47])
    assert dist.synthetic_share == pytest.approx([0.5, 0.25, 0.25])


def test_distributions_of_the_demo_table(
    real: pd.DataFrame, schema: TableSchema, sdv_synthetic: pd.DataFrame
) -> None:
    k = 10
    distributions = column_distributions(real, sdv_synthetic, schema, k=k)
    assert [d.column for d in distributions] == [c.name for c in schema.modelled()]
    for dist in distributions:
        assert sum(dist.real_share) == pytest.approx(1.0)
        assert sum(dist.synthetic_share) == pytest.approx(1.0)
        if dist.edges is None:
            counts = real[dist.column].astype(object).where(real[dist.column].notna(), MISSING_LABEL)
            counts = counts.astype(str).value_counts()
            named = [label for label in dist.labels if label != OTHER_LABEL]
            assert all(counts[label] >= k for label in named)
        else:
            n = len(real)
            bin_rows = np.asarray(dist.real_share[: len(dist.edges) - 1]) * n
            assert np.all((np.round(bin_rows) == 0) | (np.round(bin_rows) >= k))
    salary = next(d for d in distributions if d.column == "salary")
    assert salary.labels[-1] == MISSING_LABEL  # salary is missing for the unplaced students


def test_an_outlier_does_not_set_the_axis() -> None:
    values = np.r_[np.arange(100, dtype=float), 1e9]
    table = pd.DataFrame({"v": values})
    schema = TableSchema(columns=(ColumnSpec("v", ColumnKind.NUMERICAL, "float64", False),))
    (dist,) = column_distributions(table, table, schema, k=10)
    assert dist.edges is not None and dist.edges[-1] < 1000
    assert sum(dist.real_share) == pytest.approx(1.0)
