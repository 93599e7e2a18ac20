"""Fixtures shared by the privacy tests: the demo table, its schema and a fitted transformer."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pandas as pd
import pytest
import torch

from synthpriv.data.io import read_table
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.data.transform import TabularTransformer


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # Tiny tensors: a second intra-op thread only adds OpenMP spin-waits on a shared 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def demo() -> pd.DataFrame:
    return read_table("builtin:student_placements")


@pytest.fixture(scope="module")
def schema(demo: pd.DataFrame) -> TableSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the id-column notice
        return infer_schema(demo)


@pytest.fixture(scope="module")
def transformer(demo: pd.DataFrame, schema: TableSchema) -> TabularTransformer:
    # Stands in for the DP-fitted transformer the train stage passes (its own tests cover it).
    return TabularTransformer(schema.modelled()).fit(demo)
