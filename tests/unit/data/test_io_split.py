"""Reading tables, writing Parquet atomically, and the seeded split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthpriv.config.model import DataConfig
from synthpriv.data.io import read_table, write_parquet, write_parquet_batches
from synthpriv.data.real import RealData
from synthpriv.data.split import Split, split_rows, split_sizes
from synthpriv.errors import DataError
from synthpriv.runtime.seeding import stream_rng


def test_builtin_demo_table_reads_with_typed_dates() -> None:
    table = read_table("builtin:student_placements")
    assert table.shape == (215, 17)
    assert str(table["start_date"].dtype).startswith("datetime64")
    assert table["salary"].isna().sum() == 67


def test_csv_and_parquet_read_the_same(tmp_path: Path, demo_table: pd.DataFrame) -> None:
    frame = demo_table[["gender", "salary", "placed"]]
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.csv"), read_table(tmp_path / "t.parquet"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "not found"),
        ("empty.csv", "a,b\n", "empty"),
        ("bad.parquet", "this is not parquet", "cannot read as Parquet"),
        ("table.json", "{}", "unsupported file type"),
        ("dup.csv", "a,a\n1,2\n", "duplicate column"),
    ],
)
def test_unreadable_tables_raise_data_error(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        read_table(path)
    assert name in str(info.value)


def test_unknown_builtin_table() -> None:
    with pytest.raises(DataError, match="unknown builtin table"):
        read_table("builtin:nope")


def test_parquet_batches_stream_into_row_groups_with_metadata(tmp_path: Path) -> None:
    frames = [pd.DataFrame({"x": np.arange(i * 10, i * 10 + 10), "y": ["a"] * 10}) for i in range(3)]
    rows = write_parquet_batches(iter(frames), tmp_path / "out.parquet", metadata={"k": "v"})
    assert rows == 30
    parquet = pq.ParquetFile(tmp_path / "out.parquet")
    assert parquet.num_row_groups == 3
    assert parquet.schema_arrow.metadata[b"k"] == b"v"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    def frames():
        yield pd.DataFrame({"x": [1, 2]})
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        write_parquet_batches(frames(), tmp_path / "out.parquet")
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_existing_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    write_parquet(pd.DataFrame({"x": [1]}), target)
    write_parquet(pd.DataFrame({"x": [2, 3]}), target)
    assert pd.read_parquet(target)["x"].tolist() == [2, 3]


@settings(max_examples=50, deadline=None)
@given(n=st.integers(100, 5000), fraction=st.floats(0.06, 0.9), seed=st.integers(0, 2**32 - 1))
def test_split_is_a_seeded_partition(n: int, fraction: float, seed: int) -> None:
    split = split_rows(n, fraction, seed)
    both = np.concatenate([split.train, split.holdout])
    assert len(both) == n and len(np.unique(both)) == n
    assert len(split.holdout) == int(round(n * fraction))
    again = split_rows(n, fraction, seed)
    assert np.array_equal(split.train, again.train)
    assert Split.from_frame(split.to_frame()).holdout.tolist() == split.holdout.tolist()


def test_split_differs_by_seed() -> None:
    assert not np.array_equal(split_rows(1000, 0.2, 1).holdout, split_rows(1000, 0.2, 2).holdout)


def test_too_few_rows_to_split() -> None:
    with pytest.raises(DataError, match="too few"):
        split_rows(12, 0.2, 0)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 3000), fraction=st.floats(0.01, 0.95))
def test_split_sizes_count_what_the_split_draws(n: int, fraction: float) -> None:
    """`synthpriv check` counts the parts (split_sizes) instead of drawing the split the train stage stores."""
    try:
        sizes = split_sizes(n, fraction)
    except DataError:
        with pytest.raises(DataError, match="too few"):
            split_rows(n, fraction, 0)
        return
    split = split_rows(n, fraction, 0)
    assert sizes == (len(split.train), len(split.holdout))


def test_the_split_is_drawn_from_its_named_stream() -> None:
    permutation = stream_rng(5, "train", "split").permutation(1000)
    assert split_rows(1000, 0.2, 5).holdout.tolist() == sorted(permutation[800:].tolist())


def test_real_data_counts_training_rows_without_drawing() -> None:
    real = RealData(
        config=DataConfig(path="builtin:student_placements", holdout=0.2),
        source_path="builtin:student_placements",
    )
    assert real.train_rows() == len(real.make_split(3).train) == 172
