"""A fitted generator as a model folder: save and load with checksums, never pickle.

A folder holds three files. ``weights.pt`` is a ``torch.save`` of the networks' state_dict
(tensors only). ``transformer.json`` is the fitted `TabularTransformer`. ``generator.json``
records the generator's kind, settings and schema, the sha256 of the other two files and of
its own content, the privacy record of a DP fit (the settings and the release, as plain
JSON objects), and the rules the training rows keep, which sampling keeps too (`rules`:
`synthpriv.data.rules`, none after a private fit; absent in older files).

Nothing read here can run code: the JSON files are parsed as data, the generator class is
looked up in the registry by its recorded kind (a name, never a module path), and the weights
are loaded with ``weights_only=True``. Each file is checked against its recorded sha256
before it is parsed, so an edited or swapped file is refused (`ModelFileError`). The
checksums are unkeyed: they catch edits and corruption, not a forger who rewrites them too
(what such a forger can write still runs no code).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthpriv.data.rules import rules_from_json, rules_to_json
from synthpriv.data.schema import TableSchema
from synthpriv.data.transform import TabularTransformer
from synthpriv.errors import ConfigError, ModelFileError
from synthpriv.generators.base import Generator
from synthpriv.generators.registry import get_generator
from synthpriv.runtime.files import atomic_write_bytes, atomic_write_text

WEIGHTS_FILE = "weights.pt"
GENERATOR_FILE = "generator.json"
TRANSFORMER_FILE = "transformer.json"
#: 2: generator.json records the sha256 of transformer.json and of its own content too.
FORMAT_VERSION = 2
#: The key under which generator.json records the sha256 of the rest of its content (`meta_sha256`).
META_SHA256 = "generator_sha256"
_AGAIN = "train the model again"  # what a user can do about a model folder that is refused


def save_generator(generator: Generator, directory: str | Path) -> None:
    """Write ``weights.pt`` (a state_dict), ``transformer.json`` and ``generator.json``."""
    import torch

    if generator.transformer is None or generator.schema is None:
        raise RuntimeError(f"{type(generator).__name__} is not fitted; call fit() before saving it")
    directory = Path(directory)
    buffer = io.BytesIO()
    torch.save(generator.state_dict(), buffer)
    weights = buffer.getvalue()
    atomic_write_bytes(directory / WEIGHTS_FILE, weights)
    transformer = json.dumps(generator.transformer.to_dict())
    atomic_write_text(directory / TRANSFORMER_FILE, transformer)
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": generator.kind,
        "params": generator.params.model_dump(mode="json"),
        "epochs": generator.epochs,
        "batch_size": generator.batch_size,
        "seed": generator.seed,
        "train_rows": generator.train_rows,
        "schema": generator.schema.to_dict(),
        "weights_sha256": _sha256(weights),
        "transformer_sha256": _sha256(transformer.encode()),
        # Absent in files written before DP; None for a non-private fit.
        "privacy": privacy_record(generator.privacy),
        "privacy_release": privacy_record(generator.privacy_release),
        "rules": rules_to_json(generator.rules),
    }
    meta[META_SHA256] = meta_sha256(meta)
    atomic_write_text(directory / GENERATOR_FILE, json.dumps(meta, indent=2))


def load_generator(directory: str | Path, *, device: str = "auto") -> Generator:
    """The generator saved in ``directory``; ModelFileError for a folder that is missing a file,
    edited after it was saved, or whose weights are not a plain state_dict.

    A DP fit's ``privacy`` and ``privacy_release`` come back as the plain dicts recorded (see
    `privacy_record`): loading needs only to know that the fit was private (some networks
    are built differently then), and the typed form belongs to the privacy layer.
    """
    folder = _read_folder(Path(directory))
    meta = _checked_meta(folder)
    transformer = _checked_transformer(folder)
    generator = _described_generator(folder, meta, transformer, device)
    _load_weights(generator, folder)
    return generator


def meta_sha256(meta: Mapping[str, Any]) -> str:
    """The sha256 ``generator.json`` records of itself: of every key but `META_SHA256`, as
    canonical JSON (sorted keys, no spaces), so that indentation does not count but any value does."""
    body = {key: value for key, value in meta.items() if key != META_SHA256}
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def privacy_record(value: object) -> dict[str, Any] | None:
    """A privacy setting or release as the plain JSON object generator.json records (None stays None).

    Duck-typed on purpose, so the generators never import `synthpriv.privacy`: a dataclass, a
    pydantic model or a mapping (a record loaded from a file and saved again) all work.
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return dict(model_dump(mode="json"))
    raise TypeError(f"cannot record a {type(value).__name__} in {GENERATOR_FILE}")


