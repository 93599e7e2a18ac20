"""A generator trained on marginals (``train.generator: marginal``), GEM-style.

The network maps Gaussian noise to one softmax per column over that column's *tokens*: its
categories, or the quantile bins of a number or date, plus a missing token where the column
has nulls (Liu, Vietri and Wu, "Iterative Methods for Private Synthetic Data", NeurIPS 2021).
Every noise draw is a product distribution over the columns; the mixture over draws is the
model, and its marginal over a few columns is the average of the outer products of their
softmaxes, which is differentiable. The network is trained so that these marginals match
measured ones (`synthpriv.training.marginals`): exact ones in a plain fit, noisy ones under
``train.privacy.mechanism: marginals`` (where fitting them is post-processing).

Tokens come from the transformer's encoding: a number's model-space value is the normal
score of its quantile level (`QuantileNormalizer`), so cutting the level ``Φ(value)`` into
``bins`` equal parts gives quantile bins, and a token decodes to a level drawn uniformly
within its bin, mapped back through the transformer's quantile map: within a bin, values keep
the shape the map learned (from the data, or from a DP histogram), and integers, dates and
spikes come back as the transformer restores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.special import ndtr, ndtri
from torch import nn

from synthpriv.data.spans import EncodedTable, Span, code_dtype, softmax_spans, value_spans
from synthpriv.generators.base import Generator
from synthpriv.generators.layers import adam, mlp
from synthpriv.generators.params import DEFAULT_EPOCHS, MarginalParams
from synthpriv.runtime.progress import Progress
from synthpriv.training.marginals import Measurement, Query
from synthpriv.training.seam import FitShape, Trainer, child_seed

#: Noise draws averaged when the trainer asks for the model's marginals (selection scores).
_ANSWER_DRAWS = 8192
#: Quantile levels stay inside the normalizer's model space (see `QuantileNormalizer`).
_LEVEL_EPS = 1e-6


@dataclass(frozen=True)
class Attribute:
    """One column as tokens: where its codes and value sit in an `EncodedTable`."""

    column: str
    size: int
    code: int | None
    """Index in the table's codes: a category block, or a number's missing block."""
    value: int | None
    """Index in the table's values: a number's model-space value (None for a category)."""

    @property
    def bins(self) -> int:
        """Tokens that are quantile bins (the last token of a nullable number is missing)."""
        return self.size - (1 if self.code is not None else 0)


def token_attributes(spans: tuple[Span, ...], bins: int) -> tuple[Attribute, ...]:
    """One attribute per column of ``spans``, in column order."""
    values, blocks = value_spans(spans), softmax_spans(spans)
    by_column: dict[str, dict[str, int]] = {}
    for index, span in enumerate(values):
        by_column.setdefault(span.column, {})["value"] = index
    for index, span in enumerate(blocks):
        by_column.setdefault(span.column, {})[span.role] = index
    out = []
    for column, parts in by_column.items():
        if "category" in parts:
            out.append(Attribute(column, blocks[parts["category"]].width, parts["category"], None))
        else:
            missing = parts.get("missing")
            out.append(Attribute(column, bins + (missing is not None), missing, parts["value"]))
    return tuple(out)


def tokenize(table: EncodedTable, attributes: Sequence[Attribute]) -> np.ndarray:
    """The rows of ``table`` as tokens (rows x attributes, int32)."""
    tokens = np.empty((len(table), len(attributes)), dtype=np.int32)
    for a, attribute in enumerate(attributes):
        if attribute.value is None:
            tokens[:, a] = table.codes[:, attribute.code]
            continue
        level = ndtr(table.values[:, attribute.value].astype(np.float64))
        tokens[:, a] = np.clip((level * attribute.bins).astype(np.int64), 0, attribute.bins - 1)
        if attribute.code is not None:
            tokens[table.codes[:, attribute.code] == 1, a] = attribute.bins
    return tokens


def detokenize(
    tokens: np.ndarray, attributes: Sequence[Attribute], spans: tuple[Span, ...], rng: np.random.Generator
) -> EncodedTable:
    """Encoded rows for ``tokens``: a bin's value drawn uniformly in its quantile levels."""
    table = EncodedTable.empty(spans, len(tokens))
    codes, values = table.codes, table.values
    for a, attribute in enumerate(attributes):
        token = tokens[:, a]
        if attribute.value is None:
            codes[:, attribute.code] = token
            continue
        level = (np.minimum(token, attribute.bins - 1) + rng.random(len(token))) / attribute.bins
        values[:, attribute.value] = ndtri(np.clip(level, _LEVEL_EPS, 1 - _LEVEL_EPS))
        if attribute.code is not None:
            missing = token == attribute.bins
            codes[:, attribute.code] = missing.astype(code_dtype(spans))
            values[missing, attribute.value] = 0.0
    return table


class _Network(nn.Module):
    """Noise to one softmax per attribute."""

    def __init__(self, latent_dim: int, hidden_dims: Sequence[int], sizes: Sequence[int]) -> None:
        super().__init__()
        self.sizes = list(sizes)
        self.body = mlp([latent_dim, *hidden_dims], sum(sizes))

    def forward(self, noise: torch.Tensor) -> list[torch.Tensor]:
        return [torch.softmax(part, dim=1) for part in self.body(noise).split(self.sizes, dim=1)]


