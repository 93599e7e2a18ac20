"""TabularTransformer and its encoders on real tables and on the edge cases they promise."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from synthpriv.data.encoders import OneHotEncoder, QuantileNormalizer
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, infer_schema
from synthpriv.data.spans import Span
from synthpriv.data.transform import TabularTransformer


def schema_of(table: pd.DataFrame, **kwargs: object) -> TableSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # id warnings
        return infer_schema(table, **kwargs)  # type: ignore[arg-type]


def fit(
    table: pd.DataFrame, min_category_count: int = 1, **kwargs: object
) -> tuple[TableSchema, TabularTransformer]:
    """Keeps every category by default: these tests are about exactness (folding of rare
    categories: test_rare_categories.py)."""
    schema = schema_of(table, **kwargs)
    return schema, TabularTransformer(schema.modelled(), min_category_count=min_category_count).fit(table)


def round_trip(table: pd.DataFrame, **kwargs: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    schema, transformer = fit(table, **kwargs)
    names = [c.name for c in schema.modelled()]
    return table[names].reset_index(drop=True), transformer.inverse_transform(transformer.transform(table))


def generated_like(transformer: TabularTransformer, n: int, seed: int = 0) -> np.ndarray:
    """What a generator hands back: normal values and softmax probabilities (not one-hot)."""
    rng = np.random.default_rng(seed)
    matrix = np.zeros((n, transformer.width), dtype=np.float32)
    for span in transformer.spans:
        if span.activation == "identity":
            matrix[:, span.start] = rng.normal(size=n)
        else:
            matrix[:, span.start : span.stop] = rng.dirichlet(np.ones(span.width), size=n)
    return matrix


# -- real tables: exact round trips -------------------------------------------------------


def test_student_placements_round_trip_is_exact(students: pd.DataFrame) -> None:
    before, after = round_trip(students)
    # salary (2e5..9.4e5, nulls), dates as strings, percentages: all exact despite float32
    pd.testing.assert_frame_equal(after, before, check_exact=True)


def test_adult_round_trip_is_exact(adult: pd.DataFrame) -> None:
    before, after = round_trip(adult)
    # fnlwgt has ~28k distinct integers up to 1.5e6: more than the 1000 knots kept
    pd.testing.assert_frame_equal(after, before, check_exact=True)


def test_student_placements_spans(students: pd.DataFrame) -> None:
    _schema, transformer = fit(students)
    spans = {(s.column, s.role): s for s in transformer.spans}
    assert (spans["salary", "value"].width, spans["salary", "missing"].width) == (1, 2)
    assert ("second_perc", "missing") not in spans
    assert spans["gender", "category"].width == students["gender"].nunique()
    assert spans["work_experience", "category"].width == 2
    assert ("student_id", "value") not in spans and all(s.column != "student_id" for s in spans.values())
    matrix = transformer.transform(students)
    assert matrix.shape == (len(students), transformer.width) and matrix.dtype == np.float32
    missing = spans["salary", "missing"]
    assert np.array_equal(matrix[:, missing.start + 1] == 1.0, students["salary"].isna().to_numpy())


def test_model_space_is_roughly_standard_normal(adult: pd.DataFrame) -> None:
    _, transformer = fit(adult)
    matrix = transformer.transform(adult)
    for span in transformer.spans:
        if span.role == "value" and span.column in ("age", "fnlwgt", "hours_per_week"):
            z = matrix[:, span.start]
            assert abs(z.mean()) < 0.05 and 0.9 < z.std() < 1.1, span.column
            assert np.abs(z).max() < 5.0


# -- decoding what a generator produces ---------------------------------------------------


def test_generated_matrix_decodes_to_valid_values(students: pd.DataFrame) -> None:
    schema, transformer = fit(students)
    synthetic = transformer.inverse_transform(generated_like(transformer, 2000))
    assert list(synthetic.columns) == [c.name for c in schema.modelled()]
    for spec in schema.modelled():
        real, fake = students[spec.name], synthetic[spec.name]
        assert fake.dtype == real.dtype, spec.name
        if spec.kind in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN):
            assert set(fake.dropna()) <= set(real.dropna())
        elif spec.kind is ColumnKind.NUMERICAL:
            assert real.min() <= fake.min() and fake.max() <= real.max()
            if spec.integer:
                assert np.all(fake.dropna() == np.round(fake.dropna()))
        else:  # dates come back as strings in the input's format
            parsed = pd.to_datetime(fake.dropna(), format=spec.datetime_format)
            assert pd.to_datetime(real).min() <= parsed.min() and parsed.max() <= pd.to_datetime(real).max()
        if spec.nullable:  # the missing block decides nulls
            assert 0 < fake.isna().mean() < 1


def test_a_spike_stays_a_spike(adult: pd.DataFrame) -> None:
    _, transformer = fit(adult)
    synthetic = transformer.inverse_transform(generated_like(transformer, 20_000, seed=1))
    real_zeros = (adult["capital_gain"] == 0).mean()  # about 92%
    assert abs((synthetic["capital_gain"] == 0).mean() - real_zeros) < 0.02
    # and the integers in between keep their own spikes: nearly all ages are real ages
    assert synthetic["age"].isin(set(adult["age"])).mean() > 0.99


def test_values_seen_once_are_not_copied(students: pd.DataFrame) -> None:
    # Nearly every mba_perc is unique: decoding must interpolate between them, not land on them.
    seen_once = students["mba_perc"].value_counts()
    seen_once = set(seen_once[seen_once == 1].index)
    assert len(seen_once) > 100
    _, transformer = fit(students)
    synthetic = transformer.inverse_transform(generated_like(transformer, 5000, seed=2))
    assert synthetic["mba_perc"].isin(seen_once).mean() < 0.01


# -- edge cases of the column flavours ---------------------------------------------------


def test_datetime64_columns_naive_and_with_time_zone() -> None:
    stamps = pd.Series(
        pd.to_datetime(["2020-01-01 10:00:00", "2021-06-30 23:59:59", None, "1999-12-31 00:00:01"])
    )
    table = pd.DataFrame(
        {
            "naive": stamps,
            "utc": stamps.dt.tz_localize("UTC"),
            "berlin": stamps.dt.tz_localize("Europe/Berlin"),
            "seconds": stamps.astype("datetime64[s]"),
        }
    )
    before, after = round_trip(table)
    pd.testing.assert_frame_equal(after, before)


def test_dates_as_strings_round_to_days() -> None:
    table = pd.DataFrame({"day": ["2020-01-01", "1970-01-01", "1900-03-01", None, "2199-12-31"]})
    schema, transformer = fit(table)
    assert schema["day"].datetime_format == "%Y-%m-%d"
    before, after = round_trip(table)
    pd.testing.assert_frame_equal(after, before)
    # off-grid model values still decode to whole days in the input's format
    synthetic = transformer.inverse_transform(generated_like(transformer, 500))
    assert synthetic["day"].dropna().str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()


def test_many_distinct_dates_round_trip_exactly() -> None:
    rng = np.random.default_rng(0)
    days = pd.to_datetime(rng.integers(-25_000, 60_000, 5000), unit="D")  # 1901 .. 2134
    table = pd.DataFrame({"day": days.strftime("%Y-%m-%d")})
    before, after = round_trip(table)
    pd.testing.assert_frame_equal(after, before)


def test_timestamps_with_seconds_are_close() -> None:
    # Many distinct seconds over a century: float32 model space keeps them to within minutes.
    rng = np.random.default_rng(0)
    stamps = pd.to_datetime(rng.integers(0, 3_000_000_000, 5000), unit="s")
    table = pd.DataFrame({"at": stamps.strftime("%Y-%m-%d %H:%M:%S")})
    before, after = round_trip(table)
    error = (pd.to_datetime(after["at"]) - pd.to_datetime(before["at"])).dt.total_seconds().abs()
    assert error.max() <= 1e-7 * 3_000_000_000


def test_booleans_keep_their_flavour() -> None:
    table = pd.DataFrame(
        {
            "plain": [True, False, True, True],
            "objects": pd.Series([True, False, False, True], dtype=object),
            "with_none": pd.Series([True, None, False, True], dtype=object),
            "nullable": pd.Series([True, None, False, True], dtype="boolean"),
        }
    )
    before, after = round_trip(table)
    pd.testing.assert_frame_equal(after, before)
    assert after["with_none"].tolist() == [True, None, False, True]
    assert [type(v) for v in after["objects"]] == [bool] * 4


def test_boolean_override_of_codes_and_words() -> None:
    table = pd.DataFrame({"coded": [0, 1, 1, 0], "word": ["yes", "no", None, "yes"]})
    before, after = round_trip(table, overrides={"coded": ColumnKind.BOOLEAN, "word": ColumnKind.BOOLEAN})
    pd.testing.assert_frame_equal(after, before)


def test_integer_codes_as_categories_keep_every_digit() -> None:
    big = 2**62 + 1  # not representable as float64
    table = pd.DataFrame(
        {
            "code": [big, 7, big, -3],
            "ncode": pd.Series([big, None, 7, 7], dtype="Int64"),
            "ratio": [0.1, 1e300, None, 0.1],
        }
    )
    overrides = {name: ColumnKind.CATEGORICAL for name in table.columns}
    before, after = round_trip(table, overrides=overrides)
    pd.testing.assert_frame_equal(after, before, check_exact=True)


def test_string_flavours_and_categoricals() -> None:
    values = ["é", "", None, "日本", "é", "None"]
    table = pd.DataFrame(
        {
            "obj": pd.Series(values, dtype=object),
            "str": pd.Series(values, dtype="string"),
            "cat": pd.Series(values, dtype="category"),
        }
    )
    before, after = round_trip(table)
    for name in table.columns:
        assert after[name].dtype == before[name].dtype
        assert after[name].isna().tolist() == before[name].isna().tolist()
        assert after[name].dropna().astype(object).tolist() == before[name].dropna().astype(object).tolist()


def test_all_null_and_constant_columns() -> None:
    table = pd.DataFrame(
        {
            "empty": [np.nan] * 4,
            "constant": [3.5] * 4,
            "constant_int": [7] * 4,
            "label": ["a", "b", "a", "a"],
        }
    )
    schema, transformer = fit(table)
    before, after = round_trip(table)
    pd.testing.assert_frame_equal(after, before)
    synthetic = transformer.inverse_transform(generated_like(transformer, 100))
    assert (synthetic["constant"] == 3.5).all() and (synthetic["constant_int"] == 7).all()
    assert synthetic["label"].isin(["a", "b"]).all()
    spans = {(s.column, s.role) for s in transformer.spans}
    assert ("constant", "missing") not in spans
    # Null in every row: not learned at all (written back as nulls by the generator), issue 15.
    assert schema["empty"].all_null and "empty" not in {s.column for s in transformer.spans}


def test_unseen_category_falls_back_to_the_most_frequent() -> None:
    table = pd.DataFrame({"color": ["red", "blue", "red", "red", None], "size": [1.0, 2.0, 3.0, 4.0, 5.0]})
    _, transformer = fit(table)
    fresh = pd.DataFrame({"color": ["green", None, "blue"], "size": [100.0, np.nan, -5.0]})
    matrix = transformer.transform(fresh)
    assert np.all(np.isfinite(matrix))
    back = transformer.inverse_transform(matrix)
    assert back["color"].tolist() == ["red", None, "blue"]
    # numbers outside the fitted range are clamped; a null without a missing block is the median
    assert back["size"].tolist() == [5.0, 3.0, 1.0]


# -- contracts ----------------------------------------------------------------------------


def test_json_round_trip_of_a_real_transformer(students: pd.DataFrame) -> None:
    _, transformer = fit(students)
    restored = TabularTransformer.from_dict(json.loads(json.dumps(transformer.to_dict())))
    assert restored.spans == transformer.spans and restored.width == transformer.width
    matrix = transformer.transform(students)
    assert np.array_equal(restored.transform(students), matrix)
    pd.testing.assert_frame_equal(restored.inverse_transform(matrix), transformer.inverse_transform(matrix))


def test_tampered_spans_are_refused(students: pd.DataFrame) -> None:
    _, transformer = fit(students)
    raw = transformer.to_dict()
    raw["spans"][0]["width"] += 1
    with pytest.raises(ValueError, match="spans"):
        TabularTransformer.from_dict(raw)


def test_wrong_width_and_id_columns_are_refused(students: pd.DataFrame) -> None:
    schema, transformer = fit(students)
    with pytest.raises(ValueError, match="columns"):
        transformer.inverse_transform(np.zeros((2, transformer.width + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="id"):
        TabularTransformer(schema.columns)


def test_spans_serialize() -> None:
    span = Span("x", "missing", 3, 2, "softmax")
    assert Span.from_dict(json.loads(json.dumps(span.to_dict()))) == span
    assert span.stop == 5


# -- the encoders -------------------------------------------------------------------------


def test_quantile_normalizer_modes() -> None:
    few = QuantileNormalizer().fit(np.array([0.0] * 90 + [5.0] * 9 + [1e9]))
    assert few.quantiles.tolist() == [0.0, 0.0, 5.0, 5.0, 1e9, 1e9]  # two knots per value
    assert np.all(np.diff(few.references) > 0)
    many = QuantileNormalizer(n_quantiles=50).fit(np.arange(1000.0))
    assert len(many.quantiles) == 50 and many.quantiles[0] == 0.0 and many.quantiles[-1] == 999.0


def test_quantile_normalizer_extremes_survive_float32() -> None:
    values = np.array([0.0] * 5 + [1e5])
    normalizer = QuantileNormalizer().fit(values)
    z = normalizer.transform(values).astype(np.float32)
    assert np.array_equal(normalizer.inverse(z), values)
    continuous = np.random.default_rng(0).lognormal(12.0, 1.0, 20_000).round()
    normalizer = QuantileNormalizer().fit(continuous)
    back = normalizer.inverse(normalizer.transform(continuous).astype(np.float32))
    assert back.min() == continuous.min() and back.max() == continuous.max()
    assert np.abs(back - continuous).max() < 0.5  # integers come back after rounding


def test_quantile_normalizer_reads_files_without_references() -> None:
    normalizer = QuantileNormalizer.from_dict({"n_quantiles": 3, "quantiles": [0.0, 1.0, 4.0]})
    assert normalizer.references.tolist() == [0.0, 0.5, 1.0]
    assert normalizer.inverse(normalizer.transform(np.array([0.0, 1.0, 4.0]))).tolist() == [0.0, 1.0, 4.0]
    with pytest.raises(ValueError):
        QuantileNormalizer.from_dict({"n_quantiles": 3, "quantiles": [0.0, 1.0], "references": [0.0]})


def test_one_hot_encoder_orders_by_frequency() -> None:
    encoder = OneHotEncoder().fit(pd.Series(["b", "a", "b", None, None, None], dtype=object))
    assert encoder.categories == [OneHotEncoder.NULL_TOKEN, "b", "a"]
    block = encoder.transform(pd.Series(["a", "zzz", None], dtype=object))
    assert block.tolist() == [[0, 0, 1], [1, 0, 0], [1, 0, 0]]
    assert encoder.inverse_tokens(np.array([[0.1, 0.7, 0.2]])).tolist() == ["b"]


def test_column_spec_defaults() -> None:
    spec = ColumnSpec.from_dict({"name": "x", "kind": "numerical", "dtype": "float64", "nullable": False})
    assert (spec.integer, spec.datetime_format) == (False, None)


@pytest.mark.parametrize(
    "values",
    [[3, 1, 3, None, 10**15], [0.5, 1.0, 0.5, 1e16], [True, False, None, True], ["a", "b", None]],
    ids=["int", "float", "bool", "str"],
)
def test_category_dtype_keeps_the_type_of_its_categories(values: list) -> None:
    """A `category` column of numbers or booleans (Parquet dictionary columns read back so)
    returns the same categories, not their strings; the dtype is recorded in the schema."""
    table = pd.DataFrame({"c": pd.Categorical(values)})
    schema, transformer = fit(table)
    assert schema["c"].categories_dtype == str(table["c"].cat.categories.dtype)
    assert ColumnSpec.from_dict(json.loads(json.dumps(schema["c"].to_dict()))) == schema["c"]
    back = transformer.inverse_transform(transformer.transform(table))
    pd.testing.assert_series_equal(back["c"], table["c"], check_categorical=False)
    assert back["c"].cat.categories.dtype == table["c"].cat.categories.dtype


def test_category_dtype_of_numbers_keeps_other_as_text() -> None:
    table = pd.DataFrame({"c": pd.Categorical([1] * 6 + [2])})
    _, transformer = fit(table, min_category_count=5)
    back = transformer.inverse_transform(transformer.transform(table))["c"]
    assert back.tolist() == [1] * 6 + ["(other)"]
    assert set(back.cat.categories) == {1, "(other)"}
