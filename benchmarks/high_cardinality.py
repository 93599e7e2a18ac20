"""Peak memory of fitting (and sampling from) each generator on a table with a many-level column.

    python benchmarks/high_cardinality.py [--epochs 1] [--steps 10] [--sample-rows 1000]
                                          [--before-src DIR] [--max-rss-mb 10000]
                                          [--only vae,gan,diffusion] [--shapes 60000:10000]

The table has a string column ``code`` with many levels beside three ordinary columns (a
number, a 4-level category, a boolean). Two shapes: the issue's 10,000 levels held by
exactly 6 rows each (60,000 rows), and 100,000 rows drawn uniformly from 20,000 levels (most
levels have about 5 rows). Each is fitted with the default ``min_category_count`` (5: rare
levels fold into "(other)") and with 1 (every level kept: the widest model). Each
measurement runs in a fresh process, so its peak RSS (``ru_maxrss``) is its own: first after
``fit``, then after sampling ``--sample-rows`` rows. Training stops each epoch after
``--steps`` optimizer steps (see `cap_steps`): the peak is reached within them, and the
whole epoch of a 20,000-wide model takes minutes on a 2-core CPU (0 runs it all).

``--before-src DIR`` measures the same cases with the package at DIR (say a
``git worktree add /tmp/base <commit>``) on ``PYTHONPATH`` as well, for a before/after table.
A process whose RSS passes ``--max-rss-mb`` is stopped and reported as such. Writes
benchmarks/results/high_cardinality.json.

Measured on a 2-core CPU (defaults: 1 epoch of at most 10 steps, 1,000 rows sampled), peak
RSS of fit + sample in MB, after (integer codes, one-hot per batch) / before (092327d, the
dense one-hot matrix):

    rows     levels  min_count  kept    vae          gan            diffusion
    60,000   10,000  5          10,000  740 / 9,486  2,405 / 9,484  1,323 / 9,486
    60,000   10,000  1          10,000  723 / 9,484  2,361 / 9,482  1,332 / 9,485
    100,000  20,000  5          11,165  749 / stop   2,603 / stop   1,434 / stop
    100,000  20,000  1          19,878  881 / stop   3,818 / stop   2,180 / stop

("stop": the process passed 10,000 MB and was stopped.)

Before, the fit built the rows x width one-hot in float32, concatenated it with the float64
value columns into float64 and cast that to float32: 16 bytes a cell, 17.9 GB for 100,000 x
11,172 and 31.8 GB for 100,000 x 19,885. After, the table takes a few bytes a row; what is
left grows with the width, not the rows: the networks (the GAN's PacGAN critic reads 10 rows
of 2 x width inputs) and one batch's activations.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

RESULTS = Path(__file__).parent / "results"
#: (rows, levels, how the levels are spread over the rows)
SHAPES = ((60_000, 10_000, "each level 6 rows"), (100_000, 20_000, "uniform"))
MIN_COUNTS = (5, 1)
GENERATORS = ("vae", "gan", "diffusion")


def make_table(rows: int, levels: int, spread: str, seed: int = 0) -> pd.DataFrame:
    """The benchmark table: ``code`` with ``levels`` levels, plus a number, a category and a flag."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    if spread == "uniform":
        level = rng.integers(0, levels, rows)
    else:  # every level held by the same number of rows
        level = rng.permutation(np.repeat(np.arange(levels), -(-rows // levels))[:rows])
    names = np.char.add("c", np.char.zfill(level.astype(str), 5)).astype(object)
    return pd.DataFrame(
        {
            "code": names,
            "age": rng.normal(40.0, 12.0, rows).round(),
            "grade": rng.choice(np.array(["A", "B", "C", "D"], dtype=object), rows),
            "flag": rng.random(rows) < 0.3,
        }
    )


def cap_steps(steps: int) -> None:
    """Stop each training epoch after ``steps`` optimizer steps (0: no cap).

    The peak is reached in the first steps (the data, the model, its optimizer state and a
    batch's activations are all there by then); the rest of an epoch over 100,000 rows of a
    20,000-wide model only adds minutes of the same.
    """
    if not steps:
        return
    import itertools

    from synthpriv.generators import ctgan
    from synthpriv.training import loop

    whole = loop.train

    def train(*args, sampler=loop.shuffled_batches, **kwargs):
        def capped(rows, batch_size, generator):
            return itertools.islice(sampler(rows, batch_size, generator), steps)

        return whole(*args, sampler=capped, **kwargs)

    loop.train = ctgan.train = train


def child(
    rows: int, levels: int, spread: str, min_count: int, kind: str, epochs: int, sample_rows: int, steps: int
) -> None:
    """One measurement, in this process: prints a JSON line."""
    import resource

    from synthpriv.data.schema import infer_schema
    from synthpriv.generators.registry import get_generator

    def peak_mb() -> float:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

    cap_steps(steps)
    table = make_table(rows, levels, spread)
    schema = infer_schema(table)
    baseline = peak_mb()
    # Diffusion samples with 10 denoising steps, not 100: each step costs the same memory.
    params = {"sampling_steps": 10} if kind == "diffusion" else None
    model = get_generator(kind)(params, epochs=epochs, seed=0, min_category_count=min_count, device="cpu")
    started = time.perf_counter()
    model.fit(table, schema)
    fit_seconds = time.perf_counter() - started
    fit_peak = peak_mb()
    assert model.transformer is not None
    kept = len(model.transformer.categorical["code"].categories)
    started = time.perf_counter()
    synthetic = model.sample(sample_rows, seed=1)
    sample_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "kept_levels": kept,
                "width": model.transformer.width,
                "table_peak_rss_mb": baseline,
                "fit_peak_rss_mb": fit_peak,
                "fit_s": round(fit_seconds, 1),
                "sample_peak_rss_mb": peak_mb(),
                "sample_s": round(sample_seconds, 1),
                "sampled_levels": int(synthetic["code"].nunique()),
            }
        )
    )


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(
    case: dict[str, object], *, src: str | None, epochs: int, steps: int, sample_rows: int, max_rss_mb: float
) -> dict:
    """Run one case in a fresh process (with ``src`` first on PYTHONPATH when given)."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    args = [case["rows"], case["levels"], case["spread"], case["min_category_count"], case["generator"]]
    command = [sys.executable, __file__, "--child", *map(str, [*args, epochs, sample_rows, steps])]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    highest = 0.0
    while process.poll() is None:
        highest = max(highest, _rss_mb(process.pid))
        if highest > max_rss_mb:
            process.kill()
            process.wait()
            return {
                "stopped": f"RSS passed {max_rss_mb:.0f} MB",
                "seconds": round(time.perf_counter() - started, 1),
            }
        time.sleep(0.2)
    out, err = process.communicate()
    if process.returncode != 0:
        return {"failed": (err.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.strip().splitlines()[-1])


def cases(generators: tuple[str, ...]) -> list[dict[str, object]]:
    return [
        {"rows": rows, "levels": levels, "spread": spread, "min_category_count": k, "generator": kind}
        for rows, levels, spread in SHAPES
        for k in MIN_COUNTS
        for kind in generators
    ]


def _figure(result: dict, key: str) -> str:
    if "stopped" in result:
        return "stopped"
    if "failed" in result:
        return "failed"
    return str(result.get(key, ""))


def print_table(results: list[dict[str, object]]) -> None:
    header = (
        "rows",
        "levels",
        "min_count",
        "generator",
        "kept",
        "width",
        "fit MB",
        "fit s",
        "+sample MB",
        "sample s",
    )
    with_before = any("before" in r for r in results)
    if with_before:
        header = (*header, "before fit MB")
    print(" | ".join(header))
    for r in results:
        after = r["after"]
        cells = [
            r["rows"], r["levels"], r["min_category_count"], r["generator"],
            _figure(after, "kept_levels"), _figure(after, "width"), _figure(after, "fit_peak_rss_mb"),
            _figure(after, "fit_s"), _figure(after, "sample_peak_rss_mb"), _figure(after, "sample_s"),
        ]  # fmt: skip
        if with_before:
            cells.append(_figure(r.get("before", {}), "fit_peak_rss_mb"))
        print(" | ".join(map(str, cells)))


def _commit(src: str) -> str:
    """The commit checked out at ``src`` (or the folder itself when it is not a git checkout)."""
    done = subprocess.run(
        ["git", "-C", src, "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or src


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per epoch at most (0: all)")
    parser.add_argument("--sample-rows", type=int, default=1_000)
    parser.add_argument("--before-src", help="a source tree of the package to measure as 'before'")
    parser.add_argument("--max-rss-mb", type=float, default=10_000)
    parser.add_argument("--only", default=",".join(GENERATORS), help="generators, comma-separated")
    parser.add_argument(
        "--shapes", default="all", help="'all', or rows:levels of one shape, e.g. 60000:10000"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "high_cardinality.json")
    parser.add_argument("--child", nargs=8, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        rows, levels, spread, k, kind, epochs, sample_rows, steps = options.child
        child(int(rows), int(levels), spread, int(k), kind, int(epochs), int(sample_rows), int(steps))
        return
    todo = cases(tuple(options.only.split(",")))
    if options.shapes != "all":
        rows, levels = (int(x) for x in options.shapes.split(":"))
        todo = [c for c in todo if (c["rows"], c["levels"]) == (rows, levels)]
    settings = {
        "epochs": options.epochs,
        "steps": options.steps,
        "sample_rows": options.sample_rows,
        "max_rss_mb": options.max_rss_mb,
    }
    results = []
    for case in todo:
        record = dict(case)
        record["after"] = measure(case, src=None, **settings)
        if options.before_src:
            record["before"] = measure(case, src=options.before_src, **settings)
        print(json.dumps(record), flush=True)
        results.append(record)
    print_table(results)
    options.output.parent.mkdir(parents=True, exist_ok=True)
    before = _commit(options.before_src) if options.before_src else None
    written = {"settings": {**settings, "before_src": before}, "results": results}
    options.output.write_text(json.dumps(written, indent=2) + "\n")


if __name__ == "__main__":
    main()
