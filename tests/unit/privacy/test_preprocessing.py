"""DP preprocessing: every statistic the transformer uses is declared or released privately."""

from __future__ import annotations

import json
import math
import warnings
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthpriv.config.model import ColumnDeclaration
from synthpriv.data.encoders import OneHotEncoder
from synthpriv.data.schema import ColumnKind, TableSchema, infer_schema
from synthpriv.data.transform import TabularTransformer
from synthpriv.errors import PrivacyConfigError
from synthpriv.privacy.ledger import PrivacyLedger
from synthpriv.privacy.preprocessing import (
    HISTOGRAM,
    OTHER_TOKEN,
    STABILITY,
    discrete_laplace_counts,
    fit_private_transformer,
    plan_private_preprocessing,
    private_normalizer,
    stability_histogram,
    stability_threshold,
)

NUMERICAL = [
    "second_perc",
    "high_perc",
    "degree_perc",
    "experience_years",
    "employability_perc",
    "mba_perc",
    "salary",
    "duration",
]
DATES = ["start_date", "end_date"]
CATEGORICAL = ["gender", "high_spec", "degree_type", "mba_spec"]
BOOLEAN = ["work_experience", "placed"]

# Deterministic examples: the DP tests assert events whose failure probability is tiny but
# not zero, so a passing run must stay passing.
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True)


@pytest.fixture(scope="module")
def demo_table(demo: pd.DataFrame) -> pd.DataFrame:
    """The demo table as a DP run reads it (`read_table`: its Arrow schema recorded), not as
    ``pd.read_csv`` reads it: what is public about a column depends on how it is read."""
    return demo


def bounds_declarations(table: pd.DataFrame) -> dict[str, ColumnDeclaration]:
    """Bounds for every numerical and datetime column (taken from the table here, standing
    in for a codebook: in a real pipeline they must be public knowledge)."""
    declarations = {
        name: ColumnDeclaration(
            kind=ColumnKind.NUMERICAL, bounds=(float(table[name].min()) - 1, float(table[name].max()) + 1)
        )
        for name in NUMERICAL
    }
    for name in DATES:
        dates = pd.to_datetime(table[name])
        low, high = dates.min().to_pydatetime(), dates.max().to_pydatetime()
        declarations[name] = ColumnDeclaration(kind=ColumnKind.DATETIME, bounds=(low, high))
    return declarations


def with_categories(
    table: pd.DataFrame, declarations: dict[str, ColumnDeclaration]
) -> dict[str, ColumnDeclaration]:
    out = dict(declarations)
    for name in CATEGORICAL:
        out[name] = ColumnDeclaration(
            kind=ColumnKind.CATEGORICAL, categories=sorted(table[name].dropna().unique())
        )
    return out


