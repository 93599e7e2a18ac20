"""Reading real tables (CSV, compressed CSV, Parquet files and folders, through pyarrow) and writing
Parquet atomically."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from synthpriv.data.dtypes import cast_to_input_types, model_view
from synthpriv.data.schema import ARROW_NULLABLE_ATTR
from synthpriv.errors import DataError
from synthpriv.runtime.files import sha256_file

BUILTIN_TABLES = ("student_placements",)
_PARQUET_SUFFIXES = {".parquet", ".pq", ".parq"}
_CSV_SUFFIXES = {".csv", ".txt"}
#: Compressed CSV that pyarrow reads as it is (it picks the codec from the extension).
_CSV_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
#: An empty cell is a missing value in a text column too (as in a number column, and as pandas
#: reads it), so a CSV written from a table with missing text reads back the same.
_CSV_OPTIONS = pacsv.ConvertOptions(strings_can_be_null=True)


def builtin_table_path(name: str) -> Path:
    """The file of a table that a dependency ships (the demo uses sdmetrics' student_placements)."""
    import sdmetrics

    if name not in BUILTIN_TABLES:
        raise DataError(
            f"unknown builtin table {name!r}; known: {', '.join(BUILTIN_TABLES)}", where="data.path"
        )
    return Path(sdmetrics.__file__).parent / "demos" / "single_table" / f"{name}_real.csv"


def resolve_source(path: Path | str) -> Path:
    """A concrete file for a data path, resolving ``builtin:<name>``."""
    if isinstance(path, str) and path.startswith("builtin:"):
        return builtin_table_path(path.removeprefix("builtin:"))
    return Path(path)


def read_table(path: Path | str, *, where: str = "data.path") -> pd.DataFrame:
    """Read a CSV (also .csv.gz, .csv.bz2, .csv.zst), a Parquet file or a folder of Parquet files.

    Returns the model view (`synthpriv.data.dtypes.model_view`: the input's Arrow types kept
    in ``attrs``, and each field's nullability under `ARROW_NULLABLE_ATTR`). DataError (naming
    the file) if it is missing, unreadable or empty.
    """
    source = resolve_source(path)
    if not source.exists():
        relative = " (relative to the pipeline file's folder)" if where.startswith("data.") else ""
        raise DataError(f"data file not found; check the path{relative}", where=f"{where} {source}")
    kind = _file_kind(source, where)
    try:
        if source.is_file() and source.stat().st_size == 0:
            raise DataError(
                f"the file is empty (0 bytes); give a {kind} file with a header and rows",
                where=f"{where} {source}",
            )
        table = _read_arrow(source, kind)
    except PermissionError:
        raise DataError(
            "permission denied; make the file readable by this user", where=f"{where} {source}"
        ) from None
    except (pa.ArrowException, OSError) as exc:
        # The library's own message may quote cells of the file: only its kind is shown.
        raise DataError(
            f"cannot read as {kind} ({type(exc).__name__}); check that it is a valid {kind} file"
            + (" with a header row" if kind == "CSV" else ""),
            where=f"{where} {source}",
        ) from None
    if table.num_rows == 0:
        raise DataError(
            "the table is empty (no rows); give a file with at least one row", where=f"{where} {source}"
        )
    if table.num_columns == 0:
        raise DataError("the table has no columns", where=f"{where} {source}")
    names = table.column_names
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise DataError(
            f"duplicate column names {duplicated}; rename them so each is unique", where=f"{where} {source}"
        )
    for name, column in zip(names, table.columns, strict=True):
        if pa.types.is_floating(column.type) and pc.any(pc.is_inf(column)).as_py():
            raise DataError(
                f"column {name!r} holds infinite values; replace them with empty cells (missing) or "
                "finite numbers",
                where=f"{where} {source}",
            )
    frame = model_view(table)
    # The file's declared nullability (public, unlike the pandas dtypes: see public_nullable).
    frame.attrs[ARROW_NULLABLE_ATTR] = {field.name: bool(field.nullable) for field in table.schema}
    return frame


def _file_kind(source: Path, where: str) -> str:
    """ "CSV" or "Parquet" (a folder of Parquet files too); DataError for anything else."""
    if source.is_dir():
        if not parquet_dataset_files(source):
            raise DataError(
                "data path is a folder with no .parquet files in it; point it at the file, or at a folder of "
                "Parquet files",
                where=f"{where} {source}",
            )
        return "Parquet"
    suffixes = [s.lower() for s in source.suffixes[-2:]]
    if suffixes[-1:] and suffixes[-1] in _PARQUET_SUFFIXES:
        return "Parquet"
    if suffixes[-1:] and suffixes[-1] in _CSV_SUFFIXES:
        return "CSV"
    if len(suffixes) == 2 and suffixes[0] in _CSV_SUFFIXES and suffixes[1] in _CSV_COMPRESSIONS:
        return "CSV"  # pyarrow decompresses by the extension
    shown = "".join(suffixes) or "(none)"
    raise DataError(
        f"unsupported file type {shown!r}; use .csv (also .csv.gz, .csv.bz2, .csv.zst), .parquet or a "
        "folder of .parquet files",
        where=f"{where} {source}",
    )


def _read_arrow(source: Path, kind: str) -> pa.Table:
    if source.is_dir():
        files = parquet_dataset_files(source)
        # Hive-style folders (year=2024/) add their key as a column, as Spark and pandas write them.
        dataset = ds.dataset(
            [str(f) for f in files], format="parquet", partitioning="hive", partition_base_dir=str(source)
        )
        return dataset.to_table()
    if kind == "Parquet":
        return pq.read_table(source)
    codec = _CSV_COMPRESSIONS.get(source.suffix.lower())
    # The codec named, not guessed from the extension: pyarrow's guess misses upper case (.CSV.GZ).
    readable = pa.input_stream(str(source), compression=codec) if codec else source
    return pacsv.read_csv(readable, convert_options=_CSV_OPTIONS)


def parquet_dataset_files(folder: Path) -> list[Path]:
    """The Parquet files of a dataset folder, in sorted order; hidden files, ``_SUCCESS`` and
    ``_metadata`` (names starting with ``.`` or ``_``) are left out, as pyarrow does."""
    files = [
        path
        for path in folder.rglob("*")
        if path.is_file()
        and path.suffix.lower() in _PARQUET_SUFFIXES
        and not any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def fingerprint_source(path: Path | str) -> str:
    """The sha256 of a data file; of a Parquet folder, of its files' names and hashes in sorted order."""
    source = resolve_source(path)
    if not source.is_dir():
        return sha256_file(source)
    digest = hashlib.sha256()
    for file in parquet_dataset_files(source):
        digest.update(f"{file.relative_to(source).as_posix()}\0{sha256_file(file)}\n".encode())
    return digest.hexdigest()


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_parquet(frame: pd.DataFrame, path: Path, *, metadata: dict[str, str] | None = None) -> None:
    """Write one table atomically (temporary name, then rename)."""
    write_parquet_batches([frame], path, metadata=metadata)


def write_parquet_batches(
    frames: Iterable[pd.DataFrame],
    path: Path,
    *,
    metadata: dict[str, str] | None = None,
    arrow_types: Mapping[str, str] | None = None,
) -> int:
    """Stream frames into one Parquet file, one row group each; returns the row count.

    ``arrow_types`` (column name to Arrow type text, `TableSchema.arrow_types`): the columns
    are cast to them, so the file has the input's types (`synthpriv.data.dtypes`).
    The file appears under its name only when complete.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for frame in frames:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if arrow_types:
                table = cast_to_input_types(table, dict(arrow_types))
            if writer is None:
                schema = table.schema
                if metadata:
                    merged = {
                        **(schema.metadata or {}),
                        **{k.encode(): v.encode() for k, v in metadata.items()},
                    }
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
