"""Time of the attack stage's attacks on UCI Adult (run by hand), against the 2-minute target.

    python benchmarks/attack_adult.py [--epochs 20] [--real-rows N]

Fits a quick VAE on the 32,561 official train rows, samples as many synthetic rows, then runs
what the attack stage runs with its defaults (holdout = the 16,281 official test rows): the
DCR evaluation with its distance attack, exact matches against every train row, the audit,
and the three membership attacks with a reference set. Prints seconds per part and the AUCs;
``--real-rows`` resamples the train rows (with replacement) to time a large table. Writes JSON
to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from adult_protocol import RESULTS, adult_split, quick_synthetic

from synthpriv.attacks.audit import epsilon_lower_bound
from synthpriv.attacks.distance import dcr_evaluation, exact_match_share
from synthpriv.attacks.membership import membership_inference
from synthpriv.config.model import AttackConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--real-rows", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    train, holdout = adult_split()
    synthetic, schema = quick_synthetic(train, args.epochs, args.real_rows or len(train))
    if args.real_rows is not None:
        train = train.sample(args.real_rows, replace=True, random_state=0).reset_index(drop=True)
    config = AttackConfig()
    columns = [c.name for c in schema.modelled()]
    seconds: dict[str, float] = {}

    def timed(name: str, run):
        started = time.perf_counter()
        out = run()
        seconds[name] = round(time.perf_counter() - started, 2)
        return out

    dcr = timed("DCR share + distance MIA", lambda: dcr_evaluation(train, holdout, synthetic, schema, seed=0, max_rows=config.max_rows))
    timed("exact matches (all train rows)", lambda: exact_match_share(synthetic, train, columns))
    members, non_members = dcr.membership_distances
    timed("audit", lambda: epsilon_lower_bound(-members, -non_members, delta=1e-6, seed=0))
    membership = timed("membership attacks (distance, DOMIAS, classifier)", lambda: membership_inference(train, holdout, synthetic, schema, seed=0, max_rows=config.max_rows))
    total = round(sum(seconds.values()), 2)
    aucs = {a.name: round(a.auc, 3) for a in membership.attacks}
    print("| part | seconds |\n|---|---|")
    for name, value in seconds.items():
        print(f"| {name} | {value} |")
    print(f"| **total** | **{total}** (target < 120) |")
    print(f"AUCs: distance-to-closest {dcr.mia_auc:.3f}, reference-set attacks {aucs}")
    RESULTS.mkdir(exist_ok=True)
    suffix = f"_{len(train)}" if args.real_rows else ""
    result = {"rows_train": len(train), "rows_holdout": len(holdout), "rows_synthetic": len(synthetic),
              "seconds": seconds, "total_s": total, "mia_auc": dcr.mia_auc, "membership_auc": aucs}
    (RESULTS / f"attack_adult{suffix}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
