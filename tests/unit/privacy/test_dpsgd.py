"""DP-SGD: per-row gradients, Poisson sampling, noise calibration and private fits on the demo table."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from opacus import GradSampleModule
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from synthpriv.data.schema import TableSchema
from synthpriv.data.transform import TabularTransformer
from synthpriv.errors import PrivacyConfigError
from synthpriv.generators.base import Generator
from synthpriv.generators.ctgan import (
    CTGAN,
    GeneratedConditions,
    critic_row_losses,
    critic_rows,
    own_conditions,
)
from synthpriv.generators.ddpm import TabDDPM
from synthpriv.generators.model_files import (
    GENERATOR_FILE,
    META_SHA256,
    load_generator,
    meta_sha256,
    save_generator,
)
from synthpriv.generators.tvae import TVAE
from synthpriv.privacy.attach import PrivateTrainer
from synthpriv.privacy.dpsgd import (
    DPSGDSettings,
    PrivateTraining,
    calibrate,
    epsilon_spent,
    poisson_batches,
    sample_rate,
    steps_per_epoch,
)
from synthpriv.training.loop import TrainingPlan, train

VAE_SMALL = {"hidden_dims": (32, 32), "latent_dim": 8}
DIFFUSION_SMALL = {"timesteps": 50, "sampling_steps": 10, "hidden_dims": (32, 32), "embedding_dim": 16}
GAN_SMALL = {"embedding_dim": 16, "generator_dims": (32, 32), "critic_dims": (32, 32)}
SMALL: dict[type[Generator], dict[str, object]] = {
    TVAE: VAE_SMALL,
    TabDDPM: DIFFUSION_SMALL,
}
BUDGET = DPSGDSettings(epsilon=3.0, delta=1e-5, training_seed=7)


def _fit(
    cls: type[Generator],
    demo: pd.DataFrame,
    schema: TableSchema,
    transformer: TabularTransformer,
    *,
    privacy: DPSGDSettings | None = BUDGET,
    epochs: int = 8,
    seed: int = 0,
) -> Generator:
    generator = cls(SMALL[cls], epochs=epochs, batch_size=64, seed=seed)
    trainer = PrivateTrainer(privacy) if privacy is not None else None
    generator.fit(demo, schema, transformer=transformer, trainer=trainer)
    return generator


def _per_row(generator: Generator) -> Generator:
    """A generator built as under a trainer that requires per-row losses (DP-SGD's)."""
    generator.per_row_losses = True
    return generator


def _reference_grads(loss_of_rows, params: list[nn.Parameter], rows: int) -> list[torch.Tensor]:
    """Each row's gradient, one row at a time (micro-batches of 1): ``[rows, *p.shape]`` per parameter."""
    per_row = [
        torch.autograd.grad(loss_of_rows(slice(i, i + 1)), params, allow_unused=True) for i in range(rows)
    ]
    return [
        torch.stack([g[k] if g[k] is not None else torch.zeros_like(p) for g in per_row])
        for k, p in enumerate(params)
    ]


def _assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    # Sums of float32 rows: tolerances relative to the largest entry, not to each one.
    scale = max(float(expected.abs().max()), 1e-3)
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5 * scale)


