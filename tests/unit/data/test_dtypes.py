"""The input's Arrow types and values survive (issue 15, must-haves 4, 5 and 9).

Unit level: Arrow type text, numbers fitted to their storage (no wrap-around near 2**64, a
decimal's scale and precision), datetimes in years 1 and 9999, what the schema refuses
(bytes, nested values, times of day) and what it writes back unlearned (all-null columns),
the input formats (compressed CSV, Parquet folders and their fingerprint), and `evaluate`'s
alignment refusing every value that does not convert exactly.
"""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthpriv.data.align import align_to_real
from synthpriv.data.dtypes import (
    cast_to_input_types,
    datetime_seconds,
    fit_to_storage,
    model_view,
    seconds_to_datetimes,
    type_from_text,
    type_to_text,
)
from synthpriv.data.io import fingerprint_source, read_table
from synthpriv.data.schema import ColumnSpec, TableSchema, infer_schema, unlearned_column
from synthpriv.errors import DataError

TYPES = [
    pa.int8(),
    pa.int64(),
    pa.uint8(),
    pa.uint64(),
    pa.float16(),
    pa.float32(),
    pa.float64(),
    pa.bool_(),
    pa.string(),
    pa.large_string(),
    pa.null(),
    pa.date32(),
    pa.date64(),
    pa.timestamp("s"),
    pa.timestamp("ns"),
    pa.timestamp("us", tz="UTC"),
    pa.timestamp("ms", tz="Europe/Paris"),
    pa.duration("s"),
    pa.duration("ns"),
    pa.decimal128(10, 2),
    pa.decimal128(38, 0),
    pa.decimal256(40, 4),
    pa.dictionary(pa.int32(), pa.string()),
    pa.dictionary(pa.int8(), pa.string(), ordered=True),
]


@pytest.mark.parametrize("arrow_type", TYPES, ids=str)
def test_type_text_round_trips(arrow_type: pa.DataType) -> None:
    assert type_from_text(type_to_text(arrow_type)) == arrow_type


def test_uint64_near_two_to_the_64_never_wraps() -> None:
    # float64 cannot hold 2**64 - 1: it rounds up to 2**64, which a cast to uint64 used to wrap to 0.
    numbers = np.array([2.0**64, 2.0**64 * 4, -5.0, np.nan, 1.5])
    fitted = fit_to_storage("uint64", "uint64", numbers)
    assert np.isnan(fitted[3])
    exact = fitted[~np.isnan(fitted)].astype(np.uint64)
    assert exact.min() == 0 and exact.max() >= 2**64 - 4096 and exact.max() <= 2**64 - 1
    assert fitted[4] == 2.0  # rounded to a whole number (half to even)
    table = cast_to_input_types(pa.table({"u": pa.array(fitted, from_pandas=True)}), {"u": "uint64"})
    assert table.schema.field("u").type == pa.uint64() and 0 not in table.column("u").to_pylist()[:2]


def test_int64_beyond_its_range_is_clipped_not_wrapped() -> None:
    fitted = fit_to_storage(None, "int64", np.array([1e30, -1e30]))
    assert fitted.astype(np.int64).tolist() == [2**63 - 1024, -(2**63)]


def test_decimal_keeps_its_scale_and_precision() -> None:
    numbers = np.array([1.005, 123.456, 1e12, -1e12, np.nan])
    fitted = fit_to_storage("decimal128(5, 2)", "float64", numbers)
    table = cast_to_input_types(
        pa.table({"d": pa.array(fitted, from_pandas=True)}), {"d": "decimal128(5, 2)"}
    )
    assert table.schema.field("d").type == pa.decimal128(5, 2)
    values = table.column("d").to_pylist()
    assert values[1] == decimal.Decimal("123.46") and values[2] == decimal.Decimal("999.99")
    assert values[3] == decimal.Decimal("-999.99") and values[4] is None


