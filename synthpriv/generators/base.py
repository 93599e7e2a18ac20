"""The Generator base class: ``fit`` / ``sample`` / ``save`` / ``load`` for every model.

The public methods are template methods (as in SDV): they infer the schema, fit the shared
`TabularTransformer`, seed everything, and persist without pickle. A subclass only builds
its networks and says how to train on, and sample, the encoded rows (`EncodedTable`).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from synthpriv.data.schema import ColumnKind, TableSchema, infer_schema, unlearned_column
from synthpriv.data.spans import EncodedTable, Span
from synthpriv.data.transform import DEFAULT_MIN_CATEGORY_COUNT, TabularTransformer
from synthpriv.errors import ConfigError, DataError, ModelFileError, PrivacyConfigError
from synthpriv.generators.params import DEFAULT_BATCH_SIZE, GeneratorParams, default_epochs
from synthpriv.privacy.ledger import Release
from synthpriv.runtime.progress import NullProgress, Progress

if TYPE_CHECKING:
    import torch
    from torch import nn

    from synthpriv.privacy.dpsgd import DPSGDSettings, NoiseCalibration, PrivateTraining
    from synthpriv.training.loop import EncodedRows, TrainingPlan

WEIGHTS_FILE = "weights.pt"
GENERATOR_FILE = "generator.json"
TRANSFORMER_FILE = "transformer.json"
#: 2: generator.json records the sha256 of transformer.json and of its own content too.
FORMAT_VERSION = 2
#: The key under which generator.json records the sha256 of the rest of its content (`meta_sha256`).
META_SHA256 = "generator_sha256"
_AGAIN = "train the model again"  # what a user can do about a model folder that is refused
_MAX_CONDITION_ATTEMPTS = 20
_MAX_CONDITION_BATCH = 2_000_000

#: A condition as the networks see it: a category span and the index of its fixed category.
FixedCategory = tuple[Span, int]


@dataclass
class FitReport:
    """What training did: per-epoch aggregate losses and the time it took."""

    epochs: int
    seconds: float
    history: list[dict[str, float]] = field(
        default_factory=list
    )  # one dict per epoch: {"epoch", "loss", ...}
    device: str = "cpu"


class Generator(ABC):
    """A synthetic-data generator for one table.

    ``min_category_count`` (default 5, as ``data.min_category_count``): a category held by
    fewer training rows is folded into ``"(other)"`` (or the most frequent value in a column
    of numbers) by the transformer `fit` builds, so the model never learns it and cannot
    emit it; numbers and dates are clipped to their ``min_category_count``-th smallest and
    largest values, so no single row's extreme is emitted (see `TabularTransformer`). It
    sits beside ``seed`` and ``privacy`` rather than in ``params`` because it is about the
    data, not the network; a transformer passed to `fit` (DP preprocessing) has already
    decided its domains and is used as it is.
    """

    kind: ClassVar[str]
    params_model: ClassVar[type[GeneratorParams]]
    #: Whether `fit` can train with DP-SGD (``privacy``); one that cannot refuses it.
    supports_privacy: ClassVar[bool] = False

    def __init__(
        self,
        params: GeneratorParams | dict[str, Any] | None = None,
        *,
        epochs: int | None = None,
        batch_size: int | None = None,
        seed: int = 0,
        device: str = "auto",
        privacy: DPSGDSettings | None = None,
        min_category_count: int = DEFAULT_MIN_CATEGORY_COUNT,
    ) -> None:
        if min_category_count < 1:
            raise ValueError("min_category_count must be >= 1")
        self.min_category_count = min_category_count
        self.params = (
            params
            if isinstance(params, self.params_model)
            else self.params_model.model_validate(params or {})
        )
        self.requested_epochs = epochs
        #: Resolved at fit time when left out (see `default_epochs`).
        self.epochs = epochs if epochs is not None else 0
        self.batch_size = batch_size if batch_size is not None else DEFAULT_BATCH_SIZE[self.kind]
        self.seed = seed
        self.device_choice = device
        self.schema: TableSchema | None = None
        self.transformer: TabularTransformer | None = None
        self.train_rows = 0
        #: DP-SGD settings; None trains without differential privacy.
        self.privacy = privacy
        #: What the DP-SGD fit released: the accountant's epsilon after training, noise, steps.
        self.privacy_release: Release | None = None
        #: The noise of a DP fit, chosen by `fit` before any training (for `_fit_encoded`).
        self._calibration: NoiseCalibration | None = None

    # -- the subclass's part --------------------------------------------------------------

    @abstractmethod
    def _build(self, spans: tuple[Span, ...], device: str) -> None:
        """Create the networks for encoded rows described by ``spans``."""

    @abstractmethod
    def _fit_encoded(self, data: EncodedTable, *, progress: Progress) -> list[dict[str, float]]:
        """Train on the encoded rows; return one dict of aggregate losses per epoch.

        ``data`` is compact (an integer code per category block): a subclass expands one
        batch at a time (`synthpriv.training.loop.EncodedRows`), never the whole table.
        """

    @abstractmethod
    def _sample_encoded(self, n: int, *, seed: int) -> EncodedTable:
        """``n`` encoded rows, each block's category drawn (a code), seeded by ``seed``."""

    def _sample_conditional(
        self, n: int, *, seed: int, fixed: tuple[FixedCategory, ...]
    ) -> EncodedTable | None:
        """``n`` rows generated *given* ``fixed`` categories, or None when the model cannot condition.

        A model that conditions natively (a GAN's conditional vector, guided diffusion)
        overrides this; rows that still miss a condition are filtered out by the caller.
        """
        return None

    def _private_steps(self, rows: int) -> int:
        """The optimizer steps a DP fit of ``rows`` rows takes: one per Poisson batch.

        A model whose private optimizer steps several times per batch overrides this; the
        noise is calibrated so that exactly these steps spend the budget.
        """
        from synthpriv.privacy.dpsgd import steps_per_epoch

        return self.epochs * steps_per_epoch(rows, self.batch_size)

    def private_training(
        self, modules: Mapping[str, nn.Module], optimizer: torch.optim.Optimizer, *, seed: int
    ) -> PrivateTraining:
        """DP-SGD for ``modules``, trained by ``optimizer``, with the noise `fit` calibrated
        (for a subclass's `_fit_encoded`; it must call `PrivateTraining.finish` after training
        and keep the release in `privacy_release`)."""
        from synthpriv.privacy.dpsgd import PrivateTraining

        if self._calibration is None:
            raise RuntimeError("private_training is only available inside a fit with privacy")
        return PrivateTraining(self._calibration, modules, optimizer, seed=seed)

    def _run_plan(
        self,
        plan: TrainingPlan,
        data: torch.Tensor | EncodedRows,
        *,
        private: PrivateTraining | None,
        progress: Progress,
        released: str,
    ) -> list[dict[str, float]]:
        """Train ``plan`` on ``data`` for the fit's epochs, in the fit's seeded batch order.

        A private plan (``private`` set) gets Poisson-sampled batches, as its accountant
        assumes, and its release (named ``released``) is kept in `privacy_release`.
        """
        import torch

        from synthpriv.privacy.dpsgd import poisson_batches
        from synthpriv.training.loop import shuffled_batches, train

        order = torch.Generator().manual_seed(child_seed(self.seed, 0))
        history = train(
            plan,
            data,
            epochs=self.epochs,
            batch_size=self.batch_size,
            generator=order,
            progress=progress,
            sampler=shuffled_batches if private is None else poisson_batches,
        )
        if private is not None:
            self.privacy_release = private.finish(released)
        return history

    @abstractmethod
    def _state_dict(self) -> dict[str, Any]:
        """Tensors to persist (a flat ``name -> Tensor`` dict, loadable with weights_only)."""

    @abstractmethod
    def _load_state_dict(self, state: dict[str, Any]) -> None: ...

    # -- the public template methods ------------------------------------------------------

    def fit(
        self,
        table: pd.DataFrame,
        schema: TableSchema | None = None,
        *,
        progress: Progress | None = None,
        transformer: TabularTransformer | None = None,
    ) -> FitReport:
        """Fit the transformer and the networks on ``table`` (the real training rows).

        ``transformer``, when given, is used as fitted (not refitted): a DP pipeline fits it
        with DP mechanisms elsewhere, and a fit with ``privacy`` requires one, since fitting
        it here would read the real table without privacy. The noise of a DP fit is
        calibrated before anything is fitted, so a budget that cannot train fails first.
        """
        from synthpriv.runtime.device import resolve_device
        from synthpriv.runtime.seeding import seed_everything

        if len(table) == 0:
            raise DataError("the training table is empty", where="data")
        started = time.perf_counter()
        self.schema = schema or infer_schema(table)
        missing = [c.name for c in self.schema.modelled() if c.name not in table.columns]
        if missing:
            raise DataError(f"columns {missing} of the schema are not in the table", where="data")
        if self.requested_epochs is None:
            self.epochs = default_epochs(
                self.kind, len(table), self.batch_size, private=self.privacy is not None
            )
        self.privacy_release = None
        self._calibration = self._calibrate(len(table), transformer) if self.privacy is not None else None
        seed_everything(self.seed)
        if transformer is None:
            transformer = TabularTransformer(
                self.schema.modelled(), min_category_count=self.min_category_count
            ).fit(table)
        self.transformer = transformer
        # Compact (an integer a row per category column): a dense one-hot of a many-level
        # column would be rows x levels floats.
        encoded = self.transformer.encode(table)
        self.train_rows = len(table)
        device = resolve_device(self.device_choice)
        self._build(self.transformer.spans, device)
        public_seed = self.seed
        if self.privacy is not None:
            # Batch sampling and DP noise derive from the fit's seed; a DP fit must not use
            # the public one (see DPSGDSettings.training_seed). Sampling keeps its own seeds.
            self.seed = self.privacy.secret_seed()
        try:
            history = self._fit_encoded(encoded, progress=progress or NullProgress())
        finally:
            self.seed = public_seed
        return FitReport(
            epochs=len(history), seconds=time.perf_counter() - started, history=history, device=device
        )

    def _calibrate(self, rows: int, transformer: TabularTransformer | None) -> NoiseCalibration:
        """The DP-SGD noise for this fit; PrivacyConfigError when the fit cannot be private."""
        from synthpriv.privacy.dpsgd import calibrate

        assert self.privacy is not None
        if not self.supports_privacy:
            raise PrivacyConfigError(
                f"differential privacy is not available for the {self.kind} generator yet",
                where="train.privacy",
            )
        if transformer is None:
            raise PrivacyConfigError(
                "a private fit needs a transformer fitted with differential privacy; fitting one here would "
                "read the real table without it",
                where="train.privacy",
            )
        return calibrate(self.privacy, rows=rows, batch_size=self.batch_size, steps=self._private_steps(rows))

    def sample_batches(
        self,
        n: int,
        *,
        seed: int = 0,
        batch_size: int = 50_000,
        conditions: Mapping[str, object] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Stream ``n`` synthetic rows in batches; the same seed gives the same rows.

        ``conditions`` fixes categorical or boolean columns to a value (``{"income": ">50K"}``);
        every row returned honours them.
        """
        transformer, schema = self._fitted()
        fixed = self.encode_conditions(conditions or {})
        produced = 0
        for index, start in enumerate(range(0, n, batch_size)):
            count = min(batch_size, n - start)
            # One child seed per batch: the rows do not depend on how the caller batches.
            encoded = self._sample_honouring(count, _batch_seed(seed, index), fixed)
            frame = transformer.inverse_transform(encoded)
            yield _with_ids(frame, schema, offset=produced)
            produced += count

    def sample(
        self,
        n: int,
        *,
        seed: int = 0,
        batch_size: int = 50_000,
        conditions: Mapping[str, object] | None = None,
    ) -> pd.DataFrame:
        """``n`` synthetic rows with the input's column names, order and dtypes."""
        if n < 0:
            raise ValueError("n must be >= 0")
        frames = list(self.sample_batches(max(n, 1), seed=seed, batch_size=batch_size, conditions=conditions))
        return pd.concat(frames, ignore_index=True).iloc[:n]

    def encode_conditions(self, conditions: Mapping[str, object]) -> tuple[FixedCategory, ...]:
        """Conditions as (category span, category index) pairs; ConfigError for any that cannot hold."""
        transformer, schema = self._fitted()
        spans = {s.column: s for s in transformer.spans if s.role == "category"}
        fixed: list[FixedCategory] = []
        for column, value in conditions.items():
            where = f"synthesize.conditions.{column}"
            if column not in schema:
                raise ConfigError(f"condition names column {column!r}, which is not in the data", where=where)
            if column not in spans:
                kind = schema[column].kind.value
                raise ConfigError(
                    f"conditions fix categorical or boolean columns; {column!r} is {kind}", where=where
                )
            encoder = transformer.categorical[column]
            token = str(encoder.tokens(pd.Series([value], dtype=object))[0])
            if token not in encoder.categories:
                raise ConfigError(
                    f"value {value!r} of {column!r} is not a category the generator learned", where=where
                )
            fixed.append((spans[column], encoder.categories.index(token)))
        return tuple(fixed)

    def _sample_honouring(self, n: int, seed: int, fixed: tuple[FixedCategory, ...]) -> EncodedTable:
        """``n`` rows that honour ``fixed``: native conditioning where the model has it, then rejection."""
        if not fixed:
            return self._sample_encoded(n, seed=seed)
        kept: list[EncodedTable] = []
        have = drawn = 0
        acceptance = 1.0
        for attempt in range(_MAX_CONDITION_ATTEMPTS):
            # Ask for exactly n first: native conditioning usually honours every row.
            missing = n - have
            want = (
                missing
                if attempt == 0
                else int(min(max(1.2 * missing / max(acceptance, 1e-4), 256), _MAX_CONDITION_BATCH))
            )
            child = _batch_seed(seed, attempt)
            rows = self._sample_conditional(want, seed=child, fixed=fixed)
            if rows is None:
                rows = self._sample_encoded(want, seed=child)
            ok = honours(rows, fixed)
            kept.append(rows.take(ok))
            have += int(ok.sum())
            drawn += want
            acceptance = max(have / drawn, 1.0 / drawn)
            if have >= n:
                return EncodedTable.concatenate(kept, rows.spans).take(np.arange(n))
        raise DataError(
            f"the condition is too rare to reach: {have:,} of {drawn:,} generated rows honoured it; "
            "relax the condition or train longer",
            where="synthesize.conditions",
        )

    def save(self, directory: str | Path) -> None:
        """Write ``weights.pt`` (a state_dict), ``generator.json`` and ``transformer.json``."""
        import torch

        transformer, schema = self._fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        from synthpriv.runtime.files import atomic_write_bytes, atomic_write_text

        buffer = io.BytesIO()
        torch.save(self._state_dict(), buffer)
        weights_bytes = buffer.getvalue()
        atomic_write_bytes(directory / WEIGHTS_FILE, weights_bytes)
        transformer_text = json.dumps(transformer.to_dict())
        atomic_write_text(directory / TRANSFORMER_FILE, transformer_text)
        meta = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "params": self.params.model_dump(mode="json"),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "train_rows": self.train_rows,
            "schema": schema.to_dict(),
            "weights_sha256": hashlib.sha256(weights_bytes).hexdigest(),
            "transformer_sha256": hashlib.sha256(transformer_text.encode()).hexdigest(),
            # Absent in files written before DP; None for a non-private fit.
            "privacy": asdict(self.privacy) if self.privacy is not None else None,
            "privacy_release": asdict(self.privacy_release) if self.privacy_release is not None else None,
        }
        meta[META_SHA256] = meta_sha256(meta)
        atomic_write_text(directory / GENERATOR_FILE, json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path, *, device: str = "auto") -> Self:
        """Load a saved generator; refuses files that are missing, edited or not a state_dict.

        Nothing read here can run code: the JSON files are parsed as data, the generator
        class is looked up in the registry by name, and the weights are a state_dict of
        tensors loaded with ``weights_only=True``. Each file is checked against the sha256
        that `save` recorded in ``generator.json`` (``generator.json`` against the one of its
        own content) before it is parsed, so an edited or swapped file is refused
        (ModelFileError). The checksums are unkeyed: they catch edits and corruption, not a
        forger who rewrites them too (what such a forger can write still runs no code).
        """
        import torch

        from synthpriv.runtime.device import resolve_device

        directory = Path(directory)
        files = (GENERATOR_FILE, TRANSFORMER_FILE, WEIGHTS_FILE)
        meta_file, transformer_file, weights_file = (str(directory / name) for name in files)
        try:
            meta_bytes = (directory / GENERATOR_FILE).read_bytes()
            transformer_bytes = (directory / TRANSFORMER_FILE).read_bytes()
            weights_bytes = (directory / WEIGHTS_FILE).read_bytes()
        except FileNotFoundError as exc:
            raise ModelFileError(
                f"model file missing: {Path(exc.filename).name}; train the model again", where=str(directory)
            ) from None
        try:
            meta = json.loads(meta_bytes)
        except ValueError:
            raise ModelFileError("not valid JSON", where=meta_file) from None
        if not isinstance(meta, dict):
            raise ModelFileError("not a JSON object", where=meta_file)
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(
                f"unsupported model format version {meta.get('format_version')!r} (this synthpriv reads "
                f"{FORMAT_VERSION}); train the model again",
                where=meta_file,
            )
        if meta.get(META_SHA256) != meta_sha256(meta):
            raise ModelFileError(
                f"edited after it was saved: its content does not match its recorded sha256; {_AGAIN}",
                where=meta_file,
            )
        if hashlib.sha256(transformer_bytes).hexdigest() != meta.get("transformer_sha256"):
            raise ModelFileError(
                f"edited after it was saved: not the sha256 generator.json records; {_AGAIN}",
                where=transformer_file,
            )
        if hashlib.sha256(weights_bytes).hexdigest() != meta.get("weights_sha256"):
            raise ModelFileError(
                f"weights do not match their recorded checksum; {_AGAIN}", where=weights_file
            )
        try:
            transformer = TabularTransformer.from_dict(json.loads(transformer_bytes))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelFileError(
                f"not a valid transformer: {type(exc).__name__}", where=transformer_file
            ) from None
        if cls is Generator or getattr(cls, "kind", None) != meta.get("kind"):
            from synthpriv.generators.registry import get_generator

            try:  # a name in the registry, never a module path to import
                target = get_generator(str(meta.get("kind")))
            except ConfigError:
                raise ModelFileError(
                    f"unknown generator kind {meta.get('kind')!r}", where=meta_file
                ) from None
        else:
            target = cls
        try:
            privacy, release = _privacy_from_meta(meta)
        except (ValueError, KeyError, TypeError, PrivacyConfigError) as exc:
            raise ModelFileError(f"privacy record is not valid: {exc}", where=meta_file) from None
        try:
            generator = target(
                meta["params"],
                epochs=meta["epochs"],
                batch_size=meta["batch_size"],
                seed=meta["seed"],
                device=device,
                privacy=privacy,
                min_category_count=transformer.min_category_count,
            )
            generator.schema = TableSchema.from_dict(meta["schema"])
            generator.train_rows = int(meta.get("train_rows", 0))
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
        ) as exc:  # pydantic's ValidationError is a ValueError
            raise ModelFileError(
                f"not a valid model description: {type(exc).__name__}", where=meta_file
            ) from None
        generator.privacy_release = release
        generator.transformer = transformer
        generator._build(transformer.spans, resolve_device(device))
        try:
            state = torch.load(io.BytesIO(weights_bytes), map_location="cpu", weights_only=True)
            generator._load_state_dict(state)
        except Exception as exc:  # noqa: BLE001 - torch raises several types for a bad or foreign file
            raise ModelFileError(
                f"weights cannot be loaded safely: {type(exc).__name__}", where=weights_file
            ) from None
        return generator  # type: ignore[return-value]

    def _fitted(self) -> tuple[TabularTransformer, TableSchema]:
        if self.transformer is None or self.schema is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() or load() first")
        return self.transformer, self.schema


