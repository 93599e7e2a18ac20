"""Public knowledge a DP run may use for free: declared decimals, value sets and groups of
columns blank together (`data.missing_together`), and histograms sized to their noise."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from synthpriv.config.model import ColumnDeclaration, DataConfig, Declarations
from synthpriv.config.privacy import PrivacyConfig
from synthpriv.data.schema import ColumnKind, TableSchema, infer_schema
from synthpriv.data.transform import PATTERN_COLUMN, MissingPatterns
from synthpriv.errors import PrivacyConfigError
from synthpriv.generators.tokens import value_levels
from synthpriv.privacy.ledger import PrivacyLedger
from synthpriv.privacy.marginal_plan import MarginalPlan
from synthpriv.privacy.marginals import ROUNDS_PER_COLUMN, default_rounds
from synthpriv.privacy.noise import zcdp_rho
from synthpriv.privacy.preprocessing import (
    DEFAULT_BINS,
    fit_private_transformer,
    histogram_bins,
    plan_private_preprocessing,
)
from synthpriv.training.seam import FitShape

GROUP = ("salary", "start_date", "end_date", "duration")


def demo_declarations(**extra: dict[str, object]) -> Declarations:
    """The demo's public knowledge, as pipelines/demo_dp.yaml declares it."""
    data = DataConfig.model_validate(
        {
            "path": "builtin:student_placements",
            "missing_together": [list(GROUP)],
            "columns": {
                **{
                    name: {"kind": "numerical", "bounds": [0, 100], "decimals": 2}
                    for name in ("second_perc", "high_perc", "degree_perc", "employability_perc", "mba_perc")
                },
                "experience_years": {"kind": "numerical", "bounds": [0, 10]},
                "salary": {"kind": "numerical", "bounds": [0, 200000], "decimals": 0},
                "duration": {"kind": "numerical", "values": [12, 3, 6]},
                "start_date": {"kind": "datetime", "bounds": ["2019-01-01", "2021-12-31"]},
                "end_date": {"kind": "datetime", "bounds": ["2019-01-01", "2022-12-31"]},
                "gender": {"kind": "categorical", "categories": ["F", "M"]},
                **extra,
            },
        }
    )
    return data.declarations()


def public_schema(table: pd.DataFrame, declarations: Declarations) -> TableSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # student_id looks like an id
        return infer_schema(table, declarations, public_only=True)


def test_declarations_are_checked_where_they_are_written() -> None:
    with pytest.raises(ValidationError, match="decimals apply only to numerical columns"):
        ColumnDeclaration.model_validate({"kind": "categorical", "decimals": 1})
    with pytest.raises(ValidationError, match="values apply only to numerical columns"):
        ColumnDeclaration.model_validate({"kind": "datetime", "values": [1]})
    with pytest.raises(ValidationError, match="values must not repeat"):
        ColumnDeclaration.model_validate({"kind": "numerical", "values": [3, 3]})
    with pytest.raises(ValidationError, match="each group names at least two columns"):
        DataConfig.model_validate({"path": "x.csv", "missing_together": [["salary"]]})
    with pytest.raises(ValidationError, match="'salary' is in more than one group"):
        DataConfig.model_validate({"path": "x.csv", "missing_together": [["salary", "a"], ["b", "salary"]]})
    declared = ColumnDeclaration.model_validate({"kind": "numerical", "values": [12, 3, 6]})
    assert declared.values == [3, 6, 12]
    assert declared.model_dump() == {"kind": "numerical", "values": [3.0, 6.0, 12.0]}


def test_declared_decimals_reach_the_schema_in_both_modes(demo: pd.DataFrame) -> None:
    declarations = demo_declarations()
    assert public_schema(demo, declarations)["second_perc"].decimals == 2
    assert public_schema(demo, declarations)["salary"].decimals == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        plain = infer_schema(demo, {"mba_perc": ColumnDeclaration(kind=ColumnKind.NUMERICAL, decimals=1)})
    assert plain["mba_perc"].decimals == 1


def test_declared_patterns_are_every_combination_of_the_groups_states() -> None:
    patterns = MissingPatterns.declared([("a", "b"), ("c", "d", "e")])
    assert patterns.columns == ("a", "b", "c", "d", "e")
    assert patterns.patterns.astype(int).tolist() == [
        [0, 0, 0, 0, 0],
        [0, 0, 1, 1, 1],
        [1, 1, 0, 0, 0],
        [1, 1, 1, 1, 1],
    ]
    half_blank = np.array([[1, 0, 0, 0, 0]], dtype=bool)
    assert not patterns.decided(patterns.codes(half_blank)).any()  # "other"


