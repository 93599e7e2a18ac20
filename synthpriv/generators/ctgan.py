"""CTGAN: a conditional Wasserstein GAN for tables (Xu et al., 2019), written for this package.

- A *conditional vector* names one category of one categorical column. Training by sampling
  picks the column uniformly, then a category with probability proportional to the log of
  its frequency, then a real row that has it: rare categories are seen far more often than
  their share, and the generator learns them (the paper's answer to imbalanced columns).
- The generator maps noise and the condition to a row; numbers come out as they are (they are
  N(0, 1) quantile-normal scores, so no squashing activation), each softmax block through a
  Gumbel-softmax with temperature 0.2 while training. A cross-entropy penalty makes the
  conditioned block produce the conditioned category.
- The critic judges ``pac`` rows at once (PacGAN, against mode collapse) with their conditions,
  under the WGAN-GP loss. It uses only Linear, LeakyReLU and Dropout, so DP-SGD can wrap it.

Everything per column is done with index tensors, so a step costs the same few tensor ops
however many columns the table has.

Per-row losses (what a DP-SGD trainer requires, `Trainer.per_row_losses`): only the critic
reads real rows, so the critic is the plan's real-row part; the generator learns from the
critic alone and its updates are post-processing (plain Adam). Three parts of CTGAN make a
row's gradient depend on other rows and are replaced when the trainer requires per-row
losses (see `_RowSeparableGANPlan` for each choice and its reason): training by sampling
(real rows are drawn by the trainer's sampler, each conditioned on its own category, and the
generator's conditions are estimated from its own rows, `GeneratedConditions`), PacGAN
packing (``pac`` is 1), and the gradient penalty (the critic's weights are clamped instead,
`clip_critic_weights`). The generator kept is the moving average of its weights
(`GeneratorAverage`). A fit whose trainer does not require per-row losses is exactly the
CTGAN above. The generator reads only that requirement, never whether the fit is private.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar, cast

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_linear_bn_eval

from synthpriv.data.spans import EncodedTable, Span, spans_width
from synthpriv.generators.base import Generator
from synthpriv.generators.conditions import FixedCategory
from synthpriv.generators.layers import adam
from synthpriv.generators.params import GANParams, GeneratorParams
from synthpriv.runtime.progress import Progress
from synthpriv.training.loop import EncodedRows, TrainingPlan
from synthpriv.training.seam import Trainer, child_seed

#: Gumbel-softmax temperature of CTGAN: near one-hot outputs that still pass gradients.
GUMBEL_TAU = 0.2
#: Adam moments of WGAN-GP (Gulrajani et al., 2017), kept by CTGAN.
ADAM_BETAS = (0.5, 0.9)
#: Per-row losses: how far each generator step moves the condition weights towards the frequencies
#: seen in its own rows (an exponential moving average over about 1 / rate steps).
CONDITION_RATE = 0.05
#: Per-row losses: the bound on the critic's weights (`clip_critic_weights`), the original WGAN's.
CRITIC_WEIGHT_CLIP = 0.01
#: Per-row losses: the decay of the generator's weight average (`GeneratorAverage`): the last few
#: hundred generator steps count.
GENERATOR_AVERAGE_DECAY = 0.995
#: Per-row losses: batches of generated rows that refit the averaged generator's BatchNorm
#: statistics and condition weights after training.
AVERAGE_CALIBRATION_BATCHES = 20
#: Sampling: the most entries (width x rows) of one pass's raw output, 64 MB of float32. Up to
#: about 300 columns a 50,000-row batch is one pass; a 20,000-level column takes 800 rows a pass.
GENERATE_CELLS = 2**24
#: The most weights of the generator's direct condition-to-output path before it is made
#: low-rank (`CondGenerator`): 16 million, a 4,000-level column's worth.
CONDITION_OUTPUT_CELLS = 2**24


@dataclass(frozen=True)
class GANLayout:
    """Index tensors over an encoded row: where values, softmax blocks and conditions live."""

    width: int
    value_index: torch.Tensor  # [V] matrix column of each value
    softmax_index: torch.Tensor  # [S] matrix columns of all softmax blocks, block after block
    pad_index: torch.Tensor  # [B * max_width] position in the softmax columns, S for padding
    valid: torch.Tensor  # [S] position of each softmax column in the padded [B * max_width] view
    layout: torch.Tensor  # [width] position of each matrix column in cat(values, softmax columns)
    blocks: tuple[Span, ...]  # every softmax span (categories and missing flags)
    max_width: int
    cond_spans: tuple[Span, ...]  # the category spans the condition ranges over
    cond_block: torch.Tensor  # [K] which softmax block each condition span is
    cond_offset: torch.Tensor  # [K] where each condition span starts in the condition vector
    cond_width: int  # C, the condition vector's width

    @classmethod
    def from_spans(cls, spans: tuple[Span, ...]) -> GANLayout:
        """Precompute the index tensors for ``spans``."""
        values = [s for s in spans if s.activation == "identity"]
        blocks = tuple(s for s in spans if s.activation == "softmax")
        softmax_index = [i for s in blocks for i in range(s.start, s.stop)]
        max_width = max((s.width for s in blocks), default=1)
        pad = np.full((len(blocks), max_width), len(softmax_index), dtype=np.int64)
        valid: list[int] = []
        position = 0
        for b, span in enumerate(blocks):
            pad[b, : span.width] = np.arange(position, position + span.width)
            valid += range(b * max_width, b * max_width + span.width)
            position += span.width
        combined = [s.start for s in values] + softmax_index
        layout = np.empty(spans_width(spans), dtype=np.int64)
        layout[combined] = np.arange(len(combined))
        cond = [b for b, s in enumerate(blocks) if s.role == "category"]
        widths = [blocks[b].width for b in cond]
        return cls(
            width=spans_width(spans),
            value_index=torch.tensor([s.start for s in values], dtype=torch.long),
            softmax_index=torch.tensor(softmax_index, dtype=torch.long),
            pad_index=torch.from_numpy(pad.ravel()),
            valid=torch.tensor(valid, dtype=torch.long),
            layout=torch.from_numpy(layout),
            blocks=blocks,
            max_width=max_width,
            cond_spans=tuple(blocks[b] for b in cond),
            cond_block=torch.tensor(cond, dtype=torch.long),
            cond_offset=torch.tensor(np.r_[0, np.cumsum(widths)[:-1]] if widths else [], dtype=torch.long),
            cond_width=int(sum(widths)),
        )

    def padded(self, logits: torch.Tensor) -> torch.Tensor:
        """``[rows, blocks, max_width]``: the softmax columns ``logits`` per block, padded with -inf."""
        logits = torch.cat([logits, logits.new_full((len(logits), 1), float("-inf"))], dim=1)
        return logits.index_select(1, self.pad_index).view(len(logits), len(self.blocks), self.max_width)

    def assemble(self, values: torch.Tensor, padded: torch.Tensor) -> torch.Tensor:
        """Rows in the matrix layout from values and padded per-block outputs."""
        compact = padded.reshape(len(padded), -1).index_select(1, self.valid)
        return torch.cat([values, compact], dim=1).index_select(1, self.layout)

    def cond_one_hot(self, cond_index: torch.Tensor) -> torch.Tensor:
        """``[rows, C]`` one-hot condition vectors of flat condition indices."""
        out = torch.zeros(len(cond_index), self.cond_width, device=cond_index.device)
        if self.cond_width:
            out.scatter_(1, cond_index[:, None], 1.0)
        return out

    def to(self, device: torch.device | str) -> GANLayout:
        """The same layout with its index tensors on ``device``."""
        moved = {k: v.to(device) for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return GANLayout(**{**vars(self), **moved})


class _Block(nn.Module):
    """``ReLU(BN(Linear(x)))``, added to ``x`` when the widths agree (a residual block)."""

    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(fan_in, fan_out)
        self.bn = nn.BatchNorm1d(fan_out)
        self.residual = fan_in == fan_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.fc(x)))
        return x + h if self.residual else h

    def inference(self, x: torch.Tensor) -> torch.Tensor:
        """`forward` in eval mode with the BatchNorm folded into the Linear layer."""
        h = torch.relu_(fuse_linear_bn_eval(self.fc, self.bn)(x))
        return x + h if self.residual else h


class CondGenerator(nn.Module):
    """Noise and a condition to a raw row (logits for blocks, the numbers themselves for values).

    The condition is one category, so its one-hot product with a weight matrix is a row of
    that matrix: an embedding, which costs nothing at sampling time. It enters at the input
    (as CTGAN's concatenated one-hot does) and, directly, at the output logits. That direct
    path has conditions x output columns weights: past `CONDITION_OUTPUT_CELLS` (a column of
    a few thousand levels) it is low-rank (`LowRankEmbedding`), or a 20,000-level column
    would need 400 million weights, 6 GB with their gradients and Adam's moments.
    """

    def __init__(self, noise_dim: int, cond_width: int, dims: Sequence[int], out_width: int) -> None:
        super().__init__()
        self.noise_in = nn.Linear(noise_dim, dims[0])
        self.cond_in = nn.Embedding(max(cond_width, 1), dims[0])
        self.bn_in = nn.BatchNorm1d(dims[0])
        self.body = nn.ModuleList(_Block(fan_in, fan_out) for fan_in, fan_out in pairwise(dims))
        self.out = nn.Linear(dims[-1], out_width)
        self.cond_out: nn.Embedding | LowRankEmbedding
        if max(cond_width, 1) * out_width <= CONDITION_OUTPUT_CELLS:
            self.cond_out = nn.Embedding(max(cond_width, 1), out_width)
            nn.init.zeros_(self.cond_out.weight)
        else:
            self.cond_out = LowRankEmbedding(cond_width, out_width, rank=dims[-1])

    def forward(self, noise: torch.Tensor, cond_index: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn_in(self.noise_in(noise) + self.cond_in(cond_index)))
        for block in self.body:
            h = block(h)
        return self.out(h) + self.cond_out(cond_index)

    def inference_t(self, noise: torch.Tensor, cond_index: torch.Tensor) -> torch.Tensor:
        """`forward` in eval mode, transposed (``[out_width, rows]``), BatchNorm folded in.

        Transposed, each output column is a contiguous row, so the per-block work of sampling
        runs on contiguous memory.

        The folded layers are rebuilt on each call (microseconds), so they never go stale.
        Sampling is then matrix products and ReLUs only: BatchNorm would add two full passes
        over every hidden activation.
        """
        assert self.bn_in.running_var is not None
        scale = self.bn_in.weight / torch.sqrt(self.bn_in.running_var + self.bn_in.eps)
        noise_in = fuse_linear_bn_eval(self.noise_in, self.bn_in)
        cond_in = (self.cond_in.weight * scale).index_select(0, cond_index)
        h = torch.relu_(torch.addmm(noise_in.bias, noise, noise_in.weight.t()).add_(cond_in))
        # `body` holds only _Blocks (built in __init__); ModuleList's items are typed as Module.
        for block in cast("Iterable[_Block]", self.body):
            h = block.inference(h)
        raw_t = torch.addmm(self.out.bias[:, None], self.out.weight, h.t())
        if isinstance(self.cond_out, LowRankEmbedding):
            return raw_t.add_(self.cond_out.rows_t(cond_index))
        return raw_t.add_(self.cond_out.weight.t().index_select(1, cond_index))


class LowRankEmbedding(nn.Module):
    """An ``[n, width]`` embedding as the product of ``[n, rank]`` and ``[rank, width]`` weights.

    The output half starts at zero, so the embedding starts at zero (as CTGAN's direct
    condition path does) while the input half still gets gradients once it moves.
    """

    def __init__(self, n: int, width: int, rank: int) -> None:
        super().__init__()
        self.codes = nn.Embedding(n, rank)
        self.out = nn.Linear(rank, width, bias=False)
        nn.init.zeros_(self.out.weight)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.out(self.codes(index))

    def rows_t(self, index: torch.Tensor) -> torch.Tensor:
        """``[width, len(index)]``: the embeddings of ``index``, transposed."""
        return self.out.weight @ self.codes.weight.index_select(0, index).t()


def critic_network(in_features: int, dims: Sequence[int], dropout: float) -> nn.Sequential:
    """CTGAN's critic: ``Linear + LeakyReLU(0.2) + Dropout`` per hidden layer, then a score."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip([in_features, *dims[:-1]], dims, strict=True):
        layers += [nn.Linear(fan_in, fan_out), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
    layers.append(nn.Linear(dims[-1], 1))
    return nn.Sequential(*layers)


class ConditionSampler:
    """Training by sampling, as a batch sampler for `train`.

    Each batch draws a condition per row (a column uniformly, then a category by
    log-frequency) and a real row that has that category. The rows of each (column,
    category) sit contiguously in one flat array, so a draw is a few tensor ops. The
    conditions of the batch being yielded are in `cond_index` while the step runs (the
    loop's sampler yields row indices only).
    """

    def __init__(self, data: EncodedTable, layout: GANLayout, steps: int) -> None:
        self.layout, self.steps = layout, steps
        counts, flat, starts = [], [], []
        for k, span in enumerate(layout.cond_spans):
            # The rows of each category, from the codes: no one-hot of the column is needed.
            category = data.codes[:, int(layout.cond_block[k])].astype(np.int64)
            count = np.bincount(category, minlength=span.width)
            flat.append(np.argsort(category, kind="stable"))
            starts.append(k * len(data) + np.r_[0, np.cumsum(count)[:-1]])
            counts.append(count)
        self.counts = torch.from_numpy(np.concatenate(counts) if counts else np.zeros(0, np.int64))
        self.flat_rows = torch.from_numpy(np.concatenate(flat) if flat else np.zeros(0, np.int64))
        self.starts = torch.from_numpy(np.concatenate(starts) if starts else np.zeros(0, np.int64))
        # CTGAN draws categories by log(1 + frequency): rare ones far above their share.
        self.cumulative = stacked_cumulative(layout, torch.log1p(self.counts.double()))
        self.cond_index = torch.zeros(0, dtype=torch.long)

    def __call__(self, rows: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        n = batch_size
        for _ in range(self.steps):
            if not self.layout.cond_spans:
                self.cond_index = torch.zeros(n, dtype=torch.long)
                yield torch.randint(rows, (n,), generator=generator)
                continue
            self.cond_index = draw_conditions(self.layout, self.cumulative, n, generator)
            count = self.counts[self.cond_index]
            pick = (
                (torch.rand(n, generator=generator, dtype=torch.float64) * count).long().clamp_max(count - 1)
            )
            yield self.flat_rows[self.starts[self.cond_index] + pick]


def stacked_cumulative(layout: GANLayout, weights: torch.Tensor) -> torch.Tensor:
    """``[C]``: for entry ``c`` of condition span ``k``, ``k`` plus the cumulative probability
    of ``c`` within its span, from ``weights`` (one per condition-vector entry).

    The result increases across spans, so one `searchsorted` of ``k + u`` draws a category
    of span ``k`` for every row at once.
    """
    out = torch.zeros(layout.cond_width, dtype=torch.float64)
    for k, span in enumerate(layout.cond_spans):
        start = int(layout.cond_offset[k])
        w = weights[start : start + span.width].double()
        out[start : start + span.width] = k + torch.cumsum(w / w.sum().clamp_min(1e-12), 0)
        out[start + span.width - 1] = k + 1.0  # exactly, whatever the rounding
    return out


def draw_conditions(
    layout: GANLayout, cumulative: torch.Tensor, n: int, generator: torch.Generator
) -> torch.Tensor:
    """``n`` flat condition indices: a condition span uniformly, then a category by ``cumulative``
    (from `stacked_cumulative`)."""
    span = torch.randint(len(layout.cond_spans), (n,), generator=generator, dtype=torch.float64)
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.searchsorted(cumulative, span + u, right=True).clamp_max_(layout.cond_width - 1)


class _GANPlan(TrainingPlan):
    """One CTGAN step: ``critic_steps`` WGAN-GP critic updates, then one generator update."""

    kind = "gan"

    def __init__(
        self, model: CTGAN, sampler: ConditionSampler, noise: torch.Generator, trainer: Trainer
    ) -> None:
        self.model, self.sampler, self.noise = model, sampler, noise
        params = model.gan_params
        self.g_optimizer = _adam(list(model.generator_net.parameters()), params)
        critic_optimizer = _adam(list(model.critic.parameters()), params)
        # The critic reads the real rows, drawn by training by sampling.
        self.real_rows = trainer.attach(
            {"critic": model.critic}, critic_optimizer, sampler=sampler, seed=model.seed
        )
        self.c_optimizer = self.real_rows.optimizer

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.model.generator_net, "critic": self.model.critic}

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        return (self.g_optimizer, self.c_optimizer)

    def step(self, batch: torch.Tensor) -> Mapping[str, torch.Tensor]:
        model, steps = self.model, self.model.gan_params.critic_steps
        cond_index = self.sampler.cond_index.to(batch.device)
        cond = model.layout.cond_one_hot(cond_index)
        chunks = list(zip(batch.chunk(steps), cond_index.chunk(steps), cond.chunk(steps), strict=True))
        for real, index, vector in chunks[:-1]:
            with torch.no_grad():
                fake, _ = model._generate_train(index, self.noise)
            self._critic_step(real, fake, vector)
        real, index, vector = chunks[-1]
        # The last critic update and the generator update share one fake batch (as the
        # DCGAN recipe does): the generator has not moved in between, so its graph is valid
        # and one of the two generator passes is saved.
        fake, condition_ce = model._generate_train(index, self.noise)
        critic_loss, penalty, distance = self._critic_step(real, fake.detach(), vector)
        generator_loss = self._generator_step(fake, condition_ce, vector)
        return {
            "critic_loss": critic_loss,
            "generator_loss": generator_loss,
            "gradient_penalty": penalty,
            "wasserstein_distance": distance,
            "condition_ce": condition_ce.detach(),
        }

    def _critic_step(
        self, real: torch.Tensor, fake: torch.Tensor, cond: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        model, params = self.model, self.model.gan_params
        real_rows, fake_rows = torch.cat([real, cond], 1), torch.cat([fake, cond], 1)
        packs = len(real) // params.pac
        alpha = torch.rand(packs, 1, 1, generator=self.noise).to(real.device)
        mixed = torch.lerp(
            fake_rows.view(packs, params.pac, -1), real_rows.view(packs, params.pac, -1), alpha
        )
        mixed = mixed.view(packs, -1).requires_grad_(True)
        # Real and fake share one pass; the penalty's double backward runs on its own pass,
        # so it costs a third of what it would over all three sets of packs.
        real_score, fake_score = model.critic(
            torch.cat([real_rows.view(packs, -1), fake_rows.view(packs, -1)])
        ).view(2, packs)
        (grad,) = torch.autograd.grad(model.critic(mixed).sum(), mixed, create_graph=True)
        penalty = params.gradient_penalty * (grad.norm(2, dim=1) - 1).square().mean()
        distance = real_score.mean() - fake_score.mean()
        loss = -distance + penalty
        self.c_optimizer.zero_grad(set_to_none=True)
        self.real_rows.backward(loss)
        self.c_optimizer.step()
        return loss.detach(), penalty.detach(), distance.detach()

    def _generator_step(
        self, fake: torch.Tensor, condition_ce: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        model, params = self.model, self.model.gan_params
        packs = len(fake) // params.pac
        model.critic.requires_grad_(False)  # the critic's gradients are not needed here
        try:
            score = model.critic(torch.cat([fake, cond], 1).view(packs, -1)).mean()
        finally:
            model.critic.requires_grad_(True)
        loss = -score + condition_ce
        self.g_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.g_optimizer.step()
        return loss.detach()


def _adam(parameters: list[nn.Parameter], params: GANParams) -> torch.optim.Adam:
    """Adam with CTGAN's moments (`layers.adam`)."""
    return adam(parameters, lr=params.learning_rate, weight_decay=params.weight_decay, betas=ADAM_BETAS)


# -- per-row losses (DP-SGD) ------------------------------------------------------------


def own_conditions(layout: GANLayout, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``[rows]`` flat condition indices: per row, a condition span drawn uniformly and the
    category the row itself has there.

    The DP replacement of training by sampling, which picks a category by its frequency in
    the real table and then a row that has it: the frequency table is a statistic of the
    whole table (one row more or less changes which rows every later draw picks), while this
    condition depends on its own row alone (and on coin flips that ignore the data), so a
    row's contribution to a step still comes from that row only, as per-row clipping needs.
    The span draws come from a stream of their own: their number is the Poisson batch's
    size, which must not shift the random numbers of the generator's rows.
    """
    n = len(rows)
    if not layout.cond_spans:
        return torch.zeros(n, dtype=torch.long, device=rows.device)
    span = torch.randint(len(layout.cond_spans), (n,), generator=generator).to(rows.device)
    padded = layout.padded(rows.index_select(1, layout.softmax_index))
    category = padded[torch.arange(n, device=rows.device), layout.cond_block[span]].argmax(-1)
    return layout.cond_offset[span] + category


class GeneratedConditions:
    """The generator's condition distribution under per-row losses, estimated from its own rows.

    Non-private CTGAN draws the generator's conditions (while training and when sampling)
    from the category frequencies of the real table; under DP nothing may read them. So the
    weights start uniform over each column's released categories (the private transformer's
    lists: public or DP-released) and after each generator step move towards the frequencies
    of the categories the generator produced (`observe`). The frequency of column ``k`` is
    counted only in rows conditioned on *another* column: those rows' column ``k`` is what the
    generator learned from the private critic, while rows conditioned on ``k`` merely echo
    the weights. The real frequencies are a fixed point of this update (if every condition
    follows them, the generator's other columns do too), so the weights converge towards
    what the critic taught. All of it is post-processing of the private critic.

    With a single categorical column there is no other column to count in: its weights stay
    uniform (the generator still learns every other column given that one).
    """

    def __init__(self, layout: GANLayout, rate: float = CONDITION_RATE) -> None:
        self.layout, self.rate = layout, rate
        spans = layout.cond_spans
        empty_long = [torch.zeros(0, dtype=torch.long)]
        self.weights = torch.cat(
            [torch.full((s.width,), 1.0 / s.width, dtype=torch.float64) for s in spans]
            or [torch.zeros(0, dtype=torch.float64)]
        )
        # Position of each condition-vector entry in a [K, max_width] per-span view.
        self._entries = torch.cat(
            [k * layout.max_width + torch.arange(s.width) for k, s in enumerate(spans)] or empty_long
        )
        self._span_of_entry = torch.cat(
            [torch.full((s.width,), k) for k, s in enumerate(spans)] or empty_long
        )

    def draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` flat condition indices: a span uniformly, then a category by the weights."""
        if not self.layout.cond_spans:
            return torch.zeros(n, dtype=torch.long)
        return draw_conditions(self.layout, stacked_cumulative(self.layout, self.weights), n, generator)

    @torch.no_grad()
    def observe(self, rows: torch.Tensor, cond_index: torch.Tensor) -> None:
        """Move the weights towards the categories of generated ``rows`` drawn for ``cond_index``.

        The training rows' blocks are Gumbel-softmax outputs; their argmax is an exact draw
        from the block's softmax (the Gumbel-max trick), the distribution sampling uses.
        """
        layout, spans = self.layout, self.layout.cond_spans
        if len(spans) < 2 or not len(rows):
            return
        blocks = layout.padded(rows.index_select(1, layout.softmax_index)).index_select(1, layout.cond_block)
        hits = nn.functional.one_hot(blocks.argmax(-1), layout.max_width).double()  # [n, K, max_width]
        conditioned = torch.searchsorted(layout.cond_offset, cond_index, right=True) - 1
        counted = conditioned[:, None] != torch.arange(len(spans), device=rows.device)  # [n, K]
        totals = counted.sum(0).cpu()
        frequencies = (hits * counted[..., None]).sum(0).cpu() / totals.clamp_min(1)[:, None]
        seen = (totals > 0)[self._span_of_entry]
        target = frequencies.flatten()[self._entries]
        self.weights[seen] = torch.lerp(self.weights[seen], target[seen], self.rate)


@torch.no_grad()
def clip_critic_weights(critic: nn.Module, bound: float = CRITIC_WEIGHT_CLIP) -> None:
    """Clamp every Linear weight of the critic to ``[-bound, bound]`` (the original WGAN's
    Lipschitz constraint, Arjovsky et al., 2017), after each DP-SGD step.

    Why not CTGAN's gradient penalty: it evaluates the critic on rows mixed from a real and a
    fake one and differentiates the critic's input gradient, a second pass through the critic
    per step (the per-row clipping hooks allow one) whose per-row weight gradients are not
    the outer products the hooks compute. Clamping instead only reads the released, noisy
    weights, so it is post-processing and costs no privacy. A spectral-norm projection of each
    layer (also post-processing) was the other candidate; on Adult at epsilon 3 (30 epochs,
    two seeds, both with `GeneratorAverage`) clamping gave 8-10 % shape and 31-34 % trend
    error against 10 % and 49-51 %.
    Biases are left free: they shift the score and do not change its Lipschitz constant.
    """
    for layer in critic.modules():
        if isinstance(layer, nn.Linear):
            layer.weight.clamp_(-bound, bound)


class GeneratorAverage:
    """An exponential moving average of the generator's weights, kept under per-row losses.

    The private critic's noise reaches the generator as a gradient that changes direction
    from step to step, so the generator's weights wander around where the critic's signal
    points. Their average (Polyak averaging, which Yazici et al., 2019, found to help GANs in
    general) keeps the signal and cancels much of the wander: on Adult at epsilon 3 (30
    epochs, two seeds, with either critic constraint) it cut the shape error from 21-27 % to
    8-10 %. It reads only the generator's weights, so it is post-processing. Non-private fits
    keep the last weights, as CTGAN does.
    """

    def __init__(self, module: nn.Module, decay: float = GENERATOR_AVERAGE_DECAY) -> None:
        self.module, self.decay, self.updates = module, decay, 0
        self.average = [p.detach().clone() for p in module.parameters()]

    @torch.no_grad()
    def update(self) -> None:
        """Fold in the current weights; the decay warms up so that short fits are not stuck
        near the initial weights."""
        self.updates += 1
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        torch._foreach_lerp_(self.average, [p.detach() for p in self.module.parameters()], 1.0 - decay)

    @torch.no_grad()
    def install(self, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Put the averaged weights in the module and refit its BatchNorm statistics.

        The running statistics were gathered under the live weights; each of ``batches``
        (noise and conditions, nothing read from the data) is run in training mode to
        average them afresh under the averaged ones.
        """
        for p, average in zip(self.module.parameters(), self.average, strict=True):
            p.copy_(average)
        norms = [m for m in self.module.modules() if isinstance(m, nn.BatchNorm1d)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches
        self.module.train()
        for noise, cond_index in batches:
            self.module(noise, cond_index)
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum


def critic_rows(
    layout: GANLayout,
    real: torch.Tensor,
    real_cond: torch.Tensor,
    fake: torch.Tensor,
    fake_cond: torch.Tensor,
) -> torch.Tensor:
    """The critic's input under per-row losses: one row per real and per fake row (no packing), real first."""
    return torch.cat(
        [
            torch.cat([real, layout.cond_one_hot(real_cond)], 1),
            torch.cat([fake, layout.cond_one_hot(fake_cond)], 1),
        ]
    )


def critic_row_losses(scores: torch.Tensor, real_rows: int) -> torch.Tensor:
    """Each row's WGAN critic loss: minus the score of a real row, plus that of a fake one."""
    return torch.cat([-scores[:real_rows], scores[real_rows:]])


@contextmanager
def _frozen(critic: nn.Module) -> Iterator[None]:
    """The critic as a fixed function for the generator's step: no gradients for its weights
    (which also keeps the DP hooks from recording this pass as a critic step)."""
    critic.requires_grad_(False)
    try:
        yield
    finally:
        critic.requires_grad_(True)


class _RowSeparableGANPlan(TrainingPlan):
    """One CTGAN step with per-row losses: ``critic_steps`` critic steps, each on a batch of
    its own, then one generator step. What a DP-SGD trainer requires (its real-row part
    clips each row's gradient, draws Poisson batches and adds the noise; see
    `synthpriv.privacy.attach`); this plan states only the algorithm.

    What changes from `_GANPlan`, and why:

    - Real rows are the trainer's batches (Poisson samples under DP-SGD), one per critic
      step, conditioned on their own categories (`own_conditions`); the generator's
      conditions come from `GeneratedConditions`. Nothing reads the real table's category
      frequencies.
    - No packing (``pac`` is 1): a pack of ``pac`` real rows is one critic input, so one
      row's gradient would be mixed with its pack-mates' before clipping.
    - No gradient penalty: the critic's weights are clamped instead (`clip_critic_weights`).
    - Real and fake rows go through the critic in one pass (the per-row hooks allow one pass
      per step), and the loss is the mean over all its rows of per-row WGAN losses
      (`critic_row_losses`). DP-SGD clips every row's gradient, fake rows' too, and divides
      the clipped sum by the *expected* real batch size. The fake rows do not depend on the
      real rows: there are always that expected size of them (``expected_rows``; a count equal to the drawn
      real batch would reveal it), drawn from the generator and conditions that are
      post-processing of earlier private steps. So adding or removing one real row changes
      the clipped sum by at most ``max_grad_norm``: the sensitivity DP-SGD's noise is
      calibrated for. With the fake count equal to the divisor, the fake rows' mean and the
      real rows' expected mean weigh as in the WGAN loss. An empty Poisson batch is a step
      of fake rows only: the accountant counts it, and it releases noise like any other.
    - The generator step is ordinary Adam through the frozen private critic, and the weights
      released are their moving average (`GeneratorAverage`).
    """

    kind = "gan"

    def __init__(
        self,
        model: CTGAN,
        noise: torch.Generator,
        pointers: torch.Generator,
        trainer: Trainer,
        expected_rows: int,
    ) -> None:
        self.model, self.noise, self.pointers = model, noise, pointers
        params = model.gan_params
        self.g_optimizer = _adam(list(model.generator_net.parameters()), params)
        self.real_rows = trainer.attach(
            {"critic": model.critic},
            _adam(list(model.critic.parameters()), params),
            steps_per_batch=params.critic_steps,
            seed=model.seed,
        )
        self.c_optimizer = self.real_rows.optimizer
        self.fake_rows = expected_rows
        self.conditions = GeneratedConditions(model.layout)
        self.average = GeneratorAverage(model.generator_net)
        clip_critic_weights(model.critic)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.model.generator_net, "critic": self.model.critic}

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        return (self.g_optimizer, self.c_optimizer)

    def step(self, batch: torch.Tensor) -> Mapping[str, torch.Tensor]:
        model = self.model
        reals = batch.split(self.real_rows.group_sizes(len(batch)))
        last = len(reals) - 1
        for i, real in enumerate(reals):
            if i and self.real_rows.exhausted():
                return {}
            index = self.conditions.draw(self.fake_rows, self.noise).to(batch.device)
            if i < last:
                with torch.no_grad():
                    fake, _ = model._generate_train(index, self.noise)
            else:
                # As in `_GANPlan`: the last critic step and the generator share one fake batch.
                fake, condition_ce = model._generate_train(index, self.noise)
            real_cond = own_conditions(model.layout, real, self.pointers)
            real_score, fake_score = self._critic_step(real, real_cond, fake.detach(), index)
        self.conditions.observe(fake.detach(), index)
        generator_loss = self._generator_step(fake, condition_ce, index)
        self.average.update()
        distance = real_score.mean() - fake_score.mean() if len(real_score) else fake_score.new_zeros(())
        return {
            "critic_loss": -distance,
            "generator_loss": generator_loss,
            "wasserstein_distance": distance,
            "condition_ce": condition_ce.detach(),
        }

    def _critic_step(
        self, real: torch.Tensor, real_cond: torch.Tensor, fake: torch.Tensor, fake_cond: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        critic = self.model.critic
        scores = critic(critic_rows(self.model.layout, real, real_cond, fake, fake_cond)).squeeze(1)
        self.c_optimizer.zero_grad(set_to_none=True)
        self.real_rows.backward(critic_row_losses(scores, len(real)).mean())
        self.c_optimizer.step()
        clip_critic_weights(critic)
        return scores[: len(real)].detach(), scores[len(real) :].detach()

    def _generator_step(
        self, fake: torch.Tensor, condition_ce: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        model = self.model
        with _frozen(model.critic):
            score = model.critic(torch.cat([fake, model.layout.cond_one_hot(cond)], 1)).mean()
        loss = -score + condition_ce
        self.g_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.g_optimizer.step()
        return loss.detach()

    def finish(self, batches: int = AVERAGE_CALIBRATION_BATCHES) -> None:
        """Install the averaged generator with its BatchNorm statistics, and move the condition
        weights towards the averaged generator's rows (all post-processing)."""
        model, n = self.model, self.fake_rows
        draws = []
        for _ in range(batches):
            index = self.conditions.draw(n, self.noise).to(model.device)
            noise = torch.randn(n, model.gan_params.embedding_dim, generator=self.noise).to(model.device)
            draws.append((noise, index))
        self.average.install(iter(draws))
        model.generator_net.eval()  # as it samples, and so the new statistics stay as they are
        for _ in range(batches):
            index = self.conditions.draw(n, self.noise).to(model.device)
            with torch.no_grad():
                fake, _ = model._generate_train(index, self.noise)
            self.conditions.observe(fake, index)


class CTGAN(Generator):
    """A CTGAN-style conditional GAN (``kind = "gan"``)."""

    kind: ClassVar[str] = "gan"
    description: ClassVar[str] = "conditional GAN (CTGAN-style); fits Adult in ~487 s on 2 cores"
    params_model: ClassVar[type[GeneratorParams]] = GANParams
    supports_per_row_losses: ClassVar[bool] = True
    # Measured (issue 17): on a 2,000-row table at epsilon 3 the DP GAN collapsed (one value
    # for most rows of a column, critic loss within 0.0004 of 0); on Adult at epsilon 3 its
    # trend error was 22.65 % against the DP VAE's 19.69 %. The privacy plan refuses it.
    learns_under_dp_sgd: ClassVar[bool] = False

    layout: GANLayout
    generator_net: CondGenerator
    critic: nn.Sequential
    #: [C] weights of the conditions drawn for unconditional sampling: the training rows per
    #: category, or under per-row losses the frequencies the generator learned (`GeneratedConditions`).
    category_counts: torch.Tensor
    spans: tuple[Span, ...]
    device: str

    @property
    def gan_params(self) -> GANParams:
        assert isinstance(self.params, GANParams)
        return self.params

    @property
    def pac(self) -> int:
        """Rows per critic input: ``params.pac``, or 1 under per-row losses (see `_RowSeparableGANPlan`)."""
        return 1 if self.per_row_losses else self.gan_params.pac

    @property
    def steps_per_batch(self) -> int:
        """Under per-row losses each critic step has a batch of its own: ``critic_steps`` a loop step."""
        return self.gan_params.critic_steps

    def _build(self, spans: tuple[Span, ...], device: str) -> None:
        params = self.gan_params
        self.device = device
        self.spans = spans
        self.layout = GANLayout.from_spans(spans).to(device)
        width, cond_width = self.layout.width, self.layout.cond_width
        self.generator_net = CondGenerator(params.embedding_dim, cond_width, params.generator_dims, width).to(
            device
        )
        self.critic = critic_network(
            self.pac * (width + cond_width), params.critic_dims, params.critic_dropout
        ).to(device)
        self.category_counts = torch.zeros(cond_width)

    def _fit_encoded(
        self, data: EncodedTable, *, trainer: Trainer, progress: Progress
    ) -> list[dict[str, float]]:
        if self.per_row_losses:
            return self._fit_row_separable(data, trainer=trainer, progress=progress)
        params = self.gan_params
        # Every critic batch must split into whole packs.
        batch = max(params.pac, self.batch_size // params.pac * params.pac)
        steps = max(len(data) // batch, 1)
        sampler = ConditionSampler(data, self.layout, steps)
        self.category_counts = sampler.counts.float()
        rows = EncodedRows(data, self.device)
        noise = torch.Generator().manual_seed(child_seed(self.seed, 1))
        plan = _GANPlan(self, sampler, noise, trainer)
        history = self._run_plan(
            plan,
            rows,
            trainer=trainer,
            progress=progress,
            released="GAN generator, trained through its critic",
            batch_size=batch * params.critic_steps,
        )
        self.generator_net.eval()
        self.critic.eval()
        return history

    def _fit_row_separable(
        self, data: EncodedTable, *, trainer: Trainer, progress: Progress
    ) -> list[dict[str, float]]:
        """The critic with per-row losses (`_RowSeparableGANPlan`); what is kept is the generator's
        averaged weights."""
        rows = EncodedRows(data, self.device)
        noise = torch.Generator().manual_seed(child_seed(self.seed, 1))
        pointers = torch.Generator().manual_seed(child_seed(self.seed, 3))
        # As many fake rows a critic step as real rows are expected (never the drawn count).
        expected = max(1, round(min(1.0, self.batch_size / len(data)) * len(data)))
        plan = _RowSeparableGANPlan(self, noise, pointers, trainer, expected)
        history = self._run_plan(
            plan,
            rows,
            trainer=trainer,
            progress=progress,
            released="GAN generator, trained through its critic",
        )
        plan.finish()
        self.category_counts = plan.conditions.weights.float()
        self.generator_net.eval()
        self.critic.eval()
        return history

    def _generate_train(
        self, cond_index: torch.Tensor, noise: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training rows for ``cond_index`` (Gumbel-softmax blocks) and the condition cross-entropy."""
        layout, n = self.layout, len(cond_index)
        z = torch.randn(n, self.gan_params.embedding_dim, generator=noise).to(self.device)
        raw = self.generator_net(z, cond_index)
        logits = raw.index_select(1, layout.softmax_index)
        uniform = torch.rand(logits.shape, generator=noise).clamp_(1e-10, 1.0 - 1e-7).to(self.device)
        gumbel = -torch.log(-torch.log(uniform))
        soft = torch.softmax(layout.padded((logits + gumbel) / GUMBEL_TAU), dim=-1)
        padded = layout.padded(logits)
        rows = layout.assemble(raw.index_select(1, layout.value_index), soft)
        if not layout.cond_spans:
            return rows, raw.new_zeros(())
        # Cross-entropy of the conditioned block against the conditioned category (CTGAN's penalty).
        span = torch.searchsorted(layout.cond_offset, cond_index, right=True) - 1
        category = cond_index - layout.cond_offset[span]
        log_p = torch.log_softmax(padded[torch.arange(n, device=raw.device), layout.cond_block[span]], dim=-1)
        return rows, -log_p.gather(1, category[:, None]).mean()

    def _generate(self, cond_index: torch.Tensor, generator: torch.Generator) -> EncodedTable:
        """Rows for ``cond_index``, every softmax block's category drawn from its softmax.

        All noise is drawn first, for all rows; the network then runs on chunks of rows, as
        many as keep its ``[width, rows]`` output within `GENERATE_CELLS` entries (all rows at
        once for an ordinary table; a few hundred for a 20,000-level column).
        """
        n, layout = len(cond_index), self.layout
        self.generator_net.eval()
        z = torch.randn(n, self.gan_params.embedding_dim, generator=generator)
        uniform = torch.rand(len(layout.blocks), n, generator=generator)
        out = EncodedTable.empty(self.spans, n)
        chunk = n if n * layout.width <= GENERATE_CELLS else max(16, GENERATE_CELLS // layout.width)
        with torch.inference_mode():
            for start in range(0, n, chunk):
                rows = slice(start, min(start + chunk, n))
                on = self.device
                values, codes = self._draw(z[rows].to(on), uniform[:, rows].to(on), cond_index[rows].to(on))
                out.values[rows], out.codes[rows] = values.cpu().numpy(), codes.cpu().numpy()
        return out

    def _draw(
        self, z: torch.Tensor, uniform: torch.Tensor, cond_index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(values [rows, V], codes [rows, blocks])`` of the rows of noise ``z`` and conditions,
        each block's category drawn with its row of ``uniform`` (``[blocks, rows]``)."""
        out_t = self.generator_net.inference_t(z, cond_index)
        codes = torch.zeros(len(self.layout.blocks), len(z), dtype=torch.long, device=out_t.device)
        # A loop over blocks, not rows. Inverse-CDF draws need one uniform per block where
        # Gumbel-max needs one per category, and random numbers dominate this path.
        for b, span in enumerate(self.layout.blocks):
            block = out_t[span.start : span.stop]
            # Unnormalised cumulative weights, compared with u times their total: a
            # softmax along the short axis would cost an extra pass.
            cumulative = (block - block.amax(0)).exp_().cumsum_(0)
            codes[b] = (cumulative < uniform[b] * cumulative[-1]).sum(0).clamp_max_(span.width - 1)
        return out_t.index_select(0, self.layout.value_index).t(), codes.t()

    def _sample_encoded(self, n: int, *, seed: int) -> EncodedTable:
        generator = torch.Generator().manual_seed(seed % 2**63)
        if not self.layout.cond_spans:
            return self._generate(torch.zeros(n, dtype=torch.long), generator)
        # As CTGAN samples: the condition follows the training frequencies (under per-row losses, the
        # frequencies the generator learned: `GeneratedConditions`).
        cumulative = stacked_cumulative(self.layout, self.category_counts)
        return self._generate(draw_conditions(self.layout, cumulative, n, generator), generator)

    def _sample_conditional(
        self, n: int, *, seed: int, fixed: tuple[FixedCategory, ...]
    ) -> EncodedTable | None:
        """Rows generated with the condition vector set to the rarest of the fixed categories."""
        starts = [s.start for s in self.layout.cond_spans]
        candidates = [
            (int(self.layout.cond_offset[starts.index(span.start)]) + index)
            for span, index in fixed
            if span.start in starts
        ]
        if not candidates:
            return None
        rarest = min(candidates, key=lambda c: float(self.category_counts[c]))
        generator = torch.Generator().manual_seed(seed % 2**63)
        return self._generate(torch.full((n,), rarest, dtype=torch.long), generator)

    def _state_dict(self) -> dict[str, Any]:
        state = {"generator." + k: v.detach().cpu() for k, v in self.generator_net.state_dict().items()}
        state["category_counts"] = self.category_counts.detach().cpu()
        return state

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise TypeError("weights are not a flat dict of tensors")
        if set(state) != set(self._state_dict()):
            raise KeyError("weights do not match this model's layers")
        prefix = "generator."
        self.generator_net.load_state_dict(
            {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        )
        if state["category_counts"].shape != self.category_counts.shape:
            raise ValueError("category_counts has the wrong shape")
        self.category_counts = state["category_counts"].float().clone()
        self.generator_net.eval()
