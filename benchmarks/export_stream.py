"""Peak memory and time of each stage when a run samples and exports a large table.

    python benchmarks/export_stream.py [--rows 1000000] [--batch-size 50000]

The demo table trains a VAE for two epochs (the model is not the point); synthesize then
streams ``--rows`` rows to Parquet in batches, and export copies them row group by row group
(Parquet and CSV). Each stage runs in its own process, so its peak RSS is its own. The
table's in-memory size (pandas, deep) is printed beside them: a stage that held the whole
table twice would need about twice that on top of the interpreter. Writes
benchmarks/results/export_stream.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

RESULTS = Path(__file__).parent / "results"
_STAGE_IN_CHILD = """
import resource, runpy, sys
sys.argv = ["synthpriv", *sys.argv[1:]]
try:
    runpy.run_module("synthpriv", run_name="__main__")
except SystemExit as exit:
    code = exit.code or 0
else:
    code = 0
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def run_stage(pipeline: Path, out: Path, stage: str) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _STAGE_IN_CHILD, "run", "-q", str(pipeline), "-o", str(out), "--only", stage],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"stage {stage} failed: {done.stderr.strip()}")
    peak = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak / 1024, 1)}


def measure(rows: int, batch_size: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        pipeline, out = Path(folder) / "pipeline.yaml", Path(folder) / "run"
        pipeline.write_text(
            yaml.safe_dump(
                {
                    "name": "export-stream",
                    "data": {"path": "builtin:student_placements", "target": "placed"},
                    "train": {"generator": "vae", "epochs": 2},
                    "synthesize": {"rows": rows, "batch_size": batch_size},
                    "export": {"formats": ["parquet", "csv"]},
                }
            )
        )
        stages = {
            s: run_stage(pipeline, out, s) for s in ("train", "synthesize", "validate", "attack", "export")
        }
        table = pd.read_parquet(out / "synthesize" / "synthetic.parquet")
        return {
            "rows": rows,
            "batch_size": batch_size,
            "table_in_memory_mb": round(table.memory_usage(deep=True).sum() / 2**20, 1),
            "parquet_mb": round((out / "export" / "synthetic.parquet").stat().st_size / 2**20, 1),
            "csv_mb": round((out / "export" / "synthetic.csv").stat().st_size / 2**20, 1),
            "stages": stages,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument(
        "--baseline-rows", type=int, default=2_000, help="a small run: the interpreter's own footprint"
    )
    args = parser.parse_args()
    large = measure(args.rows, args.batch_size)
    small = measure(args.baseline_rows, args.batch_size)
    result = {"large": large, "baseline": small}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "export_stream.json").write_text(json.dumps(result, indent=2))
    print(
        f"{args.rows:,} rows; table in memory {large['table_in_memory_mb']} MB; "
        f"Parquet {large['parquet_mb']} MB, CSV {large['csv_mb']} MB; baseline run {args.baseline_rows:,} rows"
    )
    print(f"{'stage':<12}{'seconds':>10}{'peak RSS MB':>14}{'baseline MB':>14}{'extra MB':>11}")
    for name, figures in large["stages"].items():  # type: ignore[union-attr]
        base = small["stages"][name]["peak_rss_mb"]  # type: ignore[index]
        print(
            f"{name:<12}{figures['seconds']:>10.1f}{figures['peak_rss_mb']:>14.1f}{base:>14.1f}"
            f"{figures['peak_rss_mb'] - base:>11.1f}"
        )


if __name__ == "__main__":
    main()
