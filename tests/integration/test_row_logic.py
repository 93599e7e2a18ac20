"""Row logic end to end (issue 19, must-have 1): the generator keeps the rules its training rows
keep when it samples (conditions too), checking them on encoded rows with the result a check of
the decoded rows gives, saves them with its model, learns none from a private fit; the demo
pipeline's rows break no mined rule; the ``max_rule_violation_share`` gate."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.data.io import read_table
from synthpriv.data.rules import broken_by_any, mine_rules
from synthpriv.data.schema import infer_schema
from synthpriv.data.spans import EncodedTable
from synthpriv.data.split import Split
from synthpriv.data.transform import TabularTransformer
from synthpriv.evaluate import Evaluation
from synthpriv.generators.base import Generator
from synthpriv.generators.model_files import GENERATOR_FILE, load_generator, save_generator
from synthpriv.generators.registry import get_generator
from tests.conftest import TINY_VALIDATE

JOB = ["salary", "start_date", "end_date", "duration"]
runner = CliRunner()


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return read_table("builtin:student_placements")


@pytest.fixture(scope="module")
def generator(table: pd.DataFrame) -> Generator:
    """A quick autoregressive fit: few epochs, so that its raw rows break rules often."""
    torch.set_num_threads(1)
    fitted = get_generator("autoregressive")({"hidden_dim": 16}, epochs=8, seed=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the id-column notice
        fitted.fit(table)
    return fitted


def _contradictions(rows: pd.DataFrame) -> dict[str, int]:
    """The demo's three faults: a job half missing, a salary without a placement and the reverse."""
    missing = rows[JOB].isna().sum(axis=1)
    return {
        "mixed": int(((missing > 0) & (missing < len(JOB))).sum()),
        "unplaced_with_salary": int((~rows["placed"].astype(bool) & rows["salary"].notna()).sum()),
        "placed_without_salary": int((rows["placed"].astype(bool) & rows["salary"].isna()).sum()),
    }


def test_sampling_redraws_rows_that_break_a_rule(generator: Generator) -> None:
    assert generator.rules
    generator.keep_rules = False
    try:
        raw = generator.sample(1000, seed=3)
    finally:
        generator.keep_rules = True
    kept = generator.sample(1000, seed=3)
    assert broken_by_any(generator.rules, raw).sum() > 0  # the model alone breaks them
    assert broken_by_any(generator.rules, kept).sum() == 0
    assert _contradictions(kept) == {"mixed": 0, "unplaced_with_salary": 0, "placed_without_salary": 0}
    pd.testing.assert_frame_equal(kept, generator.sample(1000, seed=3))  # still one seed, one table