@dataclass(frozen=True)
class _Folder:
    """The raw bytes of a model folder's three files, read before any is parsed."""

    directory: Path
    meta: bytes
    transformer: bytes
    weights: bytes

    def where(self, name: str) -> str:
        return str(self.directory / name)


def _read_folder(directory: Path) -> _Folder:
    try:
        return _Folder(
            directory,
            meta=(directory / GENERATOR_FILE).read_bytes(),
            transformer=(directory / TRANSFORMER_FILE).read_bytes(),
            weights=(directory / WEIGHTS_FILE).read_bytes(),
        )
    except FileNotFoundError as exc:
        raise ModelFileError(
            f"model file missing: {Path(exc.filename).name}; {_AGAIN}", where=str(directory)
        ) from None


def _checked_meta(folder: _Folder) -> dict[str, Any]:
    """generator.json as a dict, after its version and every recorded checksum are checked."""
    where = folder.where(GENERATOR_FILE)
    try:
        meta = json.loads(folder.meta)
    except ValueError:
        raise ModelFileError("not valid JSON", where=where) from None
    if not isinstance(meta, dict):
        raise ModelFileError("not a JSON object", where=where)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"unsupported model format version {meta.get('format_version')!r} (this synthpriv reads "
            f"{FORMAT_VERSION}); {_AGAIN}",
            where=where,
        )
    if meta.get(META_SHA256) != meta_sha256(meta):
        raise ModelFileError(
            f"edited after it was saved: its content does not match its recorded sha256; {_AGAIN}",
            where=where,
        )
    if _sha256(folder.transformer) != meta.get("transformer_sha256"):
        raise ModelFileError(
            f"edited after it was saved: not the sha256 generator.json records; {_AGAIN}",
            where=folder.where(TRANSFORMER_FILE),
        )
    if _sha256(folder.weights) != meta.get("weights_sha256"):
        raise ModelFileError(
            f"weights do not match their recorded checksum; {_AGAIN}", where=folder.where(WEIGHTS_FILE)
        )
    return meta


def _checked_transformer(folder: _Folder) -> TabularTransformer:
    try:
        return TabularTransformer.from_dict(json.loads(folder.transformer))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(
            f"not a valid transformer: {type(exc).__name__}", where=folder.where(TRANSFORMER_FILE)
        ) from None


def _described_generator(
    folder: _Folder, meta: Mapping[str, Any], transformer: TabularTransformer, device: str
) -> Generator:
    """The generator generator.json describes, fitted parts set and networks built, weights not loaded."""
    where = folder.where(GENERATOR_FILE)
    generator_class = _generator_class(meta, where)
    privacy, release = _privacy_records(meta, where)
    try:
        generator = generator_class(
            meta["params"],
            epochs=meta["epochs"],
            batch_size=meta["batch_size"],
            seed=meta["seed"],
            device=device,
            min_category_count=transformer.min_category_count,
        )
        schema = TableSchema.from_dict(meta["schema"])
        train_rows = int(meta.get("train_rows", 0))
        rules = rules_from_json(meta.get("rules", []))  # files written before rules: none
    except (
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
    ) as exc:  # pydantic's ValidationError is a ValueError
        raise ModelFileError(f"not a valid model description: {type(exc).__name__}", where=where) from None
    generator.privacy, generator.privacy_release = privacy, release
    generator.rebuild(transformer, schema, train_rows=train_rows)
    generator.rules = rules
    return generator


def _generator_class(meta: Mapping[str, Any], where: str) -> type[Generator]:
    try:  # a name in the registry, never a module path to import
        return get_generator(str(meta.get("kind")))
    except ConfigError:
        raise ModelFileError(f"unknown generator kind {meta.get('kind')!r}", where=where) from None


def _privacy_records(meta: Mapping[str, Any], where: str) -> tuple[Any, Any]:
    """generator.json's privacy settings and release: each a JSON object, or None (also when absent,
    as in files written before DP). Typed ``Any`` because they are the plain JSON as read."""
    settings, release = meta.get("privacy"), meta.get("privacy_release")
    for key, record in (("privacy", settings), ("privacy_release", release)):
        if record is not None and not isinstance(record, dict):
            raise ModelFileError(f"privacy record is not valid: {key} is not a JSON object", where=where)
    return settings, release


def _load_weights(generator: Generator, folder: _Folder) -> None:
    import torch

    try:
        state = torch.load(io.BytesIO(folder.weights), map_location="cpu", weights_only=True)
        generator.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for a bad or foreign file
        raise ModelFileError(
            f"weights cannot be loaded safely: {type(exc).__name__}", where=folder.where(WEIGHTS_FILE)
        ) from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
