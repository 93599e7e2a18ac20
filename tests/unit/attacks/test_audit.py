"""The privacy audit: exact intervals, no false alarms, the most a sample can prove, and a caught leak."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from synthpriv.attacks.audit import AuditResult, clopper_pearson, epsilon_ceiling, epsilon_lower_bound
from synthpriv.attacks.distance import DistanceEncoding, nearest_distances
from synthpriv.data.io import read_table
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.errors import DataError


def _exact_ci(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    ci = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="exact")
    return ci.low, ci.high


def _randomized_response(epsilon: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scores of an epsilon-DP mechanism: each person reports their membership bit truthfully
    with probability e^eps / (1 + e^eps), so TPR / FPR = e^eps exactly (the tightest case)."""
    truthful = math.exp(epsilon) / (1.0 + math.exp(epsilon))
    members = (rng.random(n) < truthful).astype(float)
    nonmembers = (rng.random(n) >= truthful).astype(float)
    return members, nonmembers


# --- Clopper-Pearson ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials", "confidence"),
    [(3, 10, 0.95), (0, 10, 0.95), (10, 10, 0.95), (1, 1, 0.9), (517, 1000, 0.99), (2, 50_000, 0.95)],
)
def test_clopper_pearson_matches_scipy_exact_interval(successes: int, trials: int, confidence: float) -> None:
    assert clopper_pearson(successes, trials, confidence) == pytest.approx(
        _exact_ci(successes, trials, confidence), rel=1e-9, abs=1e-12
    )


def test_clopper_pearson_edges_are_exact_and_known_value() -> None:
    # 0 of n: the upper end solves (1 - p)^n = alpha / 2, so 1 - 0.025^(1/10).
    assert clopper_pearson(0, 10, 0.95) == (0.0, pytest.approx(1 - 0.025 ** (1 / 10)))
    assert clopper_pearson(10, 10, 0.95) == (pytest.approx(0.025 ** (1 / 10)), 1.0)
    # The textbook example: 3 of 10 gives [0.0667, 0.6525].
    low, high = clopper_pearson(3, 10, 0.95)
    assert (round(low, 4), round(high, 4)) == (0.0667, 0.6525)


@given(
    trials=st.integers(1, 5000),
    fraction=st.floats(0, 1),
    confidence=st.floats(0.5, 0.999),
)
@settings(max_examples=60, deadline=None)
def test_clopper_pearson_property(trials: int, fraction: float, confidence: float) -> None:
    successes = round(fraction * trials)
    low, high = clopper_pearson(successes, trials, confidence)
    assert 0.0 <= low <= successes / trials <= high <= 1.0
    assert (low, high) == pytest.approx(_exact_ci(successes, trials, confidence), rel=1e-7, abs=1e-10)


@pytest.mark.parametrize(
    ("successes", "trials", "confidence"), [(-1, 10, 0.95), (11, 10, 0.95), (0, 0, 0.95), (1, 2, 1.0)]
)
def test_clopper_pearson_rejects_impossible_counts(successes: int, trials: int, confidence: float) -> None:
    with pytest.raises(ValueError):
        clopper_pearson(successes, trials, confidence)


# --- the bound on synthetic scores ----------------------------------------------------------


def test_identical_score_distributions_give_no_evidence() -> None:
    bounds = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        result = epsilon_lower_bound(rng.normal(size=1000), rng.normal(size=1000), delta=1e-5, seed=seed)
        bounds.append(result.epsilon_lower_bound)
    bounds_array = np.array(bounds)
    # A 95% bound may fire by chance; it must do so rarely and only barely.
    assert np.count_nonzero(bounds_array) <= 4
    assert bounds_array.max() < 0.1


def test_threshold_chosen_on_other_rows_keeps_false_alarms_under_the_nominal_rate() -> None:
    """At 80% confidence the guarantee allows 20% false alarms on a mechanism that leaks nothing.
    The split audit stays near 2%; picking the best threshold on the evaluated rows themselves
    (the inflation the split prevents) fires about 40% of the time here, breaking the guarantee."""
    alarms = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        result = epsilon_lower_bound(rng.normal(size=1000), rng.normal(size=1000), 0.0, 0.8, seed=seed)
        alarms += result.epsilon_lower_bound > 0
    assert alarms <= 12


