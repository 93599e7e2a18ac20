"""An autoregressive generator (``train.generator: autoregressive``), TabularARGN-style.

A row is a sequence of tokens (`synthpriv.generators.tokens`): a column's category, a
few-valued number's value, or a number's quantile bin followed by its sub-bin (so a value is
placed within ``bins x sub_bins`` quantile levels, then uniformly within its sub-bin); missing
is a token of its own. Each token *slot* has a small network of its own that predicts the
token from the tokens visible to it (Tiwald et al., "TabularARGN", arXiv 2501.12012; the
per-column design of MADE and the GPT family's next-token prediction). Its first layer takes
the visible tokens one-hot, so it is an embedding of each (slot, visible token) pair: summed
with `torch.nn.functional.embedding_bag` in a plain fit and when sampling, or a plain
``Linear`` on the masked one-hot row where the trainer needs per-row gradients (DP-SGD).

Which tokens a slot sees is the order: a share of the training rows
(``random_order_share``) is seen in a random column order, the rest in the table's. Sampling
generates in the table's order; a condition or a known cell (imputation) is simply visible
from the start, which is a context the random orders trained, so conditions hold by
construction and the other columns follow the model's conditional distribution.

A plain fit holds out ``validation_share`` of its rows and stops when their loss has not
improved for ``patience`` epochs, keeping the best weights: a small table stops before it
overfits, a large one when it is done. A private trainer allows no held-out rows
(`Trainer.may_hold_out`): then the epochs are fixed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from synthpriv.data.spans import EncodedTable, Span, softmax_spans
from synthpriv.errors import ConfigError
from synthpriv.generators.base import Generator
from synthpriv.generators.conditions import FixedCategory
from synthpriv.generators.layers import adam
from synthpriv.generators.params import DEFAULT_BATCH_SIZE, AutoregressiveParams
from synthpriv.generators.tokens import (
    Attribute,
    detokenize,
    token_attributes,
    tokenize_within,
    value_levels,
)
from synthpriv.runtime.progress import Progress
from synthpriv.training.loop import TrainingPlan
from synthpriv.training.seam import FitShape, Trainer, child_seed

#: The smallest batch a default fit of a small table takes (a tenth of its rows, at most the default).
MIN_BATCH_SIZE = 32
#: The fewest rows a quantile bin, and a sub-bin, hold on average (see `token_resolution`).
ROWS_PER_BIN = 20
ROWS_PER_LEVEL = 5
#: Rows per forward pass when sampling or scoring held-out rows.
CHUNK = 8192
#: A held-out loss must beat the best by this much to count as better (early stopping).
MIN_IMPROVEMENT = 1e-4
#: The learning rate is multiplied by this after each epoch whose held-out loss did not improve.
LR_DECAY = 0.5


def token_resolution(bins: int, sub_bins: int, rows: int) -> tuple[int, int]:
    """The bins and sub-bins a number gets from a fit of ``rows`` rows: at most the settings,
    at least `ROWS_PER_BIN` rows a bin and `ROWS_PER_LEVEL` a sub-bin on average, so that a
    small table's tokens are not one row each (on the demo's 172 rows: 8 bins of 4)."""
    coarse = min(bins, max(2, rows // ROWS_PER_BIN))
    return coarse, min(sub_bins, max(1, rows // (ROWS_PER_LEVEL * coarse)))


@dataclass(frozen=True)
class Slots:
    """The token slots of a row, in the table's order: each attribute's token, and after a
    binned number's token its sub-bin."""

    attribute: tuple[int, ...]
    """The attribute (column) each slot belongs to."""
    fine: tuple[bool, ...]
    """Whether the slot is a sub-bin (it always directly follows its bin)."""
    sizes: tuple[int, ...]

    @classmethod
    def of(cls, attributes: Sequence[Attribute], sub_bins: int) -> Slots:
        slots: list[tuple[int, bool, int]] = []
        for index, column in enumerate(attributes):
            slots.append((index, False, column.size))
            if column.binned and sub_bins > 1:
                slots.append((index, True, sub_bins))
        attribute, fine, sizes = zip(*slots, strict=True) if slots else ((), (), ())
        return cls(tuple(attribute), tuple(fine), tuple(sizes))

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def first_slot(self) -> np.ndarray:
        """Each attribute's first slot (its bin or category)."""
        fine = np.asarray(self.fine)
        return np.flatnonzero(~fine)