@pytest.mark.parametrize("year", [1, 1600, 2262, 9999])
def test_datetimes_outside_pandas_nanoseconds(year: int) -> None:
    stamps = pd.Series(pd.array([dt.datetime(year, 3, 4, 5, 6, 7), None], dtype="datetime64[us]"))
    seconds = datetime_seconds(stamps)
    assert np.isnan(seconds[1])
    back = seconds_to_datetimes(seconds, "datetime64[us]")
    assert str(back.dtype) == "datetime64[us]" and back.iloc[0] == stamps.iloc[0] and pd.isna(back.iloc[1])


def test_dates_come_back_without_a_time_of_day() -> None:
    seconds = np.array([0.0, 86_400 * 1.4, 86_400 * 10.6])  # a generator's output lies between days
    back = seconds_to_datetimes(seconds, "datetime64[ms]", arrow_type="date32[day]")
    assert (back == back.dt.normalize()).all()
    table = cast_to_input_types(pa.table({"d": pa.array(back)}), {"d": "date32[day]"})
    assert table.column("d").to_pylist() == [dt.date(1970, 1, 1), dt.date(1970, 1, 2), dt.date(1970, 1, 12)]


def test_a_value_that_does_not_fit_is_one_line_naming_the_column() -> None:
    with pytest.raises(DataError, match="do not fit the input's type int8") as error:
        cast_to_input_types(pa.table({"n": pa.array([1000])}), {"n": "int8"})
    assert error.value.where == "column 'n'" and "1000" not in str(error.value)


def _parquet(tmp_path: Path, columns: dict[str, pa.Array], name: str = "t.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize(
    ("array", "needle"),
    [
        (pa.array([b"\x00\x01", b"\x02"] * 10), "holds bytes (Arrow binary)"),
        (pa.array([b"ab", b"cd"] * 10, pa.binary(2)), "holds bytes (Arrow fixed_size_binary)"),
        (pa.array([[1], [2, 3]] * 10), "holds nested values (Arrow list)"),
        (pa.array([{"a": 1}, {"a": 2}] * 10), "holds nested values (Arrow struct)"),
        (
            pa.array([[("k", 1)], [("j", 2)]] * 10, pa.map_(pa.string(), pa.int64())),
            "holds nested values (Arrow map)",
        ),
        (pa.array([dt.time(1, 2), dt.time(3, 4)] * 10), "holds times of day (Arrow time)"),
    ],
    ids=["binary", "fixed_size_binary", "list", "struct", "map", "time"],
)
def test_unlearnable_types_are_refused_naming_the_column(
    tmp_path: Path, array: pa.Array, needle: str
) -> None:
    frame = read_table(_parquet(tmp_path, {"x": pa.array(np.arange(20.0)), "odd": array}))
    with pytest.raises(DataError) as error:
        infer_schema(frame)
    assert error.value.where == "column 'odd'"
    assert needle in error.value.message and "add it to data.drop" in error.value.message
    assert infer_schema(frame, drop=["odd"]).names == ["x"]  # the way out the message names


def test_all_null_columns_are_written_back_not_learned(tmp_path: Path) -> None:
    n = 20
    frame = read_table(
        _parquet(
            tmp_path,
            {
                "x": pa.array(np.arange(n, dtype=float)),
                "no_float": pa.nulls(n, pa.float64()),
                "no_text": pa.nulls(n, pa.string()),
                "no_bool": pa.nulls(n, pa.bool_()),
                "no_date": pa.nulls(n, pa.date32()),
                "no_type": pa.nulls(n),
            },
        )
    )
    schema = infer_schema(frame)
    assert [c.name for c in schema.modelled()] == ["x"]
    for spec in schema.columns[1:]:
        assert spec.all_null
        nulls = unlearned_column(spec, 7)
        assert len(nulls) == 7 and nulls.isna().all()
    assert TableSchema.from_dict(schema.to_dict()) == schema


def test_an_all_null_table_is_refused_in_one_line(tmp_path: Path) -> None:
    frame = read_table(_parquet(tmp_path, {"a": pa.nulls(10, pa.float64()), "b": pa.nulls(10)}))
    with pytest.raises(DataError, match="no column left to learn after dropping ids and all-null columns"):
        infer_schema(frame)


