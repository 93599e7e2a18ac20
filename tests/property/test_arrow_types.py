"""Property test: every Arrow type the README says round-trips comes out of export as it went in
(issue 15, must-have 4).

The real path, end to end in process: a random table of those types (with nulls, constant and
all-null columns, extremes: uint64 near 2**64, int64 limits, decimals at their precision, years
1 and 9999) is written to Parquet, read (`read_table`), its schema inferred, a generator fitted
for one epoch and sampled, the samples written as the synthesize stage writes them
(`write_parquet_batches` with the schema's Arrow types) and copied out as the export stage
copies them (`_copy_out`). The exported Parquet must have the input's column names, order and
Arrow types (as the input file holds them: Parquet itself stores date64 as date32 and seconds
as milliseconds), and its values must be what those types promise: all-null columns null,
unsigned integers never wrapped around, dates without a time of day.

Reproducible in CI: ``derandomize=True`` and no example database.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthpriv.data.io import read_table, write_parquet_batches
from synthpriv.data.schema import infer_schema
from synthpriv.generators.registry import get_generator
from synthpriv.stages.export import METADATA_KEY, _copy_out

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

Column = Callable[[np.random.Generator, int], pa.Array]


def _with_nulls(values: list, arrow_type: pa.DataType, rng: np.random.Generator, share: float) -> pa.Array:
    mask = rng.random(len(values)) < share
    return pa.array([None if m else v for v, m in zip(values, mask)], arrow_type)


def _day(base: dt.datetime, rng: np.random.Generator, n: int, spread_days: int) -> list[dt.datetime]:
    return [
        base + dt.timedelta(days=int(d), seconds=int(s))
        for d, s in zip(rng.integers(0, spread_days, n), rng.integers(0, 86_400, n))
    ]


#: Each type the README promises, with a way to fill a column of it (``share`` of nulls).
COLUMNS: dict[str, Callable[[np.random.Generator, int, float], pa.Array]] = {
    "int8": lambda r, n, s: _with_nulls(r.integers(-128, 128, n).tolist(), pa.int8(), r, s),
    "int64 at its limits": lambda r, n, s: _with_nulls(
        r.choice([-(2**63), 2**63 - 1, 0, -1, 1], n).tolist(), pa.int64(), r, s
    ),
    "uint8": lambda r, n, s: _with_nulls(r.integers(0, 256, n).tolist(), pa.uint8(), r, s),
    "uint64 near 2**64": lambda r, n, s: _with_nulls(
        [2**64 - 1 - int(x) for x in r.integers(0, 5000, n)], pa.uint64(), r, s
    ),
    "float32": lambda r, n, s: _with_nulls(r.normal(size=n).astype(np.float32).tolist(), pa.float32(), r, s),
    "float64": lambda r, n, s: _with_nulls((r.normal(size=n) * 1e12).tolist(), pa.float64(), r, s),
    "bool": lambda r, n, s: _with_nulls((r.random(n) < 0.5).tolist(), pa.bool_(), r, s),
    "string": lambda r, n, s: _with_nulls(r.choice(["a", "b", "ü 性"], n).tolist(), pa.string(), r, s),
    "large_string": lambda r, n, s: _with_nulls(r.choice(["x", "y"], n).tolist(), pa.large_string(), r, s),
    "dictionary": lambda r, n, s: _with_nulls(
        r.choice(["lo", "hi"], n).tolist(), pa.string(), r, s
    ).dictionary_encode(),
    "decimal128(10, 2)": lambda r, n, s: _with_nulls(
        [decimal.Decimal(f"{x:.2f}") for x in r.normal(0, 1e7, n).clip(-99_999_999, 99_999_999)],
        pa.decimal128(10, 2),
        r,
        s,
    ),
    "decimal128(38, 0)": lambda r, n, s: _with_nulls(
        [decimal.Decimal(int(x)) * 10**20 for x in r.integers(-(10**17), 10**17, n)],
        pa.decimal128(38, 0),
        r,
        s,
    ),
    "decimal256(40, 5)": lambda r, n, s: _with_nulls(
        [decimal.Decimal(f"{x:.5f}") for x in r.normal(size=n)], pa.decimal256(40, 5), r, s
    ),
    "date32": lambda r, n, s: _with_nulls(
        [d.date() for d in _day(dt.datetime(2020, 1, 1), r, n, 900)], pa.date32(), r, s
    ),
    "timestamp[ms] in year 1": lambda r, n, s: _with_nulls(
        _day(dt.datetime(1, 1, 1), r, n, 300), pa.timestamp("ms"), r, s
    ),
    "timestamp[us] in year 9999": lambda r, n, s: _with_nulls(
        _day(dt.datetime(9999, 1, 1), r, n, 300), pa.timestamp("us"), r, s
    ),
    "timestamp[ns]": lambda r, n, s: _with_nulls(
        _day(dt.datetime(2000, 1, 1), r, n, 5000), pa.timestamp("ns"), r, s
    ),
    "timestamp[us, tz=UTC]": lambda r, n, s: _with_nulls(
        _day(dt.datetime(2000, 1, 1), r, n, 5000), pa.timestamp("us", tz="UTC"), r, s
    ),
    "duration[us]": lambda r, n, s: _with_nulls(r.integers(0, 10**12, n).tolist(), pa.duration("us"), r, s),
    "duration[s]": lambda r, n, s: _with_nulls(
        r.integers(-(10**6), 10**6, n).tolist(), pa.duration("s"), r, s
    ),
}
#: Column shapes beside random values: constant (one value, every row) and null in every row.
SHAPES = ("random", "constant", "all null")


def _column(kind: str, shape: str, rng: np.random.Generator, n: int, null_share: float) -> pa.Array:
    values = COLUMNS[kind](rng, n, null_share)
    if shape == "all null":
        return pa.nulls(n, values.type)
    if shape == "constant":
        first = values.drop_null()[0] if values.null_count < n else values[0]
        return (
            pa.array([first.as_py()] * n, values.type)
            if not pa.types.is_dictionary(values.type)
            else values.take([0] * n)
        )
    return values


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(12, 40))
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=6, unique=True))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    columns = {"anchor": pa.array(rng.normal(size=n))}  # always one column to learn
    for kind in kinds:
        shape = draw(st.sampled_from(SHAPES))
        columns[kind] = _column(kind, shape, rng, n, draw(st.sampled_from([0.0, 0.2])))
    return pa.table(columns)


def _export(table: pa.Table, folder: Path) -> pa.Table:
    """Through the real path (module docstring); returns the exported Parquet as Arrow."""
    source = folder / "input.parquet"
    pq.write_table(table, source)
    frame = read_table(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(frame)
        model = get_generator("vae")(
            {"latent_dim": 2, "hidden_dims": (8,)}, epochs=1, batch_size=16, seed=0, device="cpu"
        )
        model.fit(frame, schema)
        synthetic = folder / "synthetic.parquet"
        write_parquet_batches(
            model.sample_batches(30, seed=1, batch_size=13), synthetic, arrow_types=schema.arrow_types()
        )
    out = folder / "export"
    out.mkdir()
    _copy_out(synthetic, out, ["parquet", "csv"], {"run": "property"})
    return pq.read_table(out / "synthetic.parquet")


def _check(table: pa.Table, source_schema: pa.Schema, exported: pa.Table) -> None:
    assert exported.column_names == table.column_names
    assert json.loads(exported.schema.metadata[METADATA_KEY]) == {"run": "property"}
    for field in source_schema:
        column = exported.column(field.name)
        assert column.type == field.type, (field.name, column.type, field.type)
        original = table.column(field.name)
        if original.null_count == len(original):
            assert column.null_count == len(column), field.name  # written back, not learned
        if field.name.startswith("uint64"):
            # Never wrapped around to small numbers: every value stays near 2**64 (float64 spacing there is 4096).
            assert all(v >= 2**64 - 2**14 for v in column.drop_null().to_pylist()), field.name
        if pa.types.is_date(field.type):
            assert all(
                isinstance(v, dt.date) and not isinstance(v, dt.datetime)
                for v in column.drop_null().to_pylist()
            )


def test_export_keeps_every_arrow_type(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One generator is enough: every generator decodes through the same transformer and
    writes through the same stage code (tests/property/test_generator_properties.py runs all)."""

    @SETTINGS
    @given(tables())
    def check(table: pa.Table) -> None:
        folder = tmp_path_factory.mktemp("arrow")
        exported = _export(table, folder)
        _check(table, pq.read_schema(folder / "input.parquet"), exported)

    check()
