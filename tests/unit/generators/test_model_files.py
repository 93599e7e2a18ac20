"""A saved model folder is data, never code: tampered files are refused with ModelFileError.

``save`` records in ``generator.json`` the sha256 of ``weights.pt``, of ``transformer.json``
and of its own content; ``load`` checks all three before it parses anything, loads the
weights with ``weights_only=True`` and resolves the generator kind in the registry. The
tests edit each file the way a careless hand or a forger would, including a forger who
rewrites the checksums too: then the loader's own defences must hold (no pickle runs, no
module named in the file is imported).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel

from synthpriv.errors import ModelFileError
from synthpriv.generators.model_files import (
    GENERATOR_FILE,
    META_SHA256,
    TRANSFORMER_FILE,
    WEIGHTS_FILE,
    load_generator,
    meta_sha256,
    privacy_record,
    save_generator,
)
from synthpriv.generators.registry import available_generators, get_generator


class _Exploit:
    """Unpickled, it runs a shell command that creates ``marker``: what a pickle disguised as
    weights would do to a loader without ``weights_only``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny VAE fitted on a small mixed table and saved once for the module."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "age": rng.integers(18, 90, 60),
            "city": rng.choice(["Oslo", "Lima", "Pune"], 60),
            "score": rng.normal(size=60),
        }
    )
    generator = get_generator("vae")(
        {"latent_dim": 2, "hidden_dims": (8,)}, epochs=1, batch_size=16, device="cpu"
    )
    generator.fit(table)
    folder = tmp_path_factory.mktemp("saved") / "model"
    save_generator(generator, folder)
    return folder


@pytest.fixture
def model(saved: Path, tmp_path: Path) -> Path:
    """A fresh copy of the saved folder to tamper with."""
    return Path(shutil.copytree(saved, tmp_path / "model"))


def _meta(model: Path) -> dict:
    return json.loads((model / GENERATOR_FILE).read_text())


def _write_meta(model: Path, meta: dict, *, forge: bool) -> None:
    """Write generator.json; ``forge``: as a forger would, with its own checksum recomputed."""
    if forge:
        meta[META_SHA256] = meta_sha256(meta)
    (model / GENERATOR_FILE).write_text(json.dumps(meta, indent=2))


def _replace_weights(model: Path, payload: bytes, *, forge: bool) -> None:
    (model / WEIGHTS_FILE).write_bytes(payload)
    if forge:
        meta = _meta(model)
        meta["weights_sha256"] = hashlib.sha256(payload).hexdigest()
        _write_meta(model, meta, forge=True)


def _refused(model: Path, *needles: str) -> ModelFileError:
    with pytest.raises(ModelFileError) as caught:
        load_generator(model, device="cpu")
    assert caught.value.exit_code == 6
    text = str(caught.value)
    assert "\n" not in text
    for needle in needles:
        assert needle in text, text
    return caught.value


def test_an_untouched_folder_loads_and_records_every_checksum(model: Path) -> None:
    meta = _meta(model)
    assert meta["weights_sha256"] == hashlib.sha256((model / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert meta["transformer_sha256"] == hashlib.sha256((model / TRANSFORMER_FILE).read_bytes()).hexdigest()
    assert meta[META_SHA256] == meta_sha256(meta)
    assert len(load_generator(model, device="cpu").sample(5, seed=0)) == 5


def test_generator_json_may_be_reindented(model: Path) -> None:
    """The checksum is of the content, not the layout: reformatting is not tampering."""
    (model / GENERATOR_FILE).write_text(json.dumps(_meta(model), indent=None, sort_keys=True))
    load_generator(model, device="cpu")


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda m: m.update(epochs=m["epochs"] + 1), id="epochs"),
        pytest.param(lambda m: m["params"].update(latent_dim=4), id="hyper-parameter"),
        pytest.param(lambda m: m.update(seed=1), id="seed"),
        pytest.param(lambda m: m.update(__class__="os.system"), id="injected-key"),
        pytest.param(lambda m: m["schema"]["columns"][0].update(dtype="float64"), id="schema-dtype"),
        pytest.param(lambda m: m.update(privacy_release={"epsilon": 0.1}), id="privacy-claim"),
        pytest.param(lambda m: m.pop(META_SHA256), id="checksum-removed"),
    ],
)
def test_an_edited_generator_json_is_refused(model: Path, edit) -> None:  # type: ignore[no-untyped-def]
    meta = _meta(model)
    edit(meta)
    _write_meta(model, meta, forge=False)
    _refused(model, GENERATOR_FILE, "edited")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "", "\xff\xfe"])
def test_a_generator_json_that_is_not_an_object_is_refused(model: Path, text: str) -> None:
    (model / GENERATOR_FILE).write_bytes(text.encode("latin-1"))
    _refused(model, GENERATOR_FILE)


def test_an_older_format_version_is_refused_even_when_forged(model: Path) -> None:
    meta = _meta(model)
    meta["format_version"] = 1  # a downgrade would skip the newer checks
    _write_meta(model, meta, forge=True)
    _refused(model, GENERATOR_FILE, "format version 1", "train the model again")


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda t: t.update(min_category_count=1), id="setting"),
        pytest.param(lambda t: t.update(injected={"__reduce__": "os.system"}), id="injected-key"),
        pytest.param(lambda t: t.clear(), id="emptied"),
    ],
)
def test_an_edited_transformer_json_is_refused(model: Path, edit) -> None:  # type: ignore[no-untyped-def]
    transformer = json.loads((model / TRANSFORMER_FILE).read_text())
    edit(transformer)
    (model / TRANSFORMER_FILE).write_text(json.dumps(transformer))
    _refused(model, TRANSFORMER_FILE, "edited", "sha256")