def joint(probs: Sequence[torch.Tensor], query: Query) -> torch.Tensor:
    """The model's marginal over ``query``: the mean over draws of the outer product of the
    attributes' softmaxes, flattened in C order (the last one through a matrix product)."""
    if len(query) == 1:
        return probs[query[0]].mean(0)
    head = probs[query[0]]
    for a in query[1:-1]:
        head = (head.unsqueeze(2) * probs[a].unsqueeze(1)).reshape(len(head), -1)
    return (head.T @ probs[query[-1]]).reshape(-1) / len(head)


def _unbiased_square(probs: Sequence[torch.Tensor], query: Query, target: torch.Tensor) -> torch.Tensor:
    """An unbiased estimate of the squared error ``|marginal - target|^2`` from a batch of draws.

    The squared error of one batch's average is biased by its sampling variance, and
    minimizing that variance pulls every draw towards the same product distribution: towards
    independent columns, the opposite of what the marginals teach. The product of the errors
    of two independent half-batches has the squared error as its expectation, without it.
    """
    half = len(probs[0]) // 2
    first = joint([p[:half] for p in probs], query) - target
    second = joint([p[half:] for p in probs], query) - target
    return (first * second).sum()


class MarginalNet(Generator):
    """Noise to per-column token distributions, fitted to marginals."""

    kind: ClassVar = "marginal"
    params_model: ClassVar = MarginalParams
    params: MarginalParams

    def fit_shape(self, rows: int, *, fixed_budget: bool, transformer_given: bool) -> FitShape:
        shape = super().fit_shape(rows, fixed_budget=fixed_budget, transformer_given=transformer_given)
        # Epochs here are the final fit's optimizer steps, whatever the table's size.
        steps = self.requested_epochs if self.requested_epochs is not None else DEFAULT_EPOCHS[self.kind]
        return replace(shape, epochs=steps, marginal_capable=True)

    def _build(self, spans: tuple[Span, ...], device: str) -> None:
        self.spans = spans
        self.attributes = token_attributes(spans, self.params.bins)
        self.sizes = [attribute.size for attribute in self.attributes]
        torch.manual_seed(child_seed(self.seed, 1))
        self.device = torch.device(device)
        self.network = _Network(self.params.latent_dim, self.params.hidden_dims, self.sizes).to(self.device)
        self.optimizer = adam(self.network.parameters(), lr=self.params.learning_rate, weight_decay=0.0)
        self.noise = torch.Generator(device=self.device).manual_seed(child_seed(self.seed, 1))

    def _fit_encoded(
        self, data: EncodedTable, *, trainer: Trainer, progress: Progress
    ) -> list[dict[str, float]]:
        history = trainer.fit_marginals(tokenize(data, self.attributes), self.sizes, self, progress=progress)
        trainer.finish("marginal network (fitted to the measured marginals)")
        return history

    def _draw(self, n: int) -> list[torch.Tensor]:
        noise = torch.randn(n, self.params.latent_dim, generator=self.noise, device=self.device)
        return self.network(noise)

    def fit_measurements(self, measurements: Sequence[Measurement], rows: float, *, final: bool) -> float:
        """Adam steps on the weighted squared error of the model's marginals (see `_loss`)."""
        targets = [torch.as_tensor(m.counts / rows, dtype=torch.float32) for m in measurements]
        sigmas = [m.sigma for m in measurements]
        floor = min(sigmas)
        # Under Gaussian noise the likelihood weighs each measurement by 1 / sigma^2.
        weights = [1.0 if floor == 0 else (floor / s) ** 2 for s in sigmas]
        steps = self.epochs if final else self.params.steps_per_round
        self.network.train()
        loss = torch.zeros(())
        for _ in range(steps):
            probs = self._draw(2 * max(self.batch_size // 2, 1))
            loss = sum(
                (
                    w * _unbiased_square(probs, m.attributes, t)
                    for m, t, w in zip(measurements, targets, weights)
                ),
                start=torch.zeros(()),
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return float(loss.detach())

    @torch.no_grad()
    def model_marginals(self, queries: Sequence[Query]) -> list[np.ndarray]:
        self.network.eval()
        probs = self._draw(_ANSWER_DRAWS)
        return [joint(probs, query).cpu().numpy().astype(np.float64) for query in queries]

    @torch.no_grad()
    def _sample_encoded(self, n: int, *, seed: int) -> EncodedTable:
        self.network.eval()
        draws = torch.Generator(device=self.device).manual_seed(seed)
        noise = torch.randn(n, self.params.latent_dim, generator=draws, device=self.device)
        probs = self.network(noise)
        tokens = np.stack(
            [torch.multinomial(p, 1, generator=draws).squeeze(1).cpu().numpy() for p in probs], axis=1
        )
        return detokenize(tokens, self.attributes, self.spans, np.random.default_rng(child_seed(seed, 2)))

    def _state_dict(self) -> dict[str, Any]:
        return {f"network.{k}": v.detach().cpu() for k, v in self.network.state_dict().items()}

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict({k.removeprefix("network."): v for k, v in state.items()})
