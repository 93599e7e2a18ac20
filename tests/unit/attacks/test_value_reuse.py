"""Unique-value reuse (issue 19, must-have 3): the share of synthetic numbers equal to a value one
training row holds, beside the holdout's. Hand-counted tiny tables, the two controls on the demo
(a copy of the training rows fails the gate; disjoint real rows stay near the holdout) and on UCI
Adult where it is available, and its speed on 100,000 rows."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest

from synthpriv.attacks.base import AttackInputs, NoSettings
from synthpriv.attacks.registry import get_attack
from synthpriv.attacks.value_reuse import ValueReuseAttack, ValueReuseResult, value_reuse
from synthpriv.config.model import GatesConfig
from synthpriv.data.io import read_table
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, infer_schema
from synthpriv.stages.attack import attack_gates

GATE = "max_unique_value_reuse_share"

TINY = TableSchema(
    columns=(
        ColumnSpec("x", ColumnKind.NUMERICAL, "float64", nullable=True),
        ColumnSpec("when", ColumnKind.DATETIME, "datetime64[ns]", nullable=False),
        ColumnSpec("c", ColumnKind.CATEGORICAL, "object", nullable=False),
    )
)


def tiny(x: list[float], days: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": x,
            "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(days, unit="D"),
            "c": ["a"] * len(x),
        }
    )


def quiet_schema(table: pd.DataFrame) -> TableSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the id column warning
        return infer_schema(table)


@pytest.fixture(scope="module")
def demo_parts() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, TableSchema]:
    """The demo in three disjoint real parts: train, holdout and a third sample."""
    table = read_table("builtin:student_placements")
    order = np.random.default_rng(3).permutation(len(table))
    parts = (table.iloc[order[i::3]].reset_index(drop=True) for i in range(3))
    train, holdout, third = parts
    return train, holdout, third, quiet_schema(table)


def gate_outcome(result: ValueReuseResult, bound: float) -> bool:
    """Whether the attack stage's gate passes ``result`` at ``bound``."""
    values = ValueReuseAttack().gate_values(result)
    (outcome,) = attack_gates({GATE: [values[GATE]]}, GatesConfig(**{GATE: bound}))
    assert outcome.name == GATE and outcome.value == result.share
    return outcome.passed


# --- by hand ------------------------------------------------------------------------------


def test_counted_by_hand() -> None:
    # x: 1 twice, 2, 3 and 4 once each (the singletons); "when": days 0 and 1 once, day 2 twice.
    train = tiny([1.0, 1.0, 2.0, 3.0, 4.0], [0, 1, 2, 2, 5])
    # x: 2, 3, 3 are singletons, 1 is not, the missing value does not count; days 0 and 5 are.
    synthetic = tiny([2.0, 3.0, 3.0, 1.0, np.nan], [0, 2, 2, 9, 5])
    holdout = tiny([2.0, 5.0, 9.0], [1, 2, 3])
    result = value_reuse(train, holdout, synthetic, TINY)
    by_column = {c.column: c for c in result.columns}
    assert list(by_column) == ["x", "when"]  # numbers and dates only, in schema order
    x, when = by_column["x"], by_column["when"]
    assert (x.unique_values, x.synthetic_hits, x.synthetic_values) == (3, 3, 4)
    assert (x.holdout_hits, x.holdout_values) == (1, 3)
    assert (when.unique_values, when.synthetic_hits, when.synthetic_values) == (3, 2, 5)
    assert (when.holdout_hits, when.holdout_values) == (1, 3)
    assert result.share == pytest.approx(5 / 9) and result.holdout_share == pytest.approx(2 / 6)
    assert result.share_ci[0] < result.share < result.share_ci[1]
    assert result.worst is x  # 3/4 - 1/3 beats 2/5 - 1/3


def test_nothing_unique_nothing_reused() -> None:
    train = tiny([1.0, 1.0, 2.0, 2.0], [0, 0, 1, 1])
    result = value_reuse(train, train, train, TINY)
    assert result.share == 0.0 and result.holdout_share == 0.0
    assert all(c.unique_values == 0 for c in result.columns)


