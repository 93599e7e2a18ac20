"""Output heads built from spans alone: the losses and the sampler of a decoder's raw output.

- ``value`` spans (identity, width 1): a Gaussian with the decoder output as mean and a
  learned per-column log-sigma; loss is the TVAE-style negative log-likelihood
  ``(x - mu)^2 / (2 sigma^2) + log sigma``.
- ``softmax`` spans (``category`` and ``missing``): cross-entropy against the one-hot target.

Every softmax block is handled at once with segment reductions (`synthpriv.generators.layers`)
over one gathered tensor, so the cost per batch does not grow with a Python loop over columns.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from synthpriv.data.spans import Span, spans_width
from synthpriv.generators.layers import segment_inverse_cdf, segment_logsumexp

#: TVAE keeps each column's sigma in [0.01, 1]: a floor stops the likelihood diverging on
#: spiky columns, the ceiling keeps sampling noise below the scale of the normalised data.
LOG_SIGMA_MIN = float(torch.tensor(0.01).log())
LOG_SIGMA_MAX = 0.0


@dataclass(frozen=True)
class SpanHeads:
    """Index tensors describing where each kind of output lives in an encoded row."""

    width: int
    value_index: torch.Tensor  # [V] matrix column of each value span
    present_index: torch.Tensor  # [V] column of the value's "present" flag (0 when never missing)
    has_missing: torch.Tensor  # [V] bool, whether the value has a missing block
    softmax_index: torch.Tensor  # [S] matrix columns of all softmax blocks, block after block
    softmax_block: torch.Tensor  # [S] which block each of those columns belongs to
    block_offset: torch.Tensor  # [n_blocks] position (among the S columns) of each block's first
    n_blocks: int

    @classmethod
    def from_spans(cls, spans: tuple[Span, ...]) -> SpanHeads:
        """Precompute the index tensors for ``spans`` (on the CPU; see `to`)."""
        missing_start = {s.column: s.start for s in spans if s.role == "missing"}
        values = [s for s in spans if s.activation == "identity"]
        if any(s.width != 1 for s in values):
            raise ValueError("identity spans must have width 1")
        blocks = [s for s in spans if s.activation == "softmax"]
        softmax_index = [i for s in blocks for i in range(s.start, s.stop)]
        softmax_block = [b for b, s in enumerate(blocks) for _ in range(s.width)]
        return cls(
            width=spans_width(spans),
            value_index=torch.tensor([s.start for s in values], dtype=torch.long),
            present_index=torch.tensor([missing_start.get(s.column, 0) for s in values], dtype=torch.long),
            has_missing=torch.tensor([s.column in missing_start for s in values], dtype=torch.bool),
            softmax_index=torch.tensor(softmax_index, dtype=torch.long),
            softmax_block=torch.tensor(softmax_block, dtype=torch.long),
            block_offset=torch.tensor(np.cumsum([0] + [s.width for s in blocks])[:-1], dtype=torch.long),
            n_blocks=len(blocks),
        )

    @property
    def n_values(self) -> int:
        return int(self.value_index.numel())

    def to(self, device: torch.device | str) -> SpanHeads:
        """The same heads with their index tensors on ``device``."""
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return replace(self, **moved)

    def losses(
        self, raw: torch.Tensor, target: torch.Tensor, log_sigma: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(value NLL, category cross-entropy)``, each summed over columns, mean over rows.

        A value whose row is marked missing is left out of its likelihood: the transformer
        parks it at 0, which is a placeholder, not data.
        """
        rows = raw.shape[0]
        return self._value_nll(raw, target, log_sigma) / rows, self._softmax_ce(raw, target) / rows

    def _value_nll(self, raw: torch.Tensor, target: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
        if self.n_values == 0:
            return raw.new_zeros(())
        mu = raw.index_select(1, self.value_index)
        x = target.index_select(1, self.value_index)
        present = torch.where(self.has_missing, target.index_select(1, self.present_index), 1.0)
        nll = (x - mu).square() * (0.5 * torch.exp(-2.0 * log_sigma)) + log_sigma
        return (nll * present).sum()

    def _softmax_ce(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.n_blocks == 0:
            return raw.new_zeros(())
        logits = raw.index_select(1, self.softmax_index)
        onehot = target.index_select(1, self.softmax_index)
        # With one-hot targets, the summed CE of all blocks is sum(logsumexp) - sum(target * logit).
        return segment_logsumexp(logits, self.softmax_block, self.n_blocks).sum() - (logits * onehot).sum()

    def sample(self, raw: torch.Tensor, log_sigma: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Rows in the transformer's dense layout: values ``mu + sigma * eps``, blocks one-hot
        (the draws of `sample_codes`)."""
        values, codes = self.sample_codes(raw, log_sigma, generator)
        out = torch.zeros(raw.shape[0], self.width, dtype=torch.float32, device=raw.device)
        out[:, self.value_index] = values
        if self.n_blocks:
            out.scatter_(1, self.softmax_index[codes + self.block_offset], 1.0)
        return out

    def sample_codes(
        self, raw: torch.Tensor, log_sigma: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(values [rows, V] float32, codes [rows, n_blocks])``: values ``mu + sigma * eps`` and
        each block's category drawn from its softmax, as an index into the block.

        All noise is drawn on the CPU from ``generator`` and then moved, so a seed gives the
        same noise on any device.
        """
        rows = raw.shape[0]
        values = raw.new_zeros((rows, self.n_values), dtype=torch.float32)
        codes = torch.zeros(rows, self.n_blocks, dtype=torch.long, device=raw.device)
        if self.n_values:
            eps = torch.randn(rows, self.n_values, generator=generator).to(raw.device)
            mu = raw.index_select(1, self.value_index)
            values = (mu + log_sigma.exp() * eps).float()
        if self.n_blocks:
            uniform = torch.rand(rows, self.n_blocks, generator=generator).to(raw.device)
            logits = raw.index_select(1, self.softmax_index)
            chosen = segment_inverse_cdf(logits, self.softmax_block, self.n_blocks, uniform)
            codes = chosen - self.block_offset
        return values, codes
