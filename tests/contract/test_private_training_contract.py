"""The contract of the DP seam: every registered generator trains with and without DP through
the one loop, and a DP fit leaves a ledger that adds up.

Each generator is fitted twice on the DP demo's training rows (tiny networks, 2 epochs): once
with the plain trainer, once executing the privacy plan the train stage executes
(`privacy_plan` then `fit_generator`). Both fits must reach `synthpriv.training.loop.train`
(the loop reports its progress as ``train <kind>``); the DP fit's ledger must stay within the
budget, hold the planned preprocessing releases and one DP-SGD release whose epsilon is the
accountant's for the steps it took, and read back through `PrivacyLedger.from_claim`. A
generator whose DP-SGD fits were measured not to learn (`Generator.learns_under_dp_sgd`:
the GAN) is refused by the plan instead, with a line naming the generators tested here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from synthpriv.errors import PrivacyConfigError
from synthpriv.generators.registry import available_generators, get_generator
from synthpriv.pipeline import Pipeline
from synthpriv.privacy.attach import DP_SGD_GENERATORS
from synthpriv.privacy.dpsgd import MECHANISM, epsilon_spent, steps_per_epoch
from synthpriv.privacy.ledger import PrivacyLedger
from synthpriv.stages.train import build_generator, fit_generator, privacy_plan

DEMO_DP = Path(__file__).resolve().parents[2] / "pipelines" / "demo_dp_sgd.yaml"
EPOCHS = 2
SMALL: dict[str, dict[str, Any]] = {
    "vae": {"hidden_dims": [32, 32], "latent_dim": 8},
    "gan": {"embedding_dim": 16, "generator_dims": [32, 32], "critic_dims": [32, 32], "critic_steps": 2},
    "diffusion": {"timesteps": 50, "sampling_steps": 10, "hidden_dims": [32, 32], "embedding_dim": 16},
    "autoregressive": {"hidden_dim": 16, "bins": 8, "sub_bins": 2},
}


class _LoopRecorder:
    """A `Progress` that records what the training loop announces (``train <kind>``, epochs)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.epochs = 0

    def start(self, description: str, total: int) -> None:
        self.started.append((description, total))

    def advance(self, steps: int = 1, **info: float) -> None:
        self.epochs += steps

    def finish(self) -> None:
        pass


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only spins on a shared machine
    yield
    torch.set_num_threads(threads)


def _pipeline(kind: str) -> Pipeline:
    config = yaml.safe_load(DEMO_DP.read_text())
    config["train"].update({"generator": kind, "epochs": EPOCHS, "params": SMALL[kind]})
    return Pipeline.from_config(config)


#: The generators that train with DP-SGD, and those refused because their fits do not learn.
PRIVATE = [k for k in available_generators() if get_generator(k).supports_per_row_losses]
PRIVATE = [k for k in PRIVATE if get_generator(k).learns_under_dp_sgd]
REFUSED = [k for k in available_generators() if not get_generator(k).learns_under_dp_sgd]


def test_every_registered_generator_is_covered() -> None:
    assert set(PRIVATE + REFUSED) <= set(SMALL), "give a new generator tiny settings here"
    # The others have no DP-SGD recipe (the marginal generator trains on measured marginals).
    others = set(available_generators()) - set(PRIVATE + REFUSED)
    assert not any(get_generator(k).supports_per_row_losses for k in others)
    assert REFUSED == ["gan"]
    # The refusal names exactly the generators whose private fits this contract runs.
    assert set(DP_SGD_GENERATORS) == set(PRIVATE)


@pytest.mark.parametrize("kind", REFUSED)
def test_a_generator_that_does_not_learn_under_dp_sgd_is_refused_by_the_plan(kind: str) -> None:
    pipeline = _pipeline(kind)
    schema = pipeline.check(privacy=False)
    real, train = pipeline.real, pipeline.config.train
    table = real.train(real.make_split(pipeline.config.seed))
    generator = build_generator(train, seed=1, min_category_count=5)
    with pytest.raises(PrivacyConfigError) as raised:
        privacy_plan(train, generator, schema, real.declarations(), len(table))
    assert raised.value.where == "train.generator"
    assert all(f" {name}" in raised.value.message for name in DP_SGD_GENERATORS)


@pytest.mark.parametrize("kind", PRIVATE)
def test_plain_and_private_fits_run_through_the_one_loop_and_the_ledger_adds_up(kind: str) -> None:
    pipeline = _pipeline(kind)
    schema = pipeline.check(privacy=False)
    real, train = pipeline.real, pipeline.config.train
    table = real.train(real.make_split(pipeline.config.seed))
    declarations = real.declarations()

    plain, plain_loop = build_generator(train, seed=1, min_category_count=5), _LoopRecorder()
    _, no_ledger = fit_generator(plain, table, schema, None, declarations, plain_loop)
    assert no_ledger is None and plain.privacy is None and plain.privacy_release is None

    private, private_loop = build_generator(train, seed=1, min_category_count=5), _LoopRecorder()
    plan = privacy_plan(train, private, schema, declarations, len(table))
    assert plan is not None
    _, ledger = fit_generator(private, table, schema, plan, declarations, private_loop)

    # The one loop ran both fits, for the configured epochs.
    assert plain_loop.started == private_loop.started == [(f"train {kind}", EPOCHS)]
    assert plain_loop.epochs == private_loop.epochs == EPOCHS

    assert ledger is not None
    assert ledger.spent_epsilon <= ledger.epsilon + 1e-9 and ledger.spent_delta <= ledger.delta
    *preprocessing, dpsgd = ledger.releases
    assert preprocessing == plan.ledger.releases  # the planned releases, and only those
    assert dpsgd.mechanism == MECHANISM and dpsgd == private.privacy_release
    expected_steps = EPOCHS * steps_per_epoch(len(table), train.batch_size or 0) * private.steps_per_batch
    assert dpsgd.steps == plan.calibration.steps == expected_steps
    assert dpsgd.noise == plan.calibration.noise_multiplier
    # The epsilon recorded is the accountant's for the steps taken, within what DP-SGD may spend.
    accountant = epsilon_spent(plan.settings, dpsgd.noise, dpsgd.sample_rate or 0.0, dpsgd.steps or 0)
    assert dpsgd.epsilon == pytest.approx(accountant, rel=1e-9)
    assert 0 < dpsgd.epsilon <= plan.settings.epsilon

    # The ledger travels as privacy.json and comes back as the same typed ledger.
    assert PrivacyLedger.from_claim(json.loads(json.dumps(ledger.to_claim()))) == ledger