def test_a_dp_transformer_ties_a_declared_group_and_spends_nothing_on_declared_values(
    demo: pd.DataFrame,
) -> None:
    declarations = demo_declarations()
    schema = public_schema(demo, declarations)
    ledger = PrivacyLedger(epsilon=3.0, delta=1e-6)
    transformer, releases = fit_private_transformer(demo, schema, declarations, ledger, 0.5, rng_seed=3)
    released = {r.what.split("'")[1] for r in releases}
    assert "duration" not in released and "salary" in released  # values declared: no release
    assert transformer.missing_patterns is not None
    assert transformer.missing_patterns.columns == GROUP
    assert any(span.column == PATTERN_COLUMN for span in transformer.spans)
    # The real rows encode to the two declared patterns (all filled, all blank) and decode
    # with the group blank together and duration among its declared values.
    decoded = transformer.inverse_transform(transformer.encode(demo[[c.name for c in schema.modelled()]]))
    blank = decoded[list(GROUP)].isna()
    assert (blank.all(axis=1) | ~blank.any(axis=1)).all()
    assert set(decoded["duration"].dropna().unique()) <= {3.0, 6.0, 12.0}


def test_a_group_member_that_cannot_be_missing_is_refused_before_any_release(demo: pd.DataFrame) -> None:
    declarations = demo_declarations(salary={"kind": "numerical", "bounds": [0, 200000], "nullable": False})
    schema = public_schema(demo, declarations)
    with pytest.raises(PrivacyConfigError, match="'salary' is not a numerical or datetime column") as raised:
        plan_private_preprocessing(schema, declarations, epsilon=0.5, delta=1e-6)
    assert raised.value.where == "data.missing_together"


def test_the_marginal_plan_counts_the_pattern_as_a_variable(demo: pd.DataFrame) -> None:
    declarations = demo_declarations()
    schema = public_schema(demo, declarations)
    fit = FitShape(kind="marginal", rows=172, batch_size=172, epochs=10, marginal_capable=True)
    privacy = PrivacyConfig(epsilon=3.0, mechanism="marginals")
    plan = MarginalPlan.build(privacy, schema, declarations, fit, target="placed")
    assert plan.budget.columns == len(schema.modelled()) + 1
    assert plan.budget.focus == "placed"
    assert any("'placed' (data.target)" in line for line in plan.describe())


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 10**8), epsilon=st.floats(1e-4, 10.0), more=st.integers(1, 10**6))
def test_histogram_bins_grow_with_rows_and_epsilon_up_to_the_cap(
    rows: int, epsilon: float, more: int
) -> None:
    bins = histogram_bins(rows, epsilon)
    assert 1 <= bins <= DEFAULT_BINS
    assert histogram_bins(rows + more, epsilon) >= bins
    assert histogram_bins(rows, epsilon * 2) >= bins


def test_a_small_table_gets_a_few_bins_and_a_large_one_the_cap() -> None:
    assert histogram_bins(172, 0.075) == 6  # the demo at epsilon 3: 256 bins would be noise
    assert histogram_bins(32_561, 0.05) == DEFAULT_BINS  # Adult at epsilon 1


def test_only_value_sets_become_value_tokens_not_a_few_bin_histogram(demo: pd.DataFrame) -> None:
    declarations = demo_declarations()
    schema = public_schema(demo, declarations)
    ledger = PrivacyLedger(epsilon=3.0, delta=1e-6)
    # 172 rows at a small epsilon: a few bins each, so a few distinct knots per map.
    transformer, _ = fit_private_transformer(demo.iloc[:172], schema, declarations, ledger, 0.5, rng_seed=5)
    assert np.unique(transformer.numeric["salary"].quantiles).size <= 32
    levels = value_levels(transformer)
    assert "duration" in levels and len(levels["duration"]) == 3  # declared values
    assert "experience_years" in levels  # an integer histogram: one cell per integer
    assert "salary" not in levels and "second_perc" not in levels  # continuous between knots


def test_default_rounds_shrink_only_where_their_noise_would_swamp_the_rows() -> None:
    adult_rho, demo_rho = zcdp_rho(0.75, 1e-5), zcdp_rho(2.25, 1e-5)
    assert default_rounds(adult_rho, 15, 32_561) == ROUNDS_PER_COLUMN * 15  # the cap does not bind
    assert default_rounds(demo_rho, 17, 172) == 10  # the demo at epsilon 3
    assert default_rounds(adult_rho, 15, 10) == 1  # never none
    assert default_rounds(demo_rho, 17, None) == ROUNDS_PER_COLUMN * 17
    smaller = [default_rounds(demo_rho, 17, rows) for rows in (50, 100, 172, 400, 10_000)]
    assert smaller == sorted(smaller)