def slot_tokens(
    table: EncodedTable, attributes: Sequence[Attribute], slots: Slots, sub_bins: int
) -> np.ndarray:
    """The rows of ``table`` as slot tokens (rows x slots, int64)."""
    tokens, within = tokenize_within(table, attributes)
    out = tokens[:, list(slots.attribute)].astype(np.int64)
    for s in np.flatnonzero(slots.fine):
        a = slots.attribute[s]
        out[:, s] = np.minimum((within[:, a] * sub_bins).astype(np.int64), sub_bins - 1)
    return out


def decode_slots(
    tokens: np.ndarray,
    attributes: Sequence[Attribute],
    slots: Slots,
    sub_bins: int,
    spans: tuple[Span, ...],
    rng: np.random.Generator,
) -> EncodedTable:
    """Encoded rows for slot ``tokens``: a binned value uniform within its sub-bin."""
    within = rng.random((len(tokens), len(attributes)))
    for s in np.flatnonzero(slots.fine):
        a = slots.attribute[s]
        within[:, a] = (tokens[:, s] + within[:, a]) / sub_bins
    return detokenize(tokens[:, slots.first_slot], attributes, spans, within)


class _Linears(nn.ModuleList):
    """A ModuleList of ``nn.Linear`` layers, typed as such."""

    def __getitem__(self, index: int) -> nn.Linear:  # type: ignore[override]
        layer = super().__getitem__(index)
        assert isinstance(layer, nn.Linear)
        return layer

    def __iter__(self) -> Iterator[nn.Linear]:
        return (self[i] for i in range(len(self)))


