"""TabDDPM: Gaussian diffusion on numbers, multinomial diffusion on categories (Kotelnikov et al., 2023).

- ``value`` spans (quantile-normal numbers) follow the DDPM forward process
  ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``; the denoiser predicts the noise (Ho et al., 2020).
- every softmax block (categories and missing flags) follows multinomial diffusion (Hoogeboom
  et al., 2021): ``q(x_t | x_0) = Cat(abar_t x_0 + (1 - abar_t) / K)``; the denoiser predicts
  ``p(x_0 | x_t)`` and the loss is the ELBO term ``KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))``.
- both share one cosine schedule (Nichol & Dhariwal, 2021) and one MLP denoiser with a
  sinusoidal timestep embedding; only Linear/ReLU/SiLU layers, so DP-SGD can wrap it later.

Sampling may skip steps: the Gaussian part uses the generalized (DDIM) step between any two
timesteps, which is the exact DDPM posterior at ``eta = 1``; the categorical part uses the exact
multinomial posterior between non-adjacent steps, marginalized over the predicted ``x_0``.

Conditional sampling: during training a random share of rows gets some category blocks clean
and flagged as known (no loss on them), as classifier-free guidance drops its condition; the
one network thus learns ``p(rest | fixed categories)`` besides the unconditional model, and
sampling feeds the fixed blocks clean with their flag at every reverse step (guidance scale 1).

Per-row losses (what DP-SGD requires, `synthpriv.privacy.attach`): the denoiser is the only
part that reads real rows, so it is the plan's real-row part. Each row's timestep, noise and
known-block draws are its own, and the losses are means over rows of per-row terms, so
per-row gradients are exact. The EMA copy that samples is a function of the trained weights
only (post-processing).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from synthpriv.data.spans import EncodedTable, Span
from synthpriv.generators.base import Generator
from synthpriv.generators.conditions import FixedCategory
from synthpriv.generators.heads import SpanHeads
from synthpriv.generators.layers import adam, mlp, segment_argmax, segment_logsumexp
from synthpriv.generators.params import DiffusionParams, GeneratorParams
from synthpriv.runtime.progress import Progress
from synthpriv.training.loop import EncodedRows, TrainingPlan
from synthpriv.training.seam import Trainer, child_seed

_TINY = 1e-30
#: The transformer's normal scores lie within about +-4.75 (quantiles 1e-6 and 1 - 1e-6).
VALUE_BOUND = 5.0
#: Sampling: the most entries (rows x softmax columns) of the reverse chain's per-step tensors,
#: 32 MB of float32 each. Up to 160 softmax columns a 50,000-row batch runs as one chain; a
#: 20,000-level column runs chains of 400 rows.
REVERSE_CELLS = 2**23


# -- schedule and the two forward processes ------------------------------------------------


def cosine_alpha_bar(timesteps: int, offset: float = 0.008) -> torch.Tensor:
    """``abar_0 .. abar_T`` (length ``T + 1``, ``abar_0 = 1``) of the cosine schedule.

    Nichol & Dhariwal (2021) clip each beta at 0.999 so the last steps stay well defined.
    """
    steps = np.arange(timesteps + 1, dtype=np.float64) / timesteps
    f = np.cos((steps + offset) / (1 + offset) * np.pi / 2) ** 2
    betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
    return torch.from_numpy(np.concatenate([[1.0], np.cumprod(1.0 - betas)])).float()


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (the Transformer's positional code), ``[n, dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None, :]
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    return nn.functional.pad(embedding, (0, dim - 2 * half))


def gaussian_forward(x0: torch.Tensor, abar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """A draw from ``q(x_t | x_0) = N(sqrt(abar) x_0, (1 - abar))``; ``abar`` is ``[n, 1]``."""
    return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise


def gaussian_reverse(
    x_t: torch.Tensor,
    eps: torch.Tensor,
    abar_t: torch.Tensor,
    abar_s: torch.Tensor,
    eta: float,
    noise: torch.Tensor,
    bound: float = VALUE_BOUND,
) -> torch.Tensor:
    """One generalized step ``t -> s < t`` (Song et al., 2021); ``eta = 1`` is the DDPM posterior
    ``q(x_s | x_t, x_0)`` with the predicted ``x_0``, ``eta = 0`` the deterministic DDIM step.

    The predicted ``x_0`` is clipped to ``[-bound, bound]`` and the noise recomputed from it:
    near ``t = T`` the prediction divides by ``sqrt(abar_T)`` (about 5e-5 for the cosine
    schedule), so a tiny noise error would otherwise land far outside the data's range when
    a strided sampler jumps straight to a much less noisy step (Ho et al. clip the same way).
    """
    x0 = ((x_t - (1.0 - abar_t).sqrt() * eps) / abar_t.sqrt()).clamp(-bound, bound)
    eps = (x_t - abar_t.sqrt() * x0) / (1.0 - abar_t).sqrt()
    variance = (1.0 - abar_s) / (1.0 - abar_t) * (1.0 - abar_t / abar_s)
    sigma = eta * variance.clamp_min(0.0).sqrt()
    direction = (1.0 - abar_s - sigma.square()).clamp_min(0.0).sqrt()
    return abar_s.sqrt() * x0 + direction * eps + sigma * noise


@dataclass(frozen=True)
class Blocks:
    """The softmax blocks of an encoded row, gathered side by side (``S`` columns in all)."""

    heads: SpanHeads
    classes: torch.Tensor  # [S] the size K of the block each gathered column belongs to
    conditionable: torch.Tensor  # [n_blocks] bool: category blocks (conditions may fix them)
    offsets: dict[int, int]  # span.start -> gathered column of the span's first category

    @classmethod
    def from_spans(cls, spans: tuple[Span, ...]) -> Blocks:
        heads = SpanHeads.from_spans(spans)
        softmax = [s for s in spans if s.activation == "softmax"]
        offsets, position = {}, 0
        for span in softmax:
            offsets[span.start] = position
            position += span.width
        return cls(
            heads=heads,
            classes=torch.tensor([float(s.width) for s in softmax for _ in range(s.width)]),
            conditionable=torch.tensor([s.role == "category" for s in softmax], dtype=torch.bool),
            offsets=offsets,
        )

    def to(self, device: str) -> Blocks:
        return Blocks(
            self.heads.to(device), self.classes.to(device), self.conditionable.to(device), self.offsets
        )

    @property
    def block(self) -> torch.Tensor:
        return self.heads.softmax_block

    @property
    def n_blocks(self) -> int:
        return self.heads.n_blocks

    def segment_sum(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, n_blocks]``: the sum of ``x`` over each block's columns."""
        index = self.block.expand_as(x)
        return x.new_zeros((x.shape[0], self.n_blocks)).scatter_add(1, index, x)

    def spread(self, per_block: torch.Tensor) -> torch.Tensor:
        """``[n, S]``: each block's value repeated over its columns."""
        return per_block.gather(1, self.block.expand(per_block.shape[0], -1))

    def softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-block softmax of ``[n, S]`` logits."""
        return torch.exp(logits - self.spread(segment_logsumexp(logits, self.block, self.n_blocks)))

    def sample(self, probs: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
        """One-hot draws from per-block probabilities (Gumbel-max with the given uniforms)."""
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-10, 1.0 - 1e-7)))
        chosen = segment_argmax(probs.clamp_min(_TINY).log() + gumbel, self.block, self.n_blocks)
        return torch.zeros_like(probs).scatter_(1, chosen, 1.0)

    def forward_probs(self, x0: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
        """``q(x_t | x_0) = abar x_0 + (1 - abar) / K`` for one-hot (or soft) ``x_0``; ``abar`` is
        ``[n, 1]``."""
        return abar * x0 + (1.0 - abar) / self.classes

    def posterior(
        self, x_t: torch.Tensor, p0: torch.Tensor, abar_t: torch.Tensor, abar_s: torch.Tensor
    ) -> torch.Tensor:
        """``sum_{x_0} q(x_s | x_t, x_0) p0(x_0)`` for any ``s < t``, exactly.

        With ``A = q(x_t | x_s)`` as a function of ``x_s`` (``abar_t / abar_s`` on ``x_t``, the
        rest spread uniformly) and ``B_k = q(x_s | x_0 = k)``, the posterior for a given
        ``x_0 = k`` is ``A * B_k / <A, B_k>`` and ``<A, B_k> = abar_s A_k + (1 - abar_s) / K``;
        mixing over ``p0`` leaves two per-block sums, so no loop over categories is needed.
        A one-hot ``p0`` gives the true posterior ``q(x_s | x_t, x_0)``.
        """
        uniform = 1.0 / self.classes
        keep = abar_t / abar_s
        a = keep * x_t + (1.0 - keep) * uniform
        ratio = p0 / (abar_s * a + (1.0 - abar_s) * uniform).clamp_min(_TINY)
        return a * (abar_s * ratio + (1.0 - abar_s) * uniform * self.spread(self.segment_sum(ratio)))


# -- the denoiser -------------------------------------------------------------------------


class Denoiser(nn.Module):
    """``[values, categories, known flags] + t -> [noise of values, x_0 logits of categories]``.

    As in TabDDPM: the row is projected to ``embedding_dim``, the timestep's sinusoidal code
    goes through a small SiLU MLP and is added, then a ReLU MLP maps to the outputs.
    """

    def __init__(self, inputs: int, outputs: int, embedding_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.project = nn.Linear(inputs, embedding_dim)
        self.time = nn.Sequential(
            nn.Linear(embedding_dim, embedding_dim), nn.SiLU(), nn.Linear(embedding_dim, embedding_dim)
        )
        self.body = mlp([embedding_dim, *hidden], outputs)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.project(x) + self.time(timestep_embedding(t, self.embedding_dim))
        return self.body(nn.functional.relu(h))


# -- training -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingDraws:
    """The randomness of one training batch, one row per batch row (so each row's loss is its own)."""

    t: torch.Tensor  # [n] timesteps in 1..T
    eps: torch.Tensor  # [n, V] Gaussian noise of the values
    uniform: torch.Tensor  # [n, S] uniforms of the categorical forward draw
    known: torch.Tensor  # [n, n_blocks] bool: blocks given clean (conditional training)

    def rows(self, index: slice) -> TrainingDraws:
        """The draws of some rows only."""
        return TrainingDraws(self.t[index], self.eps[index], self.uniform[index], self.known[index])


class _DiffusionPlan(TrainingPlan):
    """One TabDDPM step: a timestep per row, noise MSE plus the multinomial ELBO term.

    The denoiser is the real-row part the trainer attaches; a batch without rows (a private
    trainer's Poisson sampler draws them) is the trainer's step without rows.
    """

    kind = "diffusion"

    def __init__(self, model: TabDDPM, noise: torch.Generator, total_steps: int, trainer: Trainer) -> None:
        self.model = model
        self.noise = noise
        self.total_steps = max(total_steps, 1)
        self.done = 0
        params = model.diffusion_params
        optimizer = adam(
            list(model.denoiser.parameters()), lr=params.learning_rate, weight_decay=params.weight_decay
        )
        self.real_rows = trainer.attach({"denoiser": model.denoiser}, optimizer, seed=model.seed)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return {"denoiser": self.model.denoiser}

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        return (self.real_rows.optimizer,)

    def step(self, batch: torch.Tensor) -> Mapping[str, torch.Tensor]:
        model, params, real = self.model, self.model.diffusion_params, self.real_rows
        # TabDDPM anneals the learning rate linearly to zero over training.
        for group in real.optimizer.param_groups:
            group["lr"] = params.learning_rate * (1.0 - self.done / self.total_steps)
        losses: dict[str, torch.Tensor] = {}
        if not len(batch):
            real.step_without_rows()
        else:
            gaussian, multinomial = model.losses(batch, self.noise)
            loss = gaussian + multinomial
            real.optimizer.zero_grad(set_to_none=True)
            real.backward(loss)
            real.optimizer.step()
            losses = {
                "loss": loss.detach(),
                "gaussian": gaussian.detach(),
                "multinomial": multinomial.detach(),
            }
        model.update_ema(self.done)
        self.done += 1
        return losses


# -- the generator ------------------------------------------------------------------------


class TabDDPM(Generator):
    """A TabDDPM-style diffusion model (``kind = "diffusion"``)."""

    kind: ClassVar[str] = "diffusion"
    description: ClassVar[str] = "diffusion model (TabDDPM-style); fits Adult in ~913 s on 2 cores"
    params_model: ClassVar[type[GeneratorParams]] = DiffusionParams
    supports_per_row_losses: ClassVar[bool] = True

    denoiser: Denoiser
    ema: Denoiser
    blocks: Blocks
    alpha_bar: torch.Tensor
    spans: tuple[Span, ...]
    device: str

    @property
    def diffusion_params(self) -> DiffusionParams:
        assert isinstance(self.params, DiffusionParams)
        return self.params

    def _build(self, spans: tuple[Span, ...], device: str) -> None:
        params = self.diffusion_params
        self.device = device
        self.spans = spans
        self.blocks = Blocks.from_spans(spans).to(device)
        heads = self.blocks.heads
        outputs = heads.n_values + heads.softmax_index.numel()
        self.denoiser = Denoiser(
            outputs + heads.n_blocks, outputs, params.embedding_dim, params.hidden_dims
        ).to(device)
        self.ema = copy.deepcopy(self.denoiser).requires_grad_(False)
        self.alpha_bar = cosine_alpha_bar(params.timesteps).to(device)

    # -- training ---------------------------------------------------------------------------

    def losses(self, batch: torch.Tensor, noise: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Gaussian noise MSE, multinomial ELBO term / blocks)`` of ``batch``, means over rows."""
        return self.losses_for(batch, self.training_draws(batch.shape[0], noise))

    def training_draws(self, rows: int, noise: torch.Generator) -> TrainingDraws:
        """The random timesteps, noise and known blocks of a batch of ``rows`` rows."""
        heads, params, device = self.blocks.heads, self.diffusion_params, self.alpha_bar.device
        t = torch.randint(1, params.timesteps + 1, (rows,), generator=noise, device=device)
        eps = torch.randn((rows, heads.n_values), generator=noise, device=device)
        uniform = torch.rand((rows, heads.softmax_index.numel()), generator=noise, device=device)
        return TrainingDraws(t, eps, uniform, self._training_known(rows, noise))

    def losses_for(self, batch: torch.Tensor, draws: TrainingDraws) -> tuple[torch.Tensor, torch.Tensor]:
        """The losses of ``batch`` under ``draws``: each a mean over rows of per-row terms, so
        one row's loss depends on that row alone (as DP-SGD's per-row gradients need)."""
        heads, blocks, params = self.blocks.heads, self.blocks, self.diffusion_params
        t, eps, known = draws.t, draws.eps, draws.known
        abar_t, abar_s = self.alpha_bar[t][:, None], self.alpha_bar[t - 1][:, None]
        x0_values, x0_blocks = batch[:, heads.value_index], batch[:, heads.softmax_index]
        x_t = blocks.sample(blocks.forward_probs(x0_blocks, abar_t), draws.uniform)
        x_t = torch.where(blocks.spread(known), x0_blocks, x_t)
        inputs = torch.cat([gaussian_forward(x0_values, abar_t, eps), x_t, known.float()], dim=1)
        out = self.denoiser(inputs, t)
        # The mean over rows and value columns is the mean over rows of each row's mean.
        gaussian = (out[:, : heads.n_values] - eps).square().mean() if heads.n_values else out.new_zeros(())
        if not blocks.n_blocks:
            return gaussian, out.new_zeros(())
        p0 = blocks.softmax(out[:, heads.n_values :])
        q = blocks.posterior(x_t, x0_blocks, abar_t, abar_s)
        p = blocks.posterior(x_t, p0, abar_t, abar_s)
        kl = blocks.segment_sum(torch.xlogy(q, q) - q * p.clamp_min(_TINY).log()).masked_fill(known, 0.0)
        # Uniform t makes T * KL_t an unbiased estimate of the sum over steps (Hoogeboom et al.);
        # TabDDPM averages it over the categorical columns.
        multinomial = params.timesteps * kl.sum(1).mean() / blocks.n_blocks
        if params.ce_weight:
            # D3PM's hybrid loss: a direct, low-variance signal for the x_0 prediction.
            ce = -blocks.segment_sum(x0_blocks * p0.clamp_min(_TINY).log()).masked_fill(known, 0.0)
            multinomial = multinomial + params.ce_weight * ce.sum(1).mean() / blocks.n_blocks
        return gaussian, multinomial

    def _training_known(self, rows: int, noise: torch.Generator) -> torch.Tensor:
        """``[rows, n_blocks]`` bool: category blocks given clean (a share of rows, half their blocks)."""
        device = self.alpha_bar.device
        chosen = torch.rand((rows, 1), generator=noise, device=device) < self.diffusion_params.condition_rate
        half = torch.rand((rows, self.blocks.n_blocks), generator=noise, device=device) < 0.5
        return chosen & half & self.blocks.conditionable

    def update_ema(self, step: int) -> None:
        """Move the sampling copy towards the trained weights (exponential moving average).

        The decay warms up as ``(1 + step) / (10 + step)`` so short fits are not stuck at the
        initial weights.
        """
        decay = min(self.diffusion_params.ema_decay, (1.0 + step) / (10.0 + step))
        with torch.no_grad():
            target: list[torch.Tensor] = list(self.ema.parameters())
            source: list[torch.Tensor] = list(self.denoiser.parameters())
            torch._foreach_lerp_(target, source, 1.0 - decay)

    def _fit_encoded(
        self, data: EncodedTable, *, trainer: Trainer, progress: Progress
    ) -> list[dict[str, float]]:
        rows = EncodedRows(data, self.device)
        noise = torch.Generator(device=self.device).manual_seed(child_seed(self.seed, 1))
        total_steps = trainer.loop_steps(len(data), self.batch_size, self.epochs)
        plan = _DiffusionPlan(self, noise, total_steps, trainer)
        released = "diffusion denoiser weights"
        history = self._run_plan(plan, rows, trainer=trainer, progress=progress, released=released)
        self.denoiser.eval()
        self.ema.eval()
        return history

    # -- sampling ---------------------------------------------------------------------------

    def sampling_schedule(self) -> list[tuple[int, int]]:
        """The ``(t, s)`` pairs of the reverse chain: ``sampling_steps`` evenly spaced jumps to 0."""
        params = self.diffusion_params
        steps = min(params.sampling_steps or params.timesteps, params.timesteps)
        points = np.unique(np.round(np.linspace(0, params.timesteps, steps + 1)).astype(int))[::-1]
        return [(int(t), int(s)) for t, s in itertools.pairwise(points)]

    def _sample_encoded(self, n: int, *, seed: int) -> EncodedTable:
        return self._reverse_chunks(n, seed, ())

    def _sample_conditional(
        self, n: int, *, seed: int, fixed: tuple[FixedCategory, ...]
    ) -> EncodedTable | None:
        return self._reverse_chunks(n, seed, fixed)

    def _reverse_chunks(self, n: int, seed: int, fixed: tuple[FixedCategory, ...]) -> EncodedTable:
        """`_reverse` over chunks of rows, as many as keep its ``[rows, S]`` tensors within
        `REVERSE_CELLS` entries (all ``n`` rows at once for an ordinary table)."""
        generator = torch.Generator().manual_seed(seed % 2**63)
        width = max(self.blocks.heads.softmax_index.numel(), 1)
        chunk = n if n * width <= REVERSE_CELLS else max(16, REVERSE_CELLS // width)
        out = EncodedTable.empty(self.spans, n)
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            values, codes = self._reverse(rows.stop - rows.start, generator, fixed)
            out.values[rows], out.codes[rows] = values.cpu().numpy(), codes.cpu().numpy()
        return out

    def _reverse(
        self, n: int, generator: torch.Generator, fixed: tuple[FixedCategory, ...]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the reverse chain for ``n`` rows drawing from ``generator``; ``fixed`` blocks are
        clamped and flagged known. ``(values [n, V], codes [n, blocks])``."""
        heads, blocks, eta = self.blocks.heads, self.blocks, self.diffusion_params.eta
        width = heads.softmax_index.numel()
        known_columns, known_values, known = self._clamps(fixed)

        def draw(*shape: int, normal: bool) -> torch.Tensor:
            # All noise comes from the CPU generator, so a seed gives the same rows on any device.
            sample = (
                torch.randn(shape, generator=generator) if normal else torch.rand(shape, generator=generator)
            )
            return sample.to(self.device)

        values = draw(n, heads.n_values, normal=True)
        categories = blocks.sample(
            torch.ones(n, width, device=self.device) / blocks.classes, draw(n, width, normal=False)
        )
        flags = known.float().expand(n, -1)
        self.ema.eval()
        with torch.inference_mode():
            for t, s in self.sampling_schedule():
                categories = torch.where(known_columns, known_values, categories)
                steps = torch.full((n,), t, dtype=torch.long, device=self.device)
                out = self.ema(torch.cat([values, categories, flags], dim=1), steps)
                abar_t, abar_s = self.alpha_bar[t].view(1, 1), self.alpha_bar[s].view(1, 1)
                values = gaussian_reverse(
                    values,
                    out[:, : heads.n_values],
                    abar_t,
                    abar_s,
                    eta,
                    draw(n, heads.n_values, normal=True),
                )
                p0 = blocks.softmax(out[:, heads.n_values :])
                categories = blocks.sample(
                    blocks.posterior(categories, p0, abar_t, abar_s), draw(n, width, normal=False)
                )
            categories = torch.where(known_columns, known_values, categories)
            chosen = segment_argmax(categories, blocks.block, blocks.n_blocks)
        return values, chosen - heads.block_offset

    def _clamps(self, fixed: tuple[FixedCategory, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(columns [S] bool, their one-hot values [S], known blocks [n_blocks] bool)`` for ``fixed``."""
        width = self.blocks.heads.softmax_index.numel()
        columns = torch.zeros(width, dtype=torch.bool)
        values = torch.zeros(width)
        for span, index in fixed:
            offset = self.blocks.offsets[span.start]
            columns[offset : offset + span.width] = True
            values[offset + index] = 1.0
        known = self.blocks.segment_sum(columns.float()[None].to(self.device))[0] > 0
        return columns.to(self.device), values.to(self.device), known

    # -- persistence ------------------------------------------------------------------------

    def _state_dict(self) -> dict[str, Any]:
        # The EMA copy is the model that samples; the raw training weights are not needed after fit.
        return {"denoiser." + k: v.detach().cpu() for k, v in self.ema.state_dict().items()}

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise TypeError("weights are not a flat dict of tensors")
        if set(state) != set(self._state_dict()):
            raise KeyError("weights do not match this model's layers")
        weights = {k[len("denoiser.") :]: v for k, v in state.items()}
        self.ema.load_state_dict(weights)
        self.denoiser.load_state_dict(weights)
        self.ema.eval()
        self.denoiser.eval()
