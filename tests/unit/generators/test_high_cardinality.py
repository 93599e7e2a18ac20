"""Many-level categorical columns in bounded memory (issue 15, must-have 6).

A 20,000-level column made every training table a rows x 20,000 float matrix (10k levels x
6 rows peaked at 5.4 GB). Now the encoded table holds an integer code per category column,
the generators expand one batch at a time, and sampling decodes codes without a dense
matrix. benchmarks/high_cardinality.py measures the full-size case; these tests pin the
mechanisms on tables small enough for a unit test.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.data.spans import EncodedTable
from synthpriv.data.transform import TabularTransformer
from synthpriv.generators.conditions import honours
from synthpriv.generators.ctgan import CONDITION_OUTPUT_CELLS, CondGenerator, LowRankEmbedding
from synthpriv.generators.model_files import load_generator, save_generator
from synthpriv.generators.registry import get_generator

LEVELS = 3_000
ROWS = 6_000
#: Small networks: the tests are about the data path, not the models' quality.
SMALL = {
    "vae": {"hidden_dims": (32,), "latent_dim": 8},
    "gan": {"embedding_dim": 8, "generator_dims": (32,), "critic_dims": (32,), "pac": 2},
    "diffusion": {"hidden_dims": (32,), "embedding_dim": 16, "timesteps": 20, "sampling_steps": 5},
}


def many_levels(rows: int = ROWS, levels: int = LEVELS, seed: int = 0) -> pd.DataFrame:
    """``code`` with ``levels`` levels, each held by rows / levels rows, beside ordinary columns."""
    rng = np.random.default_rng(seed)
    code = rng.permutation(np.repeat(np.arange(levels), rows // levels))
    return pd.DataFrame(
        {
            "code": pd.Series([f"c{i:05d}" for i in code], dtype=object),
            "age": rng.normal(40.0, 12.0, len(code)).round(),
            "grade": rng.choice(np.array(["A", "B", "C"], dtype=object), len(code)),
            "flag": rng.random(len(code)) < 0.3,
        }
    )


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return many_levels()


@pytest.fixture(scope="module")
def schema(table: pd.DataFrame) -> TableSchema:
    return infer_schema(table, overrides={"code": "categorical"})


def test_encoded_categories_are_integer_codes_of_a_few_bytes_a_row(
    table: pd.DataFrame, schema: TableSchema
) -> None:
    transformer = TabularTransformer(schema.modelled(), min_category_count=1).fit(table)
    encoded = transformer.encode(table)
    assert len(transformer.categorical["code"].categories) == LEVELS
    assert encoded.codes.dtype == np.int16  # the narrowest signed type that holds 3,000 levels
    assert encoded.values.dtype == np.float32
    # Four columns, one of 3,000 levels: 16 bytes a row at most, where the one-hot took 12 KB.
    assert encoded.codes.nbytes + encoded.values.nbytes <= ROWS * 16
    assert transformer.width * 4 > 700 * 16
    codes = encoded.block_codes(next(s for s in transformer.spans if s.column == "code"))
    tokens = transformer.categorical["code"].inverse_codes(codes)
    assert tokens.tolist() == table["code"].tolist()


@pytest.mark.parametrize("kind", ["vae", "gan", "diffusion"])
def test_fit_never_builds_the_rows_x_width_matrix(
    kind: str, table: pd.DataFrame, schema: TableSchema
) -> None:
    """NumPy reports its allocations to tracemalloc: the whole fit (encoding, the GAN's row
    index of each category, the batches' source) stays far below the dense matrix's size."""
    make = get_generator(kind)
    # A first fit imports what fitting imports lazily (torch loads sympy, tens of MB of modules).
    make(SMALL[kind], epochs=1, batch_size=50, min_category_count=1).fit(many_levels(200, 20), schema)
    generator = make(SMALL[kind], epochs=1, batch_size=500, seed=0, min_category_count=1)
    tracemalloc.start()
    try:
        generator.fit(table, schema)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert generator.transformer is not None
    dense_bytes = ROWS * generator.transformer.width * 4  # 72 MB in float32
    assert peak < dense_bytes / 8, (
        f"{peak / 2**20:.1f} MiB traced, the dense matrix is {dense_bytes / 2**20:.0f}"
    )


@pytest.mark.parametrize("kind", ["vae", "gan", "diffusion"])
def test_every_generator_fits_samples_and_conditions_on_a_many_level_column(
    kind: str, table: pd.DataFrame, schema: TableSchema, tmp_path: Path
) -> None:
    generator = get_generator(kind)(SMALL[kind], epochs=1, batch_size=500, seed=0, min_category_count=1)
    generator.fit(table, schema)
    synthetic = generator.sample(700, seed=1)
    assert len(synthetic) == 700 and list(synthetic.columns) == list(table.columns)
    assert synthetic["code"].isin(set(table["code"])).all()
    assert synthetic["code"].nunique() > 50  # drawn across the levels, not one
    # A condition is a code to match (a level of 3,000 takes diffusion's clamping: the
    # others, one epoch in, would reject their way through millions of rows).
    conditions = {"grade": "B", "code": table["code"].iloc[0]} if kind == "diffusion" else {"grade": "B"}
    fixed = generator.sample(40, seed=2, conditions=conditions)
    for column, value in conditions.items():
        assert (fixed[column] == value).all(), column
    save_generator(generator, tmp_path)
    pd.testing.assert_frame_equal(load_generator(tmp_path).sample(300, seed=3), generator.sample(300, seed=3))


def test_sampling_decodes_codes_in_chunks_whatever_the_width(
    table: pd.DataFrame, schema: TableSchema
) -> None:
    """Sampled rows come back as codes; chunked generation (wide rows) honours conditions."""
    generator = get_generator("vae")(SMALL["vae"], epochs=1, batch_size=500, seed=0, min_category_count=1)
    generator.fit(table, schema)
    rows = generator._sample_encoded(1_500, seed=0)  # more than one chunk at this width
    assert isinstance(rows, EncodedTable) and len(rows) == 1_500
    assert rows.codes.nbytes + rows.values.nbytes <= 1_500 * 16
    fixed = generator.encode_conditions({"grade": "B"})
    assert honours(generator._sample_honouring(500, 7, fixed), fixed).all()


def test_the_gan_condition_path_is_low_rank_past_its_cell_budget() -> None:
    """A 4,200-level condition over 4,200 output columns would need 17.6 million weights."""
    cond_width = out_width = 4_200
    assert cond_width * out_width > CONDITION_OUTPUT_CELLS
    torch.manual_seed(0)
    network = CondGenerator(8, cond_width, (16,), out_width)
    assert isinstance(network.cond_out, LowRankEmbedding)
    assert sum(p.numel() for p in network.parameters()) < 1_000_000
    with torch.no_grad():  # give the zero-initialised half some weights to carry
        network.cond_out.out.weight.normal_()
    network.eval()
    noise, cond = torch.randn(64, 8), torch.randint(cond_width, (64,))
    with torch.no_grad():
        expected = network(noise, cond)
    assert torch.allclose(network.inference_t(noise, cond).t(), expected, atol=1e-4)
    small = CondGenerator(8, 30, (16,), 40)
    assert isinstance(small.cond_out, torch.nn.Embedding)  # ordinary tables keep the full path
