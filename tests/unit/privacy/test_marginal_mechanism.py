"""``train.privacy.mechanism: marginals``: the budget split, the plan, selection and a whole fit."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from synthpriv.config.model import PipelineConfig
from synthpriv.errors import PrivacyConfigError
from synthpriv.privacy.ledger import PrivacyLedger
from synthpriv.privacy.marginal_plan import MarginalPlan
from synthpriv.privacy.marginals import ROUNDS_PER_COLUMN, MarginalBudget, _Rounds
from synthpriv.privacy.noise import zcdp_epsilon
from synthpriv.stages.train import build_generator, fit_generator, privacy_plan
from synthpriv.training.marginals import Measurement, Query

DEMO_DP = Path(__file__).resolve().parents[3] / "pipelines" / "demo_dp.yaml"


def _config(**privacy: object) -> PipelineConfig:
    raw = yaml.safe_load(DEMO_DP.read_text())
    raw["train"] = {
        "generator": "marginal",
        "epochs": 20,
        "batch_size": 64,
        "params": {"components": 8, "steps_per_round": 5},
        "privacy": {"epsilon": 3.0, "mechanism": "marginals", **privacy},
    }
    return PipelineConfig.model_validate(raw)


@pytest.mark.parametrize(("columns", "rounds"), [(1, None), (15, None), (4, 1), (12, 200)])
def test_the_shares_spend_exactly_rho(columns: int, rounds: int | None) -> None:
    budget = MarginalBudget.plan(0.05, 1e-6, columns, rounds)
    spent = columns / (2 * budget.one_way_sigma**2)
    if budget.rounds:
        spent += budget.rounds * (budget.selection_epsilon**2 / 8 + 1 / (2 * budget.measure_sigma**2))
    assert math.isclose(spent, 0.05, rel_tol=1e-9)
    assert budget.rounds == (0 if columns == 1 else rounds or ROUNDS_PER_COLUMN * columns)
    assert budget.epsilon == zcdp_epsilon(0.05, 1e-6)


def test_the_plan_fits_the_budget_and_prints_every_release(demo: pd.DataFrame) -> None:
    config = _config()
    generator = build_generator(config.train, seed=0, min_category_count=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from synthpriv.data.schema import infer_schema

        schema = infer_schema(demo, config.data.columns, public_only=True)
    plan = privacy_plan(config.train, generator, schema, config.data.columns, 172)
    assert isinstance(plan, MarginalPlan)
    assert plan.ledger.spent_epsilon + plan.budget.epsilon <= 3.0 + 1e-9
    assert plan.ledger.spent_delta + plan.budget.delta <= plan.ledger.delta * (1 + 1e-9)
    lines = plan.describe()
    assert len([line for line in lines if "release:" in line]) == len(plan.ledger.releases)
    assert any("one-way marginals of" in line for line in lines)
    assert any(f"{plan.budget.rounds} rounds" in line for line in lines)


def test_a_dp_sgd_generator_is_refused_under_marginals(demo: pd.DataFrame) -> None:
    config = _config()
    train = config.train.model_copy(update={"generator": "vae", "params": config.train.params.model_copy()})
    generator = build_generator(train.model_copy(update={"params": {}}), seed=0, min_category_count=5)
    from synthpriv.data.schema import infer_schema

    schema = infer_schema(demo, config.data.columns, public_only=True)
    with pytest.raises(PrivacyConfigError, match="generator: marginal") as caught:
        privacy_plan(train, generator, schema, config.data.columns, 172)
    assert caught.value.where == "train.generator"


class _Uniform:
    """A model whose every marginal is uniform: the worst fit of a concentrated table."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes

    def fit_measurements(self, measurements: list[Measurement], rows: float, *, final: bool) -> float:
        return 0.0

    def model_marginals(self, queries: list[Query]) -> list[np.ndarray]:
        return [
            np.full(math.prod(self.sizes[a] for a in q), 1.0 / math.prod(self.sizes[a] for a in q))
            for q in queries
        ]


def test_selection_picks_the_marginal_the_model_gets_most_wrong() -> None:
    """Columns 0 and 2 are equal (their pair is concentrated on the diagonal); with a large
    selection epsilon the exponential mechanism all but always picks a marginal holding both."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, 5000)
    tokens = np.stack([a, rng.integers(0, 6, 5000), a, rng.integers(0, 6, 5000)], axis=1)
    sizes = [6, 6, 6, 6]
    rounds = _Rounds(tokens, sizes, _Uniform(sizes), MarginalBudget.plan(50.0, 1e-6, 4, 1), rng)
    picks = [rounds.select(5000.0) for _ in range(20)]
    assert all(set(pick) >= {0, 2} for pick in picks)


def test_a_private_fit_charges_one_release_that_adds_up(demo: pd.DataFrame) -> None:
    config = _config(rounds=3)
    from synthpriv.data.schema import infer_schema

    schema = infer_schema(demo, config.data.columns, public_only=True)
    train = demo.iloc[:172]
    generator = build_generator(config.train, seed=0, min_category_count=5)
    plan = privacy_plan(config.train, generator, schema, config.data.columns, len(train))
    fit, ledger = fit_generator(generator, train, schema, plan, config.data.columns)
    assert ledger is not None
    release = ledger.releases[-1]
    assert release.mechanism.startswith("discrete gaussian") and release.steps == 3
    assert release.rho == pytest.approx(plan.budget.rho)
    assert ledger.spent_epsilon <= 3.0 + 1e-9
    assert PrivacyLedger.from_claim(json.loads(json.dumps(ledger.to_claim()))) == ledger
    assert [h["round"] for h in fit.history] == [1.0, 2.0, 3.0, 4.0]
    sample = generator.sample(50, seed=1)
    assert list(sample.columns) == list(demo.columns)


def test_marginals_default_to_a_larger_preprocessing_share_and_a_set_share_wins() -> None:
    from synthpriv.config.privacy import PrivacyConfig

    assert PrivacyConfig(epsilon=1, mechanism="marginals").resolved_preprocessing_share() == 0.25
    assert PrivacyConfig(epsilon=1).resolved_preprocessing_share() == 0.1
    chosen = PrivacyConfig(epsilon=1, mechanism="marginals", preprocessing_share=0.05)
    assert chosen.resolved_preprocessing_share() == 0.05
    with pytest.raises(ValueError, match="rounds applies to mechanism: marginals only"):
        PrivacyConfig(epsilon=1, rounds=3)


def test_a_focused_round_chooses_only_among_the_targets_marginals() -> None:
    rng = np.random.default_rng(1)
    sizes = [3, 3, 3, 2]
    tokens = np.stack([rng.integers(0, s, 400) for s in sizes], axis=1)
    budget = MarginalBudget.plan(1.0, 1e-6, 4, 4, focus="d")
    rounds = _Rounds(tokens, sizes, _Uniform(sizes), budget, rng, focus=3)
    focused = rounds.candidates(focused=True)
    assert focused and all(3 in query for query in focused)
    assert {(0, 3), (1, 3), (2, 3), (0, 1, 3), (0, 2, 3), (1, 2, 3)} <= set(focused)
    assert (0, 1) in rounds.candidates(focused=False)  # other rounds keep the whole workload
    unfocused = _Rounds(tokens, sizes, _Uniform(sizes), MarginalBudget.plan(1.0, 1e-6, 4, 4), rng)
    assert unfocused.candidates(focused=True) == unfocused.candidates(focused=False)
