"""Membership inference on the most outlying rows (issue 19, must-have 4).

The leaky control: a population in which 1 % of the people are unusual (every column drawn
from its whole range, so they break the table's dependencies), split into train (2,000 rows),
holdout (4,000) and a third sample (2,000). The "synthetic" table is the third sample, a fair
draw of the population that says nothing about who trained it, plus the 20 unusual training
rows copied verbatim. The average membership attack cannot see 20 copies among 2,000 members;
this attack, aimed at the most outlying rows, must. The clean control (the third sample alone)
must stay near chance. Then the bookkeeping: tiers on small tables, the nearest-other-row
distances, what the stage stores and scores, and that no real value leaves the result.

Measured on these tables (seed 0): leaky, the 1 % tier's strongest attacker (dcr) AUC 0.855
(0.722-0.945), 15 of the 20 outlying training rows nearer a synthetic row than any other real
row against 1 of 20 held-out ones; the 5 % tier AUC 0.667 (0.594-0.736) and TPR at FPR 1 %
0.210 (0.120-0.280); the average attackers AUC 0.492-0.504, no interval above 0.521. Clean:
0.532 (0.378-0.698) and 0.549 (0.478-0.623), TPR 0.050 (0.000-0.160).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from synthpriv.attacks.base import AttackInputs
from synthpriv.attacks.membership import MembershipResult, membership_inference
from synthpriv.attacks.outliers import (
    MIN_TIER_ROWS,
    OutlierMembershipAttack,
    OutlierMembershipResult,
    nearest_other,
    outlier_membership,
    plan_tiers,
)
from synthpriv.config.model import AttackConfig
from synthpriv.data.io import builtin_table_path
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.metrics.outliers import AutoencoderSettings

#: The membership verdict's bounds (`synthpriv.reports.verdicts`): good when an AUC's interval
#: ends at most here, a leak when it starts above `LEAK_AUC`.
NEAR_CHANCE_AUC, LEAK_AUC = 0.56, 0.6
SENTINEL = "SENTINEL-q7x2"  # a category held by unusual training rows, which no result may repeat


def population(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` people with dependent columns, 1 % of them unusual (returned: their positions)."""
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 4, n)
    jobs = np.array(["clerk", "manager", "engineer", "nurse", "driver", "teacher"])
    table = pd.DataFrame(
        {
            "age": np.clip(rng.normal(40 + 5 * level, 12, n), 18, 90).round(),
            "income": np.exp(rng.normal(10 + 0.2 * level, 0.5, n)).round(2),
            "hours": np.clip(rng.normal(38, 8, n), 1, 80).round(),
            "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "level": np.array(["none", "school", "college", "degree"])[level],
            "job": np.where(
                rng.random(n) < 0.6, jobs[(level + rng.integers(0, 3, n)) % 6], rng.choice(jobs, n)
            ),
        }
    )
    unusual = rng.choice(n, n // 100, replace=False)
    k = len(unusual)
    table.loc[unusual, "age"] = rng.integers(18, 91, k).astype(float)
    table.loc[unusual, "income"] = np.exp(rng.uniform(np.log(1e3), np.log(1e6), k)).round(2)
    table.loc[unusual, "hours"] = rng.integers(1, 81, k).astype(float)
    for column in ("region", "level", "job"):
        table.loc[unusual, column] = rng.choice(np.sort(table[column].unique()), k)
    return table, unusual


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, TableSchema]:
    """train, holdout, the clean "synthetic" table, the leaky one, and the schema."""
    train, unusual = population(2_000, seed=0)
    holdout, _ = population(4_000, seed=1)
    third, _ = population(2_000, seed=2)
    leaky = pd.concat([third, train.iloc[unusual]], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(train)
    return train, holdout, third, leaky, schema


@pytest.fixture(scope="module")
def leaky(tables) -> tuple[OutlierMembershipResult, MembershipResult]:  # type: ignore[no-untyped-def]
    train, holdout, _, synthetic, schema = tables
    return (
        outlier_membership(train, holdout, synthetic, schema, seed=0),
        membership_inference(train, holdout, synthetic, schema, seed=0),
    )


def test_copied_outliers_are_caught_here_and_missed_on_average(leaky) -> None:  # type: ignore[no-untyped-def]
    outliers, average = leaky
    one, five = outliers.tiers
    assert (one.members, one.non_members, five.members, five.non_members) == (20, 20, 100, 100)
    # The 1 % tier: the strongest attacker finds the copies with an AUC whose interval lies
    # above the leak bound, and the copies are nearer a synthetic row than any real one.
    strongest = one.strongest_score()
    assert strongest is not None and strongest.auc_ci[0] > LEAK_AUC, strongest
    assert one.members_nearer_synthetic >= 10 and one.non_members_nearer_synthetic <= 5
    # The 5 % tier has 100 non-members: its TPR at FPR 1 % is resolved, and far above 1 %.
    assert five.tpr_at_fpr_1pct_resolved and not one.tpr_at_fpr_1pct_resolved
    top = five.strongest_score()
    assert top is not None and top.tpr_at_fpr_1pct_ci[0] > 0.05, top
    # Averaged over 2,000 members, the same synthetic table looks harmless to every attacker.
    for attack in average.attacks:
        assert attack.auc_ci[1] <= NEAR_CHANCE_AUC, attack
    assert OutlierMembershipAttack().gate_values(outliers)["max_outlier_membership_auc"] == strongest.auc


def test_a_disjoint_real_sample_stays_near_chance(tables) -> None:  # type: ignore[no-untyped-def]
    train, holdout, clean, _, schema = tables
    result = outlier_membership(train, holdout, clean, schema, seed=0)
    for tier in result.tiers:
        for attack in tier.attacks:
            assert attack.auc_ci[0] <= LEAK_AUC, (tier.share, attack)
    top = result.tiers[1].strongest_score()  # the 5 % tier, whose TPR is resolved
    assert top is not None and top.tpr_at_fpr_1pct_ci[0] <= 0.02, top
    # Cross-fitted scores: members and non-members look alike to the scorer.
    assert result.median_score_train == pytest.approx(result.median_score_non_members, rel=0.2)


def test_tiers_by_hand() -> None:
    big = plan_tiers(32_561, 8_141)  # UCI Adult: 1 % and 5 % of each, rounded up
    assert [(p.members, p.non_members, p.measured_share) for p in big] == [(326, 82, 0.01), (1629, 408, 0.05)]
    middle = plan_tiers(2_000, 500)  # 1 % of 500 is 5 non-members: too few
    assert middle[0].measured_share is None and "too few rows for 1%" in middle[0].note
    assert (middle[1].members, middle[1].non_members) == (100, 25)
    small = plan_tiers(107, 27)  # the demo's contract split: the 5 % tier is widened
    assert small[0].measured_share is None
    assert small[1].measured_share == pytest.approx(MIN_TIER_ROWS / 27)
    assert (small[1].members, small[1].non_members) == (40, 10)
    assert "measured on the 37% most outlying instead" in small[1].note
    tiny = plan_tiers(30, 12)  # 10 of 12 would be most of the non-members: nothing is measured
    assert all(p.measured_share is None for p in tiny)


def test_nearest_other_row_by_hand() -> None:
    reference = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0], [6.0, 8.0]], dtype=np.float32)
    # Row 0 has a twin (distance 0); row 2's nearest other row is row 0 or 1 (5); row 3's is row 2.
    got = nearest_other(reference[[0, 2, 3]], reference, own=np.array([0, 2, 3]))
    np.testing.assert_allclose(got, [0.0, 5.0, 5.0])


