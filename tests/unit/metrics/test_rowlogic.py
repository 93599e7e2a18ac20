"""The row-logic measure (issue 19, must-have 1): rules broken, unseen missing patterns and values
outside the real form, on the demo table with planted faults, beside the holdout."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synthpriv.data.io import read_table
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.errors import DataError
from synthpriv.metrics.rowlogic import RowLogicResult, row_logic

JOB = ["salary", "start_date", "end_date", "duration"]


@pytest.fixture(scope="module")
def parts() -> tuple[pd.DataFrame, pd.DataFrame, TableSchema]:
    """The demo table's rows in a fixed shuffle: 175 train rows (53 not placed), the other 40 the holdout."""
    table = read_table("builtin:student_placements")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # student_id looks like an identifier
        schema = infer_schema(table)
    order = np.random.default_rng(7).permutation(len(table))
    return (
        table.iloc[order[:175]].reset_index(drop=True),
        table.iloc[order[175:]].reset_index(drop=True),
        schema,
    )


def test_real_rows_break_nothing(parts: tuple[pd.DataFrame, pd.DataFrame, TableSchema]) -> None:
    train, holdout, schema = parts
    result = row_logic(train, train, schema, holdout=holdout, min_count=5)
    assert result.rules and result.worst_rule_share == 0.0
    assert result.unseen_pattern_share == 0.0 and result.form_share == 0.0
    assert result.holdout_worst_rule_share == 0.0 and result.holdout_unseen_pattern_share == 0.0
    assert {f.column: f.form for f in result.forms} == {
        "high_perc": "2 decimals",
        "experience_years": "one of 4 values",
        "salary": "whole numbers",
        "start_date": "whole days",
        "end_date": "whole days",
        "duration": "one of 3 values",
    }


def _planted(train: pd.DataFrame) -> pd.DataFrame:
    """A "synthetic" table: the train rows with 4 salaries for students not placed, 2 placed
    students with no end date only, 5 off-grid percentages and 3 durations of 4 months."""
    synthetic = train.copy()
    unplaced = synthetic.index[~synthetic["placed"].to_numpy()]
    placed = synthetic.index[synthetic["placed"].to_numpy()]
    synthetic.loc[unplaced[:4], "salary"] = 300_000.0
    synthetic.loc[placed[:2], "end_date"] = pd.NaT
    synthetic.loc[synthetic.index[:5], "high_perc"] += 0.004
    synthetic.loc[placed[10:13], "duration"] = 4.0
    return synthetic


def test_planted_faults_are_counted(parts: tuple[pd.DataFrame, pd.DataFrame, TableSchema]) -> None:
    train, holdout, schema = parts
    synthetic = _planted(train)
    result = row_logic(train, synthetic, schema, holdout=holdout, min_count=5)
    n = len(synthetic)
    shares = {r.rule: r.synthetic_share for r in result.rules}
    job = ", ".join(JOB)
    assert shares[f"placed = False ⇒ {job} missing"] == pytest.approx(4 / n)
    assert shares[f"placed = True ⇒ {job} present"] == pytest.approx(2 / n)
    assert shares[f"{job}: missing together or present together"] == pytest.approx(6 / n)
    assert result.worst_rule_share == max(shares.values())
    assert [r.synthetic_share for r in result.rules] == sorted(shares.values(), reverse=True)
    assert all(r.holdout_share is not None for r in result.rules)
    # 4 rows with only a salary and 2 with all but an end date: patterns no real row has.
    assert result.unseen_pattern_share == pytest.approx(6 / n)
    forms = {f.column: f.synthetic_share for f in result.forms}
    assert forms["high_perc"] == pytest.approx(5 / n)
    present = int(synthetic["duration"].notna().sum())
    assert forms["duration"] == pytest.approx(3 / present)
    assert forms["salary"] == 0.0 and forms["start_date"] == 0.0
    checked = sum(int(synthetic[f.column].notna().sum()) for f in result.forms)
    assert result.form_share == pytest.approx(8 / checked)


def test_time_of_day_and_fractions_are_off_the_form(
    parts: tuple[pd.DataFrame, pd.DataFrame, TableSchema],
) -> None:
    train, _, schema = parts
    synthetic = train.copy()
    dated = synthetic.index[synthetic["start_date"].notna().to_numpy()][:3]
    synthetic.loc[dated, "start_date"] += pd.Timedelta(hours=5)
    synthetic.loc[dated[:1], "salary"] += 0.5
    result = row_logic(train, synthetic, schema, min_count=5)
    forms = {f.column: f for f in result.forms}
    present = int(synthetic["start_date"].notna().sum())
    assert forms["start_date"].synthetic_share == pytest.approx(3 / present)
    assert forms["salary"].synthetic_share == pytest.approx(1 / present)
    assert forms["start_date"].holdout_share is None and result.holdout_worst_rule_share is None


def test_result_round_trips_and_names_no_rare_value(
    parts: tuple[pd.DataFrame, pd.DataFrame, TableSchema],
) -> None:
    train, holdout, schema = parts
    result = row_logic(train, _planted(train), schema, holdout=holdout, min_count=5)
    assert RowLogicResult.model_validate_json(result.model_dump_json()) == result
    text = result.model_dump_json()
    for value, rows in train["experience_years"].value_counts().items():
        if rows < 50:  # a value few rows hold is not named (3 years: one student)
            assert f"experience_years = {float(value)}" not in text


def test_a_table_without_a_modelled_column_is_refused(
    parts: tuple[pd.DataFrame, pd.DataFrame, TableSchema],
) -> None:
    train, _, schema = parts
    with pytest.raises(DataError, match="salary"):
        row_logic(train, train.drop(columns="salary"), schema)
