"""The autoencoder outlier scorer (issue 19, must-have 5): planted anomalies rank on top, the
column that makes a row odd carries its error, the same seed gives the same scores, and the
caller's torch state is left alone. Small tables and few networks keep each fit under a second."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from synthpriv.data.io import read_table
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, infer_schema
from synthpriv.errors import DataError
from synthpriv.metrics.outliers import PATTERN_NAME, AutoencoderSettings, OutlierScorer

FAST = AutoencoderSettings(models=1, epochs=40)


def people(n: int, seed: int) -> pd.DataFrame:
    """Rows whose columns depend on each other: income and hours follow the level, job mostly too."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 4, n)
    jobs = np.array(["clerk", "manager", "engineer", "nurse"])
    return pd.DataFrame(
        {
            "age": np.clip(rng.normal(30 + 8 * level, 5, n), 18, 90).round(),
            "income": np.exp(rng.normal(10 + 0.4 * level, 0.2, n)).round(2),
            "hours": np.clip(rng.normal(30 + 4 * level, 3, n), 1, 80).round(),
            "level": np.array(["none", "school", "college", "degree"])[level],
            "job": np.where(rng.random(n) < 0.9, jobs[level], rng.choice(jobs, n)),
        }
    )


def schema_of(table: pd.DataFrame) -> TableSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return infer_schema(table)


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, np.ndarray]:
    """600 people, 10 of whom break every dependency: a young 'none' with a degree-level income,
    hours and job of another level."""
    table = people(600, seed=0)
    at = np.random.default_rng(1).choice(len(table), 10, replace=False)
    table.loc[at, ["age", "level", "job"]] = [19.0, "none", "engineer"]
    table.loc[at, "income"] = np.exp(11.3)
    table.loc[at, "hours"] = 44.0
    return table, at


def test_rows_that_break_the_tables_dependencies_rank_on_top(planted) -> None:  # type: ignore[no-untyped-def]
    table, at = planted
    scores = OutlierScorer(schema_of(table), seed=0, settings=FAST).fit(table).score(table)
    assert scores.scores.shape == (len(table),) and np.isfinite(scores.scores).all()
    # A typical fitted row scores about 1: the errors are relative to each column's mean.
    assert 0.3 < np.median(scores.scores) < 1.5
    top = set(scores.most_outlying(30).tolist())  # the top 5 %
    assert len(top & set(at.tolist())) >= 8, sorted(np.argsort(np.argsort(-scores.scores))[at])


def test_the_column_that_makes_a_row_odd_carries_its_error() -> None:
    table = people(600, seed=2)
    odd = np.arange(0, 600, 60)  # 10 rows whose hours belong to no level
    table.loc[odd, "hours"] = 75.0
    scores = OutlierScorer(schema_of(table), seed=0, settings=FAST).fit(table).score(table)
    shares = scores.column_shares(odd)
    assert max(shares, key=lambda c: shares[c]) == "hours", shares
    everyone = scores.column_shares()
    assert sum(everyone.values()) == pytest.approx(1.0)
    assert set(everyone) == {"age", "income", "hours", "level", "job"}


def test_unseen_rows_are_scored_on_the_fitted_scale(planted) -> None:  # type: ignore[no-untyped-def]
    table, _ = planted
    others = people(300, seed=5)
    scorer = OutlierScorer(schema_of(table), seed=0, settings=FAST).fit(table)
    fitted, unseen = np.median(scorer.score(table).scores), np.median(scorer.score(others).scores)
    # Rows from the same population score alike whether the networks saw them or not.
    assert unseen == pytest.approx(fitted, rel=0.5)


def test_same_seed_same_scores_and_the_callers_torch_state_is_left_alone(planted) -> None:  # type: ignore[no-untyped-def]
    table, _ = planted
    schema = schema_of(table)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = OutlierScorer(schema, seed=7, settings=FAST).fit(table).score(table).scores
    assert torch.equal(torch.rand(3), expected_next)
    again = OutlierScorer(schema, seed=7, settings=FAST).fit(table).score(table).scores
    other = OutlierScorer(schema, seed=8, settings=FAST).fit(table).score(table).scores
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_several_networks_are_averaged(planted) -> None:  # type: ignore[no-untyped-def]
    table, _ = planted
    settings = AutoencoderSettings(models=2, epochs=5)
    scorer = OutlierScorer(schema_of(table), seed=0, settings=settings).fit(table)
    assert len(scorer.histories) == 2 and all(len(h) == 5 for h in scorer.histories)
    # Each network's loss falls as it trains.
    assert all(h[-1]["loss"] < h[0]["loss"] for h in scorer.histories)


def test_missing_patterns_and_dates_are_scored() -> None:
    demo = read_table("builtin:student_placements")
    scorer = OutlierScorer(schema_of(demo), seed=0, settings=AutoencoderSettings(models=1, epochs=20))
    scores = scorer.fit(demo).score(demo)
    # salary, start_date, end_date and duration are missing together: one pattern column.
    assert PATTERN_NAME in scores.columns and "start_date" in scores.columns
    assert "student_id" not in scores.columns  # an id is not learned, so not scored
    assert np.isfinite(scores.scores).all()


def test_epochs_follow_the_rows() -> None:
    settings = AutoencoderSettings()
    assert settings.epochs_for(100) == 100  # one batch an epoch: the most epochs
    assert settings.epochs_for(32_561) == 5  # 128 batches: 640 steps
    assert settings.epochs_for(10_000_000) == 3
    assert AutoencoderSettings(epochs=7).epochs_for(100) == 7


def test_refusals(planted) -> None:  # type: ignore[no-untyped-def]
    table, _ = planted
    schema = schema_of(table)
    with pytest.raises(DataError, match="at least one row"):
        OutlierScorer(schema, seed=0).fit(table.iloc[:0])
    with pytest.raises(ValueError, match="fit the scorer"):
        OutlierScorer(schema, seed=0).score(table)
    only_ids = TableSchema((ColumnSpec("customer_id", ColumnKind.ID, "int64", nullable=False),))
    with pytest.raises(DataError, match="at least one column"):
        OutlierScorer(only_ids, seed=0)
    with pytest.raises(ValueError, match="at least one network"):
        OutlierScorer(schema, seed=0, settings=AutoencoderSettings(models=0))