def test_model_view_keeps_the_arrow_types_and_pandas_metadata(tmp_path: Path) -> None:
    frame = pd.DataFrame({"i": pd.array([1, None, 3], dtype="Int64"), "c": pd.Categorical(["a", "b", "a"])})
    frame["d"] = [decimal.Decimal("1.50"), None, decimal.Decimal("2.25")]
    frame["t"] = pd.to_timedelta([1, 2, 3], unit="s")
    frame.to_parquet(tmp_path / "p.parquet")
    view = model_view(pq.read_table(tmp_path / "p.parquet"))
    assert str(view["i"].dtype) == "Int64" and str(view["c"].dtype) == "category"
    assert view["d"].tolist()[::2] == [1.5, 2.25] and view["t"].tolist() == [10**9, 2 * 10**9, 3 * 10**9]
    spec = infer_schema(view)["d"]
    assert spec.arrow_type == "decimal128(3, 2)" and spec.kind.value == "numerical"


# -- input formats --------------------------------------------------------------------------------


def _frame(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"age": rng.integers(18, 80, n), "sex": rng.choice(["F", "M"], n)})


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.zst", ".CSV.GZ"])
def test_compressed_csv_is_read(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"data{suffix}"
    codec = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}[Path(suffix.lower()).suffix]
    with pa.CompressedOutputStream(str(path), codec) as stream:
        stream.write(_frame().to_csv(index=False).encode())
    pd.testing.assert_frame_equal(read_table(path), _frame(), check_dtype=False)


def test_a_corrupt_compressed_csv_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n")[:-8] + b"garbage!")
    with pytest.raises(DataError, match="cannot read as CSV"):
        read_table(path)