def _check_private_gradients(
    modules: dict[str, nn.Module], loss_of_rows: Callable[[slice], torch.Tensor], rows: int
) -> None:
    """Opacus' per-row gradients and `PrivateTraining`'s per-row norms and clipped sum all agree
    with gradients taken one row at a time."""
    params = [p for m in modules.values() for p in m.parameters()]
    reference = _reference_grads(loss_of_rows, params, rows)

    wrapped = [GradSampleModule(m) for m in modules.values()]
    loss_of_rows(slice(None)).backward()
    for p, expected in zip(params, reference, strict=True):
        _assert_close(p.grad_sample, expected)
    for module in wrapped:
        module.to_standard_module()

    norms = torch.stack([g.flatten(1).square().sum(1) for g in reference]).sum(0).sqrt()
    bound = float(norms.median())  # half the rows get clipped
    clip = (bound / (norms + 1e-6)).clamp(max=1.0)
    assert (clip < 1).any() and (clip == 1).any()
    settings = DPSGDSettings(epsilon=3.0, delta=1e-5, max_grad_norm=bound)
    calibration = calibrate(settings, rows=1000, batch_size=rows, steps=10)
    private = PrivateTraining(calibration, modules, torch.optim.SGD(params, lr=0.1), seed=0)
    _assert_close(private.backward(loss_of_rows(slice(None))), norms)
    for p, expected in zip(params, reference, strict=True):
        _assert_close(p.grad, torch.einsum("i,i...->...", clip, expected))
    private.finish("probe")


# -- per-row gradients --------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_vae_per_row_gradients_match_one_row_at_a_time(
    demo: pd.DataFrame, transformer: TabularTransformer
) -> None:
    model = _per_row(TVAE(VAE_SMALL, seed=0))
    model._build(transformer.spans, "cpu")
    assert model.heads.n_values > 0  # the log-sigma layer takes part
    batch = torch.from_numpy(transformer.transform(demo.iloc[:12])).float()
    eps = torch.randn(len(batch), VAE_SMALL["latent_dim"], generator=torch.Generator().manual_seed(1))
    modules = {"encoder": model.encoder, "decoder": model.decoder, "log_sigma": model.sigma}
    _check_private_gradients(modules, lambda rows: model.losses(batch[rows], eps[rows])["loss"], len(batch))


def test_vae_log_sigma_layer_gives_the_same_loss_as_the_vector(
    demo: pd.DataFrame, transformer: TabularTransformer
) -> None:
    private, plain = _per_row(TVAE(VAE_SMALL, seed=0)), TVAE(VAE_SMALL, seed=0)
    for model in (private, plain):
        torch.manual_seed(0)
        model._build(transformer.spans, "cpu")
    batch = torch.from_numpy(transformer.transform(demo.iloc[:20])).float()
    eps = torch.randn(len(batch), VAE_SMALL["latent_dim"])
    torch.testing.assert_close(private.losses(batch, eps)["loss"], plain.losses(batch, eps)["loss"])


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_denoiser_per_row_gradients_match_one_row_at_a_time(
    demo: pd.DataFrame, transformer: TabularTransformer
) -> None:
    # A high conditioning rate so that some rows have known blocks.
    model = _per_row(TabDDPM({**DIFFUSION_SMALL, "condition_rate": 0.7}, seed=0))
    model._build(transformer.spans, "cpu")
    batch = torch.from_numpy(transformer.transform(demo.iloc[:12])).float()
    draws = model.training_draws(len(batch), torch.Generator().manual_seed(2))
    assert draws.known.any() and len(set(draws.t.tolist())) > 1

    def loss(rows: slice) -> torch.Tensor:
        gaussian, multinomial = model.losses_for(batch[rows], draws.rows(rows))
        return gaussian + multinomial

    _check_private_gradients({"denoiser": model.denoiser}, loss, len(batch))


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_gan_critic_per_row_gradients_match_one_row_at_a_time(
    demo: pd.DataFrame, transformer: TabularTransformer
) -> None:
    """The DP critic's pass: real rows with their own conditions and fake rows, one pass, one
    per-row WGAN loss each (fake rows are clipped like real ones)."""
    # No dropout: a reference taken one row at a time would draw other masks.
    model = _per_row(CTGAN({**GAN_SMALL, "critic_dropout": 0.0}, seed=0))
    model._build(transformer.spans, "cpu")
    generator = torch.Generator().manual_seed(3)
    real = torch.from_numpy(transformer.transform(demo.iloc[:8])).float()
    fake_cond = GeneratedConditions(model.layout).draw(6, generator)
    with torch.no_grad():
        fake, _ = model._generate_train(fake_cond, generator)
    rows = critic_rows(model.layout, real, own_conditions(model.layout, real, generator), fake, fake_cond)

    def loss(selected: slice) -> torch.Tensor:
        return critic_row_losses(model.critic(rows).squeeze(1), len(real))[selected].mean()

    _check_private_gradients({"critic": model.critic}, loss, len(rows))


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_a_loss_that_mixes_rows_breaks_the_per_row_check() -> None:
    """The check above can fail: a batch-normalised loss couples the rows."""
    net = nn.Linear(3, 2)
    data = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))

    def coupled(rows: slice) -> torch.Tensor:
        out = net(data[rows])
        return (out - out.mean(0)).square().mean() + out.mean()

    with pytest.raises(AssertionError):
        _check_private_gradients({"net": net}, coupled, len(data))