def test_a_table_without_numbers_is_skipped() -> None:
    schema = TableSchema(columns=(ColumnSpec("c", ColumnKind.CATEGORICAL, "object", nullable=False),))
    table = pd.DataFrame({"c": ["a", "b"]})
    inputs = AttackInputs(train=table, holdout=table, synthetic=table, schema=schema, seed=0)
    assert ValueReuseAttack().skip_reason(inputs, NoSettings()) == "needs a numeric or datetime column"


# --- the controls -------------------------------------------------------------------------


def test_a_copy_of_the_training_rows_fails_the_gate(demo_parts) -> None:
    train, holdout, _, schema = demo_parts
    result = value_reuse(train, holdout, train, schema)
    # Every singleton of every column comes back: far above what real rows give by chance.
    assert result.share > 0.4 and result.share > 2 * result.holdout_share, result
    assert result.share_ci[0] > result.holdout_share_ci[1]
    assert not gate_outcome(result, bound=0.3)
    # mba_perc: 66 of its 72 training values are one row's, and a copy gives every one back.
    worst = result.worst
    assert worst is not None and worst.column == "mba_perc"
    assert worst.synthetic_hits == worst.unique_values == 66 and worst.holdout_hits == 0


def test_disjoint_real_rows_stay_near_the_holdout(demo_parts) -> None:
    train, holdout, third, schema = demo_parts
    result = value_reuse(train, holdout, third, schema)
    assert abs(result.share - result.holdout_share) < 0.05, result
    assert result.share_ci[0] <= result.holdout_share <= result.share_ci[1]
    assert gate_outcome(result, bound=0.3)


def test_adult_controls(adult) -> None:
    table = adult.drop(columns="split").sample(n=30_000, random_state=2).reset_index(drop=True)
    schema = quiet_schema(table)
    train, holdout, third = table.iloc[:10_000], table.iloc[10_000:20_000], table.iloc[20_000:]
    copy = value_reuse(train, holdout, train, schema)
    independent = value_reuse(train, holdout, third, schema)
    assert copy.share > 3 * copy.holdout_share, copy
    assert abs(independent.share - independent.holdout_share) < 0.01, independent


# --- the registered attack ----------------------------------------------------------------


def test_registered_with_its_gate_and_one_score(demo_parts) -> None:
    train, holdout, _, schema = demo_parts
    attack = get_attack("value_reuse")
    assert isinstance(attack, ValueReuseAttack) and attack.gates == (GATE,)
    inputs = AttackInputs(train=train, holdout=holdout, synthetic=train, schema=schema, seed=0)
    result = attack.run(inputs, attack.settings_model())
    (score,) = attack.scores(result)
    assert (score.value, score.control) == (result.share, result.holdout_share)
    stored = attack.store(result)
    assert attack.load(stored) == result
    # Counts and shares only: the summary holds no value of the table.
    assert set(stored["value_reuse"]["columns"][0]) == {
        "column",
        "unique_values",
        "synthetic_hits",
        "synthetic_values",
        "holdout_hits",
        "holdout_values",
    }


def test_a_hundred_thousand_rows_in_well_under_a_second() -> None:
    rng = np.random.default_rng(0)
    rows = 100_000
    schema = TableSchema(
        columns=tuple(ColumnSpec(f"x{i}", ColumnKind.NUMERICAL, "float64", nullable=False) for i in range(6))
    )

    def table() -> pd.DataFrame:
        return pd.DataFrame({f"x{i}": np.round(rng.normal(size=rows) * 10**i, 2) for i in range(6)})

    train, holdout, synthetic = table(), table(), table()
    started = time.perf_counter()
    result = value_reuse(train, holdout, synthetic, schema)
    assert time.perf_counter() - started < 0.5
    assert result.columns[0].unique_values > 0