def test_a_renamed_category_in_transformer_json_is_refused(model: Path) -> None:
    text = (model / TRANSFORMER_FILE).read_text()
    assert "Lima" in text
    (model / TRANSFORMER_FILE).write_text(text.replace("Lima", "Rome"))
    _refused(model, TRANSFORMER_FILE)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("forge", [False, True], ids=["as-is", "checksums-forged"])
def test_a_pickle_disguised_as_weights_never_runs(model: Path, tmp_path: Path, forge: bool) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(marker))
    # The control: this payload is live, unpickling it does create the marker.
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Exploit(control)))
    assert control.exists()
    _replace_weights(model, payload, forge=forge)
    error = _refused(model, WEIGHTS_FILE)
    assert ("cannot be loaded safely" if forge else "checksum") in str(error)
    assert not marker.exists()


@pytest.mark.parametrize("forge", [False, True], ids=["as-is", "checksums-forged"])
def test_truncated_weights_are_refused(model: Path, forge: bool) -> None:
    weights = (model / WEIGHTS_FILE).read_bytes()
    _replace_weights(model, weights[: len(weights) // 2], forge=forge)
    _refused(model, WEIGHTS_FILE)


@pytest.mark.parametrize("name", [GENERATOR_FILE, TRANSFORMER_FILE, WEIGHTS_FILE])
def test_a_missing_file_is_named(model: Path, name: str) -> None:
    (model / name).unlink()
    _refused(model, "model file missing", name)


def test_a_forged_kind_is_looked_up_never_imported(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kind`` is a registry key: a module path in it is not imported, even with forged checksums."""
    marker = tmp_path / "imported"
    module = "synthpriv_test_evil_module"
    (tmp_path / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Evil: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for kind in (f"{module}:Evil", module, "os.system", "synthpriv.cli:main"):
        meta = _meta(model)
        meta["kind"] = kind
        _write_meta(model, meta, forge=True)
        _refused(model, "unknown generator kind", repr(kind))
    assert not marker.exists()
    assert module not in sys.modules


def test_a_forged_privacy_record_that_is_not_an_object_is_refused(model: Path) -> None:
    meta = _meta(model)
    meta["privacy"] = "epsilon=1"
    _write_meta(model, meta, forge=True)
    _refused(model, GENERATOR_FILE, "privacy record is not valid", "privacy")


# -- every registered generator round-trips -----------------------------------------------


#: Small networks where the defaults are slow to sample; a kind not named here uses its defaults.
SMALL = {"diffusion": {"hidden_dims": (32, 32), "sampling_steps": 10}, "vae": {"hidden_dims": (16,)}}


@pytest.mark.parametrize("kind", available_generators())
def test_every_registered_generator_round_trips(kind: str, demo_table: pd.DataFrame, tmp_path: Path) -> None:
    """Fit one epoch, save, load: the same rows for the same seed (also conditioned), and saving
    the loaded generator writes byte-identical files (nothing is lost or re-derived on the way)."""
    table = demo_table.head(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # schema inference notes the id-like column
        generator = get_generator(kind)(SMALL.get(kind), epochs=1, batch_size=50, seed=4, device="cpu")
        generator.fit(table)
    save_generator(generator, tmp_path / "first")
    loaded = load_generator(tmp_path / "first", device="cpu")
    assert type(loaded) is type(generator) and loaded.train_rows == 200
    pd.testing.assert_frame_equal(loaded.sample(60, seed=9), generator.sample(60, seed=9))
    women = {"gender": "F"}
    pd.testing.assert_frame_equal(
        loaded.sample(20, seed=2, conditions=women), generator.sample(20, seed=2, conditions=women)
    )
    save_generator(loaded, tmp_path / "again")
    for name in (GENERATOR_FILE, TRANSFORMER_FILE, WEIGHTS_FILE):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "first" / name).read_bytes(), name


def test_an_unfitted_generator_is_not_saved(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        save_generator(get_generator("vae")(epochs=1), tmp_path)
    assert not any(tmp_path.iterdir())


@dataclass(frozen=True)
class _Settings:
    epsilon: float
    delta: float


class _Release(BaseModel):
    epsilon: float
    what: str


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(_Settings(1.0, 1e-5), id="dataclass"),
        pytest.param(_Release(epsilon=1.0, what="fit"), id="pydantic"),
        pytest.param({"epsilon": 1.0}, id="mapping"),
    ],
)
def test_a_privacy_record_is_plain_json(value: object) -> None:
    record = privacy_record(value)
    assert isinstance(record, dict) and record["epsilon"] == 1.0
    assert json.loads(json.dumps(record)) == record


def test_no_privacy_record_is_none_and_other_objects_are_refused() -> None:
    assert privacy_record(None) is None
    with pytest.raises(TypeError, match="cannot record"):
        privacy_record(1.0)
