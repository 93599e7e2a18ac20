"""Building blocks the generators share: an MLP, an Adam factory and segment reductions.

A *segment* is a run of columns of one tensor that belong together (the categories of one
column's softmax block). The segment operations reduce every segment of every row at once
with scatter reductions over one tensor, so the cost per batch does not grow with a Python
loop over columns. ``segment`` lists, for each column of ``x``, the segment it belongs to;
each segment's columns are contiguous and in order (as `SpanHeads` lays them out).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise

import torch
from torch import nn

#: torch.optim.Adam's default moments.
DEFAULT_BETAS = (0.9, 0.999)

# The floor of shifted logits in `segment_logsumexp` (see there).
_LOGIT_FLOOR = -60.0


def mlp(widths: Sequence[int], out_features: int) -> nn.Sequential:
    """``Linear + ReLU`` for each consecutive pair of ``widths``, then a final ``Linear``."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in pairwise(widths):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], out_features))
    return nn.Sequential(*layers)


def adam(
    parameters: Iterable[nn.Parameter],
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = DEFAULT_BETAS,
) -> torch.optim.Adam:
    """Adam with the fused kernel where this torch has one for the device (one op per step
    instead of several per parameter); the plain implementation otherwise."""
    parameters = list(parameters)
    try:
        return torch.optim.Adam(parameters, lr=lr, betas=betas, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(parameters, lr=lr, betas=betas, weight_decay=weight_decay)


def segment_max(x: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """``[rows, n_segments]``: the maximum of ``x`` over the columns of each segment."""
    index = segment.expand_as(x)
    empty = x.new_full((x.shape[0], n_segments), float("-inf"))
    return empty.scatter_reduce(1, index, x, reduce="amax", include_self=True)


def segment_logsumexp(x: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """``[rows, n_segments]``: a numerically stable logsumexp of ``x`` within each segment."""
    shift = segment_max(x.detach(), segment, n_segments)
    index = segment.expand_as(x)
    # Flooring the shifted logits keeps exp() and its gradient out of the subnormal range,
    # which x86 CPUs compute orders of magnitude slower; such entries have probability
    # below 1e-26 and contribute nothing measurable to the loss.
    exp = torch.exp((x - shift.gather(1, index)).clamp(min=_LOGIT_FLOOR))
    total = x.new_zeros((x.shape[0], n_segments)).scatter_add(1, index, exp)
    return total.log() + shift


def segment_argmax(x: torch.Tensor, segment: torch.Tensor, n_segments: int) -> torch.Tensor:
    """``[rows, n_segments]``: the column (into ``x``) of each segment's first maximum."""
    index = segment.expand_as(x)
    top = segment_max(x, segment, n_segments).gather(1, index)
    position = torch.arange(x.shape[1], device=x.device).expand_as(x)
    candidates = torch.where(x == top, position, x.shape[1])
    first = torch.full((x.shape[0], n_segments), x.shape[1], dtype=torch.long, device=x.device)
    return first.scatter_reduce(1, index, candidates, reduce="amin", include_self=True)


def segment_inverse_cdf(
    logits: torch.Tensor, segment: torch.Tensor, n_segments: int, uniform: torch.Tensor
) -> torch.Tensor:
    """``[rows, n_segments]``: one draw per segment from ``softmax(logits)`` within it, as the
    column (into ``logits``) of the category drawn; ``uniform`` is ``[rows, n_segments]``.

    Inverse-CDF sampling needs one uniform per segment where the Gumbel-max trick needs one
    per category (drawing those was a quarter of a VAE's sampling time).
    """
    index = segment.expand_as(logits)
    weights = torch.exp(logits - segment_max(logits, segment, n_segments).gather(1, index))
    # float64: a float32 running sum over all segments would blur probabilities below ~1e-6.
    cdf = nn.functional.pad(weights.double().cumsum(1), (1, 0))  # a column of zeros in front
    bounds = torch.searchsorted(segment, torch.arange(n_segments + 1, device=segment.device))
    before, after = cdf[:, bounds[:-1]], cdf[:, bounds[1:]]
    threshold = before + uniform.double() * (after - before)
    below = (cdf[:, 1:] < threshold.gather(1, index)).to(logits.dtype)
    count = below.new_zeros((logits.shape[0], n_segments)).scatter_add_(1, index, below).long()
    return torch.minimum(bounds[:-1] + count, bounds[1:] - 1)
