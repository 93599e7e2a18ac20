"""Reading real tables (CSV or Parquet through pyarrow) and writing Parquet atomically."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from synthpriv.errors import DataError

BUILTIN_TABLES = ("student_placements",)
_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
_CSV_SUFFIXES = {".csv", ".txt"}
#: An empty cell is a missing value in a text column too (as in a number column, and as pandas
#: reads it), so a CSV written from a table with missing text reads back the same.
_CSV_OPTIONS = pacsv.ConvertOptions(strings_can_be_null=True)


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
        relative = " (relative to the pipeline file's folder)" if where.startswith("data.") else ""
        raise DataError(f"data file not found; check the path{relative}", where=f"{where} {source}")
    if source.is_dir():
        raise DataError(
            "data path is a folder, not a CSV or Parquet file; point it at the file", where=f"{where} {source}"
        )
    suffix = source.suffix.lower()
    if suffix not in _PARQUET_SUFFIXES | _CSV_SUFFIXES:
        raise DataError(
            f"unsupported file type {suffix or '(none)'!r}; use .csv or .parquet", where=f"{where} {source}"
        )
    kind = "Parquet" if suffix in _PARQUET_SUFFIXES else "CSV"
    try:
        if source.stat().st_size == 0:
            raise DataError(f"the file is empty (0 bytes); give a {kind} file with a header and rows", where=f"{where} {source}")
        table = pq.read_table(source) if kind == "Parquet" else pacsv.read_csv(source, convert_options=_CSV_OPTIONS)
    except PermissionError:
        raise DataError("permission denied; make the file readable by this user", where=f"{where} {source}") from None
    except (pa.ArrowException, OSError) as exc:
        # The library's own message may quote cells of the file: only its kind is shown.
        raise DataError(
            f"cannot read as {kind} ({type(exc).__name__}); check that it is a valid {kind} file"
            + (" with a header row" if kind == "CSV" else ""),
            where=f"{where} {source}",
        ) from None
    if table.num_rows == 0:
        raise DataError("the table is empty (no rows); give a file with at least one row", where=f"{where} {source}")
    if table.num_columns == 0:
        raise DataError("the table has no columns", where=f"{where} {source}")
    names = table.column_names
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"duplicate column names {duplicated}; rename them so each is unique", where=f"{where} {source}")
    for name, column in zip(names, table.columns, strict=True):
        if pa.types.is_floating(column.type) and pc.any(pc.is_inf(column)).as_py():
            raise DataError(
                f"column {name!r} holds infinite values; replace them with empty cells (missing) or finite numbers",
                where=f"{where} {source}",
            )
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
    except OSError as exc:
        if not exc.filename:  # Arrow's write errors (a full disk) do not say which file
            exc.filename = str(path)
        raise
    finally:
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()
    return rows
