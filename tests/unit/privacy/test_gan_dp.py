"""The GAN in DP mode: a DP-SGD critic, per-row conditions, no packing or gradient penalty.

Fits run on the demo table (215 rows) with small networks; each takes about a second.
"""

from __future__ import annotations

from dataclasses import asdict
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.optim.optimizer import register_optimizer_step_post_hook

from synthpriv.data.schema import TableSchema
from synthpriv.data.transform import TabularTransformer
from synthpriv.generators.ctgan import (
    CRITIC_WEIGHT_CLIP,
    CTGAN,
    CondGenerator,
    GANLayout,
    GeneratedConditions,
    GeneratorAverage,
    own_conditions,
)
from synthpriv.generators.model_files import load_generator, save_generator
from synthpriv.privacy.attach import PrivateTrainer
from synthpriv.privacy.dpsgd import DPSGDSettings, poisson_batches, sample_rate, steps_per_epoch
from synthpriv.training.seam import GroupedBatches

GAN_SMALL = {"embedding_dim": 16, "generator_dims": (32, 32), "critic_dims": (32, 32)}
BUDGET = DPSGDSettings(epsilon=3.0, delta=1e-5, training_seed=7)


@pytest.fixture(scope="module")
def layout(transformer: TabularTransformer) -> GANLayout:
    return GANLayout.from_spans(transformer.spans)


def _fit(
    table: pd.DataFrame,
    schema: TableSchema,
    transformer: TabularTransformer,
    *,
    privacy: DPSGDSettings | None = BUDGET,
    epochs: int = 4,
    batch_size: int = 64,
    **params: object,
) -> CTGAN:
    generator = CTGAN({**GAN_SMALL, **params}, epochs=epochs, batch_size=batch_size, seed=0)
    trainer = PrivateTrainer(privacy) if privacy is not None else None
    generator.fit(table, schema, transformer=transformer, trainer=trainer)
    return generator


def _fan_in(model: CTGAN) -> int:
    """The width of one critic input (``pac`` rows with their conditions)."""
    first = model.critic[0]
    assert isinstance(first, torch.nn.Linear)
    return first.in_features


@pytest.fixture(scope="module")
def private_gan(demo: pd.DataFrame, schema: TableSchema, transformer: TabularTransformer) -> CTGAN:
    return _fit(demo, schema, transformer, critic_steps=2)


# -- fits -----------------------------------------------------------------------------------


def test_a_private_gan_round_trips_with_its_release(
    private_gan: CTGAN, demo: pd.DataFrame, tmp_path: Path
) -> None:
    release = private_gan.privacy_release
    assert release is not None
    assert release.steps == 4 * steps_per_epoch(len(demo), 64) * 2  # two critic steps per generator step
    assert release.sample_rate == pytest.approx(sample_rate(len(demo), 64))
    assert 0.97 * BUDGET.epsilon <= release.epsilon <= BUDGET.epsilon
    assert "GAN" in release.what and release.noise is not None and release.noise > 0
    rows = private_gan.sample(80, seed=3)
    assert list(rows.columns) == list(demo.columns) and len(rows) == 80
    women = private_gan.sample(30, seed=1, conditions={"gender": "F"})
    assert (women["gender"] == "F").all()

    save_generator(private_gan, tmp_path)
    loaded = load_generator(tmp_path)
    assert type(loaded) is CTGAN
    # The privacy record comes back as the plain JSON objects generator.json holds.
    assert loaded.privacy == asdict(BUDGET) and loaded.privacy_release == asdict(release)
    pd.testing.assert_frame_equal(loaded.sample(80, seed=3), rows)
    pd.testing.assert_frame_equal(loaded.sample(30, seed=1, conditions={"gender": "F"}), women)


