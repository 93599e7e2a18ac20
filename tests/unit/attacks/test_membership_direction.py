"""Which way a membership score points is decided on the reference half, never on the targets.

By hand: the AUC's normal interval, and the flip applied from a check's verdict whatever the
evaluation scores say. On the demo table: a "generator" that hands back the held-out rows (people
it never trained on) makes the distance scores point the wrong way; the check sees it on rows set
aside from the reference half and the attack is counted flipped. A copy of the training rows is not.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from synthpriv.attacks.membership import (
    ATTACKS,
    MembershipResult,
    _Direction,
    _score_each,
    auc_normal_interval,
    membership_inference,
)
from synthpriv.data.io import read_table
from synthpriv.data.schema import TableSchema, infer_schema


def test_auc_normal_interval_by_hand() -> None:
    members, non_members = np.array([4.0, 3.0, 2.0, 1.0]), np.array([3.5, 0.0, 0.0, 0.0])
    auc, (low, high) = auc_normal_interval(members, non_members)
    assert auc == pytest.approx(13 / 16)
    a, m, n = 13 / 16, 4, 4
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt((a * (1 - a) + (m - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (m * n))
    assert (low, high) == pytest.approx((a - 1.959963984540054 * se, min(1.0, a + 1.959963984540054 * se)))
    # Clearly below 0.5 on many rows: the whole interval is below, the mark of a reversed score.
    rng = np.random.default_rng(0)
    members, non_members = rng.normal(-0.5, 1, 400), rng.normal(0, 1, 400)
    auc, (low, high) = auc_normal_interval(members, non_members)
    assert auc == pytest.approx(
        roc_auc_score(np.r_[np.ones(400), np.zeros(400)], np.r_[members, non_members])
    )
    assert high < 0.5 and _Direction(auc, (low, high)).reversed


def test_the_flip_follows_the_check_not_the_evaluation() -> None:
    n = 50
    below = np.r_[np.arange(n), np.arange(n) + n].astype(float)  # members all below non-members: AUC 0
    above = -below  # members all above: AUC 1
    scorers = {name: (lambda scores=below: scores) for name in ATTACKS}
    scorers["classifier"] = lambda: above
    directions = {
        "distance": _Direction(0.55, (0.45, 0.65)),  # the check saw no wrong way: kept, however bad it looks
        "domias": _Direction(0.2, (0.1, 0.3)),  # the check saw the wrong way: flipped
        "classifier": _Direction(0.3, (0.2, 0.4)),  # flipped too, though on the targets it looks perfect
    }  # dcr: no check at all, kept as built
    results = {r.name: r for r in _score_each(scorers, n, 20, np.random.SeedSequence(0), directions)}
    assert (results["distance"].auc, results["distance"].reversed) == (0.0, False)
    assert (results["domias"].auc, results["domias"].reversed) == (1.0, True)
    assert results["domias"].tpr_at_fpr_1pct == 1.0  # every figure is the flipped score's
    assert (results["classifier"].auc, results["classifier"].reversed) == (0.0, True)
    assert (results["dcr"].reversed, results["dcr"].calibration_auc) == (False, None)
    assert results["domias"].calibration_auc == 0.2 and results["domias"].calibration_auc_ci == (0.1, 0.3)


@pytest.fixture(scope="module")
def demo() -> tuple[pd.DataFrame, pd.DataFrame, TableSchema]:
    table = read_table("builtin:student_placements")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(table)
    order = np.random.default_rng(7).permutation(len(table))
    return table.iloc[order[:135]], table.iloc[order[135:]], schema  # 80 held out: 40 reference, 40 targets


def test_held_out_rows_handed_back_are_counted_flipped(demo) -> None:
    train, holdout, schema = demo
    result = membership_inference(train, holdout, holdout, schema, seed=0, n_bootstrap=50)
    assert result.calibration_rows == 20  # half of the 40 reference rows; plenty of spare train rows
    for name in ("distance", "dcr"):
        attack = result.attack(name)
        assert attack.reversed, name
        assert attack.calibration_auc_ci is not None and attack.calibration_auc_ci[1] < 0.5
        assert attack.auc > 0.9, name  # flipped, the attacker picks the non-members out
    strongest = result.attack(result.strongest)
    assert all((strongest.auc_ci[0], strongest.auc) >= (a.auc_ci[0], a.auc) for a in result.attacks)


def test_a_copy_of_the_training_rows_is_not_reversed(demo) -> None:
    train, holdout, schema = demo
    result: MembershipResult = membership_inference(train, holdout, train, schema, seed=0, n_bootstrap=0)
    assert not any(a.reversed for a in result.attacks)
    assert all(a.calibration_auc is not None and a.calibration_auc > 0.9 for a in result.attacks)


def test_no_spare_training_rows_means_no_check(demo) -> None:
    train, holdout, schema = demo
    small = train.iloc[:30]  # 30 members drawn from 30 train rows: none left for the check
    result = membership_inference(small, holdout, small, schema, seed=0, n_bootstrap=0)
    assert result.calibration_rows == 0
    assert all(a.calibration_auc is None and not a.reversed for a in result.attacks)
