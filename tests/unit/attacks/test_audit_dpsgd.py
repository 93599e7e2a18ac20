"""The audit against real DP-SGD: it refutes a claim whose noise is missing, and not a correct one.

Both tests train the `vae` through the DP path the train stage uses (`private_preprocessing`
for the ledger, the transformer and the DP-SGD settings; the accountant's release charged to
the ledger), claim epsilon 1, and audit the claim with the distance membership attack: members
are the 200 training rows, non-members 200 real rows the model never saw.

The broken twin keeps everything (the calibrated noise multiplier, the accountant, the ledger
that still reports epsilon <= 1) except the noise itself, which the optimizer no longer adds:
the classic implementation bug an audit exists to catch. The patch is in this file, on purpose,
and touches one attribute.

How the setting was found (2 CPU cores; each fit 5-7 s): the distance attack proves membership
when a row comes back *verbatim*, and a VAE reproduces categories exactly (one-hot) but numbers
only approximately, so age and hours (integers with public ranges) are declared categorical:
a memorised row then sits at distance 0 from its copy, and a non-member almost never does.
With age numerical, or with fnlwgt added, memorised members land at 0.02-0.1 from their copy,
as close as non-members with a common profile, and the bound stayed between 0 and 1.6 over
audit seeds (200-500 rows, 1,500-4,000 steps); 21-column German Credit was weaker still. Full
batches (sampling rate 1) make each step cheap, and 800 of them memorise 200 rows: the bound
was 1.9-2.9 over three data samples, three training seeds and five audit seeds (2 at 600
steps), against a ceiling of about 3.3 for 100 held-out rows a side; the correct twin gave 0.
Fewer rows would lower the ceiling; many more would need more steps than DP-SGD at epsilon 1
can calibrate (its noise must stay below the expected batch size).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import torch

from synthpriv.attacks.audit import AuditResult, epsilon_lower_bound
from synthpriv.attacks.distance import dcr_evaluation
from synthpriv.config.model import ColumnDeclaration
from synthpriv.config.privacy import PrivacyConfig
from synthpriv.data.schema import infer_schema
from synthpriv.generators.tvae import TVAE
from synthpriv.privacy import attach
from synthpriv.privacy.attach import PrivateTrainer
from synthpriv.privacy.plan import PrivacyPlan

CLAIMED_EPSILON = 1.0
ROWS = 200  # training rows, and as many held-out rows
EPOCHS = 800  # one full-batch step each
MODEL = {"hidden_dims": (256, 256), "latent_dim": 32, "learning_rate": 5e-3, "loss_factor": 2.0}

#: Public domains, from the UCI Adult codebook (none is read off the data).
DOMAINS: dict[str, list[str]] = {
    "age": [str(a) for a in range(17, 91)],
    "hours_per_week": [str(h) for h in range(1, 100)],
    "workclass": [
        "Federal-gov",
        "Local-gov",
        "Never-worked",
        "Private",
        "Self-emp-inc",
        "Self-emp-not-inc",
        "State-gov",
        "Without-pay",
    ],
    "education": [
        "10th",
        "11th",
        "12th",
        "1st-4th",
        "5th-6th",
        "7th-8th",
        "9th",
        "Assoc-acdm",
        "Assoc-voc",
        "Bachelors",
        "Doctorate",
        "HS-grad",
        "Masters",
        "Preschool",
        "Prof-school",
        "Some-college",
    ],
    "marital_status": [
        "Divorced",
        "Married-AF-spouse",
        "Married-civ-spouse",
        "Married-spouse-absent",
        "Never-married",
        "Separated",
        "Widowed",
    ],
    "occupation": [
        "Adm-clerical",
        "Armed-Forces",
        "Craft-repair",
        "Exec-managerial",
        "Farming-fishing",
        "Handlers-cleaners",
        "Machine-op-inspct",
        "Other-service",
        "Priv-house-serv",
        "Prof-specialty",
        "Protective-serv",
        "Sales",
        "Tech-support",
        "Transport-moving",
    ],
    "relationship": ["Husband", "Not-in-family", "Other-relative", "Own-child", "Unmarried", "Wife"],
    "race": ["Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other", "White"],
    "sex": ["Female", "Male"],
    "income": ["<=50K", ">50K"],
}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # Small matrices: a second intra-op thread only adds spin-waits on a shared 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def split(adult: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = adult[list(DOMAINS)].sample(2 * ROWS, random_state=0).reset_index(drop=True)
    return rows.iloc[:ROWS].reset_index(drop=True), rows.iloc[ROWS:].reset_index(drop=True)


def _break_the_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deliberately broken mechanism: the accountant is told the calibrated noise multiplier,
    the optimizer adds none (clipping and everything else unchanged)."""
    calibrated = attach.make_private

    def without_noise(*args: Any, **kwargs: Any) -> Any:
        step = calibrated(*args, **kwargs)
        step.private.optimizer.noise_multiplier = 0.0
        return step

    monkeypatch.setattr(attach, "make_private", without_noise)


