"""Which DP-SGD noise gives usable data (run by hand): the measured tables behind the forecast.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/dp_band.py [--tables adult demo]
        [--generators vae diffusion] [--adult-rows 6000] [--out benchmarks/results/dp_band.json]
    python benchmarks/dp_band.py --resume ...   # measure only the settings not yet in --out
    python benchmarks/dp_band.py --table-only   # print the saved results

Fits the DP VAE and DP diffusion, with the whole DP mechanism of a pipeline run (the plan's
preprocessing releases, then DP-SGD with the planned noise; as benchmarks/adult_dp.py), on

- UCI Adult: a seeded subsample of the official train rows (``--adult-rows``), scored on
  the subsample (shape and trend error, sdmetrics) and on the official test rows (ML AUC of
  a classifier trained on the synthetic rows, `adult_protocol.ml_efficacy`);
- the built-in demo table (``pipelines/demo_dp_sgd.yaml``'s declarations and split: 172
  training rows, 43 holdout rows; ML AUC for ``placed`` on the holdout rows);

at a grid of epsilon, epochs and batch size spanning noise multipliers from about 0.5 to 20.
Each row records the noise multiplier, the DP-SGD steps, the rows, the sample rate, the
expected batch and the errors. Two reference rows per table bound the scale: ``independent``
(each real column shuffled on its own: shapes exact, no relation kept, what a generator that
learned nothing but the marginals would give) and ``real`` (the training rows themselves).
`synthpriv.privacy.forecast` holds the rule derived from these tables. Quality is the point,
not timing (the machine that measured them is shared).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml
from adult_dp import BOUNDS
from adult_protocol import RESULTS, _as_model_frame, _classifier, adult_split, ml_efficacy
from sklearn.metrics import roc_auc_score

from synthpriv.config.model import ColumnDeclaration
from synthpriv.config.privacy import PrivacyConfig
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.generators.registry import get_generator
from synthpriv.metrics.fidelity import evaluate_fidelity
from synthpriv.pipeline import Pipeline
from synthpriv.privacy.attach import PrivateTrainer
from synthpriv.privacy.plan import PrivacyPlan

DEMO_DP = Path(__file__).resolve().parents[1] / "pipelines" / "demo_dp_sgd.yaml"
SEED = 0

#: (epsilon, epochs, batch size) per table: noise multipliers from about 0.5 to 20.
GRID: dict[str, list[tuple[float, int, int]]] = {
    "adult": [
        (10.0, 5, 2000),
        (10.0, 30, 500),
        (10.0, 60, 1000),
        (3.0, 30, 500),
        (3.0, 100, 500),
        (1.0, 30, 500),
        (1.0, 100, 1000),
        (1.0, 100, 250),
        (0.5, 100, 250),
        (10.0, 250, 500),
        (3.0, 250, 500),
    ],
    "demo": [
        (10.0, 5, 128),
        (10.0, 30, 128),
        (10.0, 100, 64),
        (10.0, 300, 64),
        (3.0, 30, 64),
        (3.0, 100, 64),
        (3.0, 300, 64),
        (3.0, 300, 128),
        (1.0, 30, 64),
    ],
}
#: Small networks and short fits: the grid must run in about 25 minutes on two cores.
PARAMS: dict[str, dict[str, Any]] = {
    "vae": {},
    "diffusion": {"timesteps": 100, "sampling_steps": 20},
}


class Table:
    """One benchmark table: training rows, holdout, schema, declarations and an ML score."""

    def __init__(self, name: str, adult_rows: int) -> None:
        self.name = name
        if name == "adult":
            train, self.holdout = adult_split()
            rng = np.random.default_rng(SEED)
            self.train = train.iloc[rng.choice(len(train), adult_rows, replace=False)].reset_index(drop=True)
            self.declarations = {
                c: ColumnDeclaration(kind="numerical", bounds=bounds) for c, bounds in BOUNDS.items()
            }
            self.schema: TableSchema = infer_schema(self.train, self.declarations, public_only=True)
            self.target, self.positive = "income", ">50K"
        else:
            pipeline = Pipeline.from_config(yaml.safe_load(DEMO_DP.read_text()))
            self.schema = pipeline.check(privacy=False)
            real = pipeline.real
            split = real.make_split(pipeline.config.seed)
            self.train, self.holdout = real.train(split), real.holdout(split)
            self.declarations = real.declarations()
            self.target, self.positive = "placed", _positive(self.train["placed"])

    def ml_auc(self, synthetic: pd.DataFrame) -> float | None:
        if self.name == "adult":
            return ml_efficacy(synthetic, self.holdout)
        labels = (synthetic[self.target] == self.positive).fillna(False).astype(bool)  # a null: negative
        if labels.nunique() < 2:
            return None  # one class: nothing to learn
        both = _as_model_frame(pd.concat([synthetic, self.holdout], keys=["a", "b"]))
        x_train, x_test = both.loc["a"].drop(columns=self.target), both.loc["b"].drop(columns=self.target)
        model = _classifier().fit(x_train, labels.to_numpy())
        truth = (self.holdout[self.target] == self.positive).fillna(False).astype(bool).to_numpy()
        return float(roc_auc_score(truth, model.predict_proba(x_test)[:, 1]))

    def score(self, synthetic: pd.DataFrame) -> dict[str, Any]:
        fidelity = evaluate_fidelity(self.train, synthetic, self.schema, max_rows=None, seed=0)
        auc = self.ml_auc(synthetic)
        return {
            "shape_err_pct": round(100 * (1 - fidelity.column_shapes), 2),
            "trend_err_pct": round(100 * (1 - fidelity.column_pair_trends), 2),
            "ml_auc": None if auc is None else round(auc, 3),
        }


def _positive(column: pd.Series) -> object:
    """The demo target's positive label: True, or the less frequent value."""
    values = column.dropna().unique().tolist()
    return True if True in values else column.value_counts().index[-1]