def test_parquet_folder_is_read_in_sorted_order(tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    folder.mkdir()
    whole = _frame(30)
    for index, part in enumerate((whole.iloc[20:], whole.iloc[:10], whole.iloc[10:20])):
        part.to_parquet(folder / f"part-{(index + 2) % 3}.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-0.parquet.crc").write_text("x")
    read = read_table(folder)
    pd.testing.assert_frame_equal(
        read.sort_values(["age", "sex"]).reset_index(drop=True),
        whole.sort_values(["age", "sex"]).reset_index(drop=True),
    )
    first = fingerprint_source(folder)
    assert first == fingerprint_source(folder)
    whole.iloc[:10].assign(age=99).to_parquet(folder / "part-0.parquet", index=False)
    assert fingerprint_source(folder) != first  # a changed part invalidates the run


def test_hive_partitioned_folder_keeps_the_partition_column(tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    for year in (2020, 2021):
        (folder / f"year={year}").mkdir(parents=True)
        _frame(10).to_parquet(folder / f"year={year}" / "part-0.parquet", index=False)
    read = read_table(folder)
    assert list(read.columns) == ["age", "sex", "year"] and sorted(set(read["year"])) == [2020, 2021]


def test_a_folder_without_parquet_files_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "data.csv").mkdir()
    with pytest.raises(DataError, match="is a folder with no .parquet files in it; point it at the file"):
        read_table(tmp_path / "data.csv")


def test_a_single_file_fingerprint_is_its_sha256(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "data.csv"
    _frame().to_csv(path, index=False)
    assert fingerprint_source(path) == hashlib.sha256(path.read_bytes()).hexdigest()


# -- evaluate: exact conversion only ---------------------------------------------------------------


def _real() -> tuple[pd.DataFrame, TableSchema]:
    real = pd.DataFrame(
        {
            "n": np.arange(30, dtype=np.int64) % 7,
            "u": np.arange(30, dtype=np.uint8) % 5,
            "f32": np.linspace(0, 1, 30, dtype=np.float32),
            "c": pd.Categorical(["a", "b", "c"] * 10),
        }
    )
    return real, infer_schema(real)


def _synthetic(**columns: object) -> pd.DataFrame:
    base = {"n": [1.0] * 30, "u": [1] * 30, "f32": [0.5] * 30, "c": ["a"] * 30}
    for name, first in columns.items():
        base[name] = [first] + base[name][1:]  # type: ignore[operator]
    return pd.DataFrame(base)


@pytest.mark.parametrize(
    ("change", "column", "problem"),
    [
        ({"n": 1.5}, "n", "do not fit the real column's type (int64) exactly"),
        ({"n": 1e30}, "n", "do not fit the real column's type (int64) exactly"),
        ({"n": "2.5"}, "n", "do not fit the real column's type (int64) exactly"),
        ({"u": -1}, "u", "do not fit the real column's type (uint8) exactly"),
        ({"u": 256}, "u", "do not fit the real column's type (uint8) exactly"),
        ({"f32": 1e300}, "f32", "do not fit the real column's type (float32) exactly"),
        ({"n": "seven"}, "n", "cannot be read as the real column's type (int64)"),
    ],
    ids=[
        "fraction",
        "1e30",
        "fraction as text",
        "negative into unsigned",
        "beyond uint8",
        "beyond float32",
        "text",
    ],
)
def test_evaluate_refuses_values_that_do_not_convert_exactly(change: dict, column: str, problem: str) -> None:
    real, schema = _real()
    with pytest.raises(DataError) as error:
        align_to_real(_synthetic(**change), real, schema, where="--synthetic s.csv")
    assert error.value.message == f"column '{column}': 1 value(s) {problem}"
    assert str(next(iter(change.values()))) not in error.value.message  # never the value itself


def test_evaluate_keeps_exact_values_and_invented_categories() -> None:
    real, schema = _real()
    aligned = align_to_real(_synthetic(c="z"), real, schema, where="--synthetic s.csv")
    assert aligned["n"].dtype == np.int64 and aligned["u"].dtype == np.uint8
    assert aligned["c"].iloc[0] == "z"  # a category real never held is kept (coverage reports it), not nulled


def test_evaluate_refuses_a_time_of_day_in_a_date_column(tmp_path: Path) -> None:
    dates = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(30)]
    real = read_table(_parquet(tmp_path, {"d": pa.array(dates), "x": pa.array(np.arange(30.0))}))
    schema = infer_schema(real)
    synthetic = pd.DataFrame({"d": [f"2020-01-0{1 + i % 9}" for i in range(30)], "x": np.arange(30.0)})
    assert (align_to_real(synthetic, real, schema, where="w")["d"] == pd.Timestamp("2020-01-01")).sum() == 4
    synthetic.loc[3, "d"] = "2020-01-04 10:30:00"
    with pytest.raises(
        DataError, match="column 'd': 1 value\\(s\\) have a time of day; the real column holds dates"
    ):
        align_to_real(synthetic, real, schema, where="w")


def test_evaluate_reads_a_csv_round_trip_of_durations(tmp_path: Path) -> None:
    durations = pa.array(range(0, 30_000, 1000), pa.duration("ms"))
    real = read_table(_parquet(tmp_path, {"d": durations, "x": pa.array(np.arange(30.0))}))
    schema = infer_schema(real)
    exported = _parquet(tmp_path, {"d": durations, "x": pa.array(np.arange(30.0))}, "export.parquet")
    pd.read_parquet(exported).to_csv(tmp_path / "s.csv", index=False)  # durations as text: "0 days 00:00:01"
    aligned = align_to_real(read_table(tmp_path / "s.csv"), real, schema, where="w")
    assert aligned["d"].tolist() == real["d"].tolist() == list(range(0, 30_000, 1000))


def test_evaluate_reads_year_one_and_9999_from_iso_text(tmp_path: Path) -> None:
    stamps = [dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59)] * 15
    real = read_table(
        _parquet(tmp_path, {"t": pa.array(stamps, pa.timestamp("us")), "x": pa.array(np.arange(30.0))})
    )
    schema = infer_schema(real)
    synthetic = pd.DataFrame({"t": ["0001-01-01 00:00:00", "9999-12-31 23:59:59"] * 15, "x": np.arange(30.0)})
    assert align_to_real(synthetic, real, schema, where="w")["t"].tolist() == real["t"].tolist()


def test_spec_without_arrow_type_still_loads() -> None:
    raw = {"name": "a", "kind": "numerical", "dtype": "float64", "nullable": False}
    spec = ColumnSpec.from_dict(raw)
    assert (
        spec.arrow_type is None
        and not spec.all_null
        and spec.to_dict() == {**raw, "integer": False, "datetime_format": None}
    )