def schema_of(table: pd.DataFrame, declarations: dict[str, ColumnDeclaration]) -> TableSchema:
    """The schema a DP run infers: from declarations and the input's schema, never the values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # student_id looks like an id
        return infer_schema(table, declarations, public_only=True)


# -- the mechanisms -----------------------------------------------------------------------


def test_discrete_laplace_counts_are_integers_unbiased_away_from_zero_and_clamped_at_it() -> None:
    rng = np.random.default_rng(0)
    counts = np.array([0, 0, 40, 300, 5_000])
    epsilon = 0.5  # noise scale 2
    noisy = discrete_laplace_counts(np.tile(counts, (20_000, 1)), epsilon, rng)
    assert noisy.dtype.kind == "i"  # integers: no low-order float bits to read (Mironov 2012)
    assert (noisy >= 0).all()
    q = math.exp(-epsilon)
    # An empty cell stays 0 when the noise is <= 0: P = 1 / (1 + q) = 0.62 (not 1/2 as for
    # the continuous Laplace, whose noise is never exactly 0).
    assert (noisy[:, :2] == 0).mean() == pytest.approx(1 / (1 + q), abs=0.01)
    mean = noisy.mean(axis=0)
    # Away from zero clamping never bites: the mean is the count (std of the mean ~ 0.02).
    np.testing.assert_allclose(mean[2:], counts[2:], atol=0.1)
    # At zero clamping adds E[max(Z, 0)] = q / (1 - q^2) = 0.96.
    np.testing.assert_allclose(mean[:2], q / (1 - q * q), atol=0.04)
    with pytest.raises(ValueError, match="whole"):
        discrete_laplace_counts(np.array([0.5]), epsilon, rng)


@PROPERTY
@given(epsilon=st.floats(1e-3, 50.0), delta=st.floats(1e-15, 0.499))
def test_stability_threshold_is_the_smallest_that_bounds_a_new_category_by_delta(
    epsilon: float, delta: float
) -> None:
    threshold = stability_threshold(epsilon, delta)
    assert isinstance(threshold, int) and threshold >= 2

    def released(t: int) -> float:
        # P[1 + Z >= t] for discrete Laplace Z of scale 1 / epsilon: q^(t - 1) / (1 + q).
        q = math.exp(-epsilon)
        return q ** (t - 1) / (1 + q)

    assert released(threshold) <= delta
    assert threshold == 2 or released(threshold - 1) > delta


def test_stability_threshold_bounds_a_singleton_release_empirically() -> None:
    # A category held by one row passes with probability q^(t-1) / (1 + q), here 0.015 at
    # a delta of 0.02: counted over many draws of the noise, as the mechanism draws it.
    epsilon, delta = 1.0, 0.02
    threshold = stability_threshold(epsilon, delta)
    draws = discrete_laplace_counts(np.ones(200_000, dtype=np.int64), epsilon, np.random.default_rng(11))
    q = math.exp(-epsilon)
    assert (draws >= threshold).mean() == pytest.approx(q ** (threshold - 1) / (1 + q), abs=0.002)
    assert (draws >= threshold).mean() < delta
    with pytest.raises(ValueError):
        stability_threshold(0.0, 1e-6)


@PROPERTY
@given(
    counts=st.lists(st.integers(1, 400), min_size=1, max_size=30),
    epsilon=st.floats(0.01, 1.0),
    delta=st.floats(1e-12, 1e-8),
    seed=st.integers(0, 2**32 - 1),
)
def test_stability_histogram_never_releases_a_value_held_by_one_row(
    counts: list[int], epsilon: float, delta: float, seed: int
) -> None:
    tokens = np.repeat([f"c{i}" for i in range(len(counts))], counts)
    released, noisy = stability_histogram(tokens, epsilon, delta, np.random.default_rng(seed))
    count_of = dict(zip((f"c{i}" for i in range(len(counts))), counts, strict=True))
    assert all(count_of[c] > 1 for c in released)
    assert len(set(released)) == len(released)
    assert (noisy >= stability_threshold(epsilon, delta)).all()
    assert (np.diff(noisy) <= 0).all()  # most frequent first


def test_stability_histogram_releases_categories_far_above_the_threshold() -> None:
    tokens = np.repeat(["big", "medium", "one"], [5_000, 400, 1])
    released, _ = stability_histogram(tokens, 0.5, 1e-8, np.random.default_rng(1))
    # threshold ~ 37: both large categories pass whatever the noise, the singleton never does.
    assert released == ["big", "medium"]


@PROPERTY
@given(
    values=st.lists(st.floats(-1e4, 1e4) | st.just(math.nan), min_size=0, max_size=300),
    bounds=st.tuples(st.floats(-1e3, 1e3), st.floats(1e-3, 1e4)).map(lambda b: (b[0], b[0] + b[1])),
    epsilon=st.floats(0.01, 100.0),
    integer=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_released_knots_are_monotone_and_within_the_declared_bounds(
    values: list[float], bounds: tuple[float, float], epsilon: float, integer: bool, seed: int
) -> None:
    column = np.round(values) if integer else np.asarray(values, dtype=float)
    normalizer = private_normalizer(
        column, bounds, epsilon, np.random.default_rng(seed), integer=integer, bins=64
    )
    low, high = bounds
    assert (normalizer.quantiles >= low).all() and (normalizer.quantiles <= high).all()
    assert (np.diff(normalizer.quantiles) >= 0).all()
    assert normalizer.references[0] >= 0 and normalizer.references[-1] <= 1
    assert (np.diff(normalizer.references) > 0).all()
    # The map is monotone, and model space decodes inside the bounds.
    probe = np.linspace(low, high, 50)
    assert (np.diff(normalizer.transform(probe)) >= 0).all()
    decoded = normalizer.inverse(np.linspace(-6, 6, 101))
    assert (decoded >= low).all() and (decoded <= high).all()


def test_an_integer_column_with_a_small_range_comes_back_exactly() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(17, 91, size=2_000).astype(float)
    normalizer = private_normalizer(values, (17, 90), 0.5, rng, integer=True)
    assert set(normalizer.quantiles) == set(range(17, 91))  # one plateau per integer
    z = normalizer.transform(values).astype(np.float32)
    np.testing.assert_array_equal(normalizer.inverse(z), values)


def test_a_spike_at_a_bound_is_kept_as_a_point() -> None:
    rng = np.random.default_rng(4)
    # capital_gain-like: 90% exact zeros, the rest spread up to 99,999.
    values = np.where(rng.random(5_000) < 0.9, 0.0, rng.uniform(1, 99_999, 5_000))
    normalizer = private_normalizer(values, (0, 99_999), 1.0, rng)
    decoded = normalizer.inverse(normalizer.transform(np.zeros(3)).astype(np.float32))
    np.testing.assert_array_equal(decoded, 0.0)
    # Most of model space decodes to the spike, as most of the data sits there.
    samples = normalizer.inverse(rng.standard_normal(10_000))
    assert (samples == 0).mean() == pytest.approx(0.9, abs=0.05)


# -- the transformer on the demo table ----------------------------------------------------


def test_with_huge_epsilon_the_private_transformer_matches_the_non_private_one(
    demo_table: pd.DataFrame,
) -> None:
    declarations = bounds_declarations(demo_table)
    schema = schema_of(demo_table, declarations)
    ledger = PrivacyLedger(epsilon=1e7, delta=1e-6)
    private, _ = fit_private_transformer(demo_table, schema, declarations, ledger, 1e6, rng_seed=0)
    # DP preprocessing works from declared bounds: compare with a public fit that neither clips
    # rare extremes nor folds rare categories (min_category_count=1), which DP does its own way.
    public = TabularTransformer(schema.modelled(), min_category_count=1).fit(demo_table)

    private_back = private.inverse_transform(private.transform(demo_table))
    public_back = public.inverse_transform(public.transform(demo_table))
    for name in NUMERICAL:
        spread = float(demo_table[name].max() - demo_table[name].min())
        np.testing.assert_allclose(private_back[name], public_back[name], atol=1e-3 * spread, err_msg=name)
    for name in DATES + CATEGORICAL + BOOLEAN:
        pd.testing.assert_series_equal(private_back[name], public_back[name], check_dtype=False, obj=name)
    for name in CATEGORICAL:  # every category has at least 11 rows: all released
        assert set(private.categorical[name].categories) - {OTHER_TOKEN, OneHotEncoder.NULL_TOKEN} == set(
            demo_table[name].unique()
        )
    # The model-space marginals agree too: the DP quantile maps are the data's CDF. Except for
    # duration: its file type is double (3.0, 6.0, 12.0), so the DP map bins it (whole values
    # are a fact about the rows), where the public map gives each of its three values a
    # plateau; its values still come back (asserted above).
    assert not schema["duration"].integer
    private_matrix, public_matrix = private.transform(demo_table), public.transform(demo_table)
    for name in [n for n in NUMERICAL + DATES if n != "duration"]:
        z_private = private_matrix[
            :, next(s.start for s in private.spans if s.column == name and s.role == "value")
        ]
        z_public = public_matrix[
            :, next(s.start for s in public.spans if s.column == name and s.role == "value")
        ]
        assert np.abs(z_private - z_public).mean() < 0.1, name


def test_declared_categories_cost_nothing_and_the_ledger_adds_up(demo_table: pd.DataFrame) -> None:
    declarations = with_categories(demo_table, bounds_declarations(demo_table))
    schema = schema_of(demo_table, declarations)
    ledger = PrivacyLedger(epsilon=3.0, delta=1e-6)
    transformer, releases = fit_private_transformer(demo_table, schema, declarations, ledger, 0.3, rng_seed=1)
    released_columns = {r.what.split("'")[1] for r in releases}
    assert released_columns == set(NUMERICAL + DATES)
    assert all(r.mechanism == HISTOGRAM == "discrete laplace" and r.delta == 0 for r in releases)
    assert [r.epsilon for r in releases] == pytest.approx([0.3 / len(releases)] * len(releases))
    assert ledger.releases == releases
    assert ledger.spent_epsilon == pytest.approx(math.fsum(r.epsilon for r in releases)) == pytest.approx(0.3)
    assert ledger.spent_delta == 0 and ledger.remaining_epsilon == pytest.approx(2.7)
    for name in CATEGORICAL:
        # A declared domain comes back whole and as declared: no (other), no null category.
        declared = declarations[name].categories
        assert declared is not None
        assert transformer.categorical[name].categories == declared


def test_undeclared_categories_are_released_with_delta_from_the_ledger(demo_table: pd.DataFrame) -> None:
    declarations = bounds_declarations(demo_table)
    schema = schema_of(demo_table, declarations)
    ledger = PrivacyLedger(epsilon=10.0, delta=1e-5)
    _, releases = fit_private_transformer(
        demo_table, schema, declarations, ledger, 2.0, rng_seed=2, delta_share=0.2
    )
    stability = [r for r in releases if r.mechanism == STABILITY]
    assert len(stability) == len(CATEGORICAL)
    assert [r.delta for r in stability] == pytest.approx([0.2 * 1e-5 / len(CATEGORICAL)] * len(CATEGORICAL))
    assert ledger.spent_epsilon == pytest.approx(math.fsum(r.epsilon for r in releases)) == pytest.approx(2.0)
    assert ledger.spent_delta == pytest.approx(math.fsum(r.delta for r in releases)) == pytest.approx(0.2e-5)


def test_a_value_held_by_one_row_never_becomes_a_category(demo_table: pd.DataFrame) -> None:
    table = demo_table.copy()
    table.loc[7, "degree_type"] = "Only-one"
    declarations = bounds_declarations(table)
    schema = schema_of(table, declarations)
    for seed in range(5):
        ledger = PrivacyLedger(epsilon=1e7, delta=1e-6)
        transformer, _ = fit_private_transformer(table, schema, declarations, ledger, 1e6, rng_seed=seed)
        categories = transformer.categorical["degree_type"].categories
        assert "Only-one" not in categories
        assert "Others" in categories  # 11 rows: far above the threshold at this epsilon
        # The merged value decodes as the (other) category, a valid string.
        back = transformer.inverse_transform(transformer.transform(table.iloc[[7]]))
        assert back["degree_type"].tolist() == [OTHER_TOKEN]


def test_a_category_column_of_numbers_folds_unreleased_values_into_a_released_one(
    demo_table: pd.DataFrame,
) -> None:
    table = demo_table.assign(
        code=np.where(np.arange(len(demo_table)) == 0, 9, np.arange(len(demo_table)) % 2)
    )
    declarations = {**bounds_declarations(table), "code": ColumnDeclaration(kind=ColumnKind.CATEGORICAL)}
    schema = schema_of(table, declarations)
    ledger = PrivacyLedger(epsilon=1e7, delta=1e-6)
    transformer, _ = fit_private_transformer(table, schema, declarations, ledger, 1e6, rng_seed=0)
    assert OTHER_TOKEN not in transformer.categorical["code"].categories
    back = transformer.inverse_transform(transformer.transform(table))
    assert back["code"].dtype == table["code"].dtype
    assert set(back["code"]) == {0, 1}  # the lone 9 came back as a released code


def test_every_csv_column_may_be_null_unless_declared_otherwise(demo_table: pd.DataFrame) -> None:
    declarations = with_categories(demo_table, bounds_declarations(demo_table))
    declarations["second_perc"] = declarations["second_perc"].model_copy(update={"nullable": False})
    declarations["mba_spec"] = declarations["mba_spec"].model_copy(update={"nullable": True})
    schema = schema_of(demo_table, declarations)
    ledger = PrivacyLedger(epsilon=3.0, delta=1e-6)
    transformer, _ = fit_private_transformer(demo_table, schema, declarations, ledger, 0.3, rng_seed=0)
    # The demo is a CSV, which declares no nullability: high_perc has no nulls, yet gets a
    # missing block (whether it has any is not released); placed too, though its dtype is bool.
    assert str(demo_table["placed"].dtype) == "bool" and demo_table["high_perc"].notna().all()
    assert transformer.has_missing["high_perc"] and transformer.has_missing["salary"]
    assert OneHotEncoder.NULL_TOKEN in transformer.categorical["placed"].categories
    # Declared not nullable: no missing block, no null category, so no generator can emit a null.
    assert not transformer.has_missing["second_perc"]
    assert not any(s.column == "second_perc" and s.role == "missing" for s in transformer.spans)
    # Declared categories are a complete domain; declared nullable, the null category comes last.
    gender = declarations["gender"].categories
    assert transformer.categorical["gender"].categories == gender
    mba = declarations["mba_spec"].categories
    assert mba is not None
    assert transformer.categorical["mba_spec"].categories == [*mba, OneHotEncoder.NULL_TOKEN]
    decoded = transformer.inverse_transform(transformer.transform(demo_table))
    assert decoded["second_perc"].notna().all() and decoded["gender"].isin(["F", "M"]).all()


def test_a_declared_domain_is_never_folded(demo_table: pd.DataFrame) -> None:
    """Rare and even absent declared categories keep their place; nothing becomes (other)."""
    declarations = bounds_declarations(demo_table)
    counts = demo_table["degree_type"].value_counts()
    rare = ["Only-one", *counts.index[::-1]]  # rarest first, and one no row holds
    table = demo_table.copy()
    table.loc[3, "degree_type"] = "Only-one"
    declarations["degree_type"] = ColumnDeclaration(kind=ColumnKind.CATEGORICAL, categories=[*rare, "Nobody"])
    schema = schema_of(table, declarations)
    ledger = PrivacyLedger(epsilon=1.0, delta=1e-6)
    transformer, releases = fit_private_transformer(table, schema, declarations, ledger, 0.1, rng_seed=4)
    assert transformer.categorical["degree_type"].categories == [*rare, "Nobody"]
    assert OTHER_TOKEN not in transformer.categorical["degree_type"].categories
    assert not any("'degree_type'" in r.what for r in releases)
    # An undeclared column of the same table does get the fallback category (its list is released).
    assert transformer.categorical["high_spec"].categories[0] == OTHER_TOKEN


def test_with_declared_domains_the_layout_does_not_depend_on_the_rows(demo_table: pd.DataFrame) -> None:
    declarations = with_categories(demo_table, bounds_declarations(demo_table))
    schema = schema_of(demo_table, declarations)
    layouts = []
    for rows in (demo_table.iloc[:100], demo_table.iloc[100:]):
        ledger = PrivacyLedger(epsilon=3.0, delta=1e-6)
        transformer, _ = fit_private_transformer(rows, schema, declarations, ledger, 0.3, rng_seed=0)
        layouts.append(transformer.spans)
    assert layouts[0] == layouts[1]


def test_datetime_knots_lie_within_the_declared_dates(demo_table: pd.DataFrame) -> None:
    declarations = with_categories(demo_table, bounds_declarations(demo_table))
    declarations["start_date"] = ColumnDeclaration(
        kind=ColumnKind.DATETIME, bounds=(datetime(2019, 1, 1), datetime(2021, 12, 31))
    )
    schema = schema_of(demo_table, declarations)
    ledger = PrivacyLedger(epsilon=3.0, delta=1e-6)
    transformer, _ = fit_private_transformer(demo_table, schema, declarations, ledger, 1.0, rng_seed=0)
    knots = pd.to_datetime(transformer.numeric["start_date"].quantiles, unit="s")
    assert knots.min() == pd.Timestamp("2019-01-01") and knots.max() == pd.Timestamp("2021-12-31")
    width = transformer.width
    decoded = transformer.inverse_transform(
        np.random.default_rng(0).standard_normal((500, width)).astype(np.float32)
    )
    dates = pd.to_datetime(decoded["start_date"].dropna())
    assert dates.min() >= pd.Timestamp("2019-01-01") and dates.max() <= pd.Timestamp("2021-12-31")


# -- failing before training --------------------------------------------------------------


@pytest.mark.parametrize("column", ["salary", "start_date"])
def test_a_column_without_bounds_fails_before_anything_is_charged(
    demo_table: pd.DataFrame, column: str
) -> None:
    declarations = bounds_declarations(demo_table)
    del declarations[column]
    schema = schema_of(demo_table, declarations)
    ledger = PrivacyLedger(epsilon=3.0, delta=1e-6)
    with pytest.raises(PrivacyConfigError, match=f"column '{column}' needs declared bounds") as info:
        fit_private_transformer(demo_table, schema, declarations, ledger, 0.3, rng_seed=0)
    assert info.value.where == f"data.columns.{column}"
    assert "\n" not in str(info.value)
    assert ledger.releases == []


def test_undeclared_categories_without_delta_fail_naming_the_column(demo_table: pd.DataFrame) -> None:
    declarations = bounds_declarations(demo_table)
    schema = schema_of(demo_table, declarations)
    ledger = PrivacyLedger(epsilon=3.0, delta=0.0)
    with pytest.raises(PrivacyConfigError, match="column 'gender' needs declared categories") as info:
        fit_private_transformer(demo_table, schema, declarations, ledger, 0.3, rng_seed=0)
    assert info.value.where == "data.columns.gender"
    assert ledger.releases == []


def test_a_budget_too_small_is_refused_before_any_release(demo_table: pd.DataFrame) -> None:
    declarations = bounds_declarations(demo_table)
    schema = schema_of(demo_table, declarations)
    ledger = PrivacyLedger(epsilon=0.2, delta=1e-6)
    with pytest.raises(
        PrivacyConfigError, match="DP preprocessing .* needs epsilon 0.3 but only 0.2"
    ) as info:
        fit_private_transformer(demo_table, schema, declarations, ledger, 0.3, rng_seed=0)
    assert info.value.where == "train.privacy.epsilon"
    assert ledger.releases == []


def test_the_private_transformer_saves_and_loads(demo_table: pd.DataFrame) -> None:
    declarations = bounds_declarations(demo_table)
    schema = schema_of(demo_table, declarations)
    ledger = PrivacyLedger(epsilon=3.0, delta=1e-6)
    transformer, _ = fit_private_transformer(demo_table, schema, declarations, ledger, 1.0, rng_seed=None)
    loaded = TabularTransformer.from_dict(json.loads(json.dumps(transformer.to_dict())))
    np.testing.assert_array_equal(loaded.transform(demo_table), transformer.transform(demo_table))


def test_the_plan_reads_no_data_and_splits_epsilon_evenly(demo_table: pd.DataFrame) -> None:
    declarations = bounds_declarations(demo_table)
    schema = schema_of(demo_table, declarations)
    plan = plan_private_preprocessing(schema, declarations, epsilon=1.4, delta=1e-6)
    assert {p.column for p in plan} == set(NUMERICAL + DATES + CATEGORICAL)
    assert [p.epsilon for p in plan] == pytest.approx([0.1] * 14)
    fully_declared = with_categories(demo_table, declarations)
    assert len(plan_private_preprocessing(schema, fully_declared, epsilon=1.4, delta=0.0)) == len(
        NUMERICAL + DATES
    )
