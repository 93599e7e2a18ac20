"""Time of the validate stage's metrics on UCI Adult (run by hand), against the 60 s target.

    python benchmarks/validate_adult.py [--epochs 20] [--rows 32561] [--real-rows 1000000]

Fits a quick VAE on the 32,561 official train rows (the quality of the synthetic table does
not matter here, only its size), samples ``--rows`` synthetic rows, then runs each metric the
validate stage runs with the stage's defaults (holdout = the 16,281 official test rows) and
prints the seconds of each and the total. ``--real-rows`` resamples the real train rows (with
replacement) to that many, to time a large table; every metric then works on its seeded sample.
Writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from adult_protocol import RESULTS, adult_split, quick_synthetic

from synthpriv.config.model import ValidateConfig
from synthpriv.metrics.coverage import coverage
from synthpriv.metrics.detection import detection
from synthpriv.metrics.diagnostic import evaluate_diagnostic
from synthpriv.metrics.efficacy import ml_efficacy
from synthpriv.metrics.fidelity import column_distributions, evaluate_fidelity


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rows", type=int, default=32_561)
    parser.add_argument("--real-rows", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    train, holdout = adult_split()
    synthetic, schema = quick_synthetic(train, args.epochs, args.rows)
    if args.real_rows is not None:
        train = train.sample(args.real_rows, replace=True, random_state=0).reset_index(drop=True)
    config = ValidateConfig()

    seconds: dict[str, float] = {}
    results: dict[str, object] = {}

    def timed(name: str, run):
        started = time.perf_counter()
        out = run()
        seconds[name] = round(time.perf_counter() - started, 2)
        return out

    fidelity = timed(
        "fidelity (sdmetrics quality, with holdout)",
        lambda: evaluate_fidelity(
            train, synthetic, schema, holdout=holdout, max_rows=config.max_rows, seed=0
        ),
    )
    timed("diagnostic", lambda: evaluate_diagnostic(train, synthetic, schema, holdout=holdout))
    detector = timed(
        "detection",
        lambda: detection(
            train, synthetic, schema, seed=0, max_rows=config.model_rows, n_bootstrap=config.bootstrap
        ),
    )
    timed(
        "detection reference (holdout)",
        lambda: detection(train, holdout, schema, seed=0, max_rows=config.model_rows, n_bootstrap=0),
    )
    efficacy = timed(
        "ml efficacy",
        lambda: ml_efficacy(
            train,
            synthetic,
            holdout,
            schema,
            "income",
            seed=0,
            n_bootstrap=config.bootstrap,
            max_rows=config.efficacy_rows,
        ),
    )
    covered = timed(
        "coverage",
        lambda: coverage(train, synthetic, schema, seed=0, max_rows=config.neighbour_rows, holdout=holdout),
    )
    timed("distributions", lambda: column_distributions(train, synthetic, schema, k=config.min_count))
    total = round(sum(seconds.values()), 2)
    results = {
        "rows_real": len(train),
        "rows_synthetic": len(synthetic),
        "rows_holdout": len(holdout),
        "seconds": seconds,
        "total_s": total,
        "quality": fidelity.quality,
        "detection_auc": detector.auc,
        "efficacy_ratio": efficacy.ratio,
        "precision": covered.precision,
        "recall": covered.recall,
    }
    print("| metric | seconds |\n|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value} |")
    print(f"| **total** | **{total}** (target < 60) |")
    RESULTS.mkdir(exist_ok=True)
    suffix = f"_{len(train)}x{len(synthetic)}" if args.real_rows or args.rows != 32_561 else ""
    (RESULTS / f"validate_adult{suffix}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
