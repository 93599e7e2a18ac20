"""Schema inference: kinds, overrides, drops and the errors that name a column."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, infer_schema
from synthpriv.errors import DataError


def quiet_schema(table: pd.DataFrame, **kwargs: object) -> TableSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return infer_schema(table, **kwargs)  # type: ignore[arg-type]


# -- the sdmetrics demo table ------------------------------------------------------------


def test_student_placements_kinds(students: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match="student_id"):
        schema = infer_schema(students)
    assert schema.names == list(students.columns)
    assert schema["student_id"].kind is ColumnKind.ID
    assert schema["student_id"].integer  # ids are regenerated as numbers, not strings
    assert schema["gender"].kind is ColumnKind.CATEGORICAL
    assert schema["work_experience"].kind is ColumnKind.BOOLEAN
    assert schema["placed"].kind is ColumnKind.BOOLEAN
    for name in ("start_date", "end_date"):
        assert schema[name].kind is ColumnKind.DATETIME
        assert schema[name].datetime_format == "%Y-%m-%d"
        assert schema[name].nullable
    salary = schema["salary"]
    assert (salary.kind, salary.nullable, salary.integer, salary.dtype) == (
        ColumnKind.NUMERICAL,
        True,
        True,
        "float64",
    )
    assert schema["experience_years"].integer
    assert not schema["second_perc"].integer
    assert [c.name for c in schema.modelled()] == [n for n in students.columns if n != "student_id"]


def test_student_placements_sdmetrics_metadata(students: pd.DataFrame) -> None:
    metadata = quiet_schema(students).to_sdmetrics_metadata()
    columns = metadata["columns"]
    assert isinstance(columns, dict)
    assert "student_id" not in columns
    assert columns["start_date"] == {"sdtype": "datetime", "datetime_format": "%Y-%m-%d"}
    assert columns["salary"] == {"sdtype": "numerical"}
    assert columns["work_experience"] == {"sdtype": "boolean"}
    assert columns["gender"] == {"sdtype": "categorical"}


def test_schema_survives_json(students: pd.DataFrame) -> None:
    schema = quiet_schema(students, drop=["duration"])
    restored = TableSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert restored == schema
    assert restored.dropped == ("duration",)
    assert "duration" not in restored


# -- Adult --------------------------------------------------------------------------------


def test_adult_kinds(adult: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no column may look like an id
        schema = infer_schema(adult)
    assert not [c.name for c in schema.columns if c.kind is ColumnKind.ID]
    age = schema["age"]
    assert (age.kind, age.integer, age.nullable) == (ColumnKind.NUMERICAL, True, False)
    assert schema["income"].kind is ColumnKind.CATEGORICAL
    fnlwgt = schema["fnlwgt"]  # numeric and nearly unique, but not named like an id
    assert (fnlwgt.kind, fnlwgt.integer) == (ColumnKind.NUMERICAL, True)
    assert schema["workclass"].kind is ColumnKind.CATEGORICAL and schema["workclass"].nullable
    assert schema["education_num"].kind is ColumnKind.NUMERICAL


def test_adult_override_education_num_to_categorical(adult: pd.DataFrame) -> None:
    schema = infer_schema(adult, overrides={"education_num": ColumnKind.CATEGORICAL})
    spec = schema["education_num"]
    assert (spec.kind, spec.integer, spec.dtype) == (ColumnKind.CATEGORICAL, False, "int64")
    # the pipeline file's strings are accepted as kinds too
    assert infer_schema(adult, overrides={"education_num": "categorical"})["education_num"] == spec  # type: ignore[dict-item]


# -- overrides and drops ------------------------------------------------------------------


def small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["ann", "bob", "cy", "bob"],
            "amount": ["1", "2", "3", None],
            "price": ["1.5", "2", "x", "4"],
            "score": [1, 2, 3, 4],
            "when": ["2020-01-01", "2020-02-01", None, "2021-12-31"],
        }
    )


def test_string_column_to_numerical_fails_naming_the_column() -> None:
    with pytest.raises(DataError, match="'price'") as caught:
        infer_schema(small(), overrides={"price": ColumnKind.NUMERICAL})
    assert "numer" in str(caught.value)
    with pytest.raises(DataError, match="'name'"):
        infer_schema(small(), overrides={"name": "numerical"})  # type: ignore[dict-item]


def test_numeric_strings_to_numerical() -> None:
    spec = infer_schema(small(), overrides={"amount": ColumnKind.NUMERICAL})["amount"]
    assert (spec.kind, spec.integer, spec.nullable, spec.dtype) == (
        ColumnKind.NUMERICAL,
        True,
        True,
        "object",
    )


@pytest.mark.parametrize("argument", ["overrides", "drop"])
def test_unknown_column_fails_naming_it(argument: str) -> None:
    kwargs = (
        {"overrides": {"nope_col": ColumnKind.NUMERICAL}}
        if argument == "overrides"
        else {"drop": ["nope_col"]}
    )
    with pytest.raises(DataError, match="nope_col") as caught:
        infer_schema(small(), **kwargs)  # type: ignore[arg-type]
    assert caught.value.where == "column 'nope_col'"


def test_unknown_kind_fails_naming_the_column() -> None:
    with pytest.raises(DataError, match="'score'.*unknown column kind 'money'"):
        infer_schema(small(), overrides={"score": "money"})  # type: ignore[dict-item]


def test_duplicate_column_names_fail() -> None:
    table = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(DataError, match="duplicate column names.*'a'"):
        infer_schema(table)


def test_non_string_column_names_fail() -> None:
    with pytest.raises(DataError, match="not a string"):
        infer_schema(pd.DataFrame(np.zeros((3, 2))))


def test_drop_leaves_the_column_out() -> None:
    schema = infer_schema(small(), drop=["price", "name"])
    assert schema.names == ["amount", "score", "when"]
    assert schema.dropped == ("price", "name")


def test_nothing_left_to_learn_fails() -> None:
    table = pd.DataFrame({"row_id": range(30)})
    with pytest.raises(DataError, match="no column left"):
        quiet_schema(table)


def test_override_to_datetime() -> None:
    schema = infer_schema(small(), overrides={"when": ColumnKind.DATETIME})
    assert schema["when"].datetime_format == "%Y-%m-%d"
    with pytest.raises(DataError, match="'name'.*datetime"):
        infer_schema(small(), overrides={"name": ColumnKind.DATETIME})


def test_override_away_from_datetime_forgets_the_format() -> None:
    spec = infer_schema(small(), overrides={"when": ColumnKind.CATEGORICAL})["when"]
    assert (spec.kind, spec.datetime_format) == (ColumnKind.CATEGORICAL, None)


def test_override_to_id_keeps_integer_for_numbers_only() -> None:
    schema = infer_schema(small(), overrides={"score": ColumnKind.ID, "name": ColumnKind.ID})
    assert schema["score"].integer  # regenerated as numbers
    assert not schema["name"].integer  # regenerated as strings


# -- inference details --------------------------------------------------------------------


def test_kinds_from_dtypes() -> None:
    n = 25
    table = pd.DataFrame(
        {
            "flag": [True, False] * 12 + [True],
            "maybe": pd.Series([True, None, False] * 8 + [None], dtype=object),
            "nflag": pd.Series([True, None] * 12 + [False], dtype="boolean"),
            "whole": [float(i % 5) for i in range(n)],
            "frac": [i / 3 for i in range(n)],
            "count": pd.Series([1, None] * 12 + [3], dtype="Int64"),
            "stamp": pd.date_range("2020-01-01", periods=n, freq="h"),
            "text_unique": [f"t{i}" for i in range(n)],
            "user_id": range(n),
            "paid": range(n),  # unique integers, but not named like an id
            "when": [f"2020-01-{i + 1:02d} 10:00:00" for i in range(n)],
        }
    )
    schema = quiet_schema(table)
    assert schema["flag"].kind is ColumnKind.BOOLEAN
    assert schema["maybe"].kind is ColumnKind.BOOLEAN and schema["maybe"].nullable
    assert schema["nflag"].kind is ColumnKind.BOOLEAN
    assert schema["whole"].integer and not schema["frac"].integer
    assert schema["count"].integer and schema["count"].nullable
    assert (schema["stamp"].kind, schema["stamp"].datetime_format) == (ColumnKind.DATETIME, None)
    assert schema["text_unique"].kind is ColumnKind.ID  # every value unique
    assert schema["user_id"].kind is ColumnKind.ID
    assert schema["paid"].kind is ColumnKind.NUMERICAL
    assert schema["when"].datetime_format == "%Y-%m-%d %H:%M:%S"


def test_few_unique_strings_are_categories() -> None:
    table = pd.DataFrame({"code": [f"c{i}" for i in range(19)]})
    assert quiet_schema(table)["code"].kind is ColumnKind.CATEGORICAL  # too few rows to call it an id


def test_a_late_value_in_another_format_is_not_a_datetime() -> None:
    dates = pd.date_range("2000-01-01", periods=700, freq="D").strftime("%Y-%m-%d").tolist()
    table = pd.DataFrame({"day": [*dates, "2001/12/01"] * 2})
    spec = quiet_schema(table)["day"]
    # the odd value comes after the 500-value sample: it must not silently become a null
    assert spec.datetime_format != "%Y-%m-%d"


def test_column_spec_json_round_trip() -> None:
    spec = ColumnSpec("x", ColumnKind.DATETIME, "object", True, datetime_format="%Y-%m-%d")
    assert ColumnSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_overrides_may_be_column_declarations() -> None:
    from synthpriv.config.model import ColumnDeclaration

    declared = {
        "score": ColumnDeclaration(kind=ColumnKind.NUMERICAL, bounds=(0, 100)),
        "name": ColumnDeclaration(kind=ColumnKind.CATEGORICAL, categories=["a", "b"]),
    }
    schema = quiet_schema(small(), overrides=declared)
    assert schema["score"].kind is ColumnKind.NUMERICAL
    assert schema["name"].kind is ColumnKind.CATEGORICAL
    assert schema == quiet_schema(small(), overrides={"score": "numerical", "name": "categorical"})


def test_a_column_declared_datetime_keeps_its_time_step() -> None:
    text_dates = pd.DataFrame({"day": ["2020-01-01", "2020-02-03", None, "2021-05-05"], "x": [1, 2, 3, 4]})
    assert infer_schema(text_dates, {"day": "datetime"})["day"].time_step == 86_400
    stamps = pd.DataFrame({"at": pd.to_datetime(["2020-01-01 10:00", "2020-01-01 11:30"]), "x": [1, 2]})
    assert infer_schema(stamps, {"at": "datetime"})["at"].time_step == 60  # whole minutes
