"""Training a generator to match marginals: the seam between what measures and what learns.

A marginal-trained generator (`synthpriv.generators.marginal`) sees the table as tokens: one
small integer a column and row (a category, a quantile bin of a number, or missing), with
``sizes[a]`` possible tokens in attribute ``a``. It never reads the tokens itself: it hands
them to its trainer's `Trainer.fit_marginals`, which *measures* marginals (counts of token
combinations over a few attributes) and gives the model only those measurements
(`Measurement`) to fit. The model answers with its own marginals (`MarginalModel`).

- Plain training (`fit_exact`) measures every one-way and two-way marginal exactly and fits
  the model to them once.
- Under ``train.privacy.mechanism: marginals`` the trainer is
  `synthpriv.privacy.marginals.MarginalTrainer`: it measures noisy one-way marginals, then
  in each round selects the marginal the model gets most wrong with the exponential
  mechanism and measures it with discrete Gaussian noise (AIM, McKenna et al. 2022). The
  model's fit is post-processing of those measurements: it costs no privacy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from synthpriv.runtime.progress import NullProgress, Progress

#: A marginal over more cells than this is not measured (its counts would be mostly noise
#: under DP, and its model answer costs batch x cells floats each step).
MAX_CELLS = 4096

Query = tuple[int, ...]
"""The attributes (positions in the token matrix) a marginal counts over, ascending."""


@dataclass(frozen=True)
class Measurement:
    """The counts of one marginal, flattened in C order over ``attributes``; noisy under DP."""

    attributes: Query
    counts: np.ndarray
    sigma: float
    """The standard deviation of the noise added to each count (0: an exact count)."""


class MarginalModel(Protocol):
    """What a marginal-trained generator offers its trainer."""

    def fit_measurements(self, measurements: Sequence[Measurement], rows: float, *, final: bool) -> float:
        """Fit the model to ``measurements`` (counts out of about ``rows`` rows); ``final``
        for the last fit, which trains longest. Returns the final loss."""
        ...

    def model_marginals(self, queries: Sequence[Query]) -> list[np.ndarray]:
        """The model's probabilities for each query's cells, flattened as `Measurement.counts`."""
        ...


def marginal_counts(tokens: np.ndarray, sizes: Sequence[int], query: Query) -> np.ndarray:
    """The exact counts of ``query``'s cells in ``tokens`` (rows x attributes), C order."""
    shape = tuple(sizes[a] for a in query)
    cells = np.ravel_multi_index(tuple(tokens[:, a].astype(np.int64) for a in query), shape)
    return np.bincount(cells, minlength=math.prod(shape)).astype(np.float64)


def cells(sizes: Sequence[int], query: Query) -> int:
    return math.prod(sizes[a] for a in query)


def pair_queries(sizes: Sequence[int], max_cells: int = MAX_CELLS) -> list[Query]:
    """Every two-way marginal of at most ``max_cells`` cells."""
    return [q for q in itertools.combinations(range(len(sizes)), 2) if cells(sizes, q) <= max_cells]


def extensions(selected: Sequence[Query], sizes: Sequence[int], max_cells: int = MAX_CELLS) -> list[Query]:
    """Three-way marginals that add one attribute to a selected two-way one: the candidates
    grow with what was selected, not with the cube of the columns."""
    grown = {
        tuple(sorted((*query, other)))
        for query in selected
        if len(query) == 2
        for other in range(len(sizes))
        if other not in query
    }
    return sorted(q for q in grown if cells(sizes, q) <= max_cells)


def fit_exact(
    tokens: np.ndarray, sizes: Sequence[int], model: MarginalModel, progress: Progress | None = None
) -> list[dict[str, float]]:
    """Plain training: fit ``model`` to every exact one-way and two-way marginal."""
    progress = progress or NullProgress()
    queries = [(a,) for a in range(len(sizes))] + pair_queries(sizes)
    progress.start("measure marginals", total=1)
    measurements = [Measurement(q, marginal_counts(tokens, sizes, q), 0.0) for q in queries]
    progress.advance(1)
    progress.finish()
    loss = model.fit_measurements(measurements, float(len(tokens)), final=True)
    return [{"loss": loss, "marginals": float(len(measurements))}]
