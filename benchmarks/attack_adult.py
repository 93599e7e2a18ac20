"""The attack stage on UCI Adult for a real generator and the two sanity controls (run by hand).

    python benchmarks/attack_adult.py [--synthetic vae copy third] [--epochs N] [--real-rows N]

Protocol (ANCHORS.md): train = the 32,561 official train rows, holdout = the 16,281 official
test rows (the control). Synthetic tables:

- ``vae``: the `vae` generator with its default settings, 32,561 rows (``--epochs`` to shorten);
- ``copy``: the leaky control, a "generator" that returns its training rows;
- ``third``: the harmless control, real rows the generator never saw. Adult has no third
  sample at full size, so this run trains on a random half of the official train rows and
  takes the other half as the synthetic table (holdout unchanged).

Each table goes through `synthpriv.evaluate.Evaluation` (the attack stage as a pipeline runs
it) with the quasi-identifiers of Anonymeter's Adult example, workclass, education,
hours_per_week, capital_loss, capital_gain | race, sex, fnlwgt, age, native_country (split in
two for linkability), and sensitive = income. Prints one
table per synthetic table: attack, AUC with its interval, TPR at FPR 1 % and 0.1 %, risks
with intervals, seconds; writes JSON to benchmarks/results/attack_adult*.json.
``--real-rows`` resamples train (with replacement) and samples as many synthetic rows from a
quick VAE, to time a large table.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from adult_protocol import RESULTS, adult_split, quick_synthetic

from synthpriv.data.schema import infer_schema
from synthpriv.evaluate import Evaluation
from synthpriv.generators.registry import get_generator

# Anonymeter's own Adult example: linkability splits these into its two halves of five.
QUASI_IDENTIFIERS = [
    "workclass",
    "education",
    "hours_per_week",
    "capital_loss",
    "capital_gain",
    "race",
    "sex",
    "fnlwgt",
    "age",
    "native_country",
]
SENSITIVE = "income"


def synthetic_table(
    kind: str, train: pd.DataFrame, epochs: int | None, rows: int | None
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """(train rows the attack treats as members, synthetic rows, fit seconds)."""
    if kind == "copy":
        return train, train.copy(), 0.0
    if kind == "third":
        order = np.random.default_rng(0).permutation(len(train))
        half = len(train) // 2
        return (
            train.iloc[order[:half]].reset_index(drop=True),
            train.iloc[order[half:]].reset_index(drop=True),
            0.0,
        )
    started = time.perf_counter()
    if rows is not None:
        synthetic, _ = quick_synthetic(train, epochs or 20, rows)
        members = train.sample(rows, replace=True, random_state=0).reset_index(drop=True)
        return members, synthetic, time.perf_counter() - started
    generator = get_generator("vae")(**({"epochs": epochs} if epochs else {}), seed=0)
    generator.fit(train, infer_schema(train))
    fitted = time.perf_counter() - started
    return train, generator.sample(len(train), seed=0), fitted


def _interval(pair: list[float] | tuple[float, float], digits: int = 3) -> str:
    return f"{pair[0]:.{digits}f}–{pair[1]:.{digits}f}"


def table_rows(summary: dict) -> list[tuple[str, ...]]:
    rows = []
    for attack in sorted(summary["membership"]["attacks"], key=lambda a: -a["auc"]):
        rows.append(
            (
                f"membership: {attack['name']}",
                f"AUC {attack['auc']:.3f} ({_interval(attack['auc_ci'])})",
                f"{attack['tpr_at_fpr_1pct']:.3f}",
                f"{attack['tpr_at_fpr_0_1pct']:.4f}",
            )
        )
    for name in ("inference", "linkability", "singling_out_univariate", "singling_out_multivariate"):
        risk = summary.get(name)
        if risk:
            rows.append(
                (
                    name,
                    f"risk {risk['risk']:.3f} ({_interval(risk['risk_ci'])}); train {risk['attack_rate']:.3f}, "
                    f"control {risk['control_rate']:.3f}, baseline {risk['baseline_rate']:.3f}",
                    "",
                    "",
                )
            )
    rows.append(
        (
            "proxy: closer to train than holdout",
            f"{summary['dcr_share']:.3f} ({_interval(summary['dcr_share_ci'])}); ideal 0.5",
            "",
            "",
        )
    )
    rows.append(
        (
            "proxy: identical to a train row",
            f"{summary['exact_match_all_train']:.4f} (holdout control {summary['exact_match_holdout']:.4f})",
            "",
            "",
        )
    )
    if "median_nndr_train" in summary:
        rows.append(
            (
                "proxy: median NNDR",
                f"train {summary['median_nndr_train']:.3f}, holdout {summary['median_nndr_holdout']:.3f}",
                "",
                "",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--synthetic", nargs="+", default=["vae", "copy", "third"], choices=["vae", "copy", "third"]
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="vae epochs (default: the generator's default)"
    )
    parser.add_argument("--real-rows", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    train, holdout = adult_split()
    results = {}
    for kind in args.synthetic:
        members, synthetic, fit_seconds = synthetic_table(kind, train, args.epochs, args.real_rows)
        with tempfile.TemporaryDirectory() as folder:
            paths = {name: Path(folder) / f"{name}.parquet" for name in ("train", "holdout", "synthetic")}
            for name, frame in (("train", members), ("holdout", holdout), ("synthetic", synthetic)):
                frame.to_parquet(paths[name])
            evaluation = Evaluation.from_files(
                paths["train"],
                paths["holdout"],
                paths["synthetic"],
                output_dir=Path(folder) / "run",
                quasi_identifiers=QUASI_IDENTIFIERS,
                sensitive=SENSITIVE,
            )
            started = time.perf_counter()
            evaluation.run(stages=("attack",))
            stage_seconds = time.perf_counter() - started
            summary = json.loads((Path(folder) / "run" / "attack" / "summary.json").read_text())
        results[kind] = {
            "rows": {"train": len(members), "holdout": len(holdout), "synthetic": len(synthetic)},
            "fit_seconds": round(fit_seconds, 1),
            "attack_stage_seconds": round(stage_seconds, 2),
            "summary": summary,
        }
        print(
            f"\n### {kind}: {len(members):,} train, {len(holdout):,} holdout, {len(synthetic):,} synthetic rows; "
            f"attack stage {stage_seconds:.1f} s (target < 120)"
        )
        print("| attack | figure (95% interval) | TPR@1% | TPR@0.1% |\n|---|---|---|---|")
        for row in table_rows(summary):
            print("| " + " | ".join(row) + " |")
        seconds = (
            {a["name"]: round(a["seconds"], 2) for a in summary["membership"]["attacks"]}
            if "seconds" in summary["membership"]["attacks"][0]
            else {}
        )
        print(
            f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; membership seconds {seconds}"
        )
    RESULTS.mkdir(exist_ok=True)
    suffix = f"_{args.real_rows}" if args.real_rows else ""
    (RESULTS / f"attack_adult{suffix}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
