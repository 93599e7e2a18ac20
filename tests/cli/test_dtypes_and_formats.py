"""Issue 15 through the real CLI: exact values and dtypes (must-have 4), no internal error on
odd columns (must-have 5: all-null, year 1 and 9999, nested and binary), input formats
(must-have 9: .csv.gz, .csv.zst, a folder of Parquet files).

One tiny run (2 epochs) reads a Parquet folder holding every awkward type and exports it with
the input's Arrow types; the refusals go through `synthpriv check` (no training) and
`synthpriv evaluate` (refused before any stage runs).
"""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from synthpriv.cli import app

runner = CliRunner()
N = 60  # holdout 0.2: 48 training rows


def tiny_config(path: str, **sections: dict) -> dict:
    """A pipeline that trains for seconds (2 epochs of a small vae), as in test_bad_inputs."""
    config: dict = {
        "name": "dtypes",
        "seed": 0,
        "data": {"path": path, "holdout": 0.2},
        "train": {
            "generator": "vae",
            "epochs": 2,
            "batch_size": 32,
            "params": {"hidden_dims": [16], "latent_dim": 4},
        },
        "synthesize": {"rows": N},
        "validate": {"bootstrap": 0},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


def write(folder: Path, config: dict) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def error_line(result) -> str:  # type: ignore[no-untyped-def]
    """The one ``error:`` line of a failed command (no traceback, no internal error)."""
    assert result.exit_code not in (0, 70), (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def awkward_table(n: int = N, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 300, n)
    return pa.table(
        {
            "age": pa.array(rng.integers(18, 80, n)),
            "sex": pa.array(rng.choice(["F", "M"], n)),
            "big_unsigned": pa.array([2**64 - 1 - int(x) for x in rng.integers(0, 10_000, n)], pa.uint64()),
            "price": pa.array(
                [decimal.Decimal(f"{x:.2f}") for x in rng.normal(100, 10, n)], pa.decimal128(10, 2)
            ),
            "day": pa.array([dt.date(2020, 1, 1) + dt.timedelta(days=int(d)) for d in days], pa.date32()),
            "wait": pa.array(rng.integers(0, 10**9, n), pa.duration("us")),
            "ancient": pa.array(
                [dt.datetime(1, 1, 1) + dt.timedelta(days=int(d)) for d in days], pa.timestamp("us")
            ),
            "far": pa.array(
                [dt.datetime(9999, 1, 1) + dt.timedelta(days=int(d)) for d in days], pa.timestamp("us")
            ),
            "nothing": pa.nulls(n, pa.float64()),  # validate's detector crashed on this (exit 70)
            "constant": pa.array(["same"] * n),
        }
    )


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    folder = tmp_path_factory.mktemp("awkward")
    table = awkward_table()
    dataset = folder / "dataset"
    dataset.mkdir()
    for part in range(3):  # a folder of Parquet files, as Spark writes them
        pq.write_table(table.slice(part * 20, 20), dataset / f"part-{part:05d}.snappy.parquet")
    (dataset / "_SUCCESS").write_text("")
    pipeline = write(folder, tiny_config("dataset", export={"formats": ["parquet", "csv"]}))
    out = folder / "out"
    with threadpool_limits(1):
        result = runner.invoke(app, ["run", "-q", str(pipeline), "-o", str(out), "--allow-failed-gates"])
    assert result.exit_code == 0, result.output
    return out, table


def test_export_keeps_the_input_arrow_types(folder_run: tuple[Path, pa.Table]) -> None:
    out, table = folder_run
    exported = pq.read_table(out / "export" / "synthetic.parquet")
    assert exported.column_names == table.column_names
    for field in table.schema:
        assert exported.schema.field(field.name).type == field.type, field.name
    assert exported.column("nothing").null_count == exported.num_rows  # written back, not learned
    assert set(exported.column("constant").to_pylist()) == {"same"}
    assert min(exported.column("big_unsigned").to_pylist()) > 2**63  # never wrapped around to 0
    years = {v.year for v in exported.column("ancient").to_pylist()} | {
        v.year for v in exported.column("far").to_pylist()
    }
    assert years <= {1, 9999}
    csv = pd.read_csv(out / "export" / "synthetic.csv")
    assert csv["day"].str.fullmatch(r"2020-\d\d-\d\d|2021-\d\d-\d\d").all()  # dates, no time of day


def test_the_synthesize_stage_writes_the_input_types_too(folder_run: tuple[Path, pa.Table]) -> None:
    out, table = folder_run
    assert pq.read_schema(out / "synthesize" / "synthetic.parquet").types == table.schema.types


def _check(tmp_path: Path, table: pa.Table, name: str = "data.parquet", **config: object):  # type: ignore[no-untyped-def]
    pq.write_table(table, tmp_path / name)
    return runner.invoke(app, ["check", str(write(tmp_path, tiny_config(name, **config)))])


@pytest.mark.parametrize(
    ("column", "needle"),
    [
        (pa.array([b"\x00\x01", b"\x02"] * (N // 2)), "holds bytes (Arrow binary)"),
        (pa.array([[1], [2, 3]] * (N // 2)), "holds nested values (Arrow list)"),
        (pa.array([{"a": 1}, {"a": 2}] * (N // 2)), "holds nested values (Arrow struct)"),
        (pa.array([[("k", 1)]] * N, pa.map_(pa.string(), pa.int64())), "holds nested values (Arrow map)"),
    ],
    ids=["binary", "list", "struct", "map"],
)
def test_check_refuses_unlearnable_columns_in_one_line(tmp_path: Path, column: pa.Array, needle: str) -> None:
    table = awkward_table().select(["age", "sex"]).append_column("odd", column)
    line = error_line(_check(tmp_path, table))
    assert "column 'odd'" in line and needle in line and "add it to data.drop" in line
    assert "\\x00" not in line and "b'" not in line  # no value
    assert _check(tmp_path, table, data={"drop": ["odd"]}).exit_code == 0  # the way out it names


def test_an_all_null_table_is_refused_in_one_line(tmp_path: Path) -> None:
    table = pa.table({"a": pa.nulls(N, pa.float64()), "b": pa.nulls(N, pa.string())})
    result = _check(tmp_path, table)
    line = error_line(result)
    assert result.exit_code == 3 and "no column left to learn after dropping ids and all-null columns" in line


@pytest.mark.parametrize(("suffix", "codec"), [(".csv.gz", "gzip"), (".csv.zst", "zstd")])
def test_compressed_csv_input_is_accepted(tmp_path: Path, suffix: str, codec: str) -> None:
    frame = awkward_table().select(["age", "sex"]).to_pandas()
    with pa.CompressedOutputStream(str(tmp_path / f"data{suffix}"), codec) as stream:
        stream.write(frame.to_csv(index=False).encode())
    result = runner.invoke(app, ["check", str(write(tmp_path, tiny_config(f"data{suffix}")))])
    assert result.exit_code == 0, result.output
    assert "age: numerical" in result.stdout and "sex: categorical" in result.stdout


# -- evaluate ----------------------------------------------------------------------------------------


def _parts(folder: Path) -> tuple[Path, Path]:
    """A Parquet folder for --train and a .csv.gz for --holdout."""
    table = awkward_table(90).select(["age", "sex"])
    train = folder / "train"
    train.mkdir()
    pq.write_table(table.slice(0, 30), train / "a.parquet")
    pq.write_table(table.slice(30, 30), train / "b.parquet")
    holdout = folder / "holdout.csv.gz"
    table.slice(60).to_pandas().to_csv(holdout, index=False)
    return train, holdout


def _evaluate(train: Path, holdout: Path, synthetic: Path, out: Path):  # type: ignore[no-untyped-def]
    with threadpool_limits(1):
        return runner.invoke(
            app,
            [
                "evaluate",
                "-q",
                "--train",
                str(train),
                "--holdout",
                str(holdout),
                "--synthetic",
                str(synthetic),
                "-o",
                str(out),
            ],
        )


def test_evaluate_reads_a_folder_a_csv_gz_and_a_csv_zst(tmp_path: Path) -> None:
    train, holdout = _parts(tmp_path)
    synthetic = tmp_path / "synthetic.csv.zst"
    with pa.CompressedOutputStream(str(synthetic), "zstd") as stream:
        stream.write(
            awkward_table(40, seed=5).select(["age", "sex"]).to_pandas().to_csv(index=False).encode()
        )
    result = _evaluate(train, holdout, synthetic, tmp_path / "out")
    assert result.exit_code in (0, 5), result.output  # 5: a gate failed, which is a verdict, not an error
    assert (tmp_path / "out" / "validate" / "stage.json").is_file()


@pytest.mark.parametrize("bad", [1.5, 1e30], ids=["fraction", "1e30"])
def test_evaluate_refuses_an_inexact_integer(tmp_path: Path, bad: float) -> None:
    train, holdout = _parts(tmp_path)
    synthetic = awkward_table(40, seed=5).select(["age", "sex"]).to_pandas()
    synthetic["age"] = synthetic["age"].astype(float)
    synthetic.loc[7, "age"] = bad
    synthetic.to_csv(tmp_path / "synthetic.csv", index=False)
    result = _evaluate(train, holdout, tmp_path / "synthetic.csv", tmp_path / "out")
    line = error_line(result)
    assert result.exit_code == 3 and "--synthetic" in line
    assert "column 'age': 1 value(s) do not fit the real column's type (int64) exactly" in line
    assert str(bad) not in line
    assert not (tmp_path / "out" / "validate").exists()