def test_the_release_counts_every_critic_step_and_no_generator_step(
    demo: pd.DataFrame, schema: TableSchema, transformer: TabularTransformer
) -> None:
    stepped: list[int] = []
    # The parameter updates of the Adams themselves, whatever DP-SGD does around them.
    handle = register_optimizer_step_post_hook(
        lambda optimizer, *_: (
            stepped.append(id(optimizer.param_groups[0]["params"][0]))
            if type(optimizer) is torch.optim.Adam
            else None
        )
    )
    try:
        # Batches of 2 expected rows: about one Poisson batch in eight is empty, still a step.
        model = _fit(demo, schema, transformer, epochs=1, batch_size=2, critic_steps=3)
    finally:
        handle.remove()
    critic_steps = stepped.count(id(next(model.critic.parameters())))
    generator_steps = stepped.count(id(next(model.generator_net.parameters())))
    assert model.privacy_release is not None
    assert (
        model.privacy_release.steps
        == critic_steps
        == 3 * generator_steps
        == 3 * steps_per_epoch(len(demo), 2)
    )
    assert critic_steps + generator_steps == len(stepped)


def test_private_and_plain_fits_with_one_seed_differ(
    private_gan: CTGAN, demo: pd.DataFrame, schema: TableSchema, transformer: TabularTransformer
) -> None:
    plain = _fit(demo, schema, transformer, privacy=None, critic_steps=2)
    assert plain.privacy_release is None
    assert _fan_in(plain) == plain.gan_params.pac * _fan_in(private_gan)
    assert not torch.equal(
        plain._state_dict()["generator.out.weight"], private_gan._state_dict()["generator.out.weight"]
    )
    assert not plain.sample(50, seed=1).equals(private_gan.sample(50, seed=1))


def test_two_private_fits_with_one_training_seed_agree(
    private_gan: CTGAN, demo: pd.DataFrame, schema: TableSchema, transformer: TabularTransformer
) -> None:
    again = _fit(demo, schema, transformer, critic_steps=2)
    assert again.privacy_release == private_gan.privacy_release
    pd.testing.assert_frame_equal(again.sample(60, seed=2), private_gan.sample(60, seed=2))


def test_the_private_critic_is_unpacked_and_weight_clipped(private_gan: CTGAN) -> None:
    layout = private_gan.layout
    assert private_gan.gan_params.pac == 10 and private_gan.pac == 1
    assert _fan_in(private_gan) == layout.width + layout.cond_width
    linears = [m for m in private_gan.critic.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(float(m.weight.detach().abs().max()) <= CRITIC_WEIGHT_CLIP for m in linears)


# -- no category frequencies of the real table -------------------------------------------------


def test_condition_weights_do_not_come_from_the_table(
    demo: pd.DataFrame, schema: TableSchema, transformer: TabularTransformer
) -> None:
    """The released domain has F, the training rows do not: a frequency table would give F
    weight 0 (as the plain fit shows), the DP fit's weights come from the generator."""
    men = demo[demo["gender"] == "M"].reset_index(drop=True)
    female = transformer.categorical["gender"].categories.index("F")
    private = _fit(men, schema, transformer, epochs=2)
    plain = _fit(men, schema, transformer, privacy=None, epochs=2)
    assert float(plain.category_counts[female]) == 0.0
    weights = private.category_counts
    assert float(weights[female]) > 0.0
    offsets = private.layout.cond_offset.tolist()
    for offset, span in zip(offsets, private.layout.cond_spans, strict=True):
        assert float(weights[offset : offset + span.width].sum()) == pytest.approx(1.0, abs=1e-5)


def test_a_real_row_is_conditioned_on_its_own_category(
    layout: GANLayout, transformer: TabularTransformer, demo: pd.DataFrame
) -> None:
    rows = torch.from_numpy(transformer.transform(demo)).float()
    cond = own_conditions(layout, rows, torch.Generator().manual_seed(0))
    span = torch.searchsorted(layout.cond_offset, cond, right=True) - 1
    assert len(set(span.tolist())) == len(layout.cond_spans)  # every column gets picked
    for k, block in enumerate(layout.cond_spans):
        mine = span == k
        category = cond[mine] - layout.cond_offset[k]
        assert torch.equal(category, rows[mine, block.start : block.stop].argmax(1))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    row=st.integers(0, 39),
    others=st.lists(st.integers(0, 214), min_size=39, max_size=39),
)
def test_a_real_rows_condition_ignores_the_other_rows(
    layout: GANLayout,
    transformer: TabularTransformer,
    demo: pd.DataFrame,
    seed: int,
    row: int,
    others: list[int],
) -> None:
    matrix = torch.from_numpy(transformer.transform(demo)).float()
    batch = matrix[:40]
    changed = batch.clone()
    changed[[i for i in range(40) if i != row]] = matrix[others]
    first = own_conditions(layout, batch, torch.Generator().manual_seed(seed))
    second = own_conditions(layout, changed, torch.Generator().manual_seed(seed))
    assert first[row] == second[row]


