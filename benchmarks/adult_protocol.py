"""Adult benchmark with the protocol of ../shared/ANCHORS.md (run by hand, not in the tests).

    python benchmarks/adult_protocol.py --generator vae|gan|diffusion|marginal|autoregressive|all
        [--epochs N] [--params '{"hidden_dim": 256}' --tag wide]
    python benchmarks/adult_protocol.py --table     # the saved results beside the SDV anchors

Train on the 32,561 official train rows, sample 32,561 rows, then measure: fit and sample
seconds, peak RSS, shape and trend error (sdmetrics, all pairs) plus the default-threshold
quality, ML efficacy (HistGradientBoosting, ROC AUC on the official test rows), detection AUC
(5-fold, 20,000 vs 20,000), DCR share and distance-MIA AUC. Prints a table, writes JSON to
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from synthpriv.attacks.distance import dcr_evaluation
from synthpriv.data.io import read_table
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.generators.registry import get_generator
from synthpriv.metrics.fidelity import evaluate_fidelity

ADULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult.parquet"
RESULTS = Path(__file__).resolve().parent / "results"


def adult_split(path: Path | str = ADULT) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The official Adult train rows and test rows (the holdout), without the ``split`` column."""
    table = read_table(path)
    train = table[table["split"] == "train"].drop(columns="split").reset_index(drop=True)
    holdout = table[table["split"] == "test"].drop(columns="split").reset_index(drop=True)
    return train, holdout


def quick_synthetic(train: pd.DataFrame, epochs: int, rows: int) -> tuple[pd.DataFrame, TableSchema]:
    """A quickly fitted VAE's ``rows`` samples and the schema: a stand-in synthetic table for
    timing the validate and attack metrics, whose cost does not depend on its quality."""
    schema = infer_schema(train)
    generator = get_generator("vae")(epochs=epochs, seed=0)
    generator.fit(train, schema)
    return generator.sample(rows, seed=0), schema


def _as_model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].astype("category")
    return out


def _classifier() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=200, categorical_features="from_dtype", random_state=0)


def ml_efficacy(train: pd.DataFrame, test: pd.DataFrame, target: str = "income") -> float:
    """Train on ``train``, ROC AUC on the real test rows (positive = '>50K')."""
    both = _as_model_frame(pd.concat([train, test], keys=["a", "b"]))
    x_train, x_test = both.loc["a"].drop(columns=target), both.loc["b"].drop(columns=target)
    y_train, y_test = (train[target] == ">50K").to_numpy(), (test[target] == ">50K").to_numpy()
    model = _classifier().fit(x_train, y_train)
    return float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))


def detection_auc(real: pd.DataFrame, synthetic: pd.DataFrame, n: int = 20_000) -> float:
    rng = np.random.default_rng(0)
    a = real.iloc[rng.choice(len(real), min(n, len(real)), replace=False)]
    b = synthetic.iloc[rng.choice(len(synthetic), min(n, len(synthetic)), replace=False)]
    x = _as_model_frame(pd.concat([a, b], ignore_index=True))
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    scores = cross_val_predict(
        _classifier(), x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0), method="predict_proba"
    )
    return float(roc_auc_score(y, scores[:, 1]))


#: SDV's peers measured with this protocol on the same kind of machine (../shared/ANCHORS.md).
ANCHORS: dict[str, dict[str, float]] = {
    "SDV TVAE (anchor)": {
        "fit_s": 345,
        "sample_s": 0.29,
        "peak_rss_mb": 626,
        "shape_err_pct": 8.33,
        "trend_err_pct": 14.23,
        "ml_auc": 0.880,
        "detection_auc": 0.949,
        "dcr_share": 0.494,
        "mia_auc": 0.503,
    },
    "SDV CTGAN (anchor)": {
        "fit_s": 1455,
        "sample_s": 0.84,
        "peak_rss_mb": 659,
        "shape_err_pct": 10.94,
        "trend_err_pct": 16.01,
        "ml_auc": 0.891,
        "detection_auc": 0.959,
        "dcr_share": 0.506,
        "mia_auc": 0.507,
    },
}
COLUMNS = (
    "fit_s",
    "epochs",
    "sample_s",
    "rows_per_s",
    "peak_rss_mb",
    "shape_err_pct",
    "trend_err_pct",
    "ml_auc",
    "ml_auc_real",
    "detection_auc",
    "dcr_share",
    "mia_auc",
)


