"""The marginal generator's tokens: columns to tokens and back, and its marginals."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import torch
from hypothesis import given, settings

from synthpriv.data.schema import infer_schema
from synthpriv.data.transform import TabularTransformer
from synthpriv.generators.marginal import joint
from synthpriv.generators.tokens import detokenize, token_attributes, tokenize

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)


@st.composite
def tables(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(8, 60))
    numbers = draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=rows, max_size=rows))
    holes = draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
    colours = draw(st.lists(st.sampled_from(["red", "green", "blue"]), min_size=rows, max_size=rows))
    return pd.DataFrame(
        {
            "x": pd.Series(numbers, dtype="float64").mask(pd.Series(holes)),
            "colour": pd.Series(colours, dtype=object),
        }
    )


@SETTINGS
@given(table=tables(), bins=st.integers(2, 12), seed=st.integers(0, 2**32 - 1))
def test_tokens_survive_a_decode_and_an_encode(table: pd.DataFrame, bins: int, seed: int) -> None:
    """A token decodes to a value that encodes back to the same token: a bin's value stays in
    its bin, a missing token stays missing, a category stays itself."""
    transformer = TabularTransformer(infer_schema(table).modelled(), min_category_count=1).fit(table)
    attributes = token_attributes(transformer.spans, bins)
    encoded = transformer.encode(table)
    tokens = tokenize(encoded, attributes)
    for attribute, column in zip(attributes, tokens.T, strict=True):
        assert 0 <= column.min() and column.max() < attribute.size
    decoded = detokenize(
        tokens, attributes, transformer.spans, np.random.default_rng(seed).random(tokens.shape)
    )
    np.testing.assert_array_equal(tokenize(decoded, attributes), tokens)


def test_a_nullable_number_has_a_missing_token_and_a_category_its_categories() -> None:
    table = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0] * 5, "c": ["a", "b", "a", "b"] * 5})
    transformer = TabularTransformer(infer_schema(table).modelled(), min_category_count=1).fit(table)
    by_name = {a.column: a for a in token_attributes(transformer.spans, bins=6)}
    assert by_name["x"].size == 7 and by_name["x"].bins == 6
    tokens = tokenize(transformer.encode(table), tuple(by_name.values()))
    assert (tokens[1::4, 0] == 6).all() and (tokens[0::4, 0] < 6).all()


def test_joint_is_the_weighted_sum_of_the_components_outer_products() -> None:
    generator = torch.Generator().manual_seed(0)
    weights = torch.softmax(torch.randn(50, generator=generator), dim=0)
    probs = [torch.softmax(torch.randn(50, s, generator=generator), dim=1) for s in (2, 3, 4)]
    expected = torch.einsum("b,bi,bj,bk->ijk", weights, *probs).reshape(-1)
    torch.testing.assert_close(joint(weights, probs, (0, 1, 2)), expected)
    torch.testing.assert_close(joint(weights, probs, (1,)), weights @ probs[1])
    assert abs(float(joint(weights, probs, (0, 2)).sum()) - 1.0) < 1e-5


def test_conditions_are_met_by_construction_and_carry_the_columns_relations() -> None:
    """Conditioning reweights the mixture's components by Bayes' rule: every row honours the
    condition without rejection, and the other columns follow it (in the demo table a placed
    student always has a salary, an unplaced one never)."""
    import warnings

    from synthpriv.data.io import read_table
    from synthpriv.generators.registry import get_generator

    table = read_table("builtin:student_placements")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the id-column notice
        generator = get_generator("marginal")({"components": 64}, epochs=400, seed=0, device="cpu")
        generator.fit(table)
    fixed = generator.encode_conditions({"placed": False})
    native = generator._sample_conditional(400, seed=3, fixed=fixed)
    assert native is not None and len(native) == 400
    rows = generator.sample(400, seed=3, conditions={"placed": False})
    assert (~rows["placed"]).all()
    assert rows["salary"].isna().mean() > 0.9
    placed = generator.sample(400, seed=4, conditions={"placed": True})
    assert placed["placed"].all() and placed["salary"].notna().mean() > 0.9