def _rows(layout: GANLayout, categories: list[list[int]]) -> torch.Tensor:
    """Encoded rows whose condition spans hold the given categories (values left at 0)."""
    rows = torch.zeros(len(categories), layout.width)
    for i, per_span in enumerate(categories):
        for span, category in zip(layout.cond_spans, per_span, strict=True):
            rows[i, span.start + category] = 1.0
    return rows


def test_generated_conditions_start_uniform_and_learn_from_rows_conditioned_elsewhere(
    layout: GANLayout,
) -> None:
    conditions = GeneratedConditions(layout, rate=0.5)
    gender, high_spec = layout.cond_spans[:2]
    assert (gender.column, high_spec.column) == ("gender", "high_spec")
    torch.testing.assert_close(conditions.weights[:2], torch.tensor([0.5, 0.5], dtype=torch.float64))
    spans = len(layout.cond_spans)
    # Rows conditioned on gender echo category 0 there; rows conditioned on high_spec say 1.
    rows = _rows(layout, [[0] * spans] * 10 + [[1] * spans] * 10)
    cond = torch.cat([torch.zeros(10, dtype=torch.long), torch.full((10,), int(layout.cond_offset[1]) + 1)])
    for _ in range(30):
        conditions.observe(rows, cond)
    torch.testing.assert_close(conditions.weights[:2], torch.tensor([0.0, 1.0], dtype=torch.float64))
    # high_spec is counted only in the rows conditioned on gender, which all say 0.
    torch.testing.assert_close(conditions.weights[2:5], torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    draws = conditions.draw(4000, torch.Generator().manual_seed(0))
    assert not (draws == 0).any()  # gender's category 0 has weight 0


# -- the parts ------------------------------------------------------------------------------


def test_grouped_poisson_batches_give_each_critic_step_its_own_batch() -> None:
    sampler = GroupedBatches(poisson_batches, 3)
    groups = []
    for batch in sampler(200, 20, torch.Generator().manual_seed(0)):
        assert len(sampler.sizes) == 3 and sum(sampler.sizes) == len(batch)
        groups.append([set(part.tolist()) for part in batch.split(sampler.sizes)])
        assert all(len(part) == size for part, size in zip(groups[-1], sampler.sizes, strict=True))
    assert len(groups) == steps_per_epoch(200, 20)
    sizes = [len(part) for group in groups for part in group]
    assert len(set(sizes)) > 3  # Poisson: the sizes vary
    assert any(a != b for group in groups for a, b in pairwise(group))  # fresh draws per step


def test_the_generator_average_is_installed_with_fresh_batchnorm_statistics(layout: GANLayout) -> None:
    net = CondGenerator(8, layout.cond_width, (16, 16), layout.width)
    average = GeneratorAverage(net, decay=0.5)
    start = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    average.update()  # the warm-up decay (1 + 1) / (10 + 1) is below 0.5
    generator = torch.Generator().manual_seed(0)
    noise, cond = (
        torch.randn(64, 8, generator=generator),
        torch.randint(layout.cond_width, (64,), generator=generator),
    )
    average.install(iter([(noise, cond)]))
    for p, first in zip(net.parameters(), start, strict=True):
        torch.testing.assert_close(p.detach(), first + (1.0 - 2.0 / 11.0))
    with torch.no_grad():
        hidden = net.noise_in(noise) + net.cond_in(cond)
    assert net.bn_in.running_mean is not None
    torch.testing.assert_close(net.bn_in.running_mean, hidden.mean(0))  # one batch, not a blend with the old
