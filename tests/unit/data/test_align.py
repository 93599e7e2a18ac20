"""align_to_real: a synthetic table takes the real table's dtypes, refusing values that would change."""

from __future__ import annotations

import pandas as pd
import pytest

from synthpriv.data.align import align_to_real
from synthpriv.data.schema import infer_schema
from synthpriv.errors import DataError


def _nullable_float_table() -> pd.DataFrame:
    return pd.DataFrame({"x": pd.array([1.5, None, 2.0] * 10, dtype="Float32")})


def test_a_nullable_float_column_is_aligned() -> None:
    # np.finfo knows NumPy's float32 but not pandas' Float32: the range check used to crash here.
    real = _nullable_float_table()
    aligned = align_to_real(pd.DataFrame({"x": [1.0, 2.5, None]}), real, infer_schema(real), where="t")
    assert aligned["x"].dtype == real["x"].dtype
    assert aligned["x"].isna().tolist() == [False, False, True]


def test_a_value_beyond_a_nullable_float_range_is_refused() -> None:
    real = _nullable_float_table()
    with pytest.raises(DataError, match="column 'x': 1 value"):
        align_to_real(pd.DataFrame({"x": [1.0, 1e39]}), real, infer_schema(real), where="t")
