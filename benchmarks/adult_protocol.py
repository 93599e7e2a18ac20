"""Adult benchmark with the protocol of ../shared/ANCHORS.md (run by hand, not in the tests).

    python benchmarks/adult_protocol.py --generator vae [--epochs N]

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
from synthpriv.data.schema import infer_schema
from synthpriv.generators.registry import get_generator
from synthpriv.metrics.fidelity import evaluate_fidelity

ADULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult.parquet"
RESULTS = Path(__file__).resolve().parent / "results"


def _as_model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or str(out[column].dtype).startswith("string"):
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
    scores = cross_val_predict(_classifier(), x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0), method="predict_proba")
    return float(roc_auc_score(y, scores[:, 1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generator", default="vae")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)

    table = read_table(ADULT)
    train = table[table["split"] == "train"].drop(columns="split").reset_index(drop=True)
    holdout = table[table["split"] == "test"].drop(columns="split").reset_index(drop=True)
    schema = infer_schema(train)

    generator = get_generator(args.generator)(epochs=args.epochs, seed=args.seed)
    started = time.perf_counter()
    fit = generator.fit(train, schema)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = generator.sample(len(train), seed=args.seed)
    sample_seconds = time.perf_counter() - started

    fidelity = evaluate_fidelity(train, synthetic, schema, max_rows=None, seed=0)
    dcr = dcr_evaluation(train, holdout, synthetic, schema, seed=0)
    row = {
        "generator": args.generator,
        "epochs": generator.epochs,
        "batch_size": generator.batch_size,
        "fit_s": round(fit_seconds, 1),
        "s_per_epoch": round(fit_seconds / max(fit.epochs, 1), 3),
        "sample_s": round(sample_seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "shape_err_pct": round(100 * (1 - fidelity.column_shapes), 2),
        "trend_err_pct": round(100 * (1 - fidelity.column_pair_trends), 2),
        "quality_default": round(fidelity.quality_default_thresholds, 3),
        "ml_auc": round(ml_efficacy(synthetic, holdout), 3),
        "ml_auc_real": round(ml_efficacy(train, holdout), 3),
        "detection_auc": round(detection_auc(train, synthetic), 3),
        "dcr_share": round(dcr.dcr_share, 3),
        "mia_auc": round(dcr.mia_auc, 3),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"adult_{args.generator}_seed{args.seed}.json"
    out.write_text(json.dumps(row, indent=2))
    width = max(map(len, row))
    for key, value in row.items():
        print(f"{key:<{width}}  {value}")
    print(f"written {out}")


if __name__ == "__main__":
    main()
