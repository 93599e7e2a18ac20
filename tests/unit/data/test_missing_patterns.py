"""Columns missing together are one pattern variable: decoded rows keep real patterns (issue 19)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthpriv.data.io import read_table
from synthpriv.data.schema import infer_schema
from synthpriv.data.spans import softmax_spans
from synthpriv.data.transform import PATTERN_COLUMN, MissingPatterns, TabularTransformer

TOGETHER = ["salary", "start_date", "end_date", "duration"]


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return read_table("builtin:student_placements")


def _fitted(table: pd.DataFrame, min_count: int = 5) -> TabularTransformer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(table)
    return TabularTransformer(schema.modelled(), min_category_count=min_count).fit(table)


def test_the_demo_columns_missing_together_get_their_two_patterns(demo: pd.DataFrame) -> None:
    patterns = _fitted(demo).missing_patterns
    assert patterns is not None and list(patterns.columns) == TOGETHER
    assert patterns.patterns.tolist() == [[False] * 4, [True] * 4]  # present commonest, then missing
    assert patterns.width == 3  # and "other"


def test_a_kept_pattern_decides_whatever_the_columns_own_flags_say(demo: pd.DataFrame) -> None:
    transformer = _fitted(demo)
    encoded = transformer.encode(demo)
    blocks = softmax_spans(transformer.spans)
    # Scramble every column's own missing flag, as a generator that mixes them would.
    rng = np.random.default_rng(0)
    for b, span in enumerate(blocks):
        if span.role == "missing":
            encoded.codes[:, b] = rng.integers(0, 2, len(demo))
    back = transformer.inverse_transform(encoded)
    missing = back[TOGETHER].isna()
    assert (missing.all(axis=1) | ~missing.any(axis=1)).all()
    pd.testing.assert_series_equal(back["salary"].isna(), demo["salary"].isna())


def test_a_rare_pattern_is_other_and_round_trips_by_the_columns_own_flags(demo: pd.DataFrame) -> None:
    table = demo.copy()
    table.loc[table.index[:2], "duration"] = np.nan  # two rows: a pattern fewer than 5 rows have
    transformer = _fitted(table)
    assert transformer.missing_patterns is not None
    assert [False, False, False, True] not in transformer.missing_patterns.patterns.tolist()
    back = transformer.inverse_transform(transformer.encode(table))
    for column in TOGETHER:
        pd.testing.assert_series_equal(back[column].isna(), table[column].isna(), check_names=False)


def test_one_nullable_column_or_one_pattern_adds_no_block() -> None:
    table = pd.DataFrame({"a": [1.0, np.nan] * 20, "b": np.arange(40.0), "c": np.arange(40.0)})
    assert _fitted(table).missing_patterns is None
    together = table.assign(b=table["a"])  # two columns, always missing together: two patterns
    assert _fitted(together).missing_patterns is not None
    always = table.assign(a=np.nan, b=np.nan)  # one pattern only: nothing to tie
    assert all(span.column != PATTERN_COLUMN for span in _fitted(always).spans)


def test_the_patterns_survive_the_transformer_file(demo: pd.DataFrame) -> None:
    transformer = _fitted(demo)
    again = TabularTransformer.from_dict(transformer.to_dict())
    assert again.spans == transformer.spans
    assert again.missing_patterns is not None
    assert again.missing_patterns.patterns.tolist() == transformer.missing_patterns.patterns.tolist()  # type: ignore[union-attr]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    bits=st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=60),
    min_count=st.integers(1, 6),
)
def test_codes_name_a_kept_pattern_exactly_or_other(bits: list[list[bool]], min_count: int) -> None:
    missing = np.asarray(bits, dtype=bool)
    patterns = MissingPatterns.fit(missing, ("x", "y", "z"), min_count)
    if patterns is None:
        return
    codes = patterns.codes(missing)
    kept = patterns.decided(codes)
    np.testing.assert_array_equal(patterns.missing(codes)[kept], missing[kept])
    unique, counts = np.unique(missing, axis=0, return_counts=True)
    assert counts[counts >= min_count].size == len(patterns.patterns)
    # "other" holds exactly the rows whose pattern fewer than min_count rows share.
    held = {tuple(row): count for row, count in zip(unique.tolist(), counts, strict=True)}
    assert all(held[tuple(row)] < min_count for row in missing[~kept].tolist())
