"""Membership attacks: scoring by hand and against sklearn, then the two sanity controls on a
2,000-row mixed table (a "generator" that copies its train rows, and one that hands back a
third real sample), then the protocol's bookkeeping."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from synthpriv.attacks.membership import (
    ATTACKS,
    AttackResult,
    MembershipResult,
    evaluate_scores,
    membership_inference,
)
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.errors import DataError

SENTINEL = "SENTINEL-zq81"  # a category planted in train rows that no result may repeat
SENTINEL_NUMBER = 987654.321
ROWS = 2_000  # per part: train, holdout (1,000 reference + 1,000 non-members), third sample


def population(n: int, seed: int) -> pd.DataFrame:
    """Mixed rows with dependencies between columns, every row distinct (income has cents)."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 4, n)
    jobs = np.array(["clerk", "manager", "engineer", "nurse", "driver", "teacher"])
    job = np.where(rng.random(n) < 0.6, jobs[(level + rng.integers(0, 3, n)) % 6], rng.choice(jobs, n))
    return pd.DataFrame(
        {
            "age": np.clip(rng.normal(40 + 5 * level, 12, n), 18, 90).round(),
            "income": np.exp(rng.normal(10 + 0.2 * level, 0.5, n)).round(2),
            "hours": np.clip(rng.normal(38, 8, n), 1, 80).round(),
            "region": rng.choice(
                ["north", "south", "east", "west", "centre"], n, p=[0.3, 0.25, 0.2, 0.15, 0.1]
            ),
            "level": np.array(["none", "school", "college", "degree"])[level],
            "job": job,
            "owner": rng.random(n) < 0.3 + 0.1 * level,
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


@pytest.fixture(scope="module")
def planted(parts) -> pd.DataFrame:
    """The train rows with a sentinel category and number in 25 of them."""
    train = parts[0].copy()
    train.loc[:24, "job"] = SENTINEL
    train.loc[:24, "income"] = SENTINEL_NUMBER
    return train


@pytest.fixture(scope="module")
def copied(parts, planted) -> MembershipResult:
    """A "generator" that returns its training rows."""
    _, holdout, _, schema = parts
    return membership_inference(planted, holdout, planted, schema, seed=0)


@pytest.fixture(scope="module")
def independent(parts) -> MembershipResult:
    """A "generator" that returns real rows it never saw, disjoint from train and holdout."""
    train, holdout, third, schema = parts
    return membership_inference(train, holdout, third, schema, seed=0)


# --- scoring ------------------------------------------------------------------------------


def test_scores_by_hand() -> None:
    # Members 4, 3, 2, 1 against non-members 3.5, 0, 0, 0. ROC vertices from the top threshold:
    # (0, 0), (0, .25), (.25, .25), (.25, .5), (.25, .75), (.25, 1), (1, 1).
    result = evaluate_scores(
        "hand",
        np.array([4.0, 3.0, 2.0, 1.0]),
        np.array([3.5, 0.0, 0.0, 0.0]),
        n_bootstrap=50,
        rng=np.random.default_rng(0),
    )
    assert result.auc == pytest.approx(13 / 16)  # 4 + 3 + 3 + 3 ordered pairs of 16
    # FPR 1 % lies on the segment from (0, .25) to (.25, .25).
    assert result.tpr_at_fpr_1pct == pytest.approx(0.25)
    assert result.tpr_at_fpr_0_1pct == pytest.approx(0.25)
    assert result.advantage == pytest.approx(0.75)  # at (.25, 1)


def test_perfect_and_reversed_attacks() -> None:
    perfect = evaluate_scores(
        "p", np.arange(10.0, 20.0), np.arange(10.0), n_bootstrap=20, rng=np.random.default_rng(0)
    )
    assert perfect.auc == perfect.tpr_at_fpr_1pct == perfect.tpr_at_fpr_0_1pct == perfect.advantage == 1
    reversed_ = evaluate_scores(
        "r", np.arange(10.0), np.arange(10.0, 20.0), n_bootstrap=20, rng=np.random.default_rng(0)
    )
    assert (reversed_.auc, reversed_.tpr_at_fpr_1pct, reversed_.advantage) == (0, 0, 0)


def test_scores_agree_with_sklearn_with_ties() -> None:
    rng = np.random.default_rng(3)
    members = rng.integers(0, 40, 700) + 3.0  # few distinct values: many ties within and across
    non_members = rng.integers(0, 40, 900).astype(float)
    result = evaluate_scores("ties", members, non_members, n_bootstrap=100, rng=np.random.default_rng(1))
    labels = np.r_[np.ones(members.size), np.zeros(non_members.size)]
    scores = np.r_[members, non_members]
    assert result.auc == pytest.approx(roc_auc_score(labels, scores))
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    for target, got in ((0.01, result.tpr_at_fpr_1pct), (0.001, result.tpr_at_fpr_0_1pct)):
        # Linear between the last vertex at or below the target and the next.
        i = np.flatnonzero(fpr <= target)[-1]
        expected = tpr[i] + (target - fpr[i]) / (fpr[i + 1] - fpr[i]) * (tpr[i + 1] - tpr[i])
        assert got == pytest.approx(expected)
    assert result.advantage == pytest.approx(np.max(tpr - fpr))
    low, high = result.auc_ci
    assert low < result.auc < high and high - low < 0.1


def test_forest_ranks_by_hand() -> None:
    from synthpriv.attacks.membership import _ranks

    distinct = np.array([1.0, 3.0, 5.0])
    values = np.array([1.0, 5.0, 3.0, 4.0, np.nan, 0.0, 9.0])
    # Known values get their position, others the half-way point, missing -1 (below every rank).
    np.testing.assert_array_equal(_ranks(values, distinct), [0.0, 2.0, 1.0, 1.5, -1.0, -0.5, 2.5])
    np.testing.assert_array_equal(_ranks(np.array([2.0, np.nan]), np.array([])), [-0.5, -1.0])


def test_scores_must_be_finite_and_present() -> None:
    with pytest.raises(ValueError, match="finite"):
        evaluate_scores("x", np.array([np.nan]), np.array([0.0]), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="member"):
        evaluate_scores("x", np.array([]), np.array([0.0]), rng=np.random.default_rng(0))


# --- the sanity controls ------------------------------------------------------------------


def test_copy_of_train_is_found_by_every_attack(copied: MembershipResult) -> None:
    # The classifier too: its fully grown trees give each copied row a leaf of its own, so a
    # member scores P(synthetic) = 1 in every tree while a non-member meets reference rows.
    for name in ATTACKS:
        attack = copied.attack(name)
        assert attack.auc > 0.95, name
        assert attack.auc_ci[0] > 0.9, name
        assert attack.advantage > 0.9, name
        assert attack.tpr_at_fpr_1pct > 0.9, name


def test_independent_sample_gives_chance(independent: MembershipResult) -> None:
    # Reference and non-member rows are disjoint halves of the holdout: were they not, the
    # non-members would sit at distance 0 from the reference and the AUCs would drop far below 0.5.
    for attack in independent.attacks:
        assert abs(attack.auc - 0.5) < 0.08, attack.name
        assert attack.advantage < 0.1, attack.name
        assert attack.tpr_at_fpr_1pct < 0.05, attack.name
    low, high = independent.attack("distance").auc_ci
    assert low < 0.5 < high


# --- the protocol -------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["copied", "independent"])
def test_figures_are_consistent(which: str, request: pytest.FixtureRequest) -> None:
    result: MembershipResult = request.getfixturevalue(which)
    assert [a.name for a in result.attacks] == list(ATTACKS)
    assert result.members == result.non_members == ROWS // 2
    assert result.reference_rows == ROWS // 2 and result.synthetic_rows == ROWS
    assert result.tpr_at_fpr_0_1pct_resolved  # 1,000 non-members
    assert result.strongest == max(result.attacks, key=lambda a: (a.auc_ci[0], a.auc)).name
    for attack in result.attacks:
        for value, (low, high) in (
            (attack.auc, attack.auc_ci),
            (attack.tpr_at_fpr_1pct, attack.tpr_at_fpr_1pct_ci),
        ):
            assert 0.0 <= low <= value <= high <= 1.0, attack.name
        assert 0.0 <= attack.tpr_at_fpr_0_1pct <= attack.tpr_at_fpr_1pct <= 1.0
        fpr, tpr = np.array(attack.roc_fpr), np.array(attack.roc_tpr)
        assert 2 <= fpr.size == tpr.size <= 200
        assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
        assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
        # The plotted points lie on the ROC, so none beats the advantage (reached at a vertex).
        assert np.max(tpr - fpr) <= attack.advantage + 1e-12
        # The reported rates are points of the plotted curve.
        for target, value in ((0.01, attack.tpr_at_fpr_1pct), (0.001, attack.tpr_at_fpr_0_1pct)):
            assert tpr[np.flatnonzero(fpr == target)] == pytest.approx([value]), attack.name


def test_same_seed_same_result(parts) -> None:
    train, holdout, third, schema = parts

    def run(seed: int) -> MembershipResult:
        return membership_inference(train, holdout, third, schema, seed=seed, max_rows=300, n_bootstrap=50)

    timeless = {"seconds": True, "attacks": {"__all__": {"seconds"}}}
    first, again, other = run(5), run(5), run(6)
    assert first.model_dump(exclude=timeless) == again.model_dump(exclude=timeless)
    assert first.model_dump(exclude=timeless) != other.model_dump(exclude=timeless)


def test_results_hold_no_real_values(copied: MembershipResult, planted: pd.DataFrame) -> None:
    text = copied.model_dump_json()
    assert SENTINEL not in text
    assert str(SENTINEL_NUMBER) not in text
    # And nothing per record: every list is a plotted curve of at most 200 points.
    assert all(len(a.roc_fpr) <= 200 < copied.members for a in copied.attacks)
    assert set(AttackResult.model_fields) == {
        "name",
        "auc",
        "auc_ci",
        "tpr_at_fpr_1pct",
        "tpr_at_fpr_1pct_ci",
        "tpr_at_fpr_0_1pct",
        "advantage",
        "roc_fpr",
        "roc_tpr",
        "seconds",
        "reversed",
        "calibration_auc",
        "calibration_auc_ci",
    }


def test_split_sizes_follow_the_holdout_and_max_rows(parts) -> None:
    train, holdout, third, schema = parts
    small = membership_inference(train, holdout.iloc[:301], third, schema, seed=1, n_bootstrap=10)
    # 150 reference rows, the other 151 are non-members, matched by 151 train rows.
    assert (small.reference_rows, small.non_members, small.members) == (150, 151, 151)
    assert not small.tpr_at_fpr_0_1pct_resolved
    capped = membership_inference(train, holdout, third, schema, seed=1, max_rows=100, n_bootstrap=10)
    assert (capped.reference_rows, capped.non_members, capped.members) == (1000, 100, 100)


def test_a_table_without_information_gives_chance() -> None:
    table = pd.DataFrame({"colour": ["red"] * 200})
    schema = infer_schema(table)
    result = membership_inference(table, table, table, schema, seed=0, n_bootstrap=20)
    for attack in result.attacks:
        assert attack.auc == 0.5 and attack.advantage == 0.0, attack.name


def test_unusable_tables_are_data_errors(parts) -> None:
    train, holdout, _, schema = parts
    with pytest.raises(DataError, match="synthetic"):
        membership_inference(train, holdout, train.iloc[:0], schema, seed=0)
    with pytest.raises(DataError, match="holdout"):
        membership_inference(train, holdout.iloc[:1], train, schema, seed=0)
    with pytest.raises(DataError, match="income"):
        membership_inference(train, holdout, train.drop(columns="income"), schema, seed=0)