def references(table: Table) -> list[dict[str, Any]]:
    rng = np.random.default_rng(SEED)
    independent = pd.DataFrame(
        {c: table.train[c].to_numpy()[rng.permutation(len(table.train))] for c in table.train.columns}
    )
    return [
        {"table": table.name, "generator": name, "rows": len(table.train), **table.score(frame)}
        for name, frame in (("independent", independent), ("real", table.train))
    ]


def measure(table: Table, kind: str, epsilon: float, epochs: int, batch_size: int) -> dict[str, Any]:
    generator = get_generator(kind)(PARAMS[kind], epochs=epochs, batch_size=batch_size, seed=SEED)
    shape = generator.fit_shape(
        len(table.train), fixed_budget=PrivateTrainer.fixed_budget, transformer_given=True
    )
    plan = PrivacyPlan.build(PrivacyConfig(epsilon=epsilon), table.schema, table.declarations, shape)
    started = time.perf_counter()
    _, transformer = plan.fit_preprocessing(table.train, table.schema, table.declarations)
    generator.fit(table.train, table.schema, transformer=transformer, trainer=plan.trainer())
    fit_seconds = time.perf_counter() - started
    synthetic = generator.sample(max(len(table.train), 500), seed=SEED)
    noise = plan.calibration
    return {
        "table": table.name,
        "generator": kind,
        "epsilon": epsilon,
        "epochs": epochs,
        "batch_size": batch_size,
        "rows": len(table.train),
        "noise_multiplier": round(noise.noise_multiplier, 3),
        "steps": noise.steps,
        "sample_rate": round(noise.sample_rate, 4),
        "expected_batch": noise.expected_batch_size,
        "noise_per_row": round(noise.noise_multiplier / max(noise.expected_batch_size, 1), 4),
        "fit_s": round(fit_seconds, 1),
        **table.score(synthetic),
    }


COLUMNS = (
    "table",
    "generator",
    "epsilon",
    "epochs",
    "batch_size",
    "rows",
    "noise_multiplier",
    "steps",
    "sample_rate",
    "expected_batch",
    "noise_per_row",
    "shape_err_pct",
    "trend_err_pct",
    "ml_auc",
    "fit_s",
)


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| " + " | ".join(COLUMNS) + " |")
    print("|---" * len(COLUMNS) + "|")
    for row in rows:
        print("| " + " | ".join("" if row.get(c) is None else str(row[c]) for c in COLUMNS) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", nargs="+", default=["demo", "adult"], choices=sorted(GRID))
    parser.add_argument("--generators", nargs="+", default=["vae", "diffusion"], choices=sorted(PARAMS))
    parser.add_argument("--adult-rows", type=int, default=6000)
    parser.add_argument("--out", type=Path, default=RESULTS / "dp_band.json")
    parser.add_argument("--table-only", action="store_true", help="print the saved results only")
    parser.add_argument("--resume", action="store_true", help="keep --out's rows, measure only the others")
    args = parser.parse_args()
    if args.table_only:
        print_table(json.loads(args.out.read_text()))
        return
    torch.set_num_threads(2)
    RESULTS.mkdir(exist_ok=True)
    rows: list[dict[str, Any]] = json.loads(args.out.read_text()) if args.resume else []
    done = {tuple(r.get(k) for k in ("table", "generator", "epsilon", "epochs", "batch_size")) for r in rows}
    for name in args.tables:
        table = Table(name, args.adult_rows)
        if not args.resume:
            rows.extend(references(table))
        for kind in args.generators:
            for epsilon, epochs, batch_size in GRID[name]:
                if (name, kind, epsilon, epochs, batch_size) in done:
                    continue
                rows.append(measure(table, kind, epsilon, epochs, batch_size))
                print(json.dumps(rows[-1]), flush=True)
                args.out.write_text(json.dumps(rows, indent=2))
    args.out.write_text(json.dumps(rows, indent=2))
    print_table(rows)


if __name__ == "__main__":
    main()
