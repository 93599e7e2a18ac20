"""Anonymeter-style inference and linkability risks: the Wilson interval and the risk formula by
hand, then the two sanity controls on a 3,000-row mixed table (a "generator" that copies its train
rows, and one that hands back a third real sample), then seeding, validation and what a result holds."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synthpriv.attacks.anonymeter import (
    RiskResult,
    inference_risk,
    linkability_risk,
    risk_from_rates,
    risk_interval,
    wilson_interval,
)
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.errors import DataError

ROWS = 1_000  # per part: train, holdout, third sample
QIS = ["income", "region", "hours", "job"]
SENSITIVE = "condition"
SENTINEL = "SENTINEL-ak37"  # a sensitive label planted in train rows that no result may repeat
SENTINEL_NUMBER = 987654.321


def population(n: int, seed: int) -> pd.DataFrame:
    """Quasi-identifiers with almost no repeated combination (income and hours have two decimals),
    and a sensitive category that follows region and job in 60 % of rows, chance otherwise."""
    rng = np.random.default_rng(seed)
    regions = np.array(["north", "south", "east", "west", "centre"])
    jobs = np.array(["clerk", "manager", "engineer", "nurse", "driver", "teacher"])
    conditions = np.array(["none", "asthma", "diabetes", "migraine"])
    region = rng.integers(0, 5, n)
    job = rng.integers(0, 6, n)
    condition = np.where(rng.random(n) < 0.6, (region + job) % 4, rng.integers(0, 4, n))
    return pd.DataFrame(
        {
            "income": np.exp(rng.normal(10, 0.5, n)).round(2),
            "region": regions[region],
            "hours": np.clip(rng.normal(38, 8, n), 1, 80).round(2),
            "job": jobs[job],
            SENSITIVE: conditions[condition],
        }
    )


@pytest.fixture(scope="module")
def parts() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, TableSchema]:
    table = population(3 * ROWS, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(table)
    train = table.iloc[:ROWS].reset_index(drop=True)
    holdout = table.iloc[ROWS : 2 * ROWS].reset_index(drop=True)
    third = table.iloc[2 * ROWS :].reset_index(drop=True)
    return train, holdout, third, schema


def infer(train, holdout, synthetic, schema, **kwargs) -> RiskResult:
    return inference_risk(
        train, holdout, synthetic, schema, quasi_identifiers=QIS, sensitive=SENSITIVE, seed=1, **kwargs
    )


def link(train, holdout, synthetic, schema, **kwargs) -> RiskResult:
    return linkability_risk(train, holdout, synthetic, schema, quasi_identifiers=QIS, seed=1, **kwargs)


# --- by hand ------------------------------------------------------------------------------


def test_wilson_interval_matches_known_case() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=5e-4)
    assert high == pytest.approx(0.9433, abs=5e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=5e-4)
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_risk_formula_by_hand() -> None:
    assert risk_from_rates(0.8, 0.5) == pytest.approx(0.6)  # (0.8 - 0.5) / (1 - 0.5)
    assert risk_from_rates(0.3, 0.5) == 0.0  # clipped below
    assert risk_from_rates(0.9, 1.0) == 0.0  # no room above the control
    assert risk_from_rates(1.0, 0.0) == 1.0


def test_risk_interval_by_hand() -> None:
    # Attack 60 of 100, control 20 of 100; z = 1.959964, z^2 = 3.841459.
    # Wilson half-width = z / (1 + z^2/n) * sqrt(p (1 - p) / n + z^2 / (4 n^2)), 1 + z^2/n = 1.0384146:
    #   attack  p = 0.6: 1.887454 * sqrt(0.0024 + 0.00009604) = 1.887454 * 0.0499604 = 0.0942980
    #   control p = 0.2: 1.887454 * sqrt(0.0016 + 0.00009604) = 1.887454 * 0.0411830 = 0.0777310
    # r = (0.6 - 0.2) / 0.8 = 0.5; dr/da = 1 / 0.8 = 1.25; dr/dc = (0.6 - 1) / 0.8^2 = -0.625
    # error = sqrt((0.0942980 * 1.25)^2 + (0.0777310 * 0.625)^2) = sqrt(0.0138940 + 0.0023602) = 0.127492
    low, high = risk_interval(60, 100, 20, 100)
    assert low == pytest.approx(0.5 - 0.127492, abs=2e-6)
    assert high == pytest.approx(0.5 + 0.127492, abs=2e-6)
    # The Wilson interval is symmetric about its centre, so its half-width is (high - low) / 2.
    attack_low, attack_high = wilson_interval(60, 100)
    assert (attack_high - attack_low) / 2 == pytest.approx(0.0942980, abs=1e-6)
    # Wider than holding the control fixed: (0.5 - 1.25 * 0.094298, 0.5 + 1.25 * 0.094298).
    assert high - low > 2 * 1.25 * 0.0942980
    # r below 0: the interval is clipped at 0 around the unclipped estimate.
    # r = (0.10 - 0.12) / 0.88 = -0.0227; its upper end stays above 0.
    low, high = risk_interval(10, 100, 12, 100)
    assert low == 0.0 and 0.0 < high < 0.1
    assert risk_interval(0, 50, 0, 50)[0] == 0.0  # a = c = 0: Wilson still leaves some room
    assert risk_interval(0, 50, 0, 50)[1] > 0.0
    assert risk_interval(5, 10, 10, 10) == (0.0, 1.0)  # control always right: nothing measurable
    assert risk_interval(100, 100, 0, 100)[1] == 1.0
    with pytest.raises(ValueError):
        risk_interval(11, 10, 0, 10)
    with pytest.raises(ValueError):
        risk_interval(1, 10, 0, 0)


# --- sanity controls ----------------------------------------------------------------------


def assert_ordered(result: RiskResult) -> None:
    low, high = result.attack_rate_ci
    assert 0.0 <= low <= result.attack_rate <= high <= 1.0
    assert 0.0 <= result.control_rate_ci[0] <= result.control_rate <= result.control_rate_ci[1] <= 1.0
    assert 0.0 <= result.risk_ci[0] <= result.risk <= result.risk_ci[1] <= 1.0
    attack, control = round(result.attack_rate * ROWS), round(result.control_rate * ROWS)
    assert result.attack_rate_ci == pytest.approx(wilson_interval(attack, ROWS))
    assert result.control_rate_ci == pytest.approx(wilson_interval(control, ROWS))
    assert result.risk_ci == pytest.approx(risk_interval(attack, ROWS, control, ROWS))
    assert result.targets == ROWS
    assert result.queries is None and result.rows is None


def test_copying_generator_leaks(parts) -> None:
    train, holdout, _, schema = parts
    inference = infer(train, holdout, train, schema)
    assert inference.name == "inference"
    assert inference.attack_rate > 0.95  # the nearest synthetic row is the target itself
    assert inference.control_rate < 0.8  # a neighbour's condition only follows region and job
    assert inference.risk > 0.5 and inference.risk_ci[0] > 0.5
    assert inference.baseline_rate < 0.4 and not inference.weaker_than_baseline
    linkability = link(train, holdout, train, schema)
    assert linkability.name == "linkability"
    assert linkability.attack_rate > 0.95
    assert linkability.control_rate < 0.2
    assert linkability.risk > 0.5 and linkability.risk_ci[0] > 0.5
    assert linkability.baseline_rate < 0.01
    for result in (inference, linkability):
        assert_ordered(result)
        assert result.risk == pytest.approx(
            (result.attack_rate - result.control_rate) / (1 - result.control_rate)
        )


def test_independent_sample_does_not_leak(parts) -> None:
    train, holdout, third, schema = parts
    for result in (infer(train, holdout, third, schema), link(train, holdout, third, schema)):
        assert_ordered(result)
        assert result.risk <= 0.1, result
        assert result.risk_ci[0] <= 0.02, result
        assert abs(result.attack_rate - result.control_rate) < 0.06, result


def test_more_neighbours_raise_linkability_baseline(parts) -> None:
    train, holdout, third, schema = parts
    one = link(train, holdout, third, schema)
    ten = link(train, holdout, third, schema, n_neighbors=10)
    assert ten.baseline_rate > one.baseline_rate
    assert ten.attack_rate >= one.attack_rate  # nearest sets only grow with k
    # Two random 10-subsets of 1,000 rows meet with probability 1 - C(990,10)/C(1000,10) ~ 0.096.
    assert ten.baseline_rate == pytest.approx(0.096, abs=0.03)


def test_numerical_sensitive_uses_relative_tolerance(parts) -> None:
    train, holdout, _, schema = parts
    qis = ["region", "hours", "job"]
    copy = inference_risk(train, holdout, train, schema, quasi_identifiers=qis, sensitive="income", seed=0)
    assert copy.attack_rate > 0.95 and copy.risk > 0.5
    # A guess 4 % off counts, 6 % off does not.
    shifted = train.assign(income=train["income"] * 1.04)
    assert (
        inference_risk(
            train, holdout, shifted, schema, quasi_identifiers=qis, sensitive="income", seed=0
        ).attack_rate
        > 0.95
    )
    shifted = train.assign(income=train["income"] * 1.06)
    assert (
        inference_risk(
            train, holdout, shifted, schema, quasi_identifiers=qis, sensitive="income", seed=0
        ).attack_rate
        < 0.3
    )


# --- bookkeeping --------------------------------------------------------------------------


def test_same_seed_same_result_and_max_rows(parts) -> None:
    train, holdout, third, schema = parts
    for attack in (infer, link):
        first = attack(train, holdout, third, schema, max_rows=300)
        second = attack(train, holdout, third, schema, max_rows=300)
        assert first.model_dump(exclude={"seconds"}) == second.model_dump(exclude={"seconds"})
        assert first.targets == 300


def test_results_hold_no_real_values(parts) -> None:
    train, holdout, _, schema = parts
    planted = train.copy()
    planted.loc[:9, SENSITIVE] = SENTINEL
    planted.loc[:9, "income"] = SENTINEL_NUMBER
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(pd.concat([planted, holdout]))
    for result in (infer(planted, holdout, planted, schema), link(planted, holdout, planted, schema)):
        dumped = result.model_dump_json()
        assert SENTINEL not in dumped and "987654" not in dumped
        assert set(result.model_dump()) == {
            "name", "attack_rate", "attack_rate_ci", "control_rate", "control_rate_ci", "baseline_rate",
            "risk", "risk_ci", "targets", "weaker_than_baseline", "seconds", "queries", "rows",
        }  # fmt: skip


def test_rejects_bad_columns(parts) -> None:
    train, holdout, third, schema = parts
    with pytest.raises(DataError):
        inference_risk(train, holdout, third, schema, quasi_identifiers=QIS, sensitive="income", seed=0)
    with pytest.raises(DataError):
        inference_risk(train, holdout, third, schema, quasi_identifiers=["nope"], sensitive=SENSITIVE, seed=0)
    with pytest.raises(DataError):
        linkability_risk(
            train, holdout, third, schema, columns_a=["income"], columns_b=["income", "job"], seed=0
        )
    with pytest.raises(DataError):
        linkability_risk(train, holdout, third, schema, columns_a=["income"], columns_b=None, seed=0)
    with pytest.raises(DataError):
        inference_risk(
            train,
            holdout,
            third.drop(columns="job"),
            schema,
            quasi_identifiers=QIS,
            sensitive=SENSITIVE,
            seed=0,
        )


def test_nearest_indices_match_brute_force_and_separate_near_copies() -> None:
    from synthpriv.attacks.anonymeter import _nearest_indices

    rng = np.random.default_rng(3)
    reference = rng.random((500, 6)).astype(np.float32)
    queries = rng.random((70, 6)).astype(np.float32)
    squared = ((queries[:, None, :].astype(float) - reference[None, :, :]) ** 2).sum(axis=2)
    expected = np.sort(np.argsort(squared, axis=1)[:, :3], axis=1)
    assert (np.sort(_nearest_indices(queries, reference, 3), axis=1) == expected).all()
    # A copy and a row 1e-4 away: float32 products alone cannot order them, the re-ranking does.
    near = np.array([[0.3, 0.7, 0.5], [0.3 + 1e-4, 0.7, 0.5]] * 50, dtype=np.float32)
    near[::2] += np.arange(50, dtype=np.float32)[:, None] * 1e-2
    near[1::2] += np.arange(50, dtype=np.float32)[:, None] * 1e-2
    assert (_nearest_indices(near[::2], near[1::2][::-1].copy(), 1)[:, 0] == np.arange(49, -1, -1)).all()
    assert (_nearest_indices(near[1::2], near, 1)[:, 0] == np.arange(1, 100, 2)).all()
