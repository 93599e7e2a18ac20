"""Row logic and value privacy per generator (issue 19), each figure beside its holdout reference.

    python benchmarks/row_logic_privacy.py --table demo --generators autoregressive vae gan diffusion
    python benchmarks/row_logic_privacy.py --table adult --generators autoregressive vae --epochs 30

Runs the whole pipeline (train, synthesize, validate, attack) on the table with each
generator and reads the stages' summaries: the worst mined rule's share of synthetic rows
breaking it, rows with a missing pattern no training row has, values off the real form
(decimals, whole numbers, value sets, date steps), the share of synthetic numbers equal to a
value only one training row holds, and the membership attack on the 1 % and 5 % most
outlying training rows (strongest AUC, its TPR at 1 % FPR, outlying training rows with a
synthetic row nearer than any real one). The reference beside each is the real holdout's own
figure (for the outlier attack: the held-out non-members' count; chance is an AUC of 0.5).
``demo`` is the built-in table; ``adult`` the official split of ../shared (train rows, the
test rows as the holdout file). ``--epochs`` caps every generator's epochs (say so when
quoting). Writes benchmarks/results/row_logic_privacy_<table>.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import yaml
from adult_protocol import RESULTS, adult_split

from synthpriv import Pipeline


def pipeline_file(folder: Path, table: str, generator: str, epochs: int | None) -> Path:
    train: dict[str, object] = {"generator": generator}
    if epochs is not None:
        train["epochs"] = epochs
    if table == "demo":
        data: dict[str, object] = {"path": "builtin:student_placements", "holdout": 0.2, "target": "placed"}
        rows = 500
    else:
        real, holdout = adult_split()
        real.to_parquet(folder / "train.parquet")
        holdout.to_parquet(folder / "holdout.parquet")
        data = {"path": "train.parquet", "holdout": "holdout.parquet", "target": "income"}
        rows = len(real)
    path = folder / f"{generator}.yaml"
    config = {
        "name": f"{table}-{generator}",
        "output_dir": str(folder / "run"),
        "data": data,
        "train": train,
        "synthesize": {"rows": rows},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def tier_figures(tier: dict[str, object]) -> dict[str, object]:
    strongest = next((a for a in tier["attacks"] if a["name"] == tier["strongest"]), None)  # type: ignore[union-attr]
    return {
        "share": tier["measured_share"] or tier["share"],
        "auc": None if strongest is None else round(strongest["auc"], 3),
        "tpr_at_1pct": None
        if strongest is None or not tier["tpr_at_fpr_1pct_resolved"]
        else round(strongest["tpr_at_fpr_1pct"], 3),
        "members_nearer_synthetic": tier["members_nearer_synthetic"],
        "non_members_nearer_synthetic": tier["non_members_nearer_synthetic"],
        "members": tier["members"],
    }


def measure(table: str, generator: str, epochs: int | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        path = pipeline_file(Path(folder), table, generator, epochs)
        Pipeline.from_yaml(path).run()
        run = Path(folder) / "run"
        validate = json.loads((run / "validate" / "summary.json").read_text())
        attack = json.loads((run / "attack" / "summary.json").read_text())
    reuse, outliers = attack["value_reuse"], attack["outlier_membership"]
    return {
        "generator": generator,
        "rules": validate["rules"],
        "rule_violation": [validate["rule_violation_share"], validate["holdout_rule_violation_share"]],
        "unseen_pattern": [validate["unseen_pattern_share"], validate["holdout_unseen_pattern_share"]],
        "form_violation": [validate["form_violation_share"], validate["holdout_form_violation_share"]],
        "unique_value_reuse": [reuse["share"], reuse["holdout_share"]],
        "quality": [validate["quality"], validate["holdout_quality"]],
        "outliers": [tier_figures(tier) for tier in outliers["tiers"]],
    }


def _pair(values: list[float]) -> str:
    return f"{100 * values[0]:.2f} ({100 * values[1]:.2f})"


def print_table(results: list[dict[str, object]]) -> None:
    print("shares in %, the holdout's in brackets; outlier tiers: AUC / TPR@1% / members (non-members)")
    print("nearer a synthetic row than any real one")
    header = f"{'generator':<16}{'worst rule':>15}{'unseen pattern':>16}{'off form':>15}{'unique reuse':>15}"
    print(header + "  outlier tiers")
    for r in results:
        tiers = "; ".join(
            f"{100 * t['share']:.0f}%: {t['auc']} / {t['tpr_at_1pct']} / "  # type: ignore[index]
            f"{t['members_nearer_synthetic']} ({t['non_members_nearer_synthetic']})"  # type: ignore[index]
            for t in r["outliers"]  # type: ignore[union-attr]
        )
        print(
            f"{r['generator']:<16}{_pair(r['rule_violation']):>15}{_pair(r['unseen_pattern']):>16}"  # type: ignore[arg-type]
            f"{_pair(r['form_violation']):>15}{_pair(r['unique_value_reuse']):>15}  {tiers}"  # type: ignore[arg-type]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=("demo", "adult"), default="demo")
    parser.add_argument("--generators", nargs="+", default=["autoregressive", "vae", "gan", "diffusion"])
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    results = [measure(args.table, generator, args.epochs) for generator in args.generators]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"row_logic_privacy_{args.table}.json").write_text(json.dumps(results, indent=2))
    print_table(results)


if __name__ == "__main__":
    main()