# -- Poisson sampling ---------------------------------------------------------------------


def test_poisson_batches_vary_in_size_around_q_times_n() -> None:
    generator = torch.Generator().manual_seed(0)
    sizes = [len(b) for _ in range(40) for b in poisson_batches(1000, 100, generator)]
    assert len(sizes) == 40 * 10
    assert len(set(sizes)) > 10
    # Binomial(1000, 0.1): the mean of 400 draws lies within 100 +- 1.5 with overwhelming odds.
    assert abs(sum(sizes) / len(sizes) - 100) < 1.5


def test_poisson_batches_include_empty_ones_when_q_is_tiny() -> None:
    batches = list(poisson_batches(500, 1, torch.Generator().manual_seed(0)))
    assert len(batches) == 500
    assert sum(len(b) == 0 for b in batches) > 100  # (1 - 1/500)^500 ~ 37 % are empty


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 3000), batch_size=st.integers(1, 4000), seed=st.integers(0, 2**32))
def test_poisson_batches_are_distinct_rows_of_the_table(rows: int, batch_size: int, seed: int) -> None:
    batches = list(poisson_batches(rows, batch_size, torch.Generator().manual_seed(seed)))
    assert len(batches) == steps_per_epoch(rows, batch_size) == max(1, round(rows / min(batch_size, rows)))
    for batch in batches:
        assert batch.dtype == torch.long
        assert len(torch.unique(batch)) == len(batch)
        assert all(0 <= int(i) < rows for i in batch[:5])
    if batch_size >= rows:
        assert [len(b) for b in batches] == [rows]  # q = 1: every row, every step


class _Recorder(TrainingPlan):
    """Records each batch size; stops after ``stop_after`` steps (`stop`)."""

    kind = "probe"

    def __init__(self, *, private: bool, stop_after: int | None = None) -> None:
        self.net = nn.Linear(1, 1)
        self.sizes: list[int] = []
        self.private = private
        self.stop_after = stop_after

    def stop(self) -> Callable[[], bool] | None:
        """What a private trainer gives the loop as ``should_stop``."""
        return self.should_stop if self.stop_after is not None else None

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"net": self.net}

    def should_stop(self) -> bool:
        return self.stop_after is not None and len(self.sizes) >= self.stop_after

    def step(self, batch: torch.Tensor) -> Mapping[str, torch.Tensor]:
        self.sizes.append(len(batch))
        return {"mean": batch.mean()} if len(batch) else {}


def _rows(n: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.float32)[:, None]


def test_the_dp_loop_steps_on_empty_batches_and_others_skip_them() -> None:
    runs = {}
    for private in (True, False):
        plan = _Recorder(private=private)
        history = train(
            plan,
            _rows(300),
            epochs=2,
            batch_size=1,
            generator=torch.Generator().manual_seed(0),
            sampler=poisson_batches,
            keep_empty_batches=plan.private,
            should_stop=plan.stop(),
        )
        runs[private] = plan.sizes
        assert all(math.isfinite(h["mean"]) for h in history)  # empty batches add nothing to the means
    assert len(runs[True]) == 2 * 300 and 0 in runs[True]
    assert [s for s in runs[True] if s] == runs[False]


