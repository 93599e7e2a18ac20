"""Outlier scores: autoencoders' reconstruction error per row (issue 19, must-haves 4 and 5).

The seed recipe for anomaly detection: fit an autoencoder on the rows, and call a row an
outlier when the network reconstructs it badly. `OutlierScorer` is that, for mixed tables:

- rows are encoded by the `TabularTransformer` every generator shares (numbers and dates as
  quantile-normal values with a missing flag, categories one-hot, the table's missing-value
  patterns as one more category block), with ``min_category_count`` as in a run: a category
  fewer rows hold folds into one "other" slot, so a rare value still reconstructs badly
  (its slot is rare) while a column of unique labels does not make every row an outlier;
- small MLPs (``width -> 64 -> 2 -> 64 -> width``, ReLU) are trained on the fitted rows to
  reproduce them: squared error on each value, cross-entropy on each category block, about
  `TARGET_STEPS` steps each, through the one training loop (`synthpriv.training.loop`:
  seeded batches, progress per epoch);
- a row's error in a column is the error of that column's spans (a number's value and its
  missing flag together; the missing-value pattern counts as a column of its own, named
  `PATTERN_NAME`), divided by the column's mean error over the fitted rows, and averaged over
  the networks. A row's score is the mean of its column errors: 1 is a typical fitted row,
  and each column weighs the same whatever its scale, so a column's share of a row's error
  says where the row is unusual.

Why these settings (measured on a 2,000-row table of dependent columns with 20 rows drawn
from every column's whole range, and on UCI bank marketing against its rare class of
subscribers): one network with an 8-number bottleneck trained for 1,500 steps learned the odd
rows too (1-2 of the 20 among the 20 top scores), and two seeds ranked the rows alike only
loosely (Spearman 0.36); a 2-number bottleneck, 600 steps and the mean of three networks put
9-11 of them in the top 20 and brought the agreement of two seeds to 0.97 on that table and
0.91 on bank marketing, where the score finds the subscribers at ROC AUC 0.68 (IsolationForest
0.66; `benchmarks/outliers.py`). The raw summed error ranked them about as well (0.683 and
0.697 against 0.682 and 0.679 on two splits): the per-column scaling is kept for its reading.

Scores are relative to the fitted rows, and a row the networks trained on reconstructs a
little better than an unseen one; the attack in `synthpriv.attacks.outliers` therefore scores
every row with networks that did not see it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from synthpriv.data.schema import TableSchema
from synthpriv.data.spans import Span
from synthpriv.data.transform import DEFAULT_MIN_CATEGORY_COUNT, PATTERN_COLUMN, TabularTransformer
from synthpriv.errors import DataError
from synthpriv.runtime.progress import NullProgress, Progress
from synthpriv.training.loop import EncodedRows, RowStep, TrainingPlan, shuffled_batches, train

#: What the missing-value pattern block is called where columns are named (pages, shares).
PATTERN_NAME = "(missing-value pattern)"
#: Optimisation steps a network's fit aims at; the epochs follow from the rows, within
#: `MIN_EPOCHS` and `MAX_EPOCHS` (`AutoencoderSettings.epochs_for`).
TARGET_STEPS = 600
MIN_EPOCHS, MAX_EPOCHS = 3, 100
# A column's mean error on the fitted rows is floored here before it divides: a constant
# column reconstructs perfectly, and a tiny divisor would let any unseen row's value there
# decide its score alone.
_MIN_COLUMN_ERROR = 1e-2


@dataclass(frozen=True)
class AutoencoderSettings:
    """The networks and their training (module docstring: why these defaults)."""

    hidden: int = 64
    bottleneck: int = 2
    models: int = 3
    """Networks trained from independent seeds; a row's column errors are their mean."""
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    epochs: int | None = None
    """None: enough epochs for about `TARGET_STEPS` steps, between `MIN_EPOCHS` and `MAX_EPOCHS`."""

    def epochs_for(self, rows: int) -> int:
        if self.epochs is not None:
            return self.epochs
        batches = max(1, math.ceil(rows / self.batch_size))
        return min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / batches)))