def test_perfect_separation_reaches_the_most_the_sample_allows() -> None:
    rng = np.random.default_rng(3)
    n, delta, confidence = 400, 1e-4, 0.95
    result = epsilon_lower_bound(2.0 + rng.random(n), rng.random(n), delta, confidence, seed=7)
    # Half the rows choose the threshold; the other 200 members and 200 non-members prove the bound.
    assert (result.members, result.nonmembers, result.tests) == (200, 200, 1)
    assert (result.tpr, result.fpr) == (1.0, 0.0)
    tpr_low = _exact_ci(200, 200, confidence)[0]  # (alpha / 2)^(1/200)
    fpr_high = _exact_ci(0, 200, confidence)[1]  # 1 - (alpha / 2)^(1/200)
    expected = math.log((tpr_low - delta) / fpr_high)
    assert result.epsilon_lower_bound == pytest.approx(expected, rel=1e-9)
    assert result.epsilon_lower_bound == pytest.approx(result.epsilon_ceiling, rel=1e-12)
    assert result.epsilon_ceiling == pytest.approx(epsilon_ceiling(200, 200, delta, confidence))
    # About log(n / log(2 / alpha)): a perfect attack on 200 rows cannot refute epsilon = 4.
    assert result.epsilon_lower_bound == pytest.approx(math.log(200 / math.log(40)), abs=0.05)
    assert 1.0 < result.threshold < 2.0  # midway in the gap, so every held-out member clears it


def test_randomized_response_bound_is_sound_and_has_power() -> None:
    """An epsilon-DP mechanism: the bound stays below epsilon (at the 95% rate) and finds most of it."""
    seeds = 100
    for epsilon in (0.5, 1.0, 2.0):
        bounds, point_estimates = [], []
        for seed in range(seeds):
            members, nonmembers = _randomized_response(epsilon, 20_000, np.random.default_rng(10_000 + seed))
            result = epsilon_lower_bound(members, nonmembers, delta=0.0, seed=seed)
            bounds.append(result.epsilon_lower_bound)
            point_estimates.append(math.log(result.tpr / result.fpr))
        above = int(np.sum(np.array(bounds) > epsilon))
        # Soundness: the guarantee allows 5% of runs above epsilon; 10 of 100 has probability ~1%.
        assert above <= 10, (epsilon, above)
        # The plain rates, without intervals, overshoot about half the time: the test has teeth.
        assert np.sum(np.array(point_estimates) > epsilon) >= 25
        # Power: 10,000 held-out rows on each side recover most of epsilon.
        assert min(bounds) > 0.5 * epsilon, (epsilon, min(bounds))


def test_bonferroni_widens_each_interval() -> None:
    members, nonmembers = _randomized_response(1.0, 4000, np.random.default_rng(5))
    members = members + np.random.default_rng(6).random(members.size)  # many distinct thresholds
    one = epsilon_lower_bound(members, nonmembers, 1e-5, 0.9, seed=1)
    five = epsilon_lower_bound(members, nonmembers, 1e-5, 0.9, seed=1, top=5)
    assert five.tests == 5 and one.tests == 1
    tp = round(five.tpr * five.members)
    assert five.tpr_interval == pytest.approx(_exact_ci(tp, five.members, 1 - 0.1 / 5))
    assert five.epsilon_ceiling < one.epsilon_ceiling
    assert five.confidence == 0.9  # the reported confidence is the family's, not each test's


@given(
    members=st.lists(st.floats(-5, 5), min_size=2, max_size=60),
    nonmembers=st.lists(st.floats(-5, 5), min_size=2, max_size=60),
    delta=st.sampled_from([0.0, 1e-6, 0.01]),
    thresholds=st.one_of(st.none(), st.integers(1, 20), st.lists(st.floats(-6, 6), min_size=1, max_size=5)),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=80, deadline=None)