def test_the_loop_stops_when_the_plan_says_so() -> None:
    plan = _Recorder(private=True, stop_after=7)
    history = train(
        plan,
        _rows(100),
        epochs=5,
        batch_size=25,
        generator=torch.Generator().manual_seed(0),
        sampler=poisson_batches,
        keep_empty_batches=plan.private,
        should_stop=plan.stop(),
    )
    assert len(plan.sizes) == 7
    assert [h["epoch"] for h in history] == [0.0, 1.0]  # 4 steps, then 3 of the second epoch


# -- calibration and the budget -----------------------------------------------------------


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_calibrated_noise_reaches_the_target_from_below(accountant: str) -> None:
    budget = DPSGDSettings(epsilon=2.0, delta=1e-5, accountant=accountant)  # type: ignore[arg-type]
    calibration = calibrate(budget, rows=5000, batch_size=100, steps=500)
    assert calibration.sample_rate == pytest.approx(0.02)
    assert calibration.expected_batch_size == 100
    assert 0.97 * budget.epsilon <= calibration.epsilon <= budget.epsilon
    # More noise would be wasted utility, less would overspend: the multiplier is tight.
    assert epsilon_spent(budget, 0.97 * calibration.noise_multiplier, 0.02, 500) > budget.epsilon


@pytest.mark.parametrize("epsilon", [1e-4, 0.05])
def test_a_budget_too_small_to_train_fails_before_any_step(
    demo: pd.DataFrame, schema: TableSchema, transformer: TabularTransformer, epsilon: float
) -> None:
    generator = TVAE(VAE_SMALL, epochs=10, batch_size=64)
    trainer = PrivateTrainer(DPSGDSettings(epsilon=epsilon, delta=1e-5))
    with pytest.raises(PrivacyConfigError) as raised:
        generator.fit(demo, schema, transformer=transformer, trainer=trainer)
    assert raised.value.where == "train.privacy.epsilon"
    assert "\n" not in raised.value.message
    assert not hasattr(generator, "encoder")  # nothing was built, let alone trained


def test_settings_refuse_values_that_cannot_be_private() -> None:
    for bad, where in (
        ({"epsilon": 0.0}, "epsilon"),
        ({"delta": 0.0}, "delta"),
        ({"max_grad_norm": -1.0}, "max_grad_norm"),
    ):
        with pytest.raises(PrivacyConfigError) as raised:
            DPSGDSettings(**{"epsilon": 1.0, "delta": 1e-6, **bad})  # type: ignore[arg-type]
        assert raised.value.where == f"train.privacy.{where}"


def test_a_fit_stops_before_the_budget_would_be_exceeded() -> None:
    budget = DPSGDSettings(epsilon=1.0, delta=1e-5)
    calibration = calibrate(budget, rows=200, batch_size=20, steps=30)
    net = nn.Linear(3, 1)
    private = PrivateTraining(calibration, {"net": net}, torch.optim.SGD(net.parameters(), lr=0.1), seed=0)

    class Plan(_Recorder):
        def should_stop(self) -> bool:
            return private.would_exceed_budget()

        def step(self, batch: torch.Tensor) -> Mapping[str, torch.Tensor]:
            self.sizes.append(len(batch))
            if not len(batch):
                private.step_without_rows()
                return {}
            private.optimizer.zero_grad()
            private.backward(net(batch.expand(-1, 3)).square().mean())
            private.optimizer.step()
            return {}

    plan = Plan(private=True, stop_after=0)
    train(
        plan,
        _rows(200),
        epochs=20,
        batch_size=20,
        generator=torch.Generator().manual_seed(0),
        sampler=poisson_batches,
        keep_empty_batches=plan.private,
        should_stop=plan.stop(),
    )
    release = private.finish("probe")
    assert 30 <= release.steps == len(plan.sizes) < 20 * 10
    assert release.epsilon <= budget.epsilon
    assert (
        epsilon_spent(budget, calibration.noise_multiplier, calibration.sample_rate, release.steps + 1)
        > budget.epsilon
    )


