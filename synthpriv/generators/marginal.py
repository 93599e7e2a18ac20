"""A generator trained on marginals (``train.generator: marginal``), GEM / MargNet-style.

The model is a mixture of ``components`` product distributions over each column's *tokens*:
its categories, or the quantile bins of a number or date, plus a missing token where the
column has nulls. Its marginal over a few columns is a weighted sum of outer products of the
components' distributions: exact and differentiable, so the mixture is trained (Adam) to make
these marginals match measured ones (`synthpriv.training.marginals`), as GEM (Liu, Vietri and
Wu, NeurIPS 2021) trains its network: exact ones in a plain fit, noisy ones under
``train.privacy.mechanism: marginals`` (where fitting them is post-processing).

Tokens are the columns' categories, quantile bins or few values (`synthpriv.generators.tokens`);
a bin decodes to a level drawn uniformly within it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from synthpriv.data.spans import EncodedTable, Span, softmax_spans
from synthpriv.generators.base import Generator
from synthpriv.generators.conditions import FixedCategory
from synthpriv.generators.layers import adam
from synthpriv.generators.params import DEFAULT_EPOCHS, MarginalParams
from synthpriv.generators.tokens import detokenize, token_attributes, tokenize, value_levels
from synthpriv.runtime.progress import Progress
from synthpriv.training.marginals import Measurement, Query
from synthpriv.training.seam import FitShape, Trainer, child_seed


class _Mixture(nn.Module):
    """A mixture of ``components`` product distributions over the attributes' tokens.

    Each component has one categorical distribution per attribute (its logits) and a weight.
    Any distribution over the tokens is such a mixture for enough components, a marginal of
    it is a small exact sum (`joint`), and each component can put all its mass on one token
    per column, so exact relations between columns (a code and its label) are representable.
    """

    def __init__(self, components: int, sizes: Sequence[int], generator: torch.Generator) -> None:
        super().__init__()
        self.sizes = list(sizes)
        self.weight_logits = nn.Parameter(torch.zeros(components))
        # Random starting logits break the symmetry between components.
        self.logits = nn.Parameter(torch.randn(components, sum(sizes), generator=generator))

    def forward(self) -> tuple[torch.Tensor, list[torch.Tensor]]:
        parts = self.logits.split(self.sizes, dim=1)
        return torch.softmax(self.weight_logits, dim=0), [torch.softmax(part, dim=1) for part in parts]


def joint(weights: torch.Tensor, probs: Sequence[torch.Tensor], query: Query) -> torch.Tensor:
    """The mixture's marginal over ``query``, flattened in C order: the weighted sum over
    components of the outer product of their distributions (the last through a matrix product)."""
    head = probs[query[0]] * weights.unsqueeze(1)
    if len(query) == 1:
        return head.sum(0)
    for a in query[1:-1]:
        head = (head.unsqueeze(2) * probs[a].unsqueeze(1)).reshape(len(head), -1)
    return (head.T @ probs[query[-1]]).reshape(-1)


class MarginalNet(Generator):
    """A mixture of product distributions over per-column tokens, fitted to marginals."""

    kind: ClassVar = "marginal"
    description: ClassVar[str] = (
        "mixture fitted to marginals (GEM-style); fits Adult in ~90 s on 2 cores (epsilon 1)"
    )
    params_model: ClassVar = MarginalParams
    params: MarginalParams

    def fit_shape(self, rows: int, *, fixed_budget: bool, transformer_given: bool) -> FitShape:
        shape = super().fit_shape(rows, fixed_budget=fixed_budget, transformer_given=transformer_given)
        # Epochs here are the final fit's optimizer steps, whatever the table's size.
        steps = self.requested_epochs if self.requested_epochs is not None else DEFAULT_EPOCHS[self.kind]
        return replace(shape, epochs=steps, marginal_capable=True)

    def _build(self, spans: tuple[Span, ...], device: str) -> None:
        self.spans = spans
        transformer, _ = self._fitted()
        self.attributes = token_attributes(spans, self.params.bins, value_levels(transformer))
        self.sizes = [attribute.size for attribute in self.attributes]
        self.device = torch.device(device)
        start = torch.Generator().manual_seed(child_seed(self.seed, 1))
        self.mixture = _Mixture(self.params.components, self.sizes, start).to(self.device)
        self.optimizer = adam(self.mixture.parameters(), lr=self.params.learning_rate, weight_decay=0.0)

    def _fit_encoded(
        self, data: EncodedTable, *, trainer: Trainer, progress: Progress
    ) -> list[dict[str, float]]:
        columns = [attribute.column for attribute in self.attributes]
        history = trainer.fit_marginals(
            tokenize(data, self.attributes), self.sizes, self, progress=progress, columns=columns
        )
        trainer.finish("marginal model (fitted to the measured marginals)")
        return history

    def fit_measurements(self, measurements: Sequence[Measurement], rows: float, *, final: bool) -> float:
        """Adam steps on the weighted squared error of the mixture's marginals (exact, no sampling)."""
        targets = [
            torch.as_tensor(m.counts / rows, dtype=torch.float32, device=self.device) for m in measurements
        ]
        sigmas = [m.sigma for m in measurements]
        floor = min(sigmas)
        # Under Gaussian noise the likelihood weighs each measurement by 1 / sigma^2.
        weights = [1.0 if floor == 0 else (floor / s) ** 2 for s in sigmas]
        steps = self.epochs if final else self.params.steps_per_round
        loss = torch.zeros(())
        for _ in range(steps):
            mixture, probs = self.mixture()
            loss = sum(
                (
                    w * (joint(mixture, probs, m.attributes) - t).square().sum()
                    for m, t, w in zip(measurements, targets, weights)
                ),
                start=torch.zeros((), device=self.device),
            )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return float(loss.detach())

    @torch.no_grad()
    def model_marginals(self, queries: Sequence[Query]) -> list[np.ndarray]:
        mixture, probs = self.mixture()
        return [joint(mixture, probs, query).cpu().numpy().astype(np.float64) for query in queries]

    @torch.no_grad()
    def _sample_encoded(self, n: int, *, seed: int) -> EncodedTable:
        mixture, probs = self.mixture()
        return self._draw_rows(n, seed, mixture, probs, {})

    @torch.no_grad()
    def _sample_conditional(
        self, n: int, *, seed: int, fixed: tuple[FixedCategory, ...]
    ) -> EncodedTable | None:
        """Exact conditioning: each component reweighted by how likely it makes the fixed
        categories (Bayes' rule over the mixture), and those columns set to them."""
        blocks = softmax_spans(self.spans)
        by_code = {a.code: i for i, a in enumerate(self.attributes) if a.value is None}
        given = {by_code[blocks.index(span)]: index for span, index in fixed}
        mixture, probs = self.mixture()
        posterior = mixture.clone()
        for attribute, token in given.items():
            posterior = posterior * probs[attribute][:, token]
        if not float(posterior.sum()) > 0:
            return None  # the model gives the condition no mass: the caller reports it as too rare
        return self._draw_rows(n, seed, posterior / posterior.sum(), probs, given)

    def _draw_rows(
        self, n: int, seed: int, weights: torch.Tensor, probs: list[torch.Tensor], given: dict[int, int]
    ) -> EncodedTable:
        """``n`` rows: a component by ``weights``, then each column from it (``given`` ones fixed)."""
        draws = torch.Generator(device=self.device).manual_seed(seed)
        component = torch.multinomial(weights, n, replacement=True, generator=draws)
        tokens = np.stack(
            [torch.multinomial(p[component], 1, generator=draws).squeeze(1).cpu().numpy() for p in probs],
            axis=1,
        )
        for attribute, token in given.items():
            tokens[:, attribute] = token
        within = np.random.default_rng(child_seed(seed, 2)).random(tokens.shape)
        return detokenize(tokens, self.attributes, self.spans, within)

    def _state_dict(self) -> dict[str, Any]:
        return {f"mixture.{k}": v.detach().cpu() for k, v in self.mixture.state_dict().items()}

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        self.mixture.load_state_dict({k.removeprefix("mixture."): v for k, v in state.items()})
