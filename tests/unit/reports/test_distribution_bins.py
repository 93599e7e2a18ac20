"""What a distribution chart's bins say (issue 20, point 5: ``experience_years``, 0-3, was drawn on a
0-1 axis): few-valued whole numbers get one bin per value, cut at the half-integers, and an edge
bin that also counts values beyond the robust range says so in its label ("1 or more")."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from synthpriv.data.io import read_table
from synthpriv.data.redact import safe_histogram, whole_number_bins
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema
from synthpriv.metrics.fidelity import column_distributions


def _numbers(name: str) -> TableSchema:
    return TableSchema(columns=(ColumnSpec(name, ColumnKind.NUMERICAL, "float64", False),))


def test_experience_years_is_binned_by_value_with_the_rare_values_in_the_last_bin() -> None:
    years = read_table("builtin:student_placements")[["experience_years"]]  # 141 x 0, 65 x 1, 8 x 2, 1 x 3
    edges, counts = safe_histogram(years["experience_years"].to_numpy(float), k=10)
    assert edges.tolist() == [-0.5, 0.5, 1.5] and counts.tolist() == [141, 74]
    (dist,) = column_distributions(years, years, _numbers("experience_years"), k=10)
    assert dist.whole_numbers and dist.beyond_high and not dist.beyond_low
    assert dist.labels == ["0", "1 or more"]
    assert dist.real_share == [141 / 215, 74 / 215]
    # With k = 5 the 8 rows holding 2 get a bin of their own; the one row holding 3 joins them.
    (dist,) = column_distributions(years, years, _numbers("experience_years"), k=5)
    assert dist.labels == ["0", "1", "2 or more"]


def test_ranges_and_open_ends_read_as_numbers_and_dates() -> None:
    rng = np.random.default_rng(0)
    salary = pd.DataFrame({"salary": np.r_[rng.normal(30_000, 3_000, 400).round(2), 1e7]})
    (dist,) = column_distributions(salary, salary, _numbers("salary"), k=10)
    assert not dist.whole_numbers and dist.beyond_low and dist.beyond_high
    assert dist.labels[0].startswith("below ") and dist.labels[-1].endswith(" or more")
    assert all("e+" not in label for label in dist.labels)  # 24,000, not 2.4e+04
    offsets = pd.to_timedelta(np.r_[rng.integers(0, 300, 400), -3_000, 3_000], "D")  # two far-off days
    days = pd.DataFrame({"day": pd.Timestamp("2020-01-01") + offsets})
    schema = TableSchema(columns=(ColumnSpec("day", ColumnKind.DATETIME, "datetime64[ns]", False),))
    (dist,) = column_distributions(days, days, schema, k=10)
    assert dist.labels[0].startswith("before 2020-") and dist.labels[-1].endswith(" or later")
    assert not dist.whole_numbers


@settings(max_examples=200, deadline=None)
@given(
    values=hnp.arrays(np.int64, st.integers(1, 400), elements=st.integers(-30, 30)).map(
        lambda a: a.astype(float)
    ),
    k=st.integers(1, 20),
    bins=st.integers(1, 40),
)
def test_whole_numbers_in_a_small_range_get_half_integer_edges(values: np.ndarray, k: int, bins: int) -> None:
    edges, counts = safe_histogram(values, k=k, bins=bins)
    if values.size < k:
        assert edges.size == 0
        return
    assert counts.sum() == values.size and np.all((counts == 0) | (counts >= k))
    assert np.all(np.diff(edges) > 0)
    if whole_number_bins(edges):  # every bin holds whole numbers only, each value in one bin
        assert np.all(np.diff(edges) >= 1)
        assert not np.isin(values, edges).any()
    else:  # a grid of steps of at least 1: more whole numbers in the range than bins
        assert np.diff(edges).min() >= 1
