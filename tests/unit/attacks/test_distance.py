"""Distance proxies: hand-computable frames first, then the demo table for the protocol's extremes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from synthpriv.attacks.distance import (
    DistanceEncoding,
    dcr_evaluation,
    distance_auc,
    exact_match_share,
    nearest_distances,
)
from synthpriv.data.schema import ColumnKind, ColumnSpec, TableSchema, infer_schema
from synthpriv.errors import DataError

TINY_SCHEMA = TableSchema(
    columns=(
        ColumnSpec("age", ColumnKind.NUMERICAL, "float64", True),
        ColumnSpec("city", ColumnKind.CATEGORICAL, "object", False),
    )
)


@pytest.fixture(scope="module")
def demo(demo_table: pd.DataFrame) -> tuple[pd.DataFrame, TableSchema]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # student_id is reported as an id
        return demo_table, infer_schema(demo_table)


def test_encoding_scales_on_train_and_one_hot_mismatch_is_one() -> None:
    train = pd.DataFrame({"age": [20.0, 40.0, np.nan], "city": ["A", "B", "A"]})
    encoding = DistanceEncoding.fit(train, TINY_SCHEMA)
    rows = encoding.transform(pd.DataFrame({"age": [30.0, 100.0, np.nan], "city": ["A", "B", "Z"]}))
    # age scaled + missing flag, then A, B and one slot for everything else.
    assert encoding.width == 2 + 3
    h = 1 / math.sqrt(2)
    expected = [[0.5, 0, h, 0, 0], [1.0, 0, 0, h, 0], [0.0, 1, 0, 0, h]]
    np.testing.assert_allclose(rows, expected, rtol=1e-6)
    assert np.linalg.norm(rows[0, 2:] - rows[1, 2:]) == pytest.approx(1.0)


def test_nearest_distances_by_hand() -> None:
    reference = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 10.0]])
    queries = np.array([[0.0, 0.0], [3.0, 0.0], [9.0, 10.0], [3.0, 4.0]])
    distances = nearest_distances(queries, reference, chunk=2)
    np.testing.assert_allclose(distances, [0.0, 3.0, 1.0, 0.0])
    assert distances[0] == 0.0 and distances[3] == 0.0  # exact, not float32 noise


def test_nearest_distances_agree_with_brute_force() -> None:
    rng = np.random.default_rng(1)
    queries, reference = rng.random((300, 7)), rng.random((200, 7))
    brute = np.sqrt(((queries[:, None, :] - reference[None, :, :]) ** 2).sum(-1)).min(1)
    np.testing.assert_allclose(nearest_distances(queries, reference, chunk=64), brute, rtol=1e-5, atol=1e-6)


def test_exact_match_share_by_hand() -> None:
    reference = pd.DataFrame({"age": [20, 30, np.nan], "city": ["A", "B", None]})
    synthetic = pd.DataFrame({"age": [20.0, 30.0, np.nan, 20.0], "city": ["A", "A", np.nan, "B"]})
    # row 0 equals reference row 0 (20 == 20.0), row 2 equals row 2 (missing equals missing).
    assert exact_match_share(synthetic, reference, ["age", "city"]) == pytest.approx(0.5)
    assert exact_match_share(reference, reference, ["age", "city"]) == 1.0


def test_distance_auc_matches_sklearn_with_ties() -> None:
    members = np.array([0.0, 0.0, 1.0, 2.0])
    non_members = np.array([0.0, 1.0, 3.0])
    # Pairs (member < non-member) = 2+2+1+1 = 6, ties 1+1+1 = 3 -> (6 + 1.5) / 12.
    auc, (low, high) = distance_auc(members, non_members, n_bootstrap=50, rng=np.random.default_rng(0))
    assert auc == pytest.approx(7.5 / 12)
    labels = np.r_[np.ones(4), np.zeros(3)]
    assert auc == pytest.approx(roc_auc_score(labels, -np.r_[members, non_members]))
    assert 0.0 <= low <= auc <= high <= 1.0


def test_dcr_by_hand() -> None:
    train = pd.DataFrame({"age": [0.0, 10.0, 20.0, 30.0], "city": ["A", "A", "B", "B"]})
    holdout = pd.DataFrame({"age": [1.0, 11.0, 21.0, 30.0], "city": ["A", "A", "B", "B"]})
    # Rows 0 and 1 copy train rows (closer to train), row 2 sits nearer the holdout, row 3 ties.
    synthetic = pd.DataFrame({"age": [0.0, 10.0, 21.0, 30.0], "city": ["A", "A", "B", "B"]})
    result = dcr_evaluation(train, holdout, synthetic, TINY_SCHEMA, n_bootstrap=20, seed=0)
    assert result.dcr_share == pytest.approx((1 + 1 + 0 + 0.5) / 4)
    assert result.exact_match_train == pytest.approx(0.75)
    assert result.exact_match_holdout == pytest.approx(0.5)
    assert result.median_dcr_train == pytest.approx(0.0)
    assert result.median_dcr_holdout == pytest.approx(1 / 30 / 2)  # median of 1/30, 1/30, 0, 0
    # NNDR against train (ages in units of 1/30, a city mismatch adds 1): rows 0, 1 and 3 are
    # copies (0), row 2 is 1 from age 20 and 9 from age 30 (1/9). Against the holdout: 1/11
    # (1 from 1, 11 from 11), 1/9 (1 from 11, 9 from 1), 0 and 0.
    assert result.median_nndr_train == 0.0
    assert result.median_nndr_holdout == pytest.approx((0 + 1 / 11) / 2)
    assert result.low_nndr_train == result.low_nndr_holdout == 1.0
    assert (result.rows_train, result.rows_holdout, result.rows_synthetic) == (4, 4, 4)
    assert sum(result.histogram.train_counts) == sum(result.histogram.holdout_counts) == 4


def test_nndr_by_hand() -> None:
    train = pd.DataFrame({"age": [0.0, 0.0, 12.0, 30.0], "city": ["A"] * 4})
    holdout = pd.DataFrame({"age": [3.0, 15.0, 24.0, 30.0], "city": ["A"] * 4})
    synthetic = pd.DataFrame({"age": [0.0, 6.0, 30.0], "city": ["A"] * 3})
    result = dcr_evaluation(train, holdout, synthetic, TINY_SCHEMA, n_bootstrap=10, seed=0)
    # Against train: age 0 copies a row that occurs twice (0 / 0, defined as 1); age 6 is 6
    # from 0, 0 and 12 (6 / 6 = 1); age 30 copies a row that occurs once (0 / 18 = 0).
    nndr_train = [1.0, 1.0, 0.0]
    # Against the holdout: 3 / 15, 3 / 9 and 0 / 6.
    nndr_holdout = [3 / 15, 3 / 9, 0.0]
    assert result.median_nndr_train == pytest.approx(np.median(nndr_train))
    assert result.median_nndr_holdout == pytest.approx(np.median(nndr_holdout))
    assert result.low_nndr_train == pytest.approx(1 / 3)
    assert result.low_nndr_holdout == 1.0


def test_nndr_of_a_single_row_is_one() -> None:
    # One train and one holdout row: no second-nearest row, so no row stands out (ratio 1).
    train = pd.DataFrame({"age": [0.0, 10.0], "city": ["A", "B"]})
    result = dcr_evaluation(train, train.iloc[1:], train, TINY_SCHEMA, n_bootstrap=10, seed=0)
    assert result.rows_train == result.rows_holdout == 1
    assert result.median_nndr_train == result.median_nndr_holdout == 1.0
    assert result.low_nndr_train == result.low_nndr_holdout == 0.0


def test_copy_of_train_is_flagged(demo: tuple[pd.DataFrame, TableSchema]) -> None:
    table, schema = demo
    shuffled = table.sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, holdout = shuffled.iloc[:100], shuffled.iloc[100:200]
    result = dcr_evaluation(train, holdout, train, schema, seed=0)
    assert exact_match_share(train, train, [c.name for c in schema.modelled()]) == 1.0
    assert result.exact_match_train == 1.0
    assert result.dcr_share >= 0.9
    assert result.mia_auc >= 0.9
    assert result.mia_auc_ci[0] > 0.5
    # Every synthetic row copies a train row: NNDR 0 against train, not against the holdout.
    assert result.median_nndr_train == 0.0 and result.median_nndr_holdout > 0.5
    assert result.low_nndr_train == 1.0 and result.low_nndr_holdout < 0.5


def test_independent_sample_sits_at_one_half(demo: tuple[pd.DataFrame, TableSchema]) -> None:
    table, schema = demo
    shuffled = table.sample(frac=1.0, random_state=1).reset_index(drop=True)
    train, holdout, synthetic = shuffled.iloc[:70], shuffled.iloc[70:140], shuffled.iloc[140:]
    result = dcr_evaluation(train, holdout, synthetic, schema, seed=0)
    low, high = result.dcr_share_ci
    assert low <= 0.5 <= high
    assert 0.25 < result.mia_auc < 0.75
    assert result.exact_match_train == 0.0
    assert abs(result.median_nndr_train - result.median_nndr_holdout) < 0.1
    assert abs(result.low_nndr_train - result.low_nndr_holdout) < 0.1


def test_train_is_subsampled_to_the_holdout_size(demo: tuple[pd.DataFrame, TableSchema]) -> None:
    table, schema = demo
    result = dcr_evaluation(table.iloc[:150], table.iloc[150:], table.iloc[:30], schema, seed=3)
    assert result.rows_train == result.rows_holdout == len(table) - 150
    again = dcr_evaluation(table.iloc[:150], table.iloc[150:], table.iloc[:30], schema, seed=3)
    assert result.model_dump(exclude={"seconds"}) == again.model_dump(exclude={"seconds"})


def test_empty_synthetic_table_is_a_data_error() -> None:
    train = pd.DataFrame({"age": [1.0], "city": ["A"]})
    with pytest.raises(DataError, match="synthetic"):
        dcr_evaluation(train, train, train.iloc[:0], TINY_SCHEMA, seed=0)


def test_one_pass_both_ways_equals_brute_force() -> None:
    from synthpriv.attacks.distance import _nearest_both_ways

    rng = np.random.default_rng(2)
    queries, reference = rng.random((250, 5)), rng.random((180, 5))
    reference[7] = queries[3]  # an exact copy must come out as distance 0.0
    to_groups, back = _nearest_both_ways(queries, reference, groups=2, chunk=64)
    assert to_groups.shape == (250, 2, 2)
    brute = np.sqrt(((queries[:, None, :] - reference[None, :, :]) ** 2).sum(-1))
    for g, part in enumerate((brute[:, :90], brute[:, 90:])):
        # The nearest and second-nearest distance in each part, in increasing order.
        np.testing.assert_allclose(to_groups[:, g], np.sort(part, axis=1)[:, :2], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(back, nearest_distances(reference, queries), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(back, brute.min(axis=0), rtol=1e-6, atol=1e-7)
    assert to_groups[3, 0, 0] == 0.0 and back[7] == 0.0


def test_one_pass_with_parts_of_one_row() -> None:
    from synthpriv.attacks.distance import _nearest_both_ways

    queries, reference = np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0], [6.0, 8.0]])
    to_groups, _ = _nearest_both_ways(queries, reference, groups=2)
    # The single row of a part is its nearest and its second-nearest.
    np.testing.assert_array_equal(to_groups, [[[0.0, 0.0], [10.0, 10.0]], [[5.0, 5.0], [5.0, 5.0]]])