KINDS = ("vae", "gan", "diffusion", "marginal", "autoregressive")


def measure(kind: str, epochs: int | None, seed: int, params: dict | None = None) -> dict[str, object]:
    """Fit ``kind`` (its defaults, or ``params``) on the Adult train rows and score it; one JSON-ready row."""
    train, holdout = adult_split()
    schema = infer_schema(train)

    generator = get_generator(kind)(params, epochs=epochs, seed=seed)
    started = time.perf_counter()
    fit = generator.fit(train, schema)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = generator.sample(len(train), seed=seed)
    sample_seconds = time.perf_counter() - started

    fidelity = evaluate_fidelity(train, synthetic, schema, max_rows=None, seed=0)
    dcr = dcr_evaluation(train, holdout, synthetic, schema, seed=0)
    return {
        "generator": kind,
        "epochs": generator.epochs,
        "epochs_run": fit.epochs,
        "batch_size": generator.batch_size,
        "params": generator.params.model_dump(mode="json"),
        "fit_s": round(fit_seconds, 1),
        "s_per_epoch": round(fit_seconds / max(fit.epochs, 1), 3),
        "sample_s": round(sample_seconds, 2),
        "rows_per_s": round(len(train) / sample_seconds),
        # ru_maxrss is the whole process's peak (KiB on Linux): run one generator per process.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "shape_err_pct": round(100 * (1 - fidelity.column_shapes), 2),
        "trend_err_pct": round(100 * (1 - fidelity.column_pair_trends), 2),
        "quality_default": round(fidelity.quality_default_thresholds, 3),
        "ml_auc": round(ml_efficacy(synthetic, holdout), 3),
        "ml_auc_real": round(ml_efficacy(train, holdout), 3),
        "detection_auc": round(detection_auc(train, synthetic), 3),
        "dcr_share": round(dcr.dcr_share, 3),
        "mia_auc": round(dcr.mia_auc, 3),
        "torch_threads": torch.get_num_threads(),
    }


def print_table(rows: dict[str, dict[str, object]]) -> None:
    """A Markdown table of ``rows`` (name -> measures) with the SDV anchors below them."""
    everything = {**rows, **ANCHORS}
    print("| system | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, row in everything.items():
        print(f"| {name} | " + " | ".join(str(row.get(c, "")) for c in COLUMNS) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generator", default="vae", help=f"{', '.join(KINDS)}, or all (one process each)")
    parser.add_argument("--params", default=None, help="train.params as JSON (default: the generator's)")
    parser.add_argument("--tag", default="", help="a suffix of the result file (for --params runs)")
    parser.add_argument("--epochs", type=int, default=None, help="override the default epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", action="store_true", help="only print the table of the saved results")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    kinds = list(KINDS) if args.generator == "all" else [args.generator]
    if not args.table:
        if len(kinds) > 1:
            # One process per generator, so each peak RSS is its own.
            for kind in kinds:
                command = [sys.executable, __file__, "--generator", kind, "--seed", str(args.seed)]
                subprocess.run(command + (["--epochs", str(args.epochs)] if args.epochs else []), check=True)
        else:
            torch.set_num_threads(2)
            params = json.loads(args.params) if args.params else None
            row = measure(kinds[0], args.epochs, args.seed, params)
            out = RESULTS / f"adult_{kinds[0]}{args.tag}_seed{args.seed}.json"
            out.write_text(json.dumps(row, indent=2))
            print(f"written {out}")
    rows = {}
    for kind in KINDS:
        path = RESULTS / f"adult_{kind}_seed{args.seed}.json"
        if path.exists():
            rows[f"synthpriv {kind}"] = json.loads(path.read_text())
    print_table(rows)


if __name__ == "__main__":
    main()
