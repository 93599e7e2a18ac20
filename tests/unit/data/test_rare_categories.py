"""Rare categories: a value held by fewer than ``min_category_count`` rows is never learned.

Without it a category held by one real row is stored in ``transformer.json`` and can be
generated verbatim into the export (issue 7). Folded values become `OTHER_TOKEN` in string
columns and the most frequent value in columns of numbers; nulls and booleans are kept.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from synthpriv.config.model import ColumnDeclaration, DataConfig
from synthpriv.data.encoders import OTHER_TOKEN, OneHotEncoder
from synthpriv.data.schema import ColumnKind, TableSchema, infer_schema
from synthpriv.data.transform import DEFAULT_MIN_CATEGORY_COUNT, TabularTransformer
from synthpriv.errors import DataError
from synthpriv.privacy import preprocessing
from synthpriv.privacy.ledger import PrivacyLedger

NULL = OneHotEncoder.NULL_TOKEN
#: a, b frequent (6 and 5 rows); c once, d twice: rare at min_count 5.
LABELS = ["a"] * 6 + ["b"] * 5 + ["c"] + ["d"] * 2


def schema_of(table: pd.DataFrame, **overrides: ColumnKind) -> TableSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # id-like columns
        return infer_schema(table, overrides=overrides)


def fitted(table: pd.DataFrame, min_count: int = 5, **overrides: ColumnKind) -> TabularTransformer:
    return TabularTransformer(schema_of(table, **overrides).modelled(), min_category_count=min_count).fit(
        table
    )


def one_hot_rows(transformer: TabularTransformer, column: str, tokens: list[str]) -> np.ndarray:
    """A matrix whose ``column`` block selects each of ``tokens`` in turn (as a generator would)."""
    matrix = np.zeros((len(tokens), transformer.width), dtype=np.float32)
    span = next(s for s in transformer.spans if s.column == column and s.role == "category")
    categories = transformer.categorical[column].categories
    for row, token in enumerate(tokens):
        matrix[row, span.start + categories.index(token)] = 1.0
    return matrix


# -- the encoder --------------------------------------------------------------------------


def test_string_column_folds_rare_values_into_other() -> None:
    series = pd.Series(LABELS, dtype=object)
    encoder = OneHotEncoder().fit(series, min_count=5)
    assert encoder.categories == [OTHER_TOKEN, "a", "b"]  # the fallback first
    codes = encoder.codes(pd.Series(["c", "d", "never seen", "a", "b"], dtype=object))
    assert codes.tolist() == [0, 0, 0, 1, 2]  # folded and unseen values land in the same place
    assert (
        encoder.inverse_tokens(encoder.transform(series)).tolist()
        == ["a"] * 6 + ["b"] * 5 + [OTHER_TOKEN] * 3
    )


def test_min_count_one_keeps_every_category_as_before() -> None:
    series = pd.Series(LABELS, dtype=object)
    assert (
        OneHotEncoder().fit(series).categories
        == OneHotEncoder().fit(series, min_count=1).categories
        == ["a", "b", "d", "c"]
    )
    with pytest.raises(ValueError, match="min_count"):
        OneHotEncoder().fit(series, min_count=0)


def test_nothing_rare_changes_nothing() -> None:
    series = pd.Series(["x"] * 5 + ["y"] * 7 + [None] * 2, dtype=object)
    # The null is below min_count but never folded: missingness is a property of the column.
    assert OneHotEncoder().fit(series, min_count=5).categories == ["y", "x", NULL]


def test_a_frequent_real_other_value_merges_with_the_folded_ones() -> None:
    series = pd.Series([OTHER_TOKEN] * 5 + ["a"] * 6 + ["rare"], dtype=object)
    assert OneHotEncoder().fit(series, min_count=5).categories == [OTHER_TOKEN, "a"]


# -- the transformer, per column flavour --------------------------------------------------


def test_string_column_round_trip() -> None:
    table = pd.DataFrame({"label": pd.Series(LABELS, dtype=object), "s": pd.Series(LABELS, dtype="string")})
    transformer = fitted(table)
    for name in ("label", "s"):
        assert transformer.categorical[name].categories == [OTHER_TOKEN, "a", "b"]
    back = transformer.inverse_transform(transformer.transform(table))
    expected = ["a"] * 6 + ["b"] * 5 + [OTHER_TOKEN] * 3
    assert back["label"].tolist() == expected and back["label"].dtype == object
    assert back["s"].tolist() == expected and back["s"].dtype == "string"


def test_category_dtype_column_gets_other_as_a_category_of_its_dtype() -> None:
    table = pd.DataFrame({"label": pd.Series(LABELS, dtype="category")})
    transformer = fitted(table)
    assert transformer.categorical["label"].categories == [OTHER_TOKEN, "a", "b"]
    back = transformer.inverse_transform(transformer.transform(table))
    assert isinstance(back["label"].dtype, pd.CategoricalDtype)
    assert OTHER_TOKEN in back["label"].cat.categories
    assert not {"c", "d"} & set(back["label"].cat.categories)
    assert back["label"].astype(object).tolist() == ["a"] * 6 + ["b"] * 5 + [OTHER_TOKEN] * 3


def test_integer_coded_column_folds_into_its_most_frequent_code() -> None:
    codes = [1] * 6 + [2] * 5 + [99] + [7] * 2
    table = pd.DataFrame({"code": pd.Series(codes, dtype="int64")})
    transformer = fitted(table, code=ColumnKind.CATEGORICAL)
    assert transformer.categorical["code"].categories == ["1", "2"]  # a string cannot be an int64
    back = transformer.inverse_transform(transformer.transform(table))
    assert back["code"].dtype == "int64"
    assert back["code"].tolist() == [1] * 6 + [2] * 5 + [1] * 3
    # A generator can only emit kept codes.
    emitted = transformer.inverse_transform(one_hot_rows(transformer, "code", ["2", "1"]))
    assert emitted["code"].tolist() == [2, 1]


def test_nullable_integer_codes_keep_a_rare_null() -> None:
    codes = pd.Series([3] * 5 + [4] * 6 + [None, 8], dtype="Int64")
    table = pd.DataFrame({"code": codes})
    transformer = fitted(table, code=ColumnKind.CATEGORICAL)
    assert transformer.categorical["code"].categories == ["4", "3", NULL]  # 8 folded; the null stays
    back = transformer.inverse_transform(transformer.transform(table))
    assert back["code"].dtype == "Int64"
    assert back["code"].isna().tolist() == codes.isna().tolist()
    assert back["code"].dropna().tolist() == [3] * 5 + [4] * 6 + [4]


def test_nullable_string_column_keeps_its_null_category() -> None:
    table = pd.DataFrame({"label": pd.Series([*LABELS, None], dtype=object)})
    transformer = fitted(table)
    assert transformer.categorical["label"].categories == [OTHER_TOKEN, "a", "b", NULL]
    back = transformer.inverse_transform(transformer.transform(table))
    assert back["label"].isna().tolist() == [False] * len(LABELS) + [True]


def test_booleans_are_not_folded() -> None:
    table = pd.DataFrame({"flag": [True] + [False] * 20, "label": ["a"] * 21})
    transformer = fitted(table, min_count=10)
    assert set(transformer.categorical["flag"].categories) == {"True", "False"}
    back = transformer.inverse_transform(transformer.transform(table))
    assert back["flag"].tolist() == table["flag"].tolist()


def test_a_column_of_numbers_with_nothing_frequent_is_refused_naming_it() -> None:
    table = pd.DataFrame({"code": pd.Series([1, 2, 3, 4], dtype="int64"), "label": ["a"] * 4})
    with pytest.raises(DataError, match="'code'.*min_category_count"):
        fitted(table, min_count=2, code=ColumnKind.CATEGORICAL)
    # A string column has somewhere to go: everything folds into OTHER_TOKEN.
    everything = fitted(pd.DataFrame({"label": ["a", "b", "c"]}), min_count=2)
    assert everything.categorical["label"].categories == [OTHER_TOKEN]


def test_min_category_count_is_saved_and_old_files_read_as_one() -> None:
    table = pd.DataFrame({"label": pd.Series(LABELS, dtype=object)})
    transformer = fitted(table, min_count=3)
    raw = json.loads(json.dumps(transformer.to_dict()))
    assert raw["min_category_count"] == 3
    assert TabularTransformer.from_dict(raw).min_category_count == 3
    del raw["min_category_count"]  # a file written before folding existed
    assert TabularTransformer.from_dict(raw).min_category_count == 1
    with pytest.raises(ValueError):
        TabularTransformer(transformer.columns, min_category_count=0)


def test_the_default_protects_and_matches_the_pipeline_file() -> None:
    assert DEFAULT_MIN_CATEGORY_COUNT == DataConfig(path="x.csv").min_category_count == 5
    table = pd.DataFrame({"label": pd.Series(LABELS, dtype=object)})
    assert (
        TabularTransformer(schema_of(table).modelled()).fit(table).categorical["label"].categories[0]
        == OTHER_TOKEN
    )
    with pytest.raises(ValueError):
        DataConfig(path="x.csv", min_category_count=0)


# -- DP: declared domains are public and left as declared ---------------------------------


def test_dp_declared_categories_are_untouched(demo_table: pd.DataFrame) -> None:
    table = demo_table[["gender", "degree_type"]].copy()
    table.loc[3, "degree_type"] = "Declared-rare"  # one row, but declared: public knowledge
    declared = ["Comm&Mgmt", "Sci&Tech", "Others", "Declared-rare", "Never-seen"]
    declarations = {
        "gender": ColumnDeclaration(kind=ColumnKind.CATEGORICAL, categories=["M", "F"]),
        "degree_type": ColumnDeclaration(kind=ColumnKind.CATEGORICAL, categories=declared),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        schema = infer_schema(table, declarations, public_only=True)  # as a DP run infers it
    ledger = PrivacyLedger(epsilon=1.0, delta=1e-6)
    transformer, releases = preprocessing.fit_private_transformer(
        table, schema, declarations, ledger, 0.1, rng_seed=0
    )
    assert releases == []
    # A declared list is a complete domain: as declared, no (other), no null category...
    assert transformer.categorical["degree_type"].categories == declared
    assert transformer.categorical["gender"].categories == ["M", "F"]
    # ...unless the declaration says the column may be null: then the null category comes last.
    declarations["gender"] = declarations["gender"].model_copy(update={"nullable": True})
    schema = infer_schema(table, declarations, public_only=True)
    ledger = PrivacyLedger(epsilon=1.0, delta=1e-6)
    nullable, _ = preprocessing.fit_private_transformer(table, schema, declarations, ledger, 0.1, rng_seed=0)
    assert nullable.categorical["gender"].categories == ["M", "F", NULL]
    back = transformer.inverse_transform(transformer.transform(table))
    assert back["degree_type"].iloc[3] == "Declared-rare"
    assert preprocessing.OTHER_TOKEN is OTHER_TOKEN  # one definition, in the data layer


# -- the generator API --------------------------------------------------------------------


@pytest.mark.parametrize("min_count", [None, 1])
def test_generator_protects_by_default(tmp_path, demo_table: pd.DataFrame, min_count: int | None) -> None:
    from synthpriv.generators.model_files import load_generator, save_generator
    from synthpriv.generators.registry import get_generator

    table = demo_table[["gender", "degree_type", "mba_spec", "degree_perc"]].copy()
    table.loc[0, "mba_spec"] = "SENTINEL-unit"
    kwargs = {} if min_count is None else {"min_category_count": min_count}
    vae = get_generator("vae")(
        {"hidden_dims": [16], "latent_dim": 4}, epochs=1, batch_size=64, seed=0, **kwargs
    )
    vae.fit(table)
    save_generator(vae, tmp_path / "model")
    stored = (tmp_path / "model" / "transformer.json").read_text()
    loaded = load_generator(tmp_path / "model")
    if min_count is None:  # the default: folded, nowhere in the model, never sampled
        assert "SENTINEL-unit" not in stored
        assert loaded.min_category_count == DEFAULT_MIN_CATEGORY_COUNT
        assert OTHER_TOKEN in loaded.transformer.categorical["mba_spec"].categories
        assert "SENTINEL-unit" not in set(loaded.sample(2000, seed=1)["mba_spec"])
    else:  # disabled: the value is a category (which is what the default prevents)
        assert "SENTINEL-unit" in stored
        assert loaded.min_category_count == 1
