"""Output heads built from spans alone: the losses and the sampler of a decoder's raw output.

- ``value`` spans (identity, width 1): a Gaussian with the decoder output as mean and a
  learned per-column log-sigma; loss is the TVAE-style negative log-likelihood
  ``(x - mu)^2 / (2 sigma^2) + log sigma``.
- ``softmax`` spans (``category`` and ``missing``): cross-entropy against the one-hot target.

Every softmax block is handled at once with segment reductions over one gathered tensor, so
the cost per batch does not grow with a Python loop over columns.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from synthpriv.data.spans import Span, spans_width

#: TVAE keeps each column's sigma in [0.01, 1]: a floor stops the likelihood diverging on
#: spiky columns, the ceiling keeps sampling noise below the scale of the normalised data.
LOG_SIGMA_MIN = float(torch.tensor(0.01).log())
LOG_SIGMA_MAX = 0.0

_LOGIT_FLOOR = -60.0


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
        return _segment_logsumexp(logits, self.softmax_block, self.n_blocks).sum() - (logits * onehot).sum()

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


def segment_inverse_cdf(
    logits: torch.Tensor, segment: torch.Tensor, n_segments: int, uniform: torch.Tensor
) -> torch.Tensor:
    """``[rows, n_segments]``: one draw per segment from ``softmax(logits)`` within it, as the
    column (into ``logits``) of the category drawn; ``uniform`` is ``[rows, n_segments]``.

    Inverse-CDF sampling needs one uniform per segment where the Gumbel-max trick needs one
    per category (drawing those was a quarter of a VAE's sampling time). ``segment`` must
    list each segment's columns contiguously and in order, as `SpanHeads` lays them out.
    """
    index = segment.expand_as(logits)
    weights = torch.exp(logits - _segment_max(logits, segment, n_segments).gather(1, index))
    # float64: a float32 running sum over all segments would blur probabilities below ~1e-6.
    cdf = _pad_left(weights.double().cumsum(1))
    bounds = torch.searchsorted(segment, torch.arange(n_segments + 1, device=segment.device))
    before, after = cdf[:, bounds[:-1]], cdf[:, bounds[1:]]
    threshold = before + uniform.double() * (after - before)
    below = (cdf[:, 1:] < threshold.gather(1, index)).to(logits.dtype)
    count = below.new_zeros((logits.shape[0], n_segments)).scatter_add_(1, index, below).long()
    return torch.minimum(bounds[:-1] + count, bounds[1:] - 1)


def _pad_left(x: torch.Tensor) -> torch.Tensor:
    """``x`` with a column of zeros in front."""
    return torch.nn.functional.pad(x, (1, 0))


def _segment_max(x: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """``[rows, n_segments]``: the maximum of ``x`` over the columns of each segment."""
    index = segment.expand_as(x)
    empty = x.new_full((x.shape[0], n_segments), float("-inf"))
    return empty.scatter_reduce(1, index, x, reduce="amax", include_self=True)


def _segment_logsumexp(x: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """``[rows, n_segments]``: a numerically stable logsumexp of ``x`` within each segment."""
    shift = _segment_max(x.detach(), segment, n_segments)
    index = segment.expand_as(x)
    # Flooring the shifted logits keeps exp() and its gradient out of the subnormal range,
    # which x86 CPUs compute orders of magnitude slower; such entries have probability
    # below 1e-26 and contribute nothing measurable to the loss.
    exp = torch.exp((x - shift.gather(1, index)).clamp(min=_LOGIT_FLOOR))
    total = x.new_zeros((x.shape[0], n_segments)).scatter_add(1, index, exp)
    return total.log() + shift


def _segment_argmax(x: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """``[rows, n_segments]``: the column (into ``x``) of each segment's first maximum."""
    index = segment.expand_as(x)
    top = _segment_max(x, segment, n_segments).gather(1, index)
    position = torch.arange(x.shape[1], device=x.device).expand_as(x)
    candidates = torch.where(x == top, position, x.shape[1])
    first = torch.full((x.shape[0], n_segments), x.shape[1], dtype=torch.long, device=x.device)
    return first.scatter_reduce(1, index, candidates, reduce="amin", include_self=True)
