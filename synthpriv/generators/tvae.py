"""TVAE: a variational autoencoder over the encoded table (Xu et al., 2019, as in SDV).

The encoder maps an encoded row to a Gaussian posterior over a latent code; the decoder maps
a code back to raw outputs that `SpanHeads` turns into a likelihood (training) or a sampled
row (generation). Only plain Linear + ReLU layers are used and every loss is a mean of
per-row terms, so a trainer that requires per-row losses (DP-SGD, `synthpriv.privacy.attach`)
can clip each row's gradient in every one of them. The whole model (encoder, decoder and the
value heads' log-sigma) reads real rows, so all of it is the plan's real-row part.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from synthpriv.data.spans import EncodedTable, Span
from synthpriv.generators.base import Generator
from synthpriv.generators.heads import LOG_SIGMA_MAX, LOG_SIGMA_MIN, SpanHeads
from synthpriv.generators.layers import adam, mlp
from synthpriv.generators.params import GeneratorParams, VAEParams
from synthpriv.runtime.progress import Progress
from synthpriv.training.loop import EncodedRows, TrainingPlan
from synthpriv.training.seam import Trainer, child_seed

#: Rows per forward pass when sampling (fewer for wide rows: see `sample_chunk`).
SAMPLE_CHUNK = 4096
#: The most entries (rows x width) a sampling chunk's output may have: 4096 rows up to a width
#: of 1024, then fewer, so a many-level column does not make each chunk hundreds of MB.
SAMPLE_CHUNK_CELLS = 2**22


def sample_chunk(width: int, rows: int = SAMPLE_CHUNK, cells: int = SAMPLE_CHUNK_CELLS) -> int:
    """Rows per chunk for outputs ``width`` wide: ``rows``, or fewer (at least 16) when wide."""
    return max(16, min(rows, cells // max(width, 1)))


class LogSigma(nn.Module):
    """The per-column log-sigma of the value heads, as a layer with one output row per input row.

    A bare ``nn.Parameter`` would do for plain training, but per-row clipping (DP-SGD) takes
    per-row gradients from layers whose rows are the batch's rows (their inputs and output
    gradients; Opacus likewise supports only known layer types). A bias-free ``Linear(1, V)``
    fed a column of ones outputs its weight on every row, so its per-row gradient is exactly
    that row's gradient of log-sigma. When per-row losses are not required the weight is read
    directly (`value`): the same numbers as the bare parameter, with no matrix product.
    """

    def __init__(self, width: int, initial: float) -> None:
        super().__init__()
        # skip_init: no random initialisation to overwrite (nor a draw from the global RNG);
        # a table without numbers gives width 0, for which torch warns that init is a no-op.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.layer = nn.utils.skip_init(nn.Linear, 1, width, bias=False)
        with torch.no_grad():
            self.layer.weight.fill_(initial)

    @property
    def value(self) -> torch.Tensor:
        """``[V]``: log-sigma, a view of the weight (gradients and in-place updates reach it)."""
        return self.layer.weight[:, 0]

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """``[rows, V]``: log-sigma repeated on each row of ``batch``."""
        return self.layer(batch.new_ones(batch.shape[0], 1))


class _VAEPlan(TrainingPlan):
    """One TVAE step: ELBO with the reconstruction term weighted by ``loss_factor``.

    Every trained parameter (log-sigma's layer too) reads real rows: all of them are the
    real-row part the trainer attaches. A batch without rows (a private trainer's Poisson
    sampler draws them) is the trainer's step without rows.
    """

    kind = "vae"

    def __init__(self, model: TVAE, noise: torch.Generator, trainer: Trainer) -> None:
        self.model = model
        self.noise = noise
        params = model.vae_params
        trained = {"encoder": model.encoder, "decoder": model.decoder, "log_sigma": model.sigma}
        self._modules = trained
        parameters = [p for module in trained.values() for p in module.parameters()]
        optimizer = adam(parameters, lr=params.learning_rate, weight_decay=params.weight_decay)
        self.real_rows = trainer.attach(trained, optimizer, seed=model.seed)

    @property
    def modules(self) -> dict[str, nn.Module]:
        return self._modules

    @property
    def optimizers(self) -> tuple[torch.optim.Optimizer, ...]:
        return (self.real_rows.optimizer,)

    def step(self, batch: torch.Tensor) -> Mapping[str, torch.Tensor]:
        model, real = self.model, self.real_rows
        if not len(batch):
            real.step_without_rows()
            model.clamp_log_sigma()
            return {}
        shape = (batch.shape[0], model.vae_params.latent_dim)
        eps = torch.randn(shape, generator=self.noise, device=batch.device, dtype=batch.dtype)
        losses = model.losses(batch, eps)
        real.optimizer.zero_grad(set_to_none=True)
        real.backward(losses["loss"])
        real.optimizer.step()
        model.clamp_log_sigma()
        return {name: value.detach() for name, value in losses.items()}


class TVAE(Generator):
    """A TVAE-style variational autoencoder (``kind = "vae"``)."""

    kind: ClassVar[str] = "vae"
    description: ClassVar[str] = "variational autoencoder (TVAE-style); fits Adult in ~126 s on 2 cores"
    params_model: ClassVar[type[GeneratorParams]] = VAEParams

    supports_per_row_losses: ClassVar[bool] = True

    encoder: nn.Sequential
    decoder: nn.Sequential
    sigma: LogSigma
    heads: SpanHeads
    spans: tuple[Span, ...]
    device: str

    @property
    def vae_params(self) -> VAEParams:
        assert isinstance(self.params, VAEParams)
        return self.params

    def _build(self, spans: tuple[Span, ...], device: str) -> None:
        params = self.vae_params
        self.device = device
        self.spans = spans
        self.heads = SpanHeads.from_spans(spans).to(device)
        width, hidden = self.heads.width, list(params.hidden_dims)
        self.encoder = mlp([width, *hidden], 2 * params.latent_dim).to(device)
        self.decoder = mlp([params.latent_dim, *reversed(hidden)], width).to(device)
        # TVAE starts every column at sigma = 0.1.
        self.sigma = LogSigma(self.heads.n_values, float(np.log(0.1))).to(device)

    @property
    def log_sigma(self) -> torch.Tensor:
        """``[V]``: the per-column log-sigma of the value heads."""
        return self.sigma.value

    def clamp_log_sigma(self) -> None:
        with torch.no_grad():
            self.log_sigma.clamp_(LOG_SIGMA_MIN, LOG_SIGMA_MAX)

    def losses(self, batch: torch.Tensor, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ELBO terms of ``batch`` with latent noise ``eps``, each a mean over rows.

        A mean of per-row terms, as DP-SGD's per-row clipping needs. When the trainer requires
        per-row losses, log-sigma comes through its layer (one row per batch row) so that each
        row's gradient of it is seen; otherwise it is read directly (same values, less work).
        """
        mu, logvar = self.encoder(batch).chunk(2, dim=1)
        std = torch.exp(0.5 * logvar)
        raw = self.decoder(mu + eps * std)
        log_sigma = self.sigma(batch) if self.per_row_losses else self.log_sigma
        value_nll, category_ce = self.heads.losses(raw, batch, log_sigma)
        kl = -0.5 * (1.0 + logvar - mu.square() - std.square()).sum() / batch.shape[0]
        reconstruction = value_nll + category_ce
        return {
            "loss": self.vae_params.loss_factor * reconstruction + kl,
            "reconstruction": reconstruction,
            "value_nll": value_nll,
            "category_ce": category_ce,
            "kl": kl,
        }

    def _fit_encoded(
        self, data: EncodedTable, *, trainer: Trainer, progress: Progress
    ) -> list[dict[str, float]]:
        rows = EncodedRows(data, self.device)
        noise = torch.Generator(device=self.device).manual_seed(child_seed(self.seed, 1))
        plan = _VAEPlan(self, noise, trainer)
        history = self._run_plan(plan, rows, trainer=trainer, progress=progress, released="VAE weights")
        self.encoder.eval()
        self.decoder.eval()
        return history

    def _sample_encoded(self, n: int, *, seed: int) -> EncodedTable:
        generator = torch.Generator().manual_seed(seed % 2**63)
        self.decoder.eval()
        out = EncodedTable.empty(self.spans, n)
        # Cache-sized chunks: a single pass over tens of thousands of rows spends more time
        # faulting in fresh activation buffers than multiplying (measured 3x on a 2-core CPU).
        chunk = sample_chunk(self.heads.width)
        with torch.inference_mode():
            for start in range(0, n, chunk):
                rows = min(chunk, n - start)
                z = torch.randn(rows, self.vae_params.latent_dim, generator=generator).to(self.device)
                values, codes = self.heads.sample_codes(self.decoder(z), self.log_sigma, generator)
                out.values[start : start + rows] = values.cpu().numpy()
                out.codes[start : start + rows] = codes.cpu().numpy()
        return out

    def _state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for prefix, module in (("encoder.", self.encoder), ("decoder.", self.decoder)):
            state.update({prefix + k: v.detach().cpu() for k, v in module.state_dict().items()})
        # Saved as the [V] vector it was before it moved into a layer: older files still load.
        state["log_sigma"] = self.log_sigma.detach().cpu().clone()
        return state

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise TypeError("weights are not a flat dict of tensors")
        expected = set(self._state_dict())
        if set(state) != expected:
            raise KeyError("weights do not match this model's layers")
        for prefix, module in (("encoder.", self.encoder), ("decoder.", self.decoder)):
            module.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        if state["log_sigma"].shape != self.log_sigma.shape:
            raise ValueError("log_sigma has the wrong shape")
        with torch.no_grad():
            self.log_sigma.copy_(state["log_sigma"])
        self.encoder.eval()
        self.decoder.eval()