def test_each_optimizer_step_is_counted_even_several_per_batch() -> None:
    """A GAN critic may step several times per batch: the accountant must count each step."""
    net = nn.Linear(1, 1)
    calibration = calibrate(BUDGET, rows=100, batch_size=10, steps=3 * 2 * 10)
    private = PrivateTraining(calibration, {"net": net}, torch.optim.SGD(net.parameters(), lr=0.1), seed=0)

    class Critic(_Recorder):
        def step(self, batch: torch.Tensor) -> Mapping[str, torch.Tensor]:
            for _ in range(3):
                if len(batch):
                    private.optimizer.zero_grad()
                    private.backward(net(batch).square().mean())
                    private.optimizer.step()
                else:
                    private.step_without_rows()
            return {}

    plan = Critic(private=True)
    train(
        plan,
        _rows(100),
        epochs=2,
        batch_size=10,
        generator=torch.Generator().manual_seed(0),
        sampler=poisson_batches,
        keep_empty_batches=plan.private,
        should_stop=plan.stop(),
    )
    release = private.finish("critic")
    assert release.steps == private.steps == 60
    assert release.epsilon == pytest.approx(calibration.epsilon)


def test_a_pass_through_frozen_layers_is_not_a_private_step() -> None:
    """A GAN's generator learns through the frozen critic: that pass must leave the critic's
    hooks alone, so the critic's next step still sees exactly one pass of its own rows."""
    critic, generator = nn.Linear(2, 1), nn.Linear(3, 2)
    calibration = calibrate(BUDGET, rows=100, batch_size=10, steps=10)
    private = PrivateTraining(
        calibration, {"critic": critic}, torch.optim.SGD(critic.parameters(), lr=0.1), seed=0
    )
    critic.requires_grad_(False)
    critic(generator(torch.randn(4, 3))).mean().backward()  # the generator's step
    critic.requires_grad_(True)
    assert generator.weight.grad is not None and critic.weight.grad is None
    rows = torch.randn(5, 2)
    norms = private.backward(critic(rows).square().mean())  # would raise "ran twice" if recorded
    assert norms.shape == (5,)
    with pytest.raises(RuntimeError, match="no private layer ran"):
        critic.requires_grad_(False)
        critic(rows).mean()
        private.backward(critic(rows).mean())


def test_private_optimizer_refuses_parameters_it_cannot_clip() -> None:
    net, stray = nn.Linear(2, 1), nn.Parameter(torch.zeros(3))
    calibration = calibrate(BUDGET, rows=100, batch_size=10, steps=10)
    with pytest.raises(ValueError, match="must belong"):
        PrivateTraining(
            calibration, {"net": net}, torch.optim.SGD([*net.parameters(), stray], lr=0.1), seed=0
        )
    model = nn.Sequential(nn.LayerNorm(2), net)
    with pytest.raises(ValueError, match="must belong"):
        PrivateTraining(calibration, {"net": model}, torch.optim.SGD(model.parameters(), lr=0.1), seed=0)


def test_a_private_fit_needs_a_transformer_fitted_elsewhere(demo: pd.DataFrame, schema: TableSchema) -> None:
    with pytest.raises(PrivacyConfigError) as raised:
        TVAE(VAE_SMALL, epochs=1).fit(demo, schema, trainer=PrivateTrainer(BUDGET))
    assert raised.value.where == "train.privacy"


# -- private fits -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_vae(demo: pd.DataFrame, schema: TableSchema, transformer: TabularTransformer) -> Generator:
    return _fit(TVAE, demo, schema, transformer)