def meta_sha256(meta: Mapping[str, Any]) -> str:
    """The sha256 ``generator.json`` records of itself: of every key but `META_SHA256`, as
    canonical JSON (sorted keys, no spaces), so that indentation does not count but any value does."""
    body = {key: value for key, value in meta.items() if key != META_SHA256}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _privacy_from_meta(meta: Mapping[str, Any]) -> tuple[DPSGDSettings | None, Release | None]:
    """The DP settings and release recorded in ``generator.json`` (None where absent)."""
    from synthpriv.privacy.dpsgd import DPSGDSettings

    settings, release = meta.get("privacy"), meta.get("privacy_release")
    return (
        DPSGDSettings(**settings) if settings is not None else None,
        Release(**release) if release is not None else None,
    )


def child_seed(seed: int, stream: int) -> int:
    """An independent seed per random stream (batch order, training noise, DP noise) of one fit."""
    return int(np.random.SeedSequence([seed % 2**63, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


def honours(rows: EncodedTable, fixed: tuple[FixedCategory, ...]) -> np.ndarray:
    """Which rows have the fixed category of every condition."""
    ok = np.ones(len(rows), dtype=bool)
    for span, index in fixed:
        ok &= rows.block_codes(span) == index
    return ok


def _batch_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def _with_ids(frame: pd.DataFrame, schema: TableSchema, offset: int) -> pd.DataFrame:
    """Put regenerated id columns and all-null columns back and restore the input's column order."""
    n = len(frame)
    for column in schema.columns:
        if column.all_null:
            frame[column.name] = unlearned_column(column, n)
        elif column.kind is ColumnKind.ID:
            numbers = np.arange(offset, offset + n)
            ids = (
                pd.Series(numbers)
                if column.integer
                else pd.Series([f"syn-{i}" for i in numbers], dtype=object)
            )
            try:  # in the input's dtype (float64, Int64, category, string...), as every other column
                frame[column.name] = ids.astype(column.dtype)
            except (TypeError, ValueError):
                frame[column.name] = ids
    return frame[schema.names]