class TokenNetworks(nn.Module):
    """One small network per slot: a first layer over the visible tokens (one-hot), a
    residual hidden layer, and a head giving the slot's logits.

    Every layer is an ``nn.Linear`` of its slot, so a trainer that needs per-row gradients
    (DP-SGD) sees each run once on the batch's rows (`loss` with ``per_row``). A plain fit
    computes the same numbers with every slot at once: the first layers' weights read as one
    embedding table (a one-hot row times a weight is a column of it), the hidden layers as one
    batched matrix product.
    """

    offsets: torch.Tensor
    sizes: torch.Tensor

    def __init__(self, sizes: Sequence[int], hidden: int) -> None:
        super().__init__()
        self.width, self.hidden_dim = sum(sizes), hidden
        self.first = _Linears(nn.Linear(self.width, hidden) for _ in sizes)
        self.hidden = _Linears(nn.Linear(hidden, hidden) for _ in sizes)
        self.heads = _Linears(nn.Linear(hidden, size) for size in sizes)
        offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(sizes)[:-1]]), dtype=torch.long)
        self.register_buffer("offsets", offsets, persistent=False)
        self.register_buffer("sizes", torch.as_tensor(list(sizes), dtype=torch.long), persistent=False)
        #: The first layers as embedding tables while sampling (`freeze_tables`).
        self.tables: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def __len__(self) -> int:
        return len(self.heads)

    def first_table(self, slot: int) -> torch.Tensor:
        """``[width, hidden]``: slot ``slot``'s first layer as an embedding of every token."""
        return self.first[slot].weight.t().contiguous()

    def loss(self, tokens: torch.Tensor, visible: torch.Tensor, *, per_row: bool) -> torch.Tensor:
        """The mean over rows of the summed cross-entropy of every slot, each slot seeing the
        tokens ``visible[:, slot]`` marks (``[rows, slots, slots]``)."""
        hidden = self._per_slot_hidden(tokens, visible) if per_row else self._stacked_hidden(tokens, visible)
        total = tokens.new_zeros((), dtype=torch.float32)
        for slot, head in enumerate(self.heads):
            total = total + F.cross_entropy(head(hidden[slot]), tokens[:, slot])
        return total

    def _per_slot_hidden(self, tokens: torch.Tensor, visible: torch.Tensor) -> list[torch.Tensor]:
        """Each slot's hidden activations, through its own layers on the masked one-hot rows."""
        one_hot = torch.zeros(len(tokens), self.width, device=tokens.device)
        one_hot.scatter_(1, tokens + self.offsets, 1.0)
        out = []
        for slot in range(len(self)):
            mask = visible[:, slot].repeat_interleave(self.sizes, dim=1)
            hidden = torch.relu(self.first[slot](one_hot * mask))
            out.append(torch.relu(self.hidden[slot](hidden)) + hidden)
        return out

    def _stacked_hidden(self, tokens: torch.Tensor, visible: torch.Tensor) -> list[torch.Tensor]:
        """The same activations, computed for every slot at once."""
        rows, count = tokens.shape
        table = torch.stack([layer.weight.t() for layer in self.first]).reshape(-1, self.hidden_dim)
        shift = torch.arange(count, device=tokens.device) * self.width
        index = (tokens + self.offsets)[:, None, :] + shift[None, :, None]
        summed = F.embedding_bag(
            index.reshape(rows * count, count),
            table,
            per_sample_weights=visible.reshape(rows * count, count),
            mode="sum",
        )
        first = (
            summed.reshape(rows, count, -1).transpose(0, 1)
            + torch.stack([l.bias for l in self.first])[:, None]
        )
        hidden = torch.relu(first)
        weights = torch.stack([layer.weight.t() for layer in self.hidden])
        biases = torch.stack([layer.bias for layer in self.hidden])[:, None]
        # unbind: one backward for all slots (indexing would zero-fill the whole stack per slot)
        return list((torch.relu(torch.baddbmm(biases, hidden, weights)) + hidden).unbind(0))

    @torch.no_grad()
    def generate(self, tokens: torch.Tensor, known: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``tokens`` with every slot not ``known`` drawn in slot order, each given the known
        slots and those drawn before it."""
        tokens, visible = tokens.clone(), known.float()
        index = tokens + self.offsets  # kept up to date as slots are drawn
        unseen = not bool(known.any())
        for slot in range(len(self)):
            if bool(known[:, slot].all()):
                continue
            if unseen and slot == 0:  # no row sees a token yet: one row's logits are every row's
                logits = self._inference_logits(slot, index[:1], visible[:1]).expand(len(index), -1)
            else:
                logits = self._inference_logits(slot, index, visible)
            drawn = draw_tokens(logits, generator)
            tokens[:, slot] = torch.where(known[:, slot], tokens[:, slot], drawn)
            index[:, slot] = tokens[:, slot] + self.offsets[slot]
            visible[:, slot] = 1.0
        return tokens

    def _inference_logits(self, slot: int, index: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """``[rows, size]``: slot ``slot``'s logits given the tokens ``visible`` marks, without
        autograd and in place where it can (sampling's hot loop): the first layer's weights
        summed as embeddings of the visible tokens, then the residual hidden layer and the head."""
        if not self.tables:
            self.freeze_tables()
        table, hidden, head = self.tables[slot]
        out = F.embedding_bag(index, table, per_sample_weights=visible, mode="sum")
        out = out.add_(self.first[slot].bias).relu_()
        if hidden.dtype == torch.bfloat16:
            bias = self.hidden[slot].bias.to(hidden.dtype)
            product = torch.addmm(bias, out.to(hidden.dtype), hidden).float()
        else:
            product = torch.addmm(self.hidden[slot].bias, out, hidden)
        deeper = product.relu_().add_(out)
        return torch.addmm(self.heads[slot].bias, deeper, head)

    @torch.no_grad()
    def freeze_tables(self) -> None:
        """Keep each slot's first layer as an embedding table and its other weights transposed,
        contiguous (a product with a transposed view was 30 % slower), for sampling; `train`
        drops them."""
        # The hidden product in bfloat16 where the CPU has instructions for it (AVX512-BF16):
        # sampling 15 % faster on Adult, every slot's token shares the same to 4 decimals.
        fast = self.offsets.device.type == "cpu" and torch.cpu._is_avx512_bf16_supported()
        hidden_dtype = torch.bfloat16 if fast else torch.float32
        self.tables = [
            (
                self.first_table(slot),
                self.hidden[slot].weight.t().to(hidden_dtype).contiguous(),
                self.heads[slot].weight.t().contiguous(),
            )
            for slot in range(len(self))
        ]

    def train(self, mode: bool = True) -> TokenNetworks:
        self.tables = []
        return super().train(mode)


def draw_tokens(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One token a row from ``softmax(logits)``, by inverting each row's cumulative weights
    with one uniform draw (``torch.multinomial`` draws an exponential per token: 3x slower)."""
    weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
    cumulative = weights.cumsum_(dim=1)
    uniform = torch.rand(len(logits), 1, generator=generator, device=logits.device)
    drawn = torch.searchsorted(cumulative, uniform * cumulative[:, -1:], right=True)
    return drawn.squeeze(1).clamp_(max=logits.shape[1] - 1)


def visibility(ranks: torch.Tensor, slots: Slots) -> torch.Tensor:
    """``[rows, slots, slots]``: 1 where a slot comes before another in its row's order, from
    each row's column ``ranks`` (``[rows, attributes]``; a sub-bin right after its bin)."""
    attribute = torch.as_tensor(slots.attribute, device=ranks.device)
    fine = torch.as_tensor(slots.fine, device=ranks.device, dtype=torch.long)
    slot_rank = 2 * ranks[:, attribute] + fine
    return (slot_rank[:, None, :] < slot_rank[:, :, None]).float()


def training_orders(
    rows: int, attributes: int, random_share: float, generator: torch.Generator
) -> torch.Tensor:
    """``[rows, attributes]`` column ranks: a random order for a ``random_share`` of the rows,
    the table's order for the others."""
    table_order = torch.arange(attributes).expand(rows, attributes)
    shuffled = torch.rand(rows, attributes, generator=generator).argsort(dim=1)
    chosen = torch.rand(rows, generator=generator) < random_share
    return torch.where(chosen[:, None], shuffled, table_order)


class _Plan(TrainingPlan):
    """One step: the slots' summed cross-entropy under the batch's orders; after each epoch the
    held-out loss, stopping after ``patience`` epochs without a better one."""

    kind = "autoregressive"

    def __init__(self, model: Autoregressive, held_out: torch.Tensor | None, trainer: Trainer) -> None:
        self.model, self.held_out = model, held_out
        params = model.ar_params
        self.orders = torch.Generator().manual_seed(child_seed(model.seed, 1))
        optimizer = adam(
            model.network.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
        )
        self.real_rows = trainer.attach({"network": model.network}, optimizer, seed=model.seed)
        self.best, self.waited = float("inf"), 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.held_out_losses: list[float] = []
        # A moving average of the weights: what is scored, kept and sampled from. SGD noise in
        # the last weights shows as a few points of error in every column's marginal.
        self.parameters: list[torch.Tensor] = list(model.network.parameters())
        self.average = [p.detach().clone() for p in self.parameters]

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"network": self.model.network}

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        return (self.real_rows.optimizer,)

    def step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        model, real = self.model, self.real_rows
        if not len(batch):
            real.step_without_rows()
            return {}
        ranks = training_orders(
            len(batch), len(model.attributes), model.ar_params.random_order_share, self.orders
        )
        visible = visibility(ranks.to(batch.device), model.slots)
        loss = model.network.loss(batch, visible, per_row=model.per_row_losses)
        real.optimizer.zero_grad(set_to_none=True)
        real.backward(loss)
        real.optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(self.average, self.parameters, 1.0 - self.model.ar_params.weight_average)
        return {"loss": loss.detach()}

    def use_average(self) -> None:
        """Put the averaged weights into the network (after training, or to score them)."""
        with torch.no_grad():
            torch._foreach_copy_(self.parameters, self.average)

    def end_epoch(self) -> bool:
        if self.held_out is None:
            return False
        latest = [p.detach().clone() for p in self.parameters]
        self.use_average()
        loss = self.model.held_out_loss(self.held_out)
        self.held_out_losses.append(loss)
        improved = loss < self.best - MIN_IMPROVEMENT
        if improved:
            self.best, self.waited = loss, 0
            self.best_state = {k: v.detach().clone() for k, v in self.model.network.state_dict().items()}
        with torch.no_grad():
            torch._foreach_copy_(self.parameters, latest)
        if improved:
            return False
        self.waited += 1
        # A plateau is noise as often as overfitting: a smaller step averages it out.
        for group in self.real_rows.optimizer.param_groups:
            group["lr"] *= LR_DECAY
        return self.waited >= self.model.ar_params.patience


class Autoregressive(Generator):
    """A per-column autoregressive network over the table's tokens (``kind = "autoregressive"``)."""

    kind: ClassVar[str] = "autoregressive"
    description: ClassVar[str] = (
        "per-column autoregressive network (TabularARGN-style); fits Adult in ~50 s on 2 cores"
    )
    params_model: ClassVar = AutoregressiveParams
    supports_per_row_losses: ClassVar[bool] = True

    network: TokenNetworks

    @property
    def ar_params(self) -> AutoregressiveParams:
        assert isinstance(self.params, AutoregressiveParams)
        return self.params

    def fit_shape(self, rows: int, *, fixed_budget: bool, transformer_given: bool) -> FitShape:
        # A small table gets smaller batches, so that an epoch is several steps and early
        # stopping judges learning, not a handful of updates (DP-SGD keeps its batch: the
        # noise per row shrinks with it).
        if self.requested_batch_size is None and not fixed_budget:
            self.batch_size = min(DEFAULT_BATCH_SIZE[self.kind], max(MIN_BATCH_SIZE, rows // 10))
        return super().fit_shape(rows, fixed_budget=fixed_budget, transformer_given=transformer_given)

    def _build(self, spans: tuple[Span, ...], device: str) -> None:
        transformer, _ = self._fitted()
        params = self.ar_params
        self.spans, self.device = spans, torch.device(device)
        self.bins, self.sub_bins = token_resolution(params.bins, params.sub_bins, self.train_rows)
        self.attributes = token_attributes(spans, self.bins, value_levels(transformer))
        self.slots = Slots.of(self.attributes, self.sub_bins)
        self.network = TokenNetworks(self.slots.sizes, params.hidden_dim).to(self.device)

    def _fit_encoded(
        self, data: EncodedTable, *, trainer: Trainer, progress: Progress
    ) -> list[dict[str, float]]:
        tokens = torch.from_numpy(slot_tokens(data, self.attributes, self.slots, self.sub_bins))
        train_rows, held_out = self._hold_out(tokens, trainer)
        plan = _Plan(self, held_out, trainer)
        history = self._run_plan(
            plan,
            train_rows.to(self.device),
            trainer=trainer,
            progress=progress,
            released="autoregressive weights",
        )
        for record, loss in zip(history, plan.held_out_losses, strict=False):
            record["held_out_loss"] = loss
        if plan.best_state is not None:
            self.network.load_state_dict(plan.best_state)
        else:
            plan.use_average()
        self.network.eval()
        return history

    def _hold_out(self, tokens: torch.Tensor, trainer: Trainer) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The rows to train on and those held out for early stopping (none when the trainer
        allows none, or too few rows would be held out to judge)."""
        count = int(len(tokens) * self.ar_params.validation_share)
        if not trainer.may_hold_out or count < 10:
            return tokens, None
        order = torch.randperm(len(tokens), generator=torch.Generator().manual_seed(child_seed(self.seed, 4)))
        return tokens[order[count:]], tokens[order[:count]].to(self.device)

    @torch.no_grad()
    def held_out_loss(self, tokens: torch.Tensor) -> float:
        """The mean loss of ``tokens`` in the table's order (the order sampling uses)."""
        self.network.eval()
        total = 0.0
        for chunk in tokens.split(CHUNK):
            ranks = torch.arange(len(self.attributes), device=chunk.device).expand(len(chunk), -1)
            loss = self.network.loss(chunk, visibility(ranks, self.slots), per_row=False)
            total += float(loss) * len(chunk)
        self.network.train()
        return total / len(tokens)

    def _sample_encoded(self, n: int, *, seed: int) -> EncodedTable:
        known = torch.zeros(n, len(self.slots), dtype=torch.bool)
        return self._generate(torch.zeros(n, len(self.slots), dtype=torch.long), known, seed)

    def _sample_conditional(
        self, n: int, *, seed: int, fixed: tuple[FixedCategory, ...]
    ) -> EncodedTable | None:
        """The fixed categories visible from the start, the rest generated given them: exact
        when training saw random orders (else only a prefix of the table's order is)."""
        blocks = softmax_spans(self.spans)
        slot_of_code = {
            self.attributes[a].code: s
            for s, a in enumerate(self.slots.attribute)
            if self.attributes[a].value is None
        }
        given = {slot_of_code[blocks.index(span)]: index for span, index in fixed}
        if self.ar_params.random_order_share == 0 and sorted(given) != list(range(len(given))):
            return None
        tokens = torch.zeros(n, len(self.slots), dtype=torch.long)
        known = torch.zeros(n, len(self.slots), dtype=torch.bool)
        for slot, token in given.items():
            tokens[:, slot], known[:, slot] = token, True
        return self._generate(tokens, known, seed)

    def _generate(self, tokens: torch.Tensor, known: torch.Tensor, seed: int) -> EncodedTable:
        """Rows with the ``known`` slot tokens kept and the others drawn, in chunks."""
        self.network.eval()
        draws = torch.Generator(device=self.device).manual_seed(seed % 2**63)
        parts = [
            self.network.generate(t.to(self.device), k.to(self.device), draws).cpu()
            for t, k in zip(tokens.split(CHUNK), known.split(CHUNK), strict=True)
        ]
        drawn = torch.cat(parts).numpy() if parts else tokens.numpy()
        rng = np.random.default_rng(child_seed(seed, 2))
        return decode_slots(drawn, self.attributes, self.slots, self.sub_bins, self.spans, rng)

    def _state_dict(self) -> dict[str, Any]:
        return {f"network.{k}": v.detach().cpu() for k, v in self.network.state_dict().items()}

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict({k.removeprefix("network."): v for k, v in state.items()})
        self.network.eval()

    # -- imputation (`Generator.impute`) ------------------------------------------------------

    imputes: ClassVar[bool] = True

    def _impute_encoded(self, partial: pd.DataFrame, *, seed: int) -> EncodedTable:
        """Each row's given cells as known slot tokens (a number's bin and sub-bin both), the
        others drawn given them: a context the random training orders saw, as a condition is.
        A null cell encodes as missing, which is not read: its slots are not known."""
        transformer, _ = self._fitted()
        tokens = slot_tokens(transformer.encode(partial), self.attributes, self.slots, self.sub_bins)
        # The missingness pattern is never given: it is drawn given the row's cells.
        given = partial.reindex(columns=[a.column for a in self.attributes]).notna().to_numpy()
        known = given[:, list(self.slots.attribute)]
        prefixes = bool(np.all(known[:, 1:] <= known[:, :-1]))  # each row's known slots come first
        if self.ar_params.random_order_share == 0 and not prefixes:
            raise ConfigError(
                "the model was trained in the table's column order only (random_order_share: 0), so it "
                "can complete a row only from its first columns; train with random_order_share above 0",
                where="synthesize.conditions",
            )
        return self._generate(torch.from_numpy(tokens), torch.from_numpy(known), seed)
