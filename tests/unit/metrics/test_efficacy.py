"""ml_efficacy (TSTR vs TRTR) on small hand-made tables whose answers are known."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.errors import DataError
from synthpriv.metrics.efficacy import EfficacyResult, ml_efficacy
from synthpriv.metrics.features import weighted_macro_f1, weighted_roc_auc


def make_table(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Two numbers that predict a binary label, a number that depends on them, an irrelevant category."""
    rng = np.random.default_rng(seed)
    label = rng.random(n) < 0.35
    x1 = rng.normal(size=n) + 1.5 * label
    x2 = 0.6 * x1 + rng.normal(size=n) + label
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "amount": 3.0 * x1 - 2.0 * x2 + 0.3 * rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], size=n, p=[0.5, 0.3, 0.2]),
            "member": rng.random(n) < 0.5,
            "label": np.where(label, "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return make_table(seed=0)


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return make_table(seed=1)


@pytest.fixture(scope="module")
def schema(real: pd.DataFrame) -> TableSchema:
    return infer_schema(real)


@pytest.fixture(scope="module")
def identical(real: pd.DataFrame, holdout: pd.DataFrame, schema: TableSchema) -> EfficacyResult:
    return ml_efficacy(real, real.copy(), holdout, schema, "label", seed=0)


def assert_intervals_bracket(result: EfficacyResult) -> None:
    """Every reported interval is ordered and contains its point estimate."""
    checked = 0
    for name, value in result.model_dump().items():
        if name.endswith("_ci") and value is not None:
            point = getattr(result, name.removesuffix("_ci"))
            low, high = value
            assert low <= point <= high, name
            checked += 1
    assert checked >= 3


def test_identical_synthetic_table_scores_like_the_real_one(identical: EfficacyResult) -> None:
    assert identical.task == "binary" and identical.headline_metric == "roc_auc" and identical.n_classes == 2
    # Same rows, same seed: the same model, so the same predictions.
    assert identical.synthetic_roc_auc == pytest.approx(identical.real_roc_auc)
    assert identical.ratio == pytest.approx(1.0)
    assert identical.ratio_ci == pytest.approx((1.0, 1.0))
    assert identical.real_roc_auc > 0.8  # the label is predictable from x1 and x2
    assert identical.synthetic_r2 is None and identical.real_r2 is None
    assert_intervals_bracket(identical)
    assert (identical.rows_train_real, identical.rows_synthetic, identical.rows_holdout) == (600, 600, 600)
    assert identical.notes == []


def test_an_independent_sample_scores_close_to_real(real, holdout, schema) -> None:
    result = ml_efficacy(real, make_table(seed=2), holdout, schema, "label", seed=0)
    assert 0.9 <= result.ratio <= 1.1
    low, high = result.synthetic_roc_auc_ci
    assert high - low < 0.15  # 600 holdout rows pin the AUC down to a few hundredths
    assert_intervals_bracket(result)


def test_shuffled_target_loses_the_signal(real, holdout, schema) -> None:
    synthetic = real.copy()
    synthetic["label"] = synthetic["label"].to_numpy()[np.random.default_rng(3).permutation(len(real))]
    result = ml_efficacy(real, synthetic, holdout, schema, "label", seed=0)
    # A model fitted on noise scores chance give or take its overfitting (about ±0.05 on 600 rows).
    assert abs(result.synthetic_roc_auc - 0.5) < 0.15
    assert result.synthetic_roc_auc_ci[1] < result.real_roc_auc_ci[0]
    assert result.ratio < 0.7
    assert result.ratio_ci[1] < 0.8  # the whole interval is well below 1
    assert result.synthetic_f1_macro < result.real_f1_macro
    assert_intervals_bracket(result)


def test_regression_target(real, holdout, schema) -> None:
    same = ml_efficacy(real, real.copy(), holdout, schema, "amount", seed=0)
    assert same.task == "regression" and same.headline_metric == "r2" and same.n_classes is None
    assert same.real_r2 > 0.8 and same.ratio == pytest.approx(1.0)
    assert same.synthetic_roc_auc is None and same.synthetic_f1_macro is None
    assert_intervals_bracket(same)
    shuffled = real.copy()
    shuffled["amount"] = shuffled["amount"].to_numpy()[np.random.default_rng(4).permutation(len(real))]
    lost = ml_efficacy(real, shuffled, holdout, schema, "amount", seed=0)
    assert lost.synthetic_r2 < 0.1 and lost.ratio < 0.15
    assert_intervals_bracket(lost)


def test_single_class_synthetic_target_predicts_constant(real, holdout, schema) -> None:
    synthetic = real.copy()
    synthetic["label"] = "no"
    result = ml_efficacy(real, synthetic, holdout, schema, "label", seed=0)
    assert result.synthetic_roc_auc == 0.5
    assert result.synthetic_roc_auc_ci == (0.5, 0.5)
    assert result.ratio == pytest.approx(0.5 / result.real_roc_auc)
    assert any("single class" in note for note in result.notes)
    assert_intervals_bracket(result)


def make_bands(n: int = 600, seed: int = 5) -> pd.DataFrame:
    """A three-class target that one number predicts, and a number nothing predicts."""
    rng = np.random.default_rng(seed)
    band = rng.integers(0, 3, n)
    table = pd.DataFrame({"x": band + 0.6 * rng.normal(size=n), "noise": rng.normal(size=n)})
    table["band"] = np.array(["low", "mid", "high"])[band]
    return table


def test_multiclass_target() -> None:
    table, holdout = make_bands(seed=5), make_bands(n=300, seed=6)
    result = ml_efficacy(table, table.copy(), holdout, infer_schema(table), "band", seed=0)
    assert result.task == "multiclass" and result.n_classes == 3
    assert result.real_roc_auc > 0.8 and result.ratio == pytest.approx(1.0)
    # A synthetic table that lacks one class still scores, and says so.
    partial = table[table["band"] != "high"]
    lacking = ml_efficacy(table, partial, holdout, infer_schema(table), "band", seed=0)
    assert any("lacks 1 of the 3" in note for note in lacking.notes)
    assert lacking.synthetic_roc_auc < result.synthetic_roc_auc
    assert_intervals_bracket(lacking)
    # A numerical target nothing predicts: the real R² is about 0 or below, and no ratio is given.
    noise = ml_efficacy(table, table.copy(), holdout, infer_schema(table), "noise", seed=0)
    assert noise.real_r2 < 0.05 and noise.ratio is None and noise.ratio_ci is None
    assert any("no ratio" in note for note in noise.notes)


def test_missing_targets_and_unknown_classes_are_left_out(real, holdout, schema) -> None:
    train = real.copy()
    train.loc[:9, "label"] = None
    test = holdout.copy()
    test.loc[:4, "label"] = "maybe"  # a class the train rows never show
    synthetic = real.copy()
    synthetic.loc[:2, "label"] = "other"
    result = ml_efficacy(train, synthetic, test, schema, "label", seed=0)
    assert result.rows_train_real == 590 and result.rows_holdout == 595 and result.rows_synthetic == 597
    assert "10 real train rows without a target value were left out" in result.notes
    assert "5 holdout rows of classes absent from the real train rows were left out" in result.notes
    assert "3 synthetic rows of classes absent from the real train rows were left out" in result.notes
    # Notes carry counts, never the values.
    assert not any(word in note for note in result.notes for word in ("maybe", "other", "yes"))


def test_max_rows_subsamples_with_the_seed(real, holdout, schema) -> None:
    first = ml_efficacy(
        real, make_table(seed=2), holdout, schema, "label", seed=0, max_rows=300, n_bootstrap=50
    )
    again = ml_efficacy(
        real, make_table(seed=2), holdout, schema, "label", seed=0, max_rows=300, n_bootstrap=50
    )
    assert (first.rows_train_real, first.rows_synthetic, first.rows_holdout) == (300, 300, 300)
    assert first.model_dump(exclude={"seconds"}) == again.model_dump(exclude={"seconds"})


def test_result_is_plain_json(identical: EfficacyResult) -> None:
    data = json.loads(identical.model_dump_json())
    assert data["ratio"] == pytest.approx(1.0)
    assert isinstance(data["synthetic_roc_auc_ci"], list) and data["seconds"] >= 0
    assert all(not isinstance(v, float) or math.isfinite(v) for v in data.values())
    assert EfficacyResult.model_validate(data) == identical


def test_bad_targets_are_data_errors(real, holdout, schema) -> None:
    with pytest.raises(DataError, match="not a modelled column"):
        ml_efficacy(real, real, holdout, schema, "nope", seed=0)
    one_class = real.assign(label="no")
    with pytest.raises(DataError, match="fewer than two classes"):
        ml_efficacy(one_class, real, holdout, schema, "label", seed=0)
    with pytest.raises(DataError, match="no synthetic row"):
        ml_efficacy(real, real.assign(label=None), holdout, schema, "label", seed=0)
    with pytest.raises(DataError, match="holdout"):
        ml_efficacy(real, real, holdout.drop(columns="x1"), schema, "label", seed=0)


def test_weighted_scores_match_sklearn_on_resamples() -> None:
    from sklearn.metrics import f1_score, roc_auc_score

    rng = np.random.default_rng(6)
    n = 400
    truth = rng.integers(0, 3, n)
    scores = np.round(rng.random(n) + 0.3 * (truth == 1), 2)  # rounding makes ties
    predicted = np.where(rng.random(n) < 0.6, truth, rng.integers(0, 3, n))
    index = rng.integers(0, n, size=(4, n))
    weights = np.stack([np.bincount(row, minlength=n) for row in index]).astype(float)
    assert weighted_roc_auc(weights, truth == 1, scores) == pytest.approx(
        [roc_auc_score(truth[row] == 1, scores[row]) for row in index]
    )
    assert weighted_macro_f1(weights, truth, predicted, 3) == pytest.approx(
        [f1_score(truth[row], predicted[row], average="macro") for row in index]
    )
