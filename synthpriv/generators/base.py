"""The Generator base class: ``fit`` / ``sample`` for every model.

The public methods are template methods (as in SDV): they infer the schema, fit the shared
`TabularTransformer`, seed everything, and decode sampled rows. A subclass only builds its
networks and says how to train on, and sample, the encoded rows (`EncodedTable`).
How the rows are trained on is the `Trainer`'s that the caller of `fit` passes
(`synthpriv.training.seam`): a subclass's plan attaches its real-row modules and optimizer
through it and never knows whether training is private (DP attaches in `synthpriv.privacy`).
Conditions are encoded and honoured in `synthpriv.generators.conditions`; a fitted
generator is saved and loaded by `synthpriv.generators.model_files`.

Row logic: a fit that is not private also mines the rules its training rows keep
(`synthpriv.data.rules`: columns missing together, a value implying columns missing or
present, functional dependencies, the missing patterns), and sampling redraws the rows that
break one, for at most `RULE_ROUNDS` rounds (a row still breaking one after them is kept, and
validate counts it). The rows are checked encoded (`EncodedRuleCheck`, made once per fit or
load), never decoded for it: the rows kept are those a check of the decoded rows would keep.
A private fit knows no rule: the rules are counts over the rows that no mechanism pays for, as
the transformer's missing patterns are.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from synthpriv.data.rules import EncodedRuleCheck, Rule, mine_rules
from synthpriv.data.schema import ColumnKind, TableSchema, infer_schema, unlearned_column
from synthpriv.data.spans import EncodedTable, Span, code_dtype
from synthpriv.data.transform import DEFAULT_MIN_CATEGORY_COUNT, TabularTransformer
from synthpriv.errors import ConfigError, DataError
from synthpriv.generators.conditions import FixedCategory, draw_seed, encode_conditions, sample_honouring
from synthpriv.generators.params import DEFAULT_BATCH_SIZE, GeneratorParams, default_epochs
from synthpriv.runtime.progress import NullProgress, Progress

if TYPE_CHECKING:  # torch loads when a generator trains or samples, not when it is named
    import torch

    from synthpriv.training.loop import EncodedRows, TrainingPlan
    from synthpriv.training.seam import FitShape, Trainer

#: Rounds of redrawing the sampled rows that break a mined rule (each draws what the rows
#: still breaking one need, at the acceptance seen so far); rows still breaking one are kept.
RULE_ROUNDS = 6
#: The fewest rows a redraw round may draw (a small batch whose rows mostly break a rule
#: reaches them in a round or two); at most the batch's rows otherwise.
_MIN_REDRAW_ROWS = 1024
#: The key of the redraw rounds' seeds (`_redraw_seed`), apart from every batch's and attempt's.
_REDRAW_STREAM = 0x52554C45


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
    sits beside ``seed`` rather than in ``params`` because it is about the data, not the
    network; a transformer passed to `fit` (DP preprocessing) has already decided its
    domains and is used as it is.
    """

    kind: ClassVar[str]
    params_model: ClassVar[type[GeneratorParams]]
    #: Whether the generator has a recipe whose real-row losses are per-row separable, as a
    #: trainer with `Trainer.per_row_losses` requires (DP-SGD's); one without is refused by it.
    supports_per_row_losses: ClassVar[bool] = False
    #: Whether the generator's DP-SGD fits were measured to learn the table (benchmarks/). One
    #: whose fits collapse under the noise, recipe or not, is refused by the privacy plan,
    #: which names the generators that do learn.
    learns_under_dp_sgd: ClassVar[bool] = True

    def __init__(
        self,
        params: GeneratorParams | dict[str, Any] | None = None,
        *,
        epochs: int | None = None,
        batch_size: int | None = None,
        seed: int = 0,
        device: str = "auto",
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
        self.requested_batch_size = batch_size
        self.batch_size = batch_size if batch_size is not None else DEFAULT_BATCH_SIZE[self.kind]
        self.seed = seed
        self.device_choice = device
        self.schema: TableSchema | None = None
        self.transformer: TabularTransformer | None = None
        self.train_rows = 0
        #: How the last fit trained, as its trainer records it (`Trainer.settings` and
        #: `Trainer.release`: DP-SGD's settings and release, None for plain training); saved
        #: with the model, never read to decide how to train.
        self.privacy: object | None = None
        self.privacy_release: object | None = None
        #: Whether the fit's trainer requires per-row separable losses (`Trainer.per_row_losses`):
        #: set by `fit` before the networks are built, for subclasses whose recipe differs then.
        self.per_row_losses = False
        #: The rules the training rows keep (`synthpriv.data.rules`), mined by a fit that is not
        #: private and saved with the model; none after a private fit.
        self.rules: tuple[Rule, ...] = ()
        #: Whether sampling redraws rows that break one of `rules` (off: the model's rows as drawn).
        self.keep_rules = True
        #: `rules` prepared to check encoded rows of `transformer` (`_breaks_rule` makes it).
        self._rule_check: EncodedRuleCheck | None = None

    # -- the subclass's part --------------------------------------------------------------

    @abstractmethod
    def _build(self, spans: tuple[Span, ...], device: str) -> None:
        """Create the networks for encoded rows described by ``spans``."""

    @abstractmethod
    def _fit_encoded(
        self, data: EncodedTable, *, trainer: Trainer, progress: Progress
    ) -> list[dict[str, float]]:
        """Train on the encoded rows through ``trainer``; return one dict of aggregate losses per epoch.

        ``data`` is compact (an integer code per category block): a subclass expands one
        batch at a time (`synthpriv.training.loop.EncodedRows`), never the whole table. Its
        plan attaches its real-row modules and optimizer with `Trainer.attach`, and
        `_run_plan` runs it.
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

    @property
    def steps_per_batch(self) -> int:
        """Real-row optimizer steps a loop step takes, each on a batch of its own (a GAN's
        critic steps under per-row losses); what a private trainer counts and calibrates for."""
        return 1

    def fit_shape(self, rows: int, *, fixed_budget: bool, transformer_given: bool) -> FitShape:
        """What a fit of ``rows`` rows will do, before it reads one (`synthpriv.privacy.plan`
        plans the same shape the fit then checks). ``fixed_budget``: the trainer's
        `Trainer.fixed_budget`, which makes the default epochs fewer."""
        from synthpriv.training.seam import FitShape

        epochs = self.requested_epochs
        if epochs is None:
            epochs = default_epochs(self.kind, rows, self.batch_size, private=fixed_budget)
        return FitShape(
            kind=self.kind,
            rows=rows,
            batch_size=self.batch_size,
            epochs=epochs,
            steps_per_batch=self.steps_per_batch,
            per_row_capable=self.supports_per_row_losses,
            learns_under_dp_sgd=self.learns_under_dp_sgd,
            transformer_given=transformer_given,
        )

    def _run_plan(
        self,
        plan: TrainingPlan,
        data: torch.Tensor | EncodedRows,
        *,
        trainer: Trainer,
        progress: Progress,
        released: str,
        batch_size: int | None = None,
    ) -> list[dict[str, float]]:
        """Train ``plan`` on ``data`` for the fit's epochs through ``trainer`` (the one loop),
        then let the trainer record what training released (named ``released``)."""
        history = trainer.run(
            plan,
            data,
            epochs=self.epochs,
            batch_size=batch_size or self.batch_size,
            seed=self.seed,
            progress=progress,
        )
        trainer.finish(released)
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
        trainer: Trainer | None = None,
    ) -> FitReport:
        """Fit the transformer and the networks on ``table`` (the real training rows).

        ``transformer``, when given, is used as fitted (not refitted): a DP pipeline fits it
        with DP mechanisms elsewhere. ``trainer`` decides how the rows are trained on (plain
        `Trainer` by default; `synthpriv.privacy.attach.PrivateTrainer` for DP-SGD, which
        requires that transformer). The trainer checks the fit's shape before anything is
        fitted, so a budget that cannot train fails first.
        """
        from synthpriv.runtime.device import resolve_device
        from synthpriv.runtime.seeding import seed_everything
        from synthpriv.training.seam import Trainer

        trainer = trainer or Trainer()
        if len(table) == 0:
            raise DataError("the training table is empty", where="data")
        started = time.perf_counter()
        self.schema = schema or infer_schema(table)
        missing = [c.name for c in self.schema.modelled() if c.name not in table.columns]
        if missing:
            raise DataError(f"columns {missing} of the schema are not in the table", where="data")
        shape = self.fit_shape(
            len(table), fixed_budget=trainer.fixed_budget, transformer_given=transformer is not None
        )
        self.epochs = shape.epochs
        trainer.prepare(shape)
        self.per_row_losses = trainer.per_row_losses
        seed_everything(self.seed)
        self.transformer = self._fit_transformer(
            table, self.schema, transformer, private=trainer.fixed_budget
        )
        # Compact (an integer a row per category column): a dense one-hot of a many-level
        # column would be rows x levels floats.
        encoded = self.transformer.encode(table)
        self.train_rows = len(table)
        device = resolve_device(self.device_choice)
        self._build(self.transformer.spans, device)
        public_seed = self.seed
        # Batch order and training noise derive from the fit's seed, which a trainer may
        # replace by a secret one (DP-SGD); sampling keeps the public seed.
        self.seed = trainer.training_seed(public_seed)
        try:
            history = self._fit_encoded(encoded, trainer=trainer, progress=progress or NullProgress())
        finally:
            self.seed = public_seed
        self.privacy, self.privacy_release = trainer.settings, trainer.release
        return FitReport(
            epochs=len(history), seconds=time.perf_counter() - started, history=history, device=device
        )

    def _fit_transformer(
        self,
        table: pd.DataFrame,
        schema: TableSchema,
        transformer: TabularTransformer | None,
        *,
        private: bool,
    ) -> TabularTransformer:
        """``transformer``, or one fitted on ``table``; the rules ``table`` keeps are mined only
        with the latter and a trainer that spends no privacy budget (``private`` is its
        `Trainer.fixed_budget`): a given transformer comes from DP preprocessing, and a DP fit
        pays for no count over the rows, which a rule is."""
        self.rules = ()
        if transformer is not None:
            return transformer
        if not private:
            self.rules = mine_rules(table, schema, min_count=self.min_category_count)
        return TabularTransformer(schema.modelled(), min_category_count=self.min_category_count).fit(table)

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
        fixed = self.encode_conditions(conditions or {})
        produced = 0
        for index, start in enumerate(range(0, n, batch_size)):
            count = min(batch_size, n - start)
            # One child seed per batch: the same seed and batch size give the same rows (another
            # batch size gives other rows, as reproducible).
            encoded = self._sample_honouring(count, draw_seed(seed, index), fixed)
            yield self.decode_rows(encoded, offset=produced)
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
        """``n`` rows that honour ``fixed`` (native conditioning where the model has it, then
        rejection) and, as far as `RULE_ROUNDS` rounds of redrawing reach, the mined `rules`."""
        rows = self._draw_honouring(n, seed, fixed)
        if not (self.rules and self.keep_rules) or n == 0:
            return rows
        return self._keeping_rules(rows, seed, fixed)

    def _draw_honouring(self, n: int, seed: int, fixed: tuple[FixedCategory, ...]) -> EncodedTable:
        return sample_honouring(
            n,
            seed,
            fixed,
            draw=lambda count, child: self._sample_encoded(count, seed=child),
            draw_conditional=lambda count, child, given: self._sample_conditional(
                count, seed=child, fixed=given
            ),
        )

    def _keeping_rules(self, rows: EncodedTable, seed: int, fixed: tuple[FixedCategory, ...]) -> EncodedTable:
        """``rows`` with each row that breaks a rule replaced, in place, by a redrawn one that
        keeps them all (and honours ``fixed``), for at most `RULE_ROUNDS` rounds; each round
        draws what the rows left need at the share of rows kept so far (10 % more), at most
        ``len(rows)`` or `_MIN_REDRAW_ROWS`, whichever is more."""
        broken = np.flatnonzero(self._breaks_rule(rows))
        if broken.size == 0:
            return rows
        kept_share = 1.0 - broken.size / len(rows)
        # Rows are replaced in copies of the batch's arrays, in place (the codes in the narrowest
        # dtype, as `EncodedTable.concatenate` would give them).
        values, codes = rows.values.copy(), rows.codes.astype(code_dtype(rows.spans))
        for index in range(RULE_ROUNDS):
            if broken.size == 0:
                break
            need = int(np.ceil(1.1 * broken.size / max(kept_share, 0.05))) + 16
            want = min(need, max(len(rows), _MIN_REDRAW_ROWS))
            fresh = self._draw_honouring(want, _redraw_seed(seed, index), fixed)
            good = np.flatnonzero(~self._breaks_rule(fresh))
            kept_share = max(good.size / want, 1.0 / want)
            good = good[: broken.size]
            values[broken[: good.size]] = fresh.values[good]
            codes[broken[: good.size]] = fresh.codes[good]
            broken = broken[good.size :]
        return EncodedTable(rows.spans, values, codes)

    def _breaks_rule(self, rows: EncodedTable) -> np.ndarray:
        """Whether each encoded row, decoded, breaks one of `rules` (checked without decoding it);
        the check is made again when a fit or a load has replaced the rules or the transformer."""
        transformer, _ = self._fitted()
        check = self._rule_check
        if check is None or check.rules is not self.rules or check.transformer is not transformer:
            check = self._rule_check = EncodedRuleCheck(self.rules, transformer)
        return check.broken(rows)

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

    # -- imputation: partial rows completed (``synthesize.conditions: <file>``) -------------

    #: Whether the generator completes partial rows (`impute`): one that generates every
    #: column given any set of known cells, numbers included (the autoregressive one).
    imputes: ClassVar[bool] = False

    def impute(self, partial: pd.DataFrame, *, seed: int) -> pd.DataFrame:
        """``partial``'s rows completed: every null cell of a modelled column drawn given the
        row's other cells, every non-null cell kept exactly as given.

        The schema's columns, order and dtypes, ``partial``'s rows and index. Columns of the
        schema that ``partial`` lacks are filled; a column it has that the schema lacks is a
        ConfigError. A null cell of a column the model learned missing values in may be drawn
        missing again (a salary given "not placed"); id cells left null get running ids. The
        same seed gives the same rows: the same as one batch of `impute_batches`.
        """
        return next(self.impute_batches(partial, seed=seed, batch_size=max(len(partial), 1)))

    def impute_batches(
        self, partial: pd.DataFrame, *, seed: int, batch_size: int = 50_000
    ) -> Iterator[pd.DataFrame]:
        """`impute` streamed ``batch_size`` rows at a time (each batch with a child seed of
        ``seed``: the rows depend on the seed and the batch size). Checks before the first batch."""
        if not self.imputes:
            raise ConfigError(
                f"generator {self.kind} cannot impute: it samples whole rows and conditions at most on "
                "categories; use train.generator: autoregressive",
                where="synthesize.conditions",
            )
        aligned = _aligned_partial(partial, self._fitted()[1])
        return (
            self._impute_chunk(aligned.iloc[start : start + batch_size], draw_seed(seed, index), start)
            # No rows still make one (empty) batch, so that `impute` returns a frame.
            for index, start in enumerate(range(0, max(len(aligned), 1), batch_size))
        )

    def _impute_chunk(self, partial: pd.DataFrame, seed: int, offset: int) -> pd.DataFrame:
        """One batch of `impute_batches`: the drawn rows, then the given cells put back verbatim."""
        _, schema = self._fitted()
        encoded = self._impute_encoded(partial[[c.name for c in schema.modelled()]], seed=seed)
        frame = _keep_given(self.decode_rows(encoded, offset=offset), partial.reset_index(drop=True))
        frame.index = partial.index
        return frame

    def decode_rows(self, encoded: EncodedTable, *, offset: int) -> pd.DataFrame:
        """The table ``encoded`` holds, in the schema's columns and dtypes: ids running from
        ``offset`` (the rows before this batch) and all-null columns put back."""
        transformer, schema = self._fitted()
        return _with_ids(transformer.inverse_transform(encoded), schema, offset=offset)

    def _impute_encoded(self, partial: pd.DataFrame, *, seed: int) -> EncodedTable:
        """Encoded rows with ``partial``'s non-null cells known and the others drawn given them
        (the modelled columns, in the schema's order); a generator with ``imputes`` overrides it."""
        raise NotImplementedError(f"{type(self).__name__} does not impute")


def _redraw_seed(seed: int, index: int) -> int:
    """The seed of redraw round ``index`` of the rows drawn with ``seed`` (`Generator._keeping_rules`)."""
    return int(np.random.SeedSequence([seed, _REDRAW_STREAM, index]).generate_state(1)[0])


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
                frame[column.name] = ids.astype(pd.api.types.pandas_dtype(column.dtype))
            except (TypeError, ValueError):
                frame[column.name] = ids
    return frame[schema.names]


def _aligned_partial(partial: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """``partial`` with the schema's columns in its order (one it lacks all null); ConfigError
    naming the columns it has that the schema has not."""
    unknown = [str(c) for c in partial.columns if c not in schema]
    if unknown:
        raise ConfigError(
            f"the partial rows have columns {unknown} that the generator was not trained on; "
            "remove them (or leave them out of data.drop)",
            where="synthesize.conditions",
        )
    aligned = partial.copy()
    for name in schema.names:
        if name not in aligned.columns:
            aligned[name] = np.full(len(aligned), None, dtype=object)
    return aligned[schema.names]


def _keep_given(frame: pd.DataFrame, partial: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every non-null cell of ``partial`` (same columns, same positions) put back, each
    column keeping ``frame``'s dtype; DataError for a column whose given cells that dtype cannot hold."""
    for name in frame.columns:
        given = partial[name]
        known = given.notna()
        if not known.any():
            continue
        drawn = frame[name]
        try:
            kept = given[known].astype(drawn.dtype)
            frame[name] = drawn.mask(known, kept).astype(drawn.dtype)
        except (TypeError, ValueError):
            raise DataError(
                f"the given cells of column {name!r} cannot be read as its type ({drawn.dtype})",
                where="synthesize.conditions",
            ) from None
    return frame
