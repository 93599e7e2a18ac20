"""The schema of a DP run: from declarations, dtypes and names, never from the values."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
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
    # A table built in Python: its dtypes are its schema. An int or bool column cannot hold a
    # null, so it is not nullable; the others may be, whether or not any value is missing.
    nullable = {c.name: c.nullable for c in schema.columns}
    assert nullable == {
        "visit_id": False,
        "age": False,
        "income": True,
        "city": True,
        "smoker": False,
        "admitted": True,
    }


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


# -- nullability from the input's schema, never from its values (issue 17, must-have 2) ------


def _read(path: Path) -> pd.DataFrame:
    from synthpriv.data.io import read_table

    return read_table(path)


def test_a_parquet_fields_declared_nullability_is_public(tmp_path: Path) -> None:
    schema = pa.schema(
        [
            pa.field("count", pa.int64(), nullable=False),
            pa.field("score", pa.float64(), nullable=False),
            pa.field("label", pa.string(), nullable=False),
            pa.field("age", pa.int64()),  # nullable in the file's schema, though no value is missing
            pa.field("city", pa.string()),
        ]
    )
    rows = 30
    table = pa.table(
        {
            "count": list(range(rows)),
            "score": [i / 3 for i in range(rows)],
            "label": ["x", "y"] * (rows // 2),
            "age": [20 + i for i in range(rows)],
            "city": ["a", None, "b"] * (rows // 3),
        },
        schema=schema,
    )
    pq.write_table(table, tmp_path / "t.parquet")
    frame = _read(tmp_path / "t.parquet")
    assert str(frame["age"].dtype) == "int64"  # pandas views it as int64: no value is missing...
    public = public_schema(frame)
    assert {c.name: c.nullable for c in public.columns} == {
        "count": False,
        "score": False,
        "label": False,
        "age": True,  # ...but the file says it may hold nulls, and the dtype is not public
        "city": True,
    }


def test_a_csv_declares_nothing_so_every_column_may_be_null(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"n": range(30), "flag": [True, False] * 15, "word": ["a", "b", "c"] * 10}).to_csv(
        path, index=False
    )
    frame = _read(path)
    assert str(frame["n"].dtype) == "int64" and str(frame["flag"].dtype) == "bool"
    assert all(c.nullable for c in public_schema(frame).columns)
    declared = public_schema(
        frame, {"n": ColumnDeclaration(kind="numerical", bounds=(0, 99), nullable=False)}
    )
    assert declared["n"].nullable is False and declared["flag"].nullable


def test_a_missing_cell_in_a_csv_changes_no_public_fact(tmp_path: Path) -> None:
    """Neighbouring CSVs, one with an empty cell in an integer column: pandas reads it as float64
    there and int64 here, but the public schema (kind, integer, nullability, Arrow type) is one."""
    full = pd.DataFrame({"n": range(1, 31), "word": ["a", "b", "c"] * 10})
    holey = full.astype({"n": "Int64"})
    holey.loc[4, "n"] = pd.NA
    full.to_csv(tmp_path / "full.csv", index=False)
    holey.to_csv(tmp_path / "holey.csv", index=False)
    frames = [_read(tmp_path / "full.csv"), _read(tmp_path / "holey.csv")]
    assert [str(f["n"].dtype) for f in frames] == ["int64", "float64"]
    specs = [public_schema(f)["n"] for f in frames]
    facts = [(s.kind, s.integer, s.nullable, s.arrow_type) for s in specs]
    assert facts[0] == facts[1] == (ColumnKind.NUMERICAL, True, True, "int64")


def test_declared_categories_are_a_complete_domain_unless_declared_nullable() -> None:
    table = mixed_table(np.random.default_rng(1), 30)
    schema = public_schema(
        table,
        {
            "city": ColumnDeclaration(kind="categorical", categories=["a", "b", "c"]),
            "income": ColumnDeclaration(kind="numerical", bounds=(0, 5e4)),
        },
    )
    assert schema["city"].nullable is False  # a declared domain is complete: no null in it
    assert schema["income"].nullable is True  # declared bounds say nothing about nulls
    with_nulls = public_schema(
        table, {"city": ColumnDeclaration(kind="categorical", categories=["a", "b", "c"], nullable=True)}
    )
    assert with_nulls["city"].nullable is True
