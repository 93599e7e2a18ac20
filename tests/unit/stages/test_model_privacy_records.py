"""A loaded model's DP records are typed by the synthesize stage before it samples.

`load_generator` keeps generator.json's ``privacy`` and ``privacy_release`` as plain JSON
objects (the generators never import synthpriv.privacy); `check_privacy_records` holds their
keys and values to `DPSGDSettings` and `Release`, even when a forger rewrote the checksums.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest

from synthpriv.errors import ModelFileError
from synthpriv.generators.model_files import (
    GENERATOR_FILE,
    META_SHA256,
    load_generator,
    meta_sha256,
    save_generator,
)
from synthpriv.generators.registry import get_generator
from synthpriv.privacy.dpsgd import DPSGDSettings
from synthpriv.privacy.ledger import Release
from synthpriv.stages.synthesize import check_privacy_records

VALID_SETTINGS = asdict(DPSGDSettings(epsilon=1.0, delta=1e-5))
VALID_RELEASE = asdict(
    Release(what="VAE weights (DP-SGD)", mechanism="subsampled gaussian (DP-SGD)", epsilon=0.9)
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, demo_table: pd.DataFrame) -> Path:
    directory = tmp_path_factory.mktemp("model")
    vae = get_generator("vae")({"hidden_dims": (16,), "latent_dim": 4}, epochs=1, seed=3)
    vae.fit(demo_table.head(120))
    save_generator(vae, directory)
    return directory


def _with_records(saved: Path, tmp_path: Path, settings: object, release: object) -> Path:
    """A copy of the model whose generator.json records ``settings`` and ``release``, its
    own checksum rewritten as a forger would."""
    model = tmp_path / "model"
    model.mkdir()
    for file in saved.iterdir():
        (model / file.name).write_bytes(file.read_bytes())
    meta = json.loads((model / GENERATOR_FILE).read_text())
    meta["privacy"], meta["privacy_release"] = settings, release
    meta[META_SHA256] = meta_sha256(meta)
    (model / GENERATOR_FILE).write_text(json.dumps(meta))
    return model


def test_valid_records_and_no_records_pass(saved: Path, tmp_path: Path) -> None:
    check_privacy_records(load_generator(saved, device="cpu"), saved)
    model = _with_records(saved, tmp_path, VALID_SETTINGS, VALID_RELEASE)
    check_privacy_records(load_generator(model, device="cpu"), model)


@pytest.mark.parametrize(
    ("settings", "release", "needle"),
    [
        ({**VALID_SETTINGS, "epsilon": -1.0}, VALID_RELEASE, "epsilon"),
        ({**VALID_SETTINGS, "delta": 2.0}, VALID_RELEASE, "delta"),
        ({**VALID_SETTINGS, "noise": 0.0}, VALID_RELEASE, "noise"),
        (VALID_SETTINGS, {**VALID_RELEASE, "epsilon": float("inf")}, "epsilon"),
        (VALID_SETTINGS, {"what": "weights"}, "mechanism"),
    ],
    ids=["negative-epsilon", "delta-above-1", "unknown-key", "infinite-release", "missing-key"],
)
def test_a_forged_record_is_refused_before_sampling(
    saved: Path, tmp_path: Path, settings: dict, release: dict, needle: str
) -> None:
    model = _with_records(saved, tmp_path, settings, release)
    generator = load_generator(model, device="cpu")  # only the JSON shape is checked here
    with pytest.raises(ModelFileError) as caught:
        check_privacy_records(generator, model)
    text = str(caught.value)
    assert caught.value.exit_code == 6 and "\n" not in text
    # The message, not str(): the tmp folder in the path holds the test id, which names the key.
    message = caught.value.message
    assert message.startswith("privacy record is not valid") and needle in message, message
    assert caught.value.where == str(model / GENERATOR_FILE)
