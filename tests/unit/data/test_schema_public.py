"""The schema of a DP run: from declarations, dtypes and names, never from the values."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthpriv.config.model import ColumnDeclaration
from synthpriv.data.schema import ColumnKind, TableSchema, infer_schema
from synthpriv.errors import DataError


def public_schema(table: pd.DataFrame, overrides: dict[str, object] | None = None) -> TableSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return infer_schema(table, overrides, public_only=True)  # type: ignore[arg-type]


def mixed_table(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "visit_id": np.arange(rows),
            "age": rng.integers(18, 90, rows),
            "income": rng.integers(0, 50, rows).astype(float) * 1000.0,  # whole numbers in a float column
            "city": rng.choice(["a", "b", "c"], rows),
            "smoker": rng.random(rows) < 0.3,
            "admitted": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, rows), unit="D"),
        }
    )


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(2, 60), dropped=st.integers(0, 59))
def test_neighbouring_tables_get_the_same_public_schema(seed: int, rows: int, dropped: int) -> None:
    """Removing a row, or changing every value (same dtypes), changes nothing in the schema:
    so the schema reveals nothing about any row."""
    rng = np.random.default_rng(seed)
    table = mixed_table(rng, rows)
    neighbour = table.drop(index=dropped % rows).reset_index(drop=True)
    unrelated = mixed_table(np.random.default_rng(seed + 1), rows)
    unrelated.loc[0, "income"] = 0.5  # no longer whole: infer_schema would drop the integer flag
    unrelated["visit_id"] = 7  # no longer unique
    reference = public_schema(table)
    assert public_schema(neighbour) == reference
    assert public_schema(unrelated) == reference


def test_kinds_come_from_dtypes_and_names() -> None:
    schema = public_schema(mixed_table(np.random.default_rng(0), 40))
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {
        "visit_id": ColumnKind.ID,
        "age": ColumnKind.NUMERICAL,
        "income": ColumnKind.NUMERICAL,
        "city": ColumnKind.CATEGORICAL,
        "smoker": ColumnKind.BOOLEAN,
        "admitted": ColumnKind.DATETIME,
    }
    assert schema["age"].integer  # an integer dtype is public structure
    assert not schema["income"].integer  # whole values in a float column are a fact about the rows
    assert all(c.nullable for c in schema.columns)  # whether nulls occur is not public


def test_the_value_reading_inference_differs() -> None:
    """What public_only stops: the ordinary inference reads integer-ness off the values."""
    table = mixed_table(np.random.default_rng(0), 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ordinary = infer_schema(table)
    assert ordinary["income"].integer
    assert not ordinary["age"].nullable


def test_declarations_decide_kind_and_nullability() -> None:
    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        {
            "code": rng.choice(["1", "2", "3"], 50),
            "visit": pd.Series(pd.date_range("2021-01-01", periods=50, freq="D").strftime("%Y-%m-%d")),
            "score": rng.normal(size=50),
            "grade": rng.integers(1, 6, 50),
        }
    )
    overrides = {
        "code": ColumnDeclaration(kind="numerical", bounds=(1, 3)),
        "visit": ColumnDeclaration(kind="datetime", bounds=("2021-01-01", "2021-12-31")),
        "score": ColumnDeclaration(kind="numerical", bounds=(-5, 5), nullable=False),
        "grade": ColumnDeclaration(kind="categorical", categories=["1", "2", "3", "4", "5"]),
    }
    schema = public_schema(table, overrides)
    assert schema["code"].kind is ColumnKind.NUMERICAL and not schema["code"].integer
    assert schema["visit"].kind is ColumnKind.DATETIME and schema["visit"].datetime_format == "%Y-%m-%d"
    assert schema["score"].nullable is False and schema["code"].nullable is True
    assert schema["grade"].kind is ColumnKind.CATEGORICAL


def test_text_dates_stay_categorical_unless_declared() -> None:
    table = pd.DataFrame({"day": ["2021-01-01", "2021-01-02"] * 20, "x": np.arange(40.0)})
    assert public_schema(table)["day"].kind is ColumnKind.CATEGORICAL


@pytest.mark.parametrize(
    ("values", "declaration", "message"),
    [
        (["1", "x"] * 10, ColumnDeclaration(kind="numerical", bounds=(0, 1)), "non-numeric"),
        (
            ["soon", "later"] * 10,
            ColumnDeclaration(kind="datetime", bounds=("2020-01-01", "2021-01-01")),
            "parse as dates",
        ),
    ],
)
def test_a_wrong_declaration_is_refused(
    values: list[str], declaration: ColumnDeclaration, message: str
) -> None:
    table = pd.DataFrame({"c": values, "x": np.arange(len(values), dtype=float)})
    with pytest.raises(DataError, match=message):
        public_schema(table, {"c": declaration})