@pytest.fixture(scope="module")
def demo() -> tuple[pd.DataFrame, pd.DataFrame, TableSchema]:
    table = pd.read_csv(builtin_table_path("student_placements"), parse_dates=["start_date", "end_date"])
    table = table.sample(frac=1.0, random_state=1).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(table)
    table.loc[:4, "high_spec"] = SENTINEL  # five training rows hold a value no result may repeat
    return table.iloc[:107].reset_index(drop=True), table.iloc[107:161].reset_index(drop=True), schema


def test_a_small_table_says_what_it_cannot_resolve(demo) -> None:  # type: ignore[no-untyped-def]
    train, holdout, schema = demo
    attack = OutlierMembershipAttack()
    inputs = AttackInputs(train=train, holdout=holdout, synthetic=train, schema=schema, seed=0)
    settings = attack.settings(AttackConfig(settings={"outlier_membership": {"bootstrap": 50}}))
    result = attack.run(inputs, settings)
    one, five = result.tiers
    assert not one.measured and one.attacks == [] and "too few rows for 1%" in one.note
    assert five.measured and "instead" in five.note and not five.tpr_at_fpr_1pct_resolved
    scores = attack.scores(result)
    # No TPR at FPR 1 % from 10 non-members: only the AUC and the nearer-than-real share.
    assert [s.measure for s in scores] == ["roc_auc", "share"]
    assert scores[0].ci_low > 0.5  # the copy of the training rows is caught
    assert attack.load(attack.store(result)) == result
    assert SENTINEL not in result.model_dump_json()


def test_a_table_too_small_for_any_tier_fits_nothing_and_gives_no_gate_value(demo) -> None:  # type: ignore[no-untyped-def]
    train, holdout, schema = demo
    result = outlier_membership(train.iloc[:30], holdout.iloc[:24], train, schema, seed=0)
    assert not any(tier.measured for tier in result.tiers)
    assert result.median_score_train is None and result.seconds < 1.0  # no network was trained
    attack = OutlierMembershipAttack()
    assert attack.scores(result) == [] and attack.gate_values(result) == {}


def test_same_seed_same_figures_and_the_scorer_settings_reach_the_networks(demo) -> None:  # type: ignore[no-untyped-def]
    train, holdout, schema = demo

    def figures(epochs: int) -> dict:
        quick = AutoencoderSettings(models=1, epochs=epochs)
        result = outlier_membership(train, holdout, train, schema, seed=0, n_bootstrap=0, autoencoder=quick)
        dumped = result.model_dump(exclude={"seconds"})
        for tier in dumped["tiers"]:
            for attack in tier["attacks"]:
                del attack["seconds"]
        return dumped

    first = figures(2)
    assert figures(2) == first
    assert figures(30)["median_score_train"] != first["median_score_train"]


def test_the_registry_and_the_outlier_page_load_no_torch() -> None:
    """The scorer (torch) is imported only when the attack runs, so `synthpriv check` starts without
    it and the section's page module renders without it (pyproject.toml's import contract ignores
    that one import)."""
    import subprocess
    import sys

    code = (
        "import sys, synthpriv.attacks.registry, synthpriv.reports.pages.outliers; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
