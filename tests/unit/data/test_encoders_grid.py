"""No real value stored or re-emitted beyond what the distribution needs (issue 19, must-have 3).

On the demo table (with a unique, non-id-named ``phone`` column added, as a new user's table may
have): ``transformer.json`` holds only values that ``min_category_count`` rows share, a few per
column, where it held almost every training value; the phone numbers are neither stored nor
generated, by the transformer alone or by the default generator; a few-valued column keeps its
values except those too few rows hold, and a spike stays a spike.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from synthpriv.attacks.value_reuse import value_reuse
from synthpriv.data.io import read_table
from synthpriv.data.schema import ColumnKind, TableSchema, infer_schema
from synthpriv.data.split import split_rows
from synthpriv.data.transform import TabularTransformer, numeric_values
from synthpriv.generators.registry import get_generator

K = 5  # data.min_category_count's default


def with_phone(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with a 10-digit number no two rows share, named like nothing an id would be."""
    phones = np.random.default_rng(123).choice(10**7, len(table), replace=False)
    return table.assign(phone=6_000_000_000 + phones)


@pytest.fixture(scope="module")
def demo() -> tuple[pd.DataFrame, pd.DataFrame, TableSchema]:
    """The demo with a phone column, split as a run splits it: train and holdout rows."""
    table = with_phone(read_table("builtin:student_placements"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # student_id is reported as an id
        schema = infer_schema(table)
    assert schema["phone"].kind is ColumnKind.NUMERICAL
    split = split_rows(len(table), 0.2, seed=0)
    train, holdout = (table.iloc[rows].reset_index(drop=True) for rows in (split.train, split.holdout))
    return train, holdout, schema


def real_values(spec_name: str, train: pd.DataFrame, schema: TableSchema) -> tuple[np.ndarray, np.ndarray]:
    values = numeric_values(schema[spec_name], train[spec_name])
    return np.unique(values[np.isfinite(values)], return_counts=True)


def decoded(transformer: TabularTransformer, column: str) -> np.ndarray:
    """What ``column`` decodes to from 4001 model-space values, far beyond the knots included."""
    span = next(s for s in transformer.spans if s.column == column and s.role == "value")
    matrix = np.zeros((4001, transformer.width), dtype=np.float32)
    matrix[:, span.start] = np.linspace(-8.0, 8.0, 4001)
    out = transformer.inverse_transform(matrix)[column]
    return numeric_values(next(c for c in transformer.columns if c.name == column), out)


def test_the_demo_model_stores_only_values_many_rows_share(demo) -> None:
    train, _, schema = demo
    transformer = TabularTransformer(schema.modelled(), min_category_count=K).fit(train)
    stored = json.loads(json.dumps(transformer.to_dict()))["numeric"]
    for name, raw in stored.items():
        distinct, counts = real_values(name, train, schema)
        knots = np.unique(raw["quantiles"])
        real = knots[np.isin(knots, distinct)]
        # Every real value the map holds is one that K rows or more share: a handful per column.
        assert np.isin(real, distinct[counts >= K]).all(), name
        assert real.size <= max(np.count_nonzero(counts >= K), 0) and real.size <= 12, (name, real.size)
    # mba_perc (159 values one row holds, 157 of them stored before) and phone: none at all.
    for name in ("mba_perc", "phone"):
        distinct, _ = real_values(name, train, schema)
        assert not np.isin(stored[name]["quantiles"], distinct).any(), name


def test_a_unique_phone_number_is_never_generated(demo) -> None:
    train, holdout, schema = demo
    phones, _ = real_values("phone", train, schema)
    transformer = TabularTransformer(schema.modelled(), min_category_count=K).fit(train)
    assert not np.isin(decoded(transformer, "phone"), phones).any()  # tails and all
    generator = get_generator("autoregressive")(seed=0, min_category_count=K)
    generator.fit(train, schema)
    synthetic = generator.sample(2000, seed=0)
    reuse = {c.column: c for c in value_reuse(train, holdout, synthetic, schema).columns}
    assert reuse["phone"].unique_values == len(train)
    assert reuse["phone"].synthetic_hits == 0 and reuse["phone"].holdout_hits == 0
    # No column reuses one person's values more often than real rows the model never saw.
    for column in reuse.values():
        assert column.synthetic_share <= column.holdout_share + 0.05, column


def test_a_few_valued_column_keeps_its_values_but_not_a_rare_one() -> None:
    # A rating: 1 to 5 held by many rows, 9 by two (a data-entry slip, say), 0 by one.
    counts = {0: 1, 1: 40, 2: 60, 3: 80, 4: 50, 5: 30, 9: 2}
    table = pd.DataFrame({"rating": np.repeat(list(counts), list(counts.values())).astype(np.int64)})
    transformer = TabularTransformer(infer_schema(table).modelled(), min_category_count=K).fit(table)
    assert np.unique(transformer.numeric["rating"].quantiles).tolist() == [1, 2, 3, 4, 5]
    out = decoded(transformer, "rating")
    assert set(out) == {1, 2, 3, 4, 5}  # the rows of 0 and 9 count towards 1 and 5


def test_a_spike_stays_a_spike_among_values_nobody_shares() -> None:
    rng = np.random.default_rng(5)
    rows = 400
    amounts = np.round(rng.lognormal(8.0, 1.0, rows), 2)
    amounts[: rows // 4] = 0.0  # a quarter of the rows at zero, the rest spread out
    table = pd.DataFrame({"amount": amounts})
    transformer = TabularTransformer(infer_schema(table).modelled(), min_category_count=K).fit(table)
    out = decoded(transformer, "amount")
    z = np.linspace(-8.0, 8.0, 4001)
    # The share of model space (as normal probability mass) that decodes to exactly zero.
    mass = np.sum(np.exp(-(z[out == 0.0] ** 2) / 2)) / np.sum(np.exp(-(z**2) / 2))
    assert 0.22 < mass < 0.27
    singles = np.unique(amounts[amounts > 0])
    assert not np.isin(transformer.numeric["amount"].quantiles, singles).any()
