"""Issue 7: a value held by one real row appears in no report, no log and no export.

The demo table gets a sentinel in one row of two categorical string columns, and a numeric
one (an extreme salary, the column's unique maximum) in another row; it goes through the
whole pipeline as a user runs it (the CLI in a subprocess, with debug logging), and every
byte the run leaves behind is searched for them: each file's raw bytes (the salary's text
forms and its float64 bytes too, which is how Parquet statistics hold it), and each Parquet
file decoded (its string columns, dictionaries and key-value metadata, since its pages are
compressed, and its number columns, compared exactly with the salary), and the captured
stdout and stderr.

The control run (``min_category_count: 1``, the protection off) shows the search can see
every sentinel: each then sits in ``train/model/transformer.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from synthpriv.data.encoders import OTHER_TOKEN
from synthpriv.data.io import read_table
from synthpriv.data.split import split_rows

#: Column -> the sentinel put into one of its rows. The hex ids are what the search looks
#: for: they cannot occur by chance, and survive any quoting or escaping of the full string.
SENTINELS = {"degree_type": "SENTINEL-7f3a9c21", "mba_spec": "SENTINEL-b5e0d417"}
ROWS = {"degree_type": 17, "mba_spec": 42}
#: The numeric sentinel: one row's salary, far above the real maximum (940,000).
SALARY = 987654.321
#: Its text forms (repr, rounded, with thousands separators, scientific), and its float64 bytes.
SALARY_FORMS = ("987654.3", "987,654", "9.87654", "9.8765e+05")
NEEDLES = (
    *(s.rsplit("-", 1)[1].encode() for s in SENTINELS.values()),
    *(form.encode() for form in SALARY_FORMS),
    np.float64(SALARY).tobytes(),
)
#: What `hits` reports a Parquet number column equal to the salary as.
SALARY_CELL = "salary cell"

pytestmark = pytest.mark.slow


def pipeline_file(folder: Path, data: Path, **data_options: object) -> Path:
    config = {
        "name": "sentinel",
        "seed": 0,
        "data": {"path": str(data), "holdout": 0.2, "target": "placed", **data_options},
        "train": {
            "generator": "vae",
            "epochs": 5,
            "batch_size": 64,
            "params": {"hidden_dims": [64, 64], "latent_dim": 16},
        },
        "synthesize": {"rows": 300},
        "attack": {"quasi_identifiers": ["gender", "degree_type", "mba_spec"], "sensitive": "placed"},
        "export": {"formats": ["parquet", "csv"]},
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONWARNINGS": "default"}  # warnings are output too: let them through
    return subprocess.run(
        [sys.executable, "-m", "synthpriv", "run", *args],
        capture_output=True,
        timeout=900,
        env=env,
        check=False,
    )


def parquet_strings(path: Path) -> list[str]:
    """Every string a Parquet file holds once decoded: cells, dictionaries, metadata, names."""
    out: list[str] = []
    file = pq.ParquetFile(path)
    metadata = file.schema_arrow.metadata or {}
    out += [part.decode("utf-8", "replace") for item in metadata.items() for part in item]
    table = file.read()
    for field, column in zip(table.schema, table.columns, strict=True):
        out.append(field.name)
        out += [part.decode("utf-8", "replace") for item in (field.metadata or {}).items() for part in item]
        if pa.types.is_dictionary(field.type):
            out += [str(v) for chunk in column.chunks for v in chunk.dictionary.to_pylist()]
            column = column.cast(field.type.value_type)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            out += [v for v in column.to_pylist() if v is not None]
    return out


def parquet_numbers(path: Path) -> np.ndarray:
    """Every number a Parquet file's columns hold once decoded, as float64 (nulls left out)."""
    table = pq.read_table(path)
    out = [np.zeros(0)]
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        if pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_decimal(kind):
            values = (
                column.cast(kind).cast(pa.float64())
                if pa.types.is_dictionary(field.type)
                else column.cast(pa.float64())
            )
            out.append(values.to_numpy(zero_copy_only=False))
    numbers = np.concatenate(out)
    return numbers[~np.isnan(numbers)]