@dataclass(frozen=True)
class OutlierScores:
    """Per-row scores of one table (in its row order) and the column errors behind them."""

    scores: np.ndarray
    """``[rows]``: mean column error relative to the fitted rows (1 = a typical fitted row)."""
    column_errors: np.ndarray
    """``[rows, columns]``: each column's reconstruction error over its mean on the fitted rows."""
    columns: tuple[str, ...]
    """Names of the `column_errors` columns (`PATTERN_NAME` for the missing-value pattern)."""

    def __len__(self) -> int:
        return len(self.scores)

    def column_shares(self, rows: np.ndarray | None = None) -> dict[str, float]:
        """Each column's share of the summed error of ``rows`` (positions; all rows when None)."""
        errors = self.column_errors if rows is None else self.column_errors[rows]
        totals = errors.sum(axis=0, dtype=np.float64)
        whole = float(totals.sum())
        shares = totals / whole if whole > 0 else np.zeros_like(totals)
        return {name: float(share) for name, share in zip(self.columns, shares, strict=True)}

    def most_outlying(self, count: int) -> np.ndarray:
        """Positions of the ``count`` highest scores, highest first (ties: the earlier row first)."""
        order = np.argsort(-self.scores, kind="stable")
        return order[: max(0, count)]


class OutlierScorer:
    """Autoencoders fitted on a table's rows; `score` gives each row's reconstruction error.

    >>> scorer = OutlierScorer(schema, seed=0).fit(train)
    >>> scores = scorer.score(holdout).scores  # one float per row, higher = more outlying

    ``schema`` names the columns and their kinds (ids and all-null columns are left out, as
    generators leave them); ``seed`` decides the initial weights and the batch order, so the
    same seed, table and thread count give the same scores. ``progress`` hears one step per
    epoch of each network.
    """

    def __init__(
        self,
        schema: TableSchema,
        *,
        seed: int,
        settings: AutoencoderSettings | None = None,
        min_category_count: int = DEFAULT_MIN_CATEGORY_COUNT,
        progress: Progress | None = None,
    ) -> None:
        columns = schema.modelled()
        if not columns:
            raise DataError("an outlier score needs at least one column that is not an id or all missing")
        self.transformer = TabularTransformer(columns, min_category_count=min_category_count)
        self.seed = seed
        self.settings = settings or AutoencoderSettings()
        if self.settings.models < 1:
            raise ValueError("an outlier scorer needs at least one network")
        self.progress = progress or NullProgress()
        #: Each network's loss per epoch (`synthpriv.training.loop.train`'s records).
        self.histories: list[list[dict[str, float]]] = []
        self._networks: list[_FittedNetwork] = []
        self._span_columns: np.ndarray = np.zeros((0, 0))
        self._span_errors = SpanErrors(())
        self._columns: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns errors are given for, after `fit` (`PATTERN_NAME` for the missing-value pattern)."""
        return self._columns

    def fit(self, table: pd.DataFrame) -> OutlierScorer:
        """Fit the encoding and train the networks on ``table``'s rows; DataError when it has none."""
        if len(table) == 0:
            raise DataError("an outlier score needs at least one row to fit on")
        self.transformer.fit(table)
        spans = self.transformer.spans
        self._columns = tuple(dict.fromkeys(_column_name(span) for span in spans))
        # [spans, columns]: which column each span's error counts for (a number's value and its
        # missing flag both count for the number).
        self._span_columns = np.zeros((len(spans), len(self._columns)))
        self._span_columns[np.arange(len(spans)), [self._columns.index(_column_name(s)) for s in spans]] = 1.0
        self._span_errors = SpanErrors(spans)
        rows = EncodedRows(self.transformer.encode(table), "cpu")
        seeds = np.random.SeedSequence(self.seed % 2**63).spawn(self.settings.models)
        self._networks, self.histories = [], []
        for child in seeds:
            network, history = self._train_one(rows, child)
            scale = np.maximum(self._raw_errors(network, rows).mean(axis=0), _MIN_COLUMN_ERROR)
            self._networks.append(_FittedNetwork(network, scale))
            self.histories.append(history)
        return self

    def score(self, table: pd.DataFrame) -> OutlierScores:
        """Each row's score and column errors (module docstring); ValueError before `fit`."""
        if not self._networks:
            raise ValueError("fit the scorer before scoring")
        rows = EncodedRows(self.transformer.encode(table), "cpu")
        errors = np.mean([self._raw_errors(n.network, rows) / n.scale for n in self._networks], axis=0)
        return OutlierScores(scores=errors.mean(axis=1), column_errors=errors, columns=self._columns)

    def _train_one(
        self, rows: EncodedRows, seed: np.random.SeedSequence
    ) -> tuple[nn.Sequential, list[dict[str, float]]]:
        init_seed, order_seed = (int(word) for word in seed.generate_state(2, dtype=np.uint64) >> 1)
        network = _network(self.transformer.width, self.settings, init_seed)
        history = train(
            _ReconstructionPlan(network, self._span_errors, self.settings),
            rows,
            epochs=self.settings.epochs_for(len(rows)),
            batch_size=self.settings.batch_size,
            generator=torch.Generator().manual_seed(order_seed),
            progress=self.progress,
        )
        return network.eval(), history

    def _raw_errors(self, network: nn.Sequential, rows: EncodedRows, chunk: int = 4096) -> np.ndarray:
        """``[rows, columns]``: one network's reconstruction errors, before the per-column scaling."""
        out = np.zeros((len(rows), len(self._columns)))
        with torch.inference_mode():
            for start in range(0, len(rows), chunk):
                batch = rows[torch.arange(start, min(start + chunk, len(rows)))]
                by_span = self._span_errors(network(batch), batch).double().numpy()
                out[start : start + len(batch)] = by_span @ self._span_columns
        return out


