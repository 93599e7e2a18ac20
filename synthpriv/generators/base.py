"""The Generator base class: ``fit`` / ``sample`` for every model.

The public methods are template methods (as in SDV): they infer the schema, fit the shared
`TabularTransformer`, seed everything, and decode sampled rows. A subclass only builds its
networks and says how to train on, and sample, the encoded rows (`EncodedTable`).
Conditions are encoded and honoured in `synthpriv.generators.conditions`; a fitted
generator is saved and loaded by `synthpriv.generators.model_files`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from synthpriv.data.schema import ColumnKind, TableSchema, infer_schema, unlearned_column
from synthpriv.data.spans import EncodedTable, Span
from synthpriv.data.transform import DEFAULT_MIN_CATEGORY_COUNT, TabularTransformer
from synthpriv.errors import DataError, PrivacyConfigError
from synthpriv.generators.conditions import FixedCategory, draw_seed, encode_conditions, sample_honouring
from synthpriv.generators.params import DEFAULT_BATCH_SIZE, GeneratorParams, default_epochs
from synthpriv.privacy.ledger import Release
from synthpriv.runtime.progress import NullProgress, Progress

if TYPE_CHECKING:
    import torch
    from torch import nn

    from synthpriv.privacy.dpsgd import DPSGDSettings, NoiseCalibration, PrivateTraining
    from synthpriv.training.loop import EncodedRows, TrainingPlan


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
            encoded = self._sample_honouring(count, draw_seed(seed, index), fixed)
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
        return encode_conditions(conditions, transformer, schema)

    def _sample_honouring(self, n: int, seed: int, fixed: tuple[FixedCategory, ...]) -> EncodedTable:
        """``n`` rows that honour ``fixed``: native conditioning where the model has it, then rejection."""
        return sample_honouring(
            n,
            seed,
            fixed,
            draw=lambda count, child: self._sample_encoded(count, seed=child),
            draw_conditional=lambda count, child, given: self._sample_conditional(
                count, seed=child, fixed=given
            ),
        )

    # -- what `model_files` persists and restores ------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The fitted networks' tensors (a flat ``name -> Tensor`` dict, loadable with weights_only)."""
        self._fitted()
        return self._state_dict()

    def rebuild(self, transformer: TabularTransformer, schema: TableSchema, *, train_rows: int) -> None:
        """Set the fitted parts read from a model folder and build the networks, untrained, on the
        chosen device; `load_state_dict` then gives them their weights."""
        from synthpriv.runtime.device import resolve_device

        self.transformer, self.schema, self.train_rows = transformer, schema, train_rows
        self._build(transformer.spans, resolve_device(self.device_choice))

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Put the tensors of `state_dict` (as saved) into the networks `rebuild` built."""
        self._load_state_dict(state)

    def _fitted(self) -> tuple[TabularTransformer, TableSchema]:
        if self.transformer is None or self.schema is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() or load_generator() first")
        return self.transformer, self.schema


def child_seed(seed: int, stream: int) -> int:
    """An independent seed per random stream (batch order, training noise, DP noise) of one fit."""
    return int(np.random.SeedSequence([seed % 2**63, stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


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
