"""Scale (issue 21): time and peak memory of each stage on Adult-shaped tables of many rows.

    python benchmarks/scale.py [--rows 1000000 10000000] [--synthetic-rows N] [--epochs E]

Each table is UCI Adult's 32,561 training rows resampled with replacement, its numbers
jittered (so rows are not copies and quantiles are not a handful of values), written to
Parquet in row groups first. The default pipeline then runs stage by stage (train with the
default generator and its early stopping unless ``--epochs`` is given, synthesize as many
rows as the table has unless ``--synthetic-rows``, validate, attack), each stage in its own
process so that its peak RSS is its own. For each table: seconds and peak RSS per stage,
training rows/s (rows x epochs / train seconds) and sampling rows/s. Writes
benchmarks/results/scale.json and prints a table.

One process only: distributed training (``torchrun``) is not built yet, so the issue's
"1 and 2 processes" columns have one entry. Time it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from adult_protocol import ADULT, RESULTS, adult_split
from export_stream import run_stage

STAGES = ("train", "synthesize", "validate", "attack")
#: Numbers jittered by this share of their standard deviation, then rounded as the column was.
JITTER = 0.05
ROW_GROUP = 1_000_000


def write_adult_shaped(rows: int, path: Path, seed: int = 0) -> None:
    """``rows`` resampled Adult training rows, numbers jittered, to Parquet one row group at a time."""
    train, _ = adult_split(ADULT)
    rng = np.random.default_rng(seed)
    numbers = [c for c in train.columns if pd.api.types.is_numeric_dtype(train[c])]
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, rows, ROW_GROUP):
            count = min(ROW_GROUP, rows - start)
            chunk = train.iloc[rng.integers(0, len(train), count)].reset_index(drop=True)
            for name in numbers:
                spread = JITTER * float(train[name].std())
                jittered = chunk[name].to_numpy(np.float64) + rng.normal(0.0, spread, count)
                low, high = float(train[name].min()), float(train[name].max())
                chunk[name] = np.clip(np.rint(jittered), low, high).astype(train[name].dtype)
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def measure(rows: int, synthetic_rows: int | None, epochs: int | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        data, pipeline, out = (
            Path(folder) / "adult.parquet",
            Path(folder) / "pipeline.yaml",
            Path(folder) / "run",
        )
        write_adult_shaped(rows, data)
        train: dict[str, object] = {} if epochs is None else {"epochs": epochs}
        pipeline.write_text(
            yaml.safe_dump(
                {
                    "name": f"scale-{rows}",
                    "data": {"path": str(data), "target": "income"},
                    "train": train,
                    "synthesize": {"rows": synthetic_rows or rows},
                }
            )
        )
        stages = {stage: run_stage(pipeline, out, stage) for stage in STAGES}
        fitted = json.loads((out / "train" / "summary.json").read_text())
        sampled = json.loads((out / "synthesize" / "summary.json").read_text())
        trained_rows = int(fitted["train_rows"]) * int(fitted["epochs"])
        return {
            "rows": rows,
            "parquet_mb": round(data.stat().st_size / 2**20, 1),
            "epochs": fitted["epochs"],
            "train_rows_per_second": round(trained_rows / float(fitted["fit_seconds"])),
            "sampling_rows_per_second": round(float(sampled["rows_per_second"])),
            "stages": stages,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--synthetic-rows", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    results = [measure(rows, args.synthetic_rows, args.epochs) for rows in args.rows]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=2))
    print(f"{'rows':>12}{'stage':>12}{'seconds':>10}{'peak RSS MB':>14}")
    for result in results:
        for stage, figures in result["stages"].items():  # type: ignore[union-attr]
            print(
                f"{result['rows']:>12,}{stage:>12}{figures['seconds']:>10.1f}{figures['peak_rss_mb']:>14.1f}"
            )
        print(
            f"{'':>12} epochs {result['epochs']}, training {result['train_rows_per_second']:,} rows/s, "
            f"sampling {result['sampling_rows_per_second']:,} rows/s"
        )


if __name__ == "__main__":
    main()