def _train_and_audit(split: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[AuditResult, float, float]:
    """Train with the DP claim, attack, audit: (audit, epsilon in the ledger, its noise multiplier)."""
    train, holdout = split
    declarations = {c: ColumnDeclaration(kind="categorical", categories=d) for c, d in DOMAINS.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = infer_schema(train, declarations)
    generator = TVAE(MODEL, epochs=EPOCHS, batch_size=ROWS, seed=0)
    shape = generator.fit_shape(len(train), fixed_budget=True, transformer_given=True)
    plan = PrivacyPlan.build(PrivacyConfig(epsilon=CLAIMED_EPSILON), schema, declarations, shape)
    # Every domain is declared: preprocessing releases nothing and DP-SGD gets the whole budget.
    assert not plan.ledger.releases and plan.settings.epsilon == CLAIMED_EPSILON
    ledger, transformer = plan.fit_preprocessing(train, schema, declarations)
    # A fixed training seed makes the test reproducible; a real run draws a secret one.
    seeded = dataclasses.replace(plan.settings, training_seed=1)
    generator.fit(
        train, schema, transformer=transformer, trainer=PrivateTrainer(seeded, calibration=plan.calibration)
    )
    assert generator.privacy_release is not None
    ledger.charge(generator.privacy_release)

    synthetic = generator.sample(1500, seed=0)
    members, nonmembers = dcr_evaluation(train, holdout, synthetic, schema, seed=0).membership_distances
    audit = epsilon_lower_bound(-members, -nonmembers, delta=ledger.delta, seed=0)
    return audit, ledger.spent_epsilon, ledger.releases[-1].noise or 0.0


def test_audit_refutes_the_claim_when_dpsgd_adds_no_noise(
    split: tuple[pd.DataFrame, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_the_noise(monkeypatch)
    audit, claimed, noise = _train_and_audit(split)
    # The paperwork looks fine: the accountant believes the noise was there.
    assert 0.9 * CLAIMED_EPSILON < claimed <= CLAIMED_EPSILON and noise > 1
    # With 100 held-out rows a side the audit can prove about 3.3, so it can refute epsilon 1 ...
    assert audit.epsilon_ceiling > 2 * CLAIMED_EPSILON
    # ... and does: the generator replays its training rows.
    assert audit.epsilon_lower_bound > CLAIMED_EPSILON, audit.describe()
    assert audit.tpr > 0.3 and audit.fpr < 0.05, audit.describe()


def test_audit_does_not_refute_correct_dpsgd(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    audit, claimed, _ = _train_and_audit(split)
    assert 0.9 * CLAIMED_EPSILON < claimed <= CLAIMED_EPSILON
    # The same audit could have refuted the claim, so staying below it says something.
    assert audit.epsilon_ceiling > 2 * CLAIMED_EPSILON
    assert audit.epsilon_lower_bound <= claimed, audit.describe()