def test_sampling_keeps_the_rows_a_check_of_the_decoded_rows_keeps(
    generator: Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sampling checks the rules on encoded rows (made once); decoding each batch and checking the
    table instead, as sampling did first, redraws the same rows: the same seed, the same table."""
    batches = {"n": 3000, "seed": 11, "batch_size": 1100}
    conditioned = {"n": 600, "seed": 12, "conditions": {"placed": True}}
    encoded_check = generator.sample(**batches), generator.sample(**conditioned)
    check = generator._rule_check
    assert check is not None and check.rules is generator.rules
    generator.sample(10, seed=0)
    assert generator._rule_check is check  # made once per fit, not per batch

    def decoded_check(rows: EncodedTable) -> np.ndarray:
        transformer, _ = generator._fitted()
        return broken_by_any(generator.rules, transformer.inverse_transform(rows))

    monkeypatch.setattr(generator, "_breaks_rule", decoded_check)
    pd.testing.assert_frame_equal(generator.sample(**batches), encoded_check[0])
    pd.testing.assert_frame_equal(generator.sample(**conditioned), encoded_check[1])


def test_conditions_still_hold_with_the_rules(generator: Generator) -> None:
    unplaced = generator.sample(300, seed=5, conditions={"placed": False})
    assert not unplaced["placed"].any() and unplaced[JOB].isna().all().all()
    placed = generator.sample(300, seed=5, conditions={"placed": True, "gender": "F"})
    assert placed["placed"].all() and (placed["gender"] == "F").all() and placed[JOB].notna().all().all()
    assert broken_by_any(generator.rules, pd.concat([unplaced, placed])).sum() == 0


def test_rules_are_saved_with_the_model(generator: Generator, tmp_path: Path) -> None:
    save_generator(generator, tmp_path)
    meta = json.loads((tmp_path / GENERATOR_FILE).read_text())
    assert len(meta["rules"]) == len(generator.rules)
    loaded = load_generator(tmp_path, device="cpu")
    assert loaded.rules == generator.rules
    pd.testing.assert_frame_equal(loaded.sample(200, seed=1), generator.sample(200, seed=1))


def test_no_rules_without_a_transformer_fitted_from_the_rows(table: pd.DataFrame) -> None:
    """A DP fit is given its transformer (DP preprocessing) and spends a budget: it mines nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(table)
    given = TabularTransformer(schema.modelled()).fit(table)
    fitted = get_generator("autoregressive")({"hidden_dim": 8}, epochs=1, seed=0, device="cpu")
    fitted.fit(table, schema, transformer=given)
    assert fitted.rules == ()
    assert fitted._fit_transformer(table, schema, None, private=True) is not None and fitted.rules == ()
    assert fitted._fit_transformer(table, schema, None, private=False) is not None and fitted.rules


def test_the_demo_pipeline_rows_break_no_mined_rule(tmp_path: Path) -> None:
    pipeline = tmp_path / "demo.yaml"
    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "pipelines" / "demo.yaml").read_text())
    config["validate"] = TINY_VALIDATE
    config["gates"] = {"max_rule_violation_share": 0.0}
    pipeline.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "-q", str(pipeline), "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    synthetic = pd.read_parquet(out / "synthesize" / "synthetic.parquet")
    real = read_table("builtin:student_placements")
    split = Split.from_frame(pd.read_parquet(out / "train" / "split.parquet"))
    train = real.iloc[split.train]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rules = mine_rules(train, infer_schema(real), min_count=5)
    assert len(rules) >= 3
    assert broken_by_any(rules, synthetic).sum() == 0
    assert _contradictions(synthetic) == {"mixed": 0, "unplaced_with_salary": 0, "placed_without_salary": 0}
    summary = json.loads((out / "validate" / "summary.json").read_text())
    assert summary["rule_violation_share"] == 0.0 and summary["rules"] == len(rules)
    (gate,) = [g for g in summary["gates"] if g["name"] == "max_rule_violation_share"]
    assert gate["passed"] is True
    assert "Row logic" in (out / "validate" / "report.html").read_text()


def _evaluate(folder: Path, synthetic: pd.DataFrame, table: pd.DataFrame) -> dict:
    """validate alone on ``synthetic`` against the demo's first 170 rows (the last 45 the holdout),
    under the gate ``max_rule_violation_share: 0.02``; its summary."""
    folder.mkdir()
    table.iloc[:170].to_parquet(folder / "train.parquet")
    table.iloc[170:].to_parquet(folder / "holdout.parquet")
    synthetic.to_parquet(folder / "synthetic.parquet")
    pipeline = folder / "gates.yaml"
    settings = {"name": "gated", "data": {"path": "unused.csv"}, "validate": TINY_VALIDATE}
    pipeline.write_text(yaml.safe_dump(settings | {"gates": {"max_rule_violation_share": 0.02}}))
    evaluation = Evaluation.from_files(
        folder / "train.parquet",
        folder / "holdout.parquet",
        folder / "synthetic.parquet",
        output_dir=folder / "run",
        pipeline_file=pipeline,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation.run(["validate"])
    return json.loads((folder / "run" / "validate" / "summary.json").read_text())


def test_the_gate_fails_on_planted_violations_and_passes_on_real_rows(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    train = table.iloc[:170]
    planted = train.copy()
    unplaced = planted.index[~planted["placed"].to_numpy()][:5]
    planted.loc[unplaced, "salary"] = 300_000.0  # 5 of 170 rows: 2.9 % break "not placed => no salary"
    failing = _evaluate(tmp_path / "planted", planted, table)
    (gate,) = failing["gates"]
    assert gate["name"] == "max_rule_violation_share" and gate["passed"] is False
    assert gate["value"] == pytest.approx(5 / 170)
    passing = _evaluate(tmp_path / "real", train.iloc[::-1], table)  # real rows keep every rule
    assert passing["gates"][0]["passed"] is True and passing["rule_violation_share"] == 0.0