def needle_name(needle: bytes) -> str:
    return needle.decode() if needle.isascii() else f"float64 bytes of {SALARY}"


def hits(run_dir: Path) -> dict[str, list[str]]:
    """The files (relative paths) in which each needle occurs, raw or decoded."""
    found: dict[str, list[str]] = {}
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert files, f"nothing written under {run_dir}"
    for path in files:
        blobs = [path.read_bytes()]
        where = str(path.relative_to(run_dir))
        if path.suffix == ".parquet":
            blobs.append("\n".join(parquet_strings(path)).encode())
            if np.any(parquet_numbers(path) == SALARY):  # compared exactly
                found.setdefault(SALARY_CELL, []).append(where)
        for needle in NEEDLES:
            if any(needle in blob for blob in blobs):
                found.setdefault(needle_name(needle), []).append(where)
    return found


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The demo table with each sentinel in one row, as a Parquet file; and the original."""
    real = read_table("builtin:student_placements")
    table = real.copy()
    for column, sentinel in SENTINELS.items():
        table.loc[ROWS[column], column] = sentinel
        assert (table[column] == sentinel).sum() == 1
    # The salary goes into a training row (the run's split, seed 0) that has one.
    train = set(split_rows(len(table), 0.2, 0).train.tolist())
    assert set(ROWS.values()) <= train
    row = next(r for r in sorted(train) if pd.notna(table.loc[r, "salary"]) and r not in ROWS.values())
    table.loc[row, "salary"] = SALARY
    assert table["salary"].max() == SALARY and (table["salary"] == SALARY).sum() == 1
    path = tmp_path_factory.mktemp("data") / "students.parquet"
    table.to_parquet(path, index=False)
    return path, real


@pytest.fixture(scope="module")
def protected_run(
    planted: tuple[Path, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, bytes]:
    data, _ = planted
    folder = tmp_path_factory.mktemp("protected")
    out = folder / "run"
    result = run_cli(str(pipeline_file(folder, data)), "-o", str(out), "--allow-failed-gates", "--debug")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output.decode(errors="replace")[-4000:]
    return out, output


def test_sentinel_appears_in_no_report_log_or_export(protected_run: tuple[Path, bytes]) -> None:
    out, output = protected_run
    assert (out / "export" / "synthetic.parquet").is_file() and (out / "export" / "synthetic.csv").is_file()
    assert b"INFO synthpriv" in output  # debug logging was on: the logs were captured too
    assert hits(out) == {}
    for needle in NEEDLES:
        assert needle not in output, f"{needle.decode()} in the command's output"


def test_the_sentinel_columns_are_exported_with_legitimate_values(
    protected_run: tuple[Path, bytes], planted: tuple[Path, pd.DataFrame]
) -> None:
    out, _ = protected_run
    _, real = planted
    exported = {
        "parquet": pd.read_parquet(out / "export" / "synthetic.parquet"),
        "csv": pd.read_csv(out / "export" / "synthetic.csv", keep_default_na=False, na_values=[""]),
    }
    for form, table in exported.items():
        for column in SENTINELS:
            assert column in table.columns, (form, column)
            legitimate = set(real[column].dropna()) | {OTHER_TOKEN}
            assert set(table[column].dropna()) <= legitimate, (
                form,
                column,
                set(table[column].dropna()) - legitimate,
            )
            assert table[column].notna().any(), (form, column)


def test_without_folding_the_search_finds_the_sentinel(
    planted: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """The control: protection off (``min_category_count: 1``), the sentinels reach the model:
    the strings as categories, the salary as the quantile map's outermost knot."""
    data, _ = planted
    out = tmp_path / "run"
    result = run_cli(
        str(pipeline_file(tmp_path, data, min_category_count=1)), "-o", str(out), "--only", "train", "-q"
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace")[-4000:]
    found = hits(out)
    for needle in NEEDLES[: len(SENTINELS)]:
        assert "train/model/transformer.json" in found.get(needle.decode(), []), found
    assert "train/model/transformer.json" in found.get(repr(SALARY)[:8], []), found
