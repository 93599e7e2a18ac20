"""Imputation (partial rows completed) and rebalancing (set shares of one column's categories)
on the demo table (`synthesize.conditions: <file>`, `synthesize.rebalance`)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthpriv.config.loader import parse_config
from synthpriv.data.io import read_table
from synthpriv.data.spans import Span
from synthpriv.errors import ConfigError
from synthpriv.generators.base import Generator
from synthpriv.generators.rebalance import RebalancePlan, plan_rebalance
from synthpriv.generators.registry import get_generator

#: Columns of the demo table the autoregressive model learned missing values in (a student not
#: placed has no salary, no dates, no duration): an imputed cell of these may be missing again.
NULLABLE = {"salary", "start_date", "end_date", "duration"}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return read_table("builtin:student_placements")


def _fitted(kind: str, params: dict, table: pd.DataFrame, epochs: int) -> Generator:
    torch.set_num_threads(1)
    generator = get_generator(kind)(params, epochs=epochs, seed=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the id-column notice
        generator.fit(table)
    return generator


@pytest.fixture(scope="module")
def autoregressive(table: pd.DataFrame) -> Generator:
    return _fitted("autoregressive", {"hidden_dim": 16}, table, epochs=20)


@pytest.fixture(scope="module")
def vae(table: pd.DataFrame) -> Generator:
    return _fitted("vae", {"hidden_dims": [32, 32], "latent_dim": 8}, table, epochs=10)


@pytest.fixture(scope="module")
def partial(table: pd.DataFrame) -> pd.DataFrame:
    """The demo rows with 40 % of their cells blanked (every column, ids included)."""
    blank = np.random.default_rng(0).random(table.shape) < 0.4
    return table.mask(blank)


# -- imputation ---------------------------------------------------------------------------------


def test_imputation_keeps_every_given_cell_and_fills_every_null(
    autoregressive: Generator, partial: pd.DataFrame, table: pd.DataFrame
) -> None:
    completed = autoregressive.impute(partial, seed=1)
    assert list(completed.columns) == list(table.columns)
    assert (completed.dtypes == table.dtypes).all()
    assert completed.index.equals(partial.index)
    for column in table.columns:
        known = partial[column].notna()
        assert completed[column][known].equals(table[column][known]), column
        if column not in NULLABLE:
            assert completed[column].notna().all(), column
    # The blanked cells were drawn, not copied from anywhere: they differ from the real ones.
    blanked = partial["second_perc"].isna()
    assert (completed["second_perc"][blanked] != table["second_perc"][blanked]).mean() > 0.9


def test_imputation_is_reproducible_for_a_seed(autoregressive: Generator, partial: pd.DataFrame) -> None:
    first = autoregressive.impute(partial, seed=3)
    pd.testing.assert_frame_equal(first, autoregressive.impute(partial, seed=3))
    other = autoregressive.impute(partial, seed=4)
    blanked = partial["degree_perc"].isna()
    assert not first["degree_perc"][blanked].equals(other["degree_perc"][blanked])


def test_impute_is_one_batch_of_impute_batches(autoregressive: Generator, partial: pd.DataFrame) -> None:
    whole = autoregressive.impute(partial, seed=5)
    batches = list(autoregressive.impute_batches(partial, seed=5, batch_size=len(partial)))
    assert len(batches) == 1
    pd.testing.assert_frame_equal(whole, batches[0])
    smaller = list(autoregressive.impute_batches(partial, seed=5, batch_size=100))
    assert [len(b) for b in smaller] == [100, 100, 15]
    joined = pd.concat(smaller)
    assert joined.index.equals(partial.index)
    given = partial["gender"].notna()
    assert joined["gender"][given].equals(partial["gender"][given])


def test_imputation_conditions_exactly_as_a_condition_does(autoregressive: Generator) -> None:
    """Rows with only `placed` given are drawn as `synthesize.conditions: {placed: false}` draws
    them: the same tokens for the same seed, so the known cells are the model's context."""
    assert autoregressive.schema is not None
    modelled = [c.name for c in autoregressive.schema.modelled()]
    rows = pd.DataFrame(None, index=range(300), columns=modelled, dtype=object).assign(placed=False)
    imputed = autoregressive._impute_encoded(rows, seed=7)
    fixed = autoregressive.encode_conditions({"placed": False})
    conditioned = autoregressive._sample_conditional(300, seed=7, fixed=fixed)
    assert conditioned is not None
    np.testing.assert_array_equal(imputed.codes, conditioned.codes)
    np.testing.assert_array_equal(imputed.values, conditioned.values)


def test_missing_columns_are_filled_and_unknown_columns_refused(
    autoregressive: Generator, table: pd.DataFrame
) -> None:
    only_two = table[["gender", "mba_perc"]].head(50)
    completed = autoregressive.impute(only_two, seed=0)
    assert list(completed.columns) == list(table.columns) and len(completed) == 50
    assert completed["mba_perc"].equals(only_two["mba_perc"])
    assert completed["degree_type"].notna().all() and completed["student_id"].notna().all()
    with pytest.raises(ConfigError, match=r"\['nickname'\]") as error:
        autoregressive.impute(only_two.assign(nickname="x"), seed=0)
    assert error.value.where == "synthesize.conditions"


def test_a_generator_that_cannot_impute_refuses(vae: Generator, partial: pd.DataFrame) -> None:
    with pytest.raises(
        ConfigError, match="generator vae cannot impute.*train.generator: autoregressive"
    ) as error:
        vae.impute(partial, seed=0)
    assert error.value.where == "synthesize.conditions"


