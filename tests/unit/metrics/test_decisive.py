"""A target that one feature alone decides is flagged, and efficacy is given without it (issue 19)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synthpriv.data.io import read_table
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.metrics.decisive import DECISIVE_AUC, decisive_features
from synthpriv.metrics.efficacy import ml_efficacy


@pytest.fixture(scope="module")
def demo() -> tuple[pd.DataFrame, pd.DataFrame, TableSchema]:
    table = read_table("builtin:student_placements")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(table)
    order = np.random.default_rng(0).permutation(len(table))
    return table.iloc[order[:172]], table.iloc[order[172:]], schema


def test_placed_is_decided_by_the_salary_and_the_job_dates(demo) -> None:  # type: ignore[no-untyped-def]
    train, holdout, schema = demo
    result = ml_efficacy(train, train, holdout, schema, "placed", seed=0, n_bootstrap=10)
    assert set(result.decisive_features) == {"salary", "start_date", "end_date", "duration"}
    assert result.decisive_feature_auc is not None and result.decisive_feature_auc >= DECISIVE_AUC
    # Without them the task is a real one: below the trivial 1.0 of the headline.
    assert result.real_roc_auc == 1.0
    assert result.real_roc_auc_without_decisive is not None and result.real_roc_auc_without_decisive < 0.99
    assert any("alone predict the target" in note for note in result.notes)


def test_a_target_no_feature_decides_is_not_flagged(demo) -> None:  # type: ignore[no-untyped-def]
    train, holdout, schema = demo
    result = ml_efficacy(train, train, holdout, schema, "gender", seed=0, n_bootstrap=10)
    assert result.decisive_features == [] and result.synthetic_roc_auc_without_decisive is None


def test_a_copy_of_the_target_is_decisive_and_noise_is_not() -> None:
    rng = np.random.default_rng(1)
    target = rng.random(400) < 0.3
    frame = pd.DataFrame(
        {
            "copy": pd.Categorical(np.where(target, "yes", "no")),
            "noise": rng.normal(size=400),
            "weak": target + rng.normal(scale=2.0, size=400),
        }
    )
    found = decisive_features(frame.iloc[:300], target[:300], frame.iloc[300:], target[300:])
    assert [name for name, _ in found] == ["copy"]
    assert decisive_features(frame.iloc[:300], target[:300], frame.iloc[300:], np.zeros(100, bool)) == []
