"""Settings sweep on UCI Adult (run by hand): fidelity against training budget, per setting.

    python benchmarks/sweep.py configs.json [--device cuda] [--parallel 4] [--out sweep.json]

``configs.json`` is a list of objects ``{"name", "generator", "epochs", "batch_size",
"params", "sampling_steps": [..]}``. Each setting trains in its own process (so settings can
share a GPU), samples 32,561 rows once per sampling-step count (diffusion only), and is scored
with the ANCHORS.md protocol's fidelity and distance measures, plus the five columns with the
worst shape score, to show where the error sits. Used to choose defaults; the defaults are then
timed on the 2-core CPU with ``adult_protocol.py``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CANDIDATES = (
    HERE.parent / ".devdata" / "adult.parquet",
    HERE.parents[1] / "shared" / "datasets" / "adult.parquet",
)


def _adult() -> Path:
    for path in CANDIDATES:
        if path.exists():
            return path
    raise SystemExit(f"Adult not found in {[str(p) for p in CANDIDATES]}")


def run_setting(config: dict[str, Any], device: str, threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(threads)
    from adult_protocol import adult_split, ml_efficacy

    from synthpriv.attacks.distance import dcr_evaluation
    from synthpriv.data.schema import infer_schema
    from synthpriv.generators.registry import get_generator
    from synthpriv.metrics.fidelity import evaluate_fidelity

    train, holdout = adult_split(_adult())
    schema = infer_schema(train, overrides={name: "categorical" for name in config.get("as_category", [])})
    reference_schema = infer_schema(train)
    kind = config.get("generator", "diffusion")
    generator = get_generator(kind)(
        config.get("params", {}),
        epochs=config.get("epochs"),
        batch_size=config.get("batch_size"),
        seed=config.get("seed", 0),
        device=device,
    )
    started = time.perf_counter()
    if "epsilon" in config:  # a DP fit: private preprocessing from public bounds, then DP-SGD
        from adult_dp import BOUNDS

        from synthpriv.config.model import ColumnDeclaration
        from synthpriv.config.privacy import PrivacyConfig
        from synthpriv.privacy.attach import PrivateTrainer
        from synthpriv.privacy.plan import PrivacyPlan

        declarations = {n: ColumnDeclaration(kind="numerical", bounds=b) for n, b in BOUNDS.items()}
        privacy = PrivacyConfig(epsilon=config["epsilon"], max_grad_norm=config.get("max_grad_norm", 1.0))
        shape = generator.fit_shape(
            len(train), fixed_budget=PrivateTrainer.fixed_budget, transformer_given=True
        )
        plan = PrivacyPlan.build(privacy, schema, declarations, shape)
        _, transformer = plan.fit_preprocessing(train, schema, declarations)
        generator.fit(train, schema, transformer=transformer, trainer=plan.trainer())
    else:
        generator.fit(train, schema)
    result: dict[str, Any] = {
        "name": config["name"],
        "fit_s": round(time.perf_counter() - started, 1),
        "runs": [],
    }
    for steps in config.get("sampling_steps", [None]):
        if steps is not None:
            generator.params = generator.params.model_copy(update={"sampling_steps": steps})
        started = time.perf_counter()
        synthetic = generator.sample(len(train), seed=0)
        sample_s = time.perf_counter() - started
        fidelity = evaluate_fidelity(train, synthetic, reference_schema, max_rows=None, seed=0)
        dcr = dcr_evaluation(train, holdout, synthetic, reference_schema, seed=0)
        worst = sorted(fidelity.column_scores, key=lambda c: c.score)[:5]
        worst_pairs = sorted(fidelity.pair_scores, key=lambda p: p.score)[:5]
        result["runs"].append(
            {
                "sampling_steps": steps,
                "sample_s": round(sample_s, 2),
                "shape_err_pct": round(100 * (1 - fidelity.column_shapes), 2),
                "trend_err_pct": round(100 * (1 - fidelity.column_pair_trends), 2),
                "ml_auc": round(ml_efficacy(synthetic, holdout), 3),
                "dcr_share": round(dcr.dcr_share, 3),
                "mia_auc": round(dcr.mia_auc, 3),
                "worst_columns": {c.column: round(1 - c.score, 3) for c in worst},
                "worst_pairs": {f"{p.column_1}/{p.column_2}": round(1 - p.score, 3) for p in worst_pairs},
            }
        )
    return result


def _worker(args: tuple[dict[str, Any], str, int]) -> dict[str, Any]:
    config, device, threads = args
    try:
        return run_setting(config, device, threads)
    except Exception:  # a failed setting must not sink the sweep
        import traceback

        return {"name": config["name"], "error": traceback.format_exc()[-1500:]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("configs", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sweep.json")
    args = parser.parse_args()
    configs = json.loads(args.configs.read_text())
    os.environ.setdefault("PYTHONPATH", str(HERE))
    context = multiprocessing.get_context("spawn")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    with context.Pool(args.parallel) as pool:
        for result in pool.imap_unordered(_worker, [(c, args.device, args.threads) for c in configs]):
            results.append(result)
            print(json.dumps(result), flush=True)
            args.out.write_text(json.dumps(results, indent=1))
    if any("error" in r for r in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