@dataclass(frozen=True)
class _FittedNetwork:
    network: nn.Sequential
    scale: np.ndarray
    """``[columns]``: the network's mean error in each column over the fitted rows (floored)."""


class SpanErrors:
    """Each span's reconstruction error, computed for all spans at once (one op per kind, not per span).

    ``[rows, spans]``: the squared error of each value span, and the cross-entropy of each
    category block, ``logsumexp`` of its logits minus the logit of the true category (the batch
    is one-hot there). On 256 Adult rows (15 spans) the forward and backward pass took 1.9 ms
    this way, 2.4 ms with one cross-entropy call per block.
    """

    def __init__(self, spans: tuple[Span, ...]) -> None:
        self.n_spans = len(spans)
        values = [i for i, s in enumerate(spans) if s.activation == "identity"]
        blocks = [i for i, s in enumerate(spans) if s.activation != "identity"]
        self.value_spans = torch.tensor(values, dtype=torch.long)
        self.value_columns = torch.tensor([spans[i].start for i in values], dtype=torch.long)
        self.block_spans = torch.tensor(blocks, dtype=torch.long)
        self.block_columns = torch.tensor([c for i in blocks for c in range(spans[i].start, spans[i].stop)])
        segment = [b for b, i in enumerate(blocks) for _ in range(spans[i].width)]
        self.segment = torch.tensor(segment, dtype=torch.long)

    def __call__(self, output: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        rows = output.shape[0]
        errors = output.new_zeros((rows, self.n_spans))
        squared = (output[:, self.value_columns] - batch[:, self.value_columns]).square()
        errors = errors.index_copy(1, self.value_spans, squared)
        if len(self.block_spans) == 0:
            return errors
        logits, onehot = output[:, self.block_columns], batch[:, self.block_columns]
        index = self.segment.expand(rows, -1)
        blocks = len(self.block_spans)
        # The shift is a constant for the gradient: logsumexp(x) = m + log(sum(exp(x - m))) for any m.
        shift = logits.new_full((rows, blocks), -torch.inf).scatter_reduce(
            1, index, logits.detach(), reduce="amax", include_self=True
        )
        total = logits.new_zeros((rows, blocks)).scatter_add(
            1, index, torch.exp(logits - shift.gather(1, index))
        )
        true_logit = logits.new_zeros((rows, blocks)).scatter_add(1, index, logits * onehot)
        return errors.index_copy(1, self.block_spans, total.log() + shift - true_logit)


def _column_name(span: Span) -> str:
    return PATTERN_NAME if span.column == PATTERN_COLUMN else span.column


def _network(width: int, settings: AutoencoderSettings, seed: int) -> nn.Sequential:
    """``width -> hidden -> bottleneck -> hidden -> width``, initialised from ``seed`` alone."""
    # A forked generator: the weights depend on the seed, and the caller's torch state is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        hidden, bottleneck = settings.hidden, settings.bottleneck
        return nn.Sequential(
            nn.Linear(width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, bottleneck),
            nn.ReLU(),
            nn.Linear(bottleneck, hidden),
            nn.ReLU(),
            nn.Linear(hidden, width),
        )


class _ReconstructionPlan(TrainingPlan):
    """One step: reconstruct the batch, mean over rows of the summed span errors, Adam."""

    kind = "outlier autoencoder"

    def __init__(self, network: nn.Sequential, errors: SpanErrors, settings: AutoencoderSettings) -> None:
        self.network, self.errors = network, errors
        self.optimizer = torch.optim.Adam(
            network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        self.real_rows = RowStep({"autoencoder": network}, self.optimizer, shuffled_batches)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"autoencoder": self.network}

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        return (self.optimizer,)

    def step(self, batch: torch.Tensor) -> Mapping[str, torch.Tensor]:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.errors(self.network(batch), batch).sum(dim=1).mean()
        self.real_rows.backward(loss)
        self.optimizer.step()
        return {"loss": loss.detach()}