# -- rebalancing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["autoregressive", "vae"])
def test_rebalance_gives_the_share_in_every_batch(kind: str, request: pytest.FixtureRequest) -> None:
    generator: Generator = request.getfixturevalue(kind)
    plan = plan_rebalance(generator, {"gender": {"F": 0.7}}, conditions={}, seed=3)
    batches = list(plan.batches(generator, 250, seed=3, batch_size=100))
    assert [len(b) for b in batches] == [100, 100, 50]
    assert [int((b["gender"] == "F").sum()) for b in batches] == [70, 70, 35]
    rows = pd.concat(batches, ignore_index=True)
    assert rows["student_id"].is_unique  # ids run on across batches
    assert set(rows["gender"]) == {"F", "M"}
    # Shuffled within a batch, not in blocks of one category.
    assert (batches[0]["gender"] != batches[0]["gender"].shift()).sum() > 10
    again = pd.concat(plan.batches(generator, 250, seed=3, batch_size=100), ignore_index=True)
    pd.testing.assert_frame_equal(rows, again)


def test_rebalance_honours_the_other_conditions(autoregressive: Generator) -> None:
    plan = plan_rebalance(
        autoregressive, {"degree_type": {"Others": 0.2}}, conditions={"placed": True}, seed=1
    )
    rows = pd.concat(plan.batches(autoregressive, 200, seed=1, batch_size=200))
    assert rows["placed"].all()
    assert int((rows["degree_type"] == "Others").sum()) == 40
    # The rest follow the model's own proportions among the other two degree types.
    rest = rows["degree_type"][rows["degree_type"] != "Others"].value_counts(normalize=True)
    model = plan.model_shares[[i for i in range(plan.span.width) if i not in plan.targets]]
    assert abs(rest.max() - model.max() / model.sum()) < 0.02


def test_rebalance_of_a_boolean_column(vae: Generator) -> None:
    plan = plan_rebalance(vae, {"placed": {True: 0.25, False: 0.75}}, conditions={}, seed=0)
    rows = pd.concat(plan.batches(vae, 120, seed=0, batch_size=120))
    assert int(rows["placed"].sum()) == 30


@pytest.mark.parametrize(
    ("rebalance", "conditions", "message"),
    [
        ({"gender": {"X": 0.5}}, {}, "value 'X' of 'gender' is not a category"),
        ({"salary": {"1": 0.5}}, {}, "categorical or boolean columns; 'salary' is numerical"),
        ({"nickname": {"a": 0.5}}, {}, "not in the data"),
        ({"gender": {"F": 0.5}}, {"gender": "M"}, "also fixed by synthesize.conditions"),
        ({"gender": {"F": 0.5, "M": 0.3}}, {}, "add up to less than 1"),
        ({"gender": {"F": 0.5}, "placed": {True: 0.5}}, {}, "one column at a time"),
    ],
)
def test_rebalance_that_cannot_hold_is_refused(
    vae: Generator, rebalance: dict, conditions: dict, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        plan_rebalance(vae, rebalance, conditions=conditions, seed=0)
    assert error.value.where is not None and error.value.where.startswith("synthesize.rebalance")


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 5_000),
    shares=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=4),
    model=st.lists(st.floats(0.01, 1.0), min_size=6, max_size=6),
)
def test_quotas_add_up_and_round_the_listed_shares(n: int, shares: list[float], model: list[float]) -> None:
    total = sum(shares)
    shares = [s / total for s in shares] if total > 1 else shares
    plan = RebalancePlan(
        span=Span("c", "category", 0, 6, "softmax"),
        targets=dict(enumerate(shares)),
        model_shares=np.array(model) / sum(model),
        fixed=(),
    )
    quotas = plan.quotas(n)
    assert quotas.sum() == n and (quotas >= 0).all()
    for index, share in enumerate(shares):
        assert abs(quotas[index] - n * share) <= 1.0  # round(n * share), or one off where rounding overshoots
    if sum(shares) < 0.999 and sum(round(n * s + 1e-9) for s in shares) <= n:
        assert all(quotas[i] == int(np.floor(n * s + 0.5 + 1e-9)) for i, s in enumerate(shares))


# -- the pipeline file ----------------------------------------------------------------------------

BASE = "name: demo\ndata:\n  path: t.csv\nsynthesize:\n"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("  rebalance: {gender: {F: 0.7, M: 0.5}}\n", "the shares of gender add up to more than 1"),
        ("  rebalance: {gender: {F: 0}}\n", r"each share is in \(0, 1\]"),
        ("  rebalance: {gender: {F: true}}\n", "a share is a number"),
        ("  rebalance: {gender: {F: 0.5}, placed: {true: 0.5}}\n", "one column at a time"),
        ("  conditions: rows.csv\n  rebalance: {gender: {F: 0.5}}\n", "cannot be combined"),
        ("  conditions: ''\n", "a mapping of columns to values or a file path"),
    ],
)
def test_bad_synthesize_settings_are_refused_with_their_line(section: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        parse_config(BASE + section)
    assert error.value.where is not None and "synthesize." in error.value.where


def test_a_conditions_file_and_rebalance_are_read() -> None:
    config = parse_config(BASE + "  conditions: partial.parquet\n").config.synthesize
    assert config.conditions_file == "partial.parquet" and config.fixed_conditions == {}
    config = parse_config(BASE + "  conditions: {placed: true}\n  rebalance: {gender: {F: 0.6}}\n").config
    assert config.synthesize.conditions_file is None
    assert config.synthesize.rebalance == {"gender": {"F": 0.6}}
    assert (("synthesize", "rebalance", "gender"), "gender") in config.column_references()