def test_the_release_reports_the_accountant_after_the_steps_taken(
    demo: pd.DataFrame, schema: TableSchema, transformer: TabularTransformer
) -> None:
    taken = []
    # Count the parameter updates of the wrapped Adam itself, whatever DP-SGD does around it.
    handle = register_optimizer_step_post_hook(
        lambda optimizer, *_: taken.append(1) if type(optimizer) is torch.optim.Adam else None
    )
    try:
        generator = _fit(TVAE, demo, schema, transformer, epochs=6)
    finally:
        handle.remove()
    release = generator.privacy_release
    assert release is not None
    assert release.steps == len(taken) == 6 * steps_per_epoch(len(demo), 64)
    assert release.sample_rate == pytest.approx(sample_rate(len(demo), 64))
    assert 0.97 * BUDGET.epsilon <= release.epsilon <= BUDGET.epsilon
    assert release.delta == BUDGET.delta and release.noise is not None and release.noise > 0


def test_private_and_plain_fits_with_one_seed_differ(
    private_vae: Generator, demo: pd.DataFrame, schema: TableSchema, transformer: TabularTransformer
) -> None:
    plain = _fit(TVAE, demo, schema, transformer, privacy=None)
    assert plain.privacy_release is None
    assert not torch.equal(
        plain._state_dict()["decoder.0.weight"], private_vae._state_dict()["decoder.0.weight"]
    )
    assert not plain.sample(50, seed=1).equals(private_vae.sample(50, seed=1))


def test_two_private_fits_with_one_seed_agree(
    private_vae: Generator, demo: pd.DataFrame, schema: TableSchema, transformer: TabularTransformer
) -> None:
    again = _fit(TVAE, demo, schema, transformer)
    pd.testing.assert_frame_equal(again.sample(100, seed=1), private_vae.sample(100, seed=1))
    assert again.privacy_release == private_vae.privacy_release


def test_without_a_training_seed_the_public_seed_does_not_fix_batches_or_noise(
    demo: pd.DataFrame, schema: TableSchema, transformer: TabularTransformer
) -> None:
    secret = DPSGDSettings(epsilon=3.0, delta=1e-5)  # training_seed None: fresh OS entropy
    first = _fit(TVAE, demo, schema, transformer, privacy=secret, epochs=3)
    second = _fit(TVAE, demo, schema, transformer, privacy=secret, epochs=3)
    assert first.seed == second.seed == 0  # the public seed is kept for sampling
    assert not torch.equal(first._state_dict()["decoder.0.weight"], second._state_dict()["decoder.0.weight"])


@pytest.mark.parametrize("cls", [TVAE, TabDDPM])  # the GAN is refused (tests/unit/privacy/test_gan_dp.py)
def test_private_fit_sample_save_load_round_trip(
    cls: type[Generator],
    demo: pd.DataFrame,
    schema: TableSchema,
    transformer: TabularTransformer,
    tmp_path: Path,
) -> None:
    generator = _fit(cls, demo, schema, transformer, epochs=4)
    release = generator.privacy_release
    assert release is not None and release.steps == 4 * steps_per_epoch(len(demo), 64)
    rows = generator.sample(80, seed=3)
    assert list(rows.columns) == list(demo.columns) and len(rows) == 80
    save_generator(generator, tmp_path)
    loaded = load_generator(tmp_path)
    assert type(loaded) is cls
    # The privacy record comes back as the plain JSON objects generator.json holds.
    assert loaded.privacy_release == asdict(release) and loaded.privacy == asdict(BUDGET)
    pd.testing.assert_frame_equal(loaded.sample(80, seed=3), rows)


def test_files_without_a_privacy_record_load_as_not_private(private_vae: Generator, tmp_path: Path) -> None:
    save_generator(private_vae, tmp_path)
    meta = json.loads((tmp_path / GENERATOR_FILE).read_text())
    del meta["privacy"], meta["privacy_release"]
    meta[META_SHA256] = meta_sha256(meta)  # a consistent file, only without the keys
    (tmp_path / GENERATOR_FILE).write_text(json.dumps(meta))
    loaded = load_generator(tmp_path)
    assert loaded.privacy is None and loaded.privacy_release is None
