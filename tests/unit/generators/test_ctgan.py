"""CTGAN on a small real table (the sdmetrics student placements demo)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from synthpriv.data.io import read_table
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.data.spans import EncodedTable
from synthpriv.data.transform import TabularTransformer
from synthpriv.generators.conditions import honours
from synthpriv.generators.ctgan import CTGAN, ConditionSampler, GANLayout, draw_conditions, stacked_cumulative
from synthpriv.generators.model_files import load_generator, save_generator
from synthpriv.generators.registry import get_generator

SMALL = {"embedding_dim": 16, "generator_dims": (64, 64), "critic_dims": (64, 64), "learning_rate": 2e-3}
LOSS_KEYS = {"critic_loss", "generator_loss", "gradient_penalty", "wasserstein_distance", "condition_ce"}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return read_table("builtin:student_placements")


@pytest.fixture(scope="module")
def schema(table: pd.DataFrame) -> TableSchema:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the id-column notice
        return infer_schema(table)


@pytest.fixture(scope="module")
def encoded(table: pd.DataFrame, schema: TableSchema) -> tuple[np.ndarray, GANLayout]:
    transformer = TabularTransformer(schema.modelled()).fit(table)
    return transformer.transform(table), GANLayout.from_spans(transformer.spans)


@pytest.fixture(scope="module")
def compact(table: pd.DataFrame, schema: TableSchema) -> EncodedTable:
    return TabularTransformer(schema.modelled()).fit(table).encode(table)


def _fit(table: pd.DataFrame, schema: TableSchema, *, epochs: int, seed: int = 0) -> CTGAN:
    generator = CTGAN(SMALL, epochs=epochs, batch_size=50, seed=seed)
    generator.fit(table, schema)
    return generator


@pytest.fixture(scope="module")
def fitted(table: pd.DataFrame, schema: TableSchema) -> CTGAN:
    return _fit(table, schema, epochs=40)


def test_registered_as_gan() -> None:
    assert get_generator("gan") is CTGAN


def test_layout_index_tensors_rebuild_a_row(encoded: tuple[np.ndarray, GANLayout]) -> None:
    matrix, layout = encoded
    rows = torch.from_numpy(matrix)
    padded = layout.padded(rows.index_select(1, layout.softmax_index))
    assert padded.shape == (len(rows), len(layout.blocks), layout.max_width)
    assert torch.equal(layout.assemble(rows.index_select(1, layout.value_index), padded), rows)


def test_condition_vectors_cover_the_category_blocks(encoded: tuple[np.ndarray, GANLayout]) -> None:
    _, layout = encoded
    categories = [s for s in layout.blocks if s.role == "category"]
    assert layout.cond_spans == tuple(categories)  # missing-value flags are not conditions
    assert layout.cond_width == sum(s.width for s in categories)
    cond = layout.cond_one_hot(torch.tensor([0, 1, layout.cond_width - 1]))
    assert cond.shape == (3, layout.cond_width)
    assert cond.sum(1).tolist() == [1.0, 1.0, 1.0]


def test_the_critic_sees_packs_of_rows_with_their_conditions(fitted: CTGAN) -> None:
    layout, pac = fitted.layout, fitted.gan_params.pac
    first = fitted.critic[0]
    assert isinstance(first, torch.nn.Linear)
    assert first.in_features == pac * (layout.width + layout.cond_width)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in fitted.critic.modules())


def test_training_by_sampling_draws_by_log_frequency_and_matching_rows(
    encoded: tuple[np.ndarray, GANLayout], compact: EncodedTable
) -> None:
    matrix, layout = encoded
    assert np.array_equal(compact.dense(), matrix)
    sampler = ConditionSampler(compact, layout, steps=200)
    # The conditions of a batch are readable while it is the current one.
    pairs = [
        (index, sampler.cond_index) for index in sampler(len(matrix), 500, torch.Generator().manual_seed(0))
    ]
    indices, conds = torch.cat([i for i, _ in pairs]), torch.cat([c for _, c in pairs])
    assert len(indices) == len(conds) == 200 * 500
    counts = sampler.counts.double()
    drawn = torch.bincount(conds, minlength=layout.cond_width).double() / len(conds)
    for k, span in enumerate(layout.cond_spans):
        start = int(layout.cond_offset[k])
        n = counts[start : start + span.width]
        expected = torch.log1p(n) / torch.log1p(n).sum() / len(layout.cond_spans)
        assert torch.allclose(drawn[start : start + span.width], expected, atol=0.01), span.column
    # The rarest category is drawn far above its share of the rows.
    rare = int(torch.argmin(torch.where(counts > 0, counts, np.inf)))
    span_k = int(torch.searchsorted(layout.cond_offset, torch.tensor(rare), right=True)) - 1
    within = drawn[rare] * len(layout.cond_spans)
    assert within > 3 * counts[rare] / len(matrix)
    # Every drawn row has the category it was drawn for.
    span = layout.cond_spans[span_k]
    category = np.argmax(matrix[indices.numpy(), span.start : span.stop], axis=1)
    mine = (conds >= layout.cond_offset[span_k]) & (conds < layout.cond_offset[span_k] + span.width)
    assert np.array_equal(category[mine.numpy()], (conds[mine] - layout.cond_offset[span_k]).numpy())


def test_unconditional_conditions_follow_the_data_frequencies(encoded: tuple[np.ndarray, GANLayout]) -> None:
    _, layout = encoded
    weights = torch.arange(1, layout.cond_width + 1, dtype=torch.float64)
    conds = draw_conditions(
        layout, stacked_cumulative(layout, weights), 200_000, torch.Generator().manual_seed(1)
    )
    drawn = torch.bincount(conds, minlength=layout.cond_width).double() / len(conds)
    for k, span in enumerate(layout.cond_spans):
        start = int(layout.cond_offset[k])
        w = weights[start : start + span.width]
        assert torch.allclose(
            drawn[start : start + span.width], w / w.sum() / len(layout.cond_spans), atol=0.005
        )


def test_fast_inference_matches_the_training_forward(fitted: CTGAN) -> None:
    net = fitted.generator_net.eval()
    noise = torch.randn(64, fitted.gan_params.embedding_dim, generator=torch.Generator().manual_seed(0))
    cond = torch.randint(fitted.layout.cond_width, (64,), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(net.inference_t(noise, cond).t(), net(noise, cond), atol=1e-4)


def test_history_has_one_entry_per_epoch_with_the_losses(table: pd.DataFrame, schema: TableSchema) -> None:
    report = CTGAN(SMALL, epochs=3, batch_size=50, seed=0).fit(table, schema)
    assert [h["epoch"] for h in report.history] == [0, 1, 2]
    assert LOSS_KEYS <= set(report.history[0])
    assert all(np.isfinite(v) for h in report.history for v in h.values())


def test_native_conditioning_honours_a_binary_column(fitted: CTGAN) -> None:
    for column, value in (("placed", False), ("gender", "F")):
        fixed = fitted.encode_conditions({column: value})
        rows = fitted._sample_conditional(2000, seed=0, fixed=fixed)
        assert rows is not None
        assert honours(rows, fixed).mean() >= 0.9, column
    synthetic = fitted.sample(300, seed=2, conditions={"placed": False, "mba_spec": "Mkt&HR"})
    assert len(synthetic) == 300
    assert (~synthetic["placed"]).all() and (synthetic["mba_spec"] == "Mkt&HR").all()


def test_samples_are_one_hot_and_reproduce_every_category(fitted: CTGAN, table: pd.DataFrame) -> None:
    matrix = fitted._sample_encoded(4000, seed=0).dense()
    for span in fitted.layout.blocks:
        block = matrix[:, span.start : span.stop]
        assert np.array_equal(block.sum(1), np.ones(len(block)))
    synthetic = fitted.sample(4000, seed=0)
    for column in ("gender", "high_spec", "degree_type", "mba_spec"):  # no category lost to mode collapse
        assert set(synthetic[column]) == set(table[column]), column


def test_seeds_reproduce_rows_and_models(fitted: CTGAN, table: pd.DataFrame, schema: TableSchema) -> None:
    pd.testing.assert_frame_equal(fitted.sample(200, seed=3), fitted.sample(200, seed=3))
    assert not fitted.sample(200, seed=3).equals(fitted.sample(200, seed=4))
    first, second = _fit(table, schema, epochs=2, seed=5), _fit(table, schema, epochs=2, seed=5)
    pd.testing.assert_frame_equal(first.sample(100, seed=0), second.sample(100, seed=0))
    assert not first.sample(100, seed=0).equals(_fit(table, schema, epochs=2, seed=6).sample(100, seed=0))


def test_save_and_load_give_the_same_rows(fitted: CTGAN, tmp_path: Path) -> None:
    save_generator(fitted, tmp_path)
    loaded = load_generator(tmp_path)
    assert type(loaded) is CTGAN
    pd.testing.assert_frame_equal(loaded.sample(150, seed=5), fitted.sample(150, seed=5))
    conditioned = {"gender": "F"}
    pd.testing.assert_frame_equal(
        loaded.sample(50, seed=1, conditions=conditioned),
        fitted.sample(50, seed=1, conditions=conditioned),
    )
