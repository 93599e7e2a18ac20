"""Differential privacy on UCI Adult (run by hand): quality and leakage at several epsilons.

    python benchmarks/adult_dp.py --generator vae --epsilon 1 3 10 [--epochs N] [--batch-size B]
        [--param learning_rate=3e-3] [--tag _b2000]
    python benchmarks/adult_dp.py --mechanism marginals --epsilon 1 3 10 [--rounds R]

The ANCHORS.md protocol (train on the 32,561 official train rows, holdout = the test rows),
with the whole DP mechanism of a pipeline run: DP preprocessing from the public bounds below
(category lists are released by stability histograms), then DP-SGD (``--mechanism dp-sgd``)
or the noisy selected marginals the ``marginal`` generator is fitted to (``--mechanism
marginals``), all charged to one ledger. For each epsilon: fit time, the ledger's total
epsilon, shape and trend error, ML efficacy, the distance MIA AUC and the audit's empirical
lower bound on epsilon. Writes JSON to benchmarks/results/ and prints a table beside the
peers' DP figures.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
import torch
from adult_protocol import RESULTS, adult_split, ml_efficacy

from synthpriv.attacks.audit import epsilon_lower_bound
from synthpriv.attacks.distance import dcr_evaluation
from synthpriv.config.model import ColumnDeclaration
from synthpriv.config.privacy import PrivacyConfig
from synthpriv.data.schema import infer_schema
from synthpriv.generators.registry import get_generator
from synthpriv.metrics.fidelity import evaluate_fidelity
from synthpriv.privacy.attach import PrivateTrainer
from synthpriv.privacy.marginal_plan import MarginalPlan
from synthpriv.privacy.plan import PrivacyPlan

#: Public knowledge about Adult's numbers (the census questionnaire's ranges), not read from the data.
BOUNDS = {
    "age": (16, 100),
    "fnlwgt": (0, 1_500_000),
    "education_num": (1, 16),
    "capital_gain": (0, 100_000),
    "capital_loss": (0, 5_000),
    "hours_per_week": (1, 99),
}


def public_declarations(train: pd.DataFrame, codebook: bool) -> dict[str, ColumnDeclaration]:
    """What a data owner would declare about Adult as public knowledge: the numbers' ranges and,
    with ``codebook``, every category list and whether the column may be missing, as the census
    codebook states them. This benchmark reads the lists off the file, which holds exactly the
    codebook's values (missing answers are nulls); a real pipeline writes them in
    ``data.columns``. Without ``codebook`` the category lists are released by DP stability
    histograms, which at epsilon 1 keep only categories of more than about 2,600 rows."""
    declared = {name: ColumnDeclaration(kind="numerical", bounds=bounds) for name, bounds in BOUNDS.items()}
    if codebook:
        for name in train.columns.difference(list(BOUNDS)):
            values = train[name]
            declared[name] = ColumnDeclaration(
                kind="categorical",
                categories=sorted(values.dropna().unique()),
                nullable=bool(values.isna().any()),
            )
    return declared


#: smartnoise's DP peers on the same protocol (../shared/ANCHORS.md).
PEERS = {
    "MST eps 1": {"shape_err_pct": 19.25, "trend_err_pct": 10.51, "ml_auc": 0.672, "mia_auc": 0.498},
    "MST eps 10": {"shape_err_pct": 19.00, "trend_err_pct": 10.34, "ml_auc": 0.656, "mia_auc": 0.499},
    "AIM eps 1": {"shape_err_pct": 19.49, "trend_err_pct": 6.21, "ml_auc": 0.651, "mia_auc": 0.499},
    "AIM eps 10": {"shape_err_pct": 19.31, "trend_err_pct": 5.57, "ml_auc": 0.800, "mia_auc": 0.502},
}
COLUMNS = (
    "mechanism",
    "epsilon",
    "epsilon_spent",
    "fit_s",
    "shape_err_pct",
    "trend_err_pct",
    "ml_auc",
    "mia_auc",
    "audit_epsilon_lb",
    "audit_ceiling",
)


def measure(
    kind: str,
    epsilon: float,
    epochs: int | None,
    seed: int,
    batch_size: int | None = None,
    params: dict[str, object] | None = None,
    mechanism: str = "dp-sgd",
    rounds: int | None = None,
    codebook: bool = True,
) -> dict[str, object]:
    train, holdout = adult_split()
    declarations = public_declarations(train, codebook)
    schema = infer_schema(train, declarations, public_only=True)
    privacy = PrivacyConfig(epsilon=epsilon, mechanism=mechanism, rounds=rounds)

    started = time.perf_counter()
    generator = get_generator(kind)(params, epochs=epochs, batch_size=batch_size, seed=seed)
    # The plan the train stage executes: preprocessing releases, then DP-SGD with the planned noise.
    shape = generator.fit_shape(len(train), fixed_budget=PrivateTrainer.fixed_budget, transformer_given=True)
    if mechanism == "marginals":
        plan: PrivacyPlan | MarginalPlan = MarginalPlan.build(
            privacy, schema, declarations, shape, target="income"
        )
    else:
        plan = PrivacyPlan.build(privacy, schema, declarations, shape)
    ledger, transformer = plan.fit_preprocessing(train, schema, declarations)
    trainer = plan.trainer()
    generator.fit(train, schema, transformer=transformer, trainer=trainer)
    assert trainer.release is not None
    ledger.charge(trainer.release)
    fit_seconds = time.perf_counter() - started

    synthetic = generator.sample(len(train), seed=seed)
    fidelity = evaluate_fidelity(train, synthetic, schema, max_rows=None, seed=0)
    dcr = dcr_evaluation(train, holdout, synthetic, schema, seed=0)
    members, non_members = dcr.membership_distances
    audit = epsilon_lower_bound(-members, -non_members, delta=ledger.spent_delta, seed=seed)
    return {
        "generator": kind,
        "mechanism": mechanism,
        "categories": "declared (codebook)" if codebook else "DP stability histograms",
        "epsilon": epsilon,
        "epsilon_spent": round(ledger.spent_epsilon, 3),
        "delta_spent": ledger.spent_delta,
        "epochs": generator.epochs,
        "batch_size": generator.batch_size,
        "params": params or {},
        "training_release": {k: v for k, v in vars(trainer.release).items() if k != "what"},
        "fit_s": round(fit_seconds, 1),
        "shape_err_pct": round(100 * (1 - fidelity.column_shapes), 2),
        "trend_err_pct": round(100 * (1 - fidelity.column_pair_trends), 2),
        "ml_auc": round(ml_efficacy(synthetic, holdout), 3),
        "mia_auc": round(dcr.mia_auc, 3),
        "mia_auc_ci": [round(x, 3) for x in dcr.mia_auc_ci],
        "audit_epsilon_lb": round(audit.epsilon_lower_bound, 3),
        "audit_ceiling": round(audit.epsilon_ceiling, 2),
        "releases": len(ledger.releases),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generator", default=None, help="default: vae (dp-sgd), marginal (marginals)")
    parser.add_argument("--mechanism", choices=("dp-sgd", "marginals"), default="dp-sgd")
    parser.add_argument("--rounds", type=int, default=None, help="marginals: selection rounds")
    parser.add_argument(
        "--no-codebook",
        action="store_true",
        help="release the category lists by DP instead of declaring them",
    )
    parser.add_argument("--epsilon", type=float, nargs="+", default=[1.0, 3.0, 10.0])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="a generator parameter, e.g. --param learning_rate=3e-3 (repeatable)",
    )
    parser.add_argument("--tag", default="", help="appended to the JSON file names")
    args = parser.parse_args()
    torch.set_num_threads(2)
    RESULTS.mkdir(exist_ok=True)
    generator = args.generator or ("marginal" if args.mechanism == "marginals" else "vae")
    rows = {}
    for epsilon in args.epsilon:
        params = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.param)}
        row = measure(
            generator,
            epsilon,
            args.epochs,
            args.seed,
            args.batch_size,
            params,
            args.mechanism,
            args.rounds,
            codebook=not args.no_codebook,
        )
        name = f"adult_dp_{generator}_{args.mechanism}_eps{epsilon:g}_seed{args.seed}{args.tag}.json"
        (RESULTS / name).write_text(json.dumps(row, indent=2))
        rows[f"synthpriv {generator} {args.mechanism} eps {epsilon:g}"] = row
        print(json.dumps(row), flush=True)
    print("| system | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for name, row in {**rows, **PEERS}.items():
        print(f"| {name} | " + " | ".join(str(row.get(c, "")) for c in COLUMNS) + " |")


if __name__ == "__main__":
    main()