def test_bound_invariants(
    members: list[float],
    nonmembers: list[float],
    delta: float,
    thresholds: int | list[float] | None,
    seed: int,
) -> None:
    result = epsilon_lower_bound(members, nonmembers, delta, thresholds=thresholds, seed=seed)
    assert 0.0 <= result.epsilon_lower_bound <= result.epsilon_ceiling + 1e-12
    assert result.tpr_interval[0] <= result.tpr <= result.tpr_interval[1]
    assert result.fpr_interval[0] <= result.fpr <= result.fpr_interval[1]
    assert result.members == len(members) - len(members) // 2
    assert result.nonmembers == len(nonmembers) - len(nonmembers) // 2
    if result.epsilon_lower_bound > 0:
        assert result.tpr > result.fpr  # only a real separation can be significant
    assert isinstance(result.describe(), str) and "\n" not in result.describe()


def test_result_is_frozen_and_describes_itself() -> None:
    result = epsilon_lower_bound(np.arange(100.0) + 100, np.arange(100.0), 1e-5, seed=0)
    assert isinstance(result, AuditResult)
    with pytest.raises(ValueError):
        result.epsilon_lower_bound = 0.0  # type: ignore[misc]
    line = result.describe()
    assert line.startswith(f"empirical epsilon >= {result.epsilon_lower_bound:.3g}")
    assert "50 members / 50 non-members" in line
    assert AuditResult.model_validate(result.model_dump()) == result


def test_bad_arguments_are_refused() -> None:
    good = np.arange(10.0)
    with pytest.raises(ValueError, match="delta"):
        epsilon_lower_bound(good, good, delta=1.0, seed=0)
    with pytest.raises(ValueError, match="confidence"):
        epsilon_lower_bound(good, good, delta=0.0, confidence=1.0, seed=0)
    with pytest.raises(ValueError, match="finite"):
        epsilon_lower_bound([1.0, np.nan], good, delta=0.0, seed=0)
    with pytest.raises(DataError, match="non-member") as info:
        epsilon_lower_bound(good, [1.0], delta=0.0, seed=0)
    assert info.value.where == "attack.audit"


# --- a broken mechanism on the demo table ---------------------------------------------------


@pytest.fixture(scope="module")
def placements() -> tuple[pd.DataFrame, TableSchema]:
    table = read_table("builtin:student_placements")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # student_id is reported as an id
        return table, infer_schema(table)


def _distance_scores(
    members: pd.DataFrame, nonmembers: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema
) -> tuple[np.ndarray, np.ndarray]:
    """The distance attack's scores (synthpriv.attacks.distance): minus the nearest synthetic distance."""
    encoding = DistanceEncoding.fit(members, schema)
    synthetic_x = encoding.transform(synthetic)
    return (
        -nearest_distances(encoding.transform(members), synthetic_x),
        -nearest_distances(encoding.transform(nonmembers), synthetic_x),
    )


def test_audit_catches_a_generator_that_returns_its_training_rows(
    placements: tuple[pd.DataFrame, TableSchema],
) -> None:
    """A false DP claim (epsilon = 1) on a mechanism that publishes its input is refuted."""
    table, schema = placements
    claimed_epsilon, delta = 1.0, 1e-3
    order = np.random.default_rng(0).permutation(len(table))
    members, nonmembers = table.iloc[order[: len(table) // 2]], table.iloc[order[len(table) // 2 :]]
    member_scores, nonmember_scores = _distance_scores(members, nonmembers, members, schema)
    for seed in range(5):
        result = epsilon_lower_bound(member_scores, nonmember_scores, delta, seed=seed)
        assert result.tpr == 1.0 and result.fpr < 0.05
        assert result.epsilon_lower_bound > 2 * claimed_epsilon, result.describe()


def test_audit_stays_quiet_when_synthetic_rows_are_fresh_people(
    placements: tuple[pd.DataFrame, TableSchema],
) -> None:
    """The control: a 'generator' that publishes other people from the same population leaks nothing
    about its members, so the same attack on the same table proves nothing."""
    table, schema = placements
    third = len(table) // 3
    bounds = []
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(table))
        members, nonmembers, fresh = (table.iloc[order[i * third : (i + 1) * third]] for i in range(3))
        scores = _distance_scores(members, nonmembers, fresh, schema)
        bounds.append(epsilon_lower_bound(*scores, 1e-3, seed=seed).epsilon_lower_bound)
    assert max(bounds) < 0.5
    assert sum(b > 0 for b in bounds) <= 1
