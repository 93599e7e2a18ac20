"""Reading real tables (CSV or Parquet through pyarrow) and writing Parquet atomically."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from synthpriv.errors import DataError

BUILTIN_TABLES = ("student_placements",)
_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
_CSV_SUFFIXES = {".csv", ".txt"}


def builtin_table_path(name: str) -> Path:
    """The file of a table that a dependency ships (the demo uses sdmetrics' student_placements)."""
    import sdmetrics

    if name not in BUILTIN_TABLES:
        raise DataError(f"unknown builtin table {name!r}; known: {', '.join(BUILTIN_TABLES)}", where="data.path")
    return Path(sdmetrics.__file__).parent / "demos" / "single_table" / f"{name}_real.csv"


def resolve_source(path: Path | str) -> Path:
    """A concrete file for a data path, resolving ``builtin:<name>``."""
    if isinstance(path, str) and path.startswith("builtin:"):
        return builtin_table_path(path.removeprefix("builtin:"))
    return Path(path)


def read_table(path: Path | str, *, where: str = "data.path") -> pd.DataFrame:
    """Read a CSV or Parquet file; DataError (naming the file) if it is missing, unreadable or empty."""
    source = resolve_source(path)
    if not source.exists():
        raise DataError("data file not found", where=f"{where} {source}")
    if source.is_dir():
        raise DataError("data path is a folder, not a CSV or Parquet file", where=f"{where} {source}")
    suffix = source.suffix.lower()
    try:
        if suffix in _PARQUET_SUFFIXES:
            table = pq.read_table(source)
        elif suffix in _CSV_SUFFIXES:
            table = pacsv.read_csv(source)
        else:
            raise DataError(
                f"unsupported file type {suffix or '(none)'!r}; use .csv or .parquet", where=f"{where} {source}"
            )
    except (pa.ArrowException, OSError) as exc:
        kind = "Parquet" if suffix in _PARQUET_SUFFIXES else "CSV"
        raise DataError(f"cannot read as {kind}: {type(exc).__name__}", where=f"{where} {source}") from None
    if table.num_rows == 0:
        raise DataError("the table is empty (no rows)", where=f"{where} {source}")
    if table.num_columns == 0:
        raise DataError("the table has no columns", where=f"{where} {source}")
    names = table.column_names
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"duplicate column names {duplicated}", where=f"{where} {source}")
    # Dates come back as datetime64 (not Python date objects) so they stay a typed column.
    return table.to_pandas(date_as_object=False)


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_parquet(frame: pd.DataFrame, path: Path, *, metadata: dict[str, str] | None = None) -> None:
    """Write one table atomically (temporary name, then rename)."""
    write_parquet_batches([frame], path, metadata=metadata)


def write_parquet_batches(
    frames: Iterable[pd.DataFrame], path: Path, *, metadata: dict[str, str] | None = None
) -> int:
    """Stream frames into one Parquet file, one row group each; returns the row count.

    The file appears under its name only when complete.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for frame in frames:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                schema = table.schema
                if metadata:
                    merged = {**(schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}}
                    schema = schema.with_metadata(merged)
                writer = pq.ParquetWriter(tmp, schema, compression="zstd")
            writer.write_table(table.cast(writer.schema))
            rows += len(frame)
        if writer is None:
            raise ValueError("no frames to write")
        writer.close()
        writer = None
        os.replace(tmp, path)
    finally:
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()
    return rows
