"""``train.privacy.mechanism: marginals``: adaptively selected noisy marginals (AIM-style).

The mechanism (McKenna, Mullins, Sheldon and Miklau, "AIM", VLDB 2022), on the table's
tokens (`synthpriv.training.marginals`; one token a column and row):

1. **One-way marginals.** Every column's token counts, each with discrete Gaussian noise
   (`synthpriv.privacy.noise`), ``ONE_WAY_SHARE`` of the budget split evenly over them.
2. **Rounds.** In each of ``rounds`` rounds the model is fitted to everything measured so
   far (post-processing), then the exponential mechanism *selects* the candidate marginal
   the model gets most wrong, and the discrete Gaussian mechanism *measures* it. A
   candidate's score is AIM's: the L1 error of the model's counts against the true ones,
   less the error the measurement's own noise would leave (``sqrt(2 / pi) sigma`` a cell),
   so a marginal with many cells is chosen only when the model is that far off. The
   candidates are every two-way marginal of at most `MAX_CELLS` cells, and the three-way
   ones that extend a selected two-way one by a column, less those already measured. With a
   ``data.target``, every other round chooses only among the marginals that hold it (its pairs
   and triples): what a model trained on the synthetic rows needs most. The workload is
   public, so restricting a round's candidates costs nothing.
3. **The model's final fit** to all measurements (post-processing).

**Accounting.** zCDP (Bun and Steinke, 2016), with the add/remove-one-row relation of the
rest of the ledger: a count's L2 sensitivity is 1, so a discrete Gaussian of standard
deviation sigma is ``1 / (2 sigma^2)``-zCDP; a score changes by at most 1 (one row moves
one count by one; the model's answer and the row estimate are released values), so the
exponential mechanism with ``exp(epsilon * score / 2)`` is ``epsilon^2 / 8``-zCDP (Cesar
and Rogers, 2021). The rhos add up; the total converts to ``(epsilon, delta)``-DP
(`zcdp_epsilon`, Canonne, Kamath and Steinke 2020), which the ledger charges as one
release. Every share is decided from the budget, the number of columns and the rounds,
before a value is read (`MarginalBudget`), so ``synthpriv check`` prints the exact noise.

**Randomness.** The noise and the selections draw on fresh OS entropy, not on the public
seed, as DP-SGD's do (runs are not bit-reproducible).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from synthpriv.errors import PrivacyConfigError
from synthpriv.privacy.ledger import Release
from synthpriv.privacy.noise import discrete_gaussian, gaussian_sigma, zcdp_epsilon
from synthpriv.runtime.progress import NullProgress, Progress
from synthpriv.training.marginals import (
    MarginalModel,
    Measurement,
    Query,
    cells,
    extensions,
    marginal_counts,
    pair_queries,
)
from synthpriv.training.seam import FitShape, Trainer

#: The share of the mechanism's rho spent on the one-way marginals (split over the columns).
ONE_WAY_SHARE = 0.1
#: The share of each round's rho spent on selecting (the rest measures what was selected).
SELECTION_SHARE = 0.1
#: Rounds when ``train.privacy.rounds`` is left out: this many per column, but no more than
#: keep a measured count's noise (sigma) within `NOISE_SHARE_OF_ROWS` of the rows.
ROUNDS_PER_COLUMN = 2
#: On a table of a few hundred rows, two rounds a column would measure every marginal with
#: noise of a tenth of the rows or more. Fewer, less noisy measurements are the reasoning; the
#: demo at epsilon 3 could not show it beyond noise (quality 0.804 and 0.788 with 8 rounds,
#: 0.765 and 0.796 with 34, 0.770-0.773 with this cap's 10). On large tables the cap does not
#: bind (UCI Adult at epsilon 1: sigma is 0.1 % of the rows).
NOISE_SHARE_OF_ROWS = 0.04
MECHANISM = "discrete gaussian + exponential mechanism (zCDP)"


@dataclass(frozen=True)
class MarginalBudget:
    """How the mechanism spends ``rho``: decided from the budget and the table's shape alone."""

    rho: float
    delta: float
    columns: int
    rounds: int
    focus: str | None = None
    """``data.target``: every other round selects among the marginals that hold it (a public
    choice of workload, so it costs nothing)."""

    @classmethod
    def plan(
        cls,
        rho: float,
        delta: float,
        columns: int,
        rounds: int | None,
        focus: str | None = None,
        rows: int | None = None,
    ) -> MarginalBudget:
        """The budget's split; ``rounds`` None picks them (`default_rounds`) for ``rows`` rows."""
        planned = default_rounds(rho, columns, rows) if rounds is None else rounds
        return cls(rho=rho, delta=delta, columns=columns, rounds=planned if columns > 1 else 0, focus=focus)

    @property
    def epsilon(self) -> float:
        return zcdp_epsilon(self.rho, self.delta)

    @property
    def one_way_sigma(self) -> float:
        share = ONE_WAY_SHARE if self.rounds else 1.0
        return gaussian_sigma(share * self.rho / self.columns)

    @property
    def round_rho(self) -> float:
        return (1.0 - ONE_WAY_SHARE) * self.rho / self.rounds if self.rounds else 0.0

    @property
    def selection_epsilon(self) -> float:
        return math.sqrt(8.0 * SELECTION_SHARE * self.round_rho)

    @property
    def measure_sigma(self) -> float:
        return gaussian_sigma((1.0 - SELECTION_SHARE) * self.round_rho)

    def release(self, what: str) -> Release:
        return Release(
            what=f"{what}: {self.columns} one-way and {self.rounds} selected marginals",
            mechanism=MECHANISM,
            epsilon=self.epsilon,
            delta=self.delta,
            noise=self.measure_sigma if self.rounds else self.one_way_sigma,
            steps=self.rounds,
            rho=self.rho,
        )

    def describe(self) -> list[str]:
        lines = [
            f"  marginals: zCDP rho {self.rho:.4g} (epsilon {self.epsilon:.4g}, delta {self.delta:.3g})",
            f"    one-way marginals of {self.columns} column(s): discrete gaussian, sigma "
            + f"{self.one_way_sigma:.4g}",
        ]
        if self.rounds:
            lines.append(
                f"    {self.rounds} rounds: select by exponential mechanism (epsilon "
                f"{self.selection_epsilon:.4g}), measure by discrete gaussian "
                f"(sigma {self.measure_sigma:.4g})"
            )
        if self.rounds and self.focus is not None:
            lines.append(f"    every other round selects among the marginals of {self.focus!r} (data.target)")
        return lines


def default_rounds(rho: float, columns: int, rows: int | None) -> int:
    """`ROUNDS_PER_COLUMN` a column, fewer where each measurement's sigma would exceed
    `NOISE_SHARE_OF_ROWS` of ``rows`` (public, as everywhere in the ledger); at least one."""
    rounds = ROUNDS_PER_COLUMN * columns
    if rows is None:
        return rounds
    # sigma^2 = 1 / (2 * measure share * rho / rounds) <= (share * rows)^2, solved for rounds.
    measure_rho = (1.0 - ONE_WAY_SHARE) * (1.0 - SELECTION_SHARE) * rho
    most = int(2.0 * measure_rho * (NOISE_SHARE_OF_ROWS * rows) ** 2)
    return max(1, min(rounds, most))


class MarginalTrainer(Trainer):
    """Trains a marginal-trained generator on the mechanism's noisy marginals."""

    fixed_budget: ClassVar[bool] = True
    may_hold_out: ClassVar[bool] = False

    def __init__(self, budget: MarginalBudget) -> None:
        super().__init__()
        self.budget = budget
        self.release: Release | None = None

    def prepare(self, fit: FitShape) -> None:
        refuse_unmarginal(fit)
        self.release = None

    def fit_marginals(
        self,
        tokens: np.ndarray,
        sizes: Sequence[int],
        model: MarginalModel,
        *,
        progress: Progress | None = None,
        columns: Sequence[str] = (),
    ) -> list[dict[str, float]]:
        if len(sizes) > self.budget.columns:
            raise RuntimeError("the table has more columns than the privacy plan budgeted for")
        target = self.budget.focus
        focus = list(columns).index(target) if target is not None and target in columns else None
        rounds = _Rounds(tokens, sizes, model, self.budget, np.random.default_rng(), focus=focus)
        return rounds.run(progress or NullProgress())

    def finish(self, what: str) -> None:
        self.release = self.budget.release(what)


def refuse_unmarginal(fit: FitShape) -> None:
    """PrivacyConfigError unless ``fit`` is a marginal-trained generator's."""
    if not fit.marginal_capable:
        raise PrivacyConfigError(
            f"train.privacy.mechanism: marginals trains the marginal generator, not {fit.kind}; "
            "set train.generator: marginal (or use mechanism: dp-sgd)",
            where="train.generator",
        )


class _Rounds:
    """One run of the mechanism: measure, select, measure, fit."""

    def __init__(
        self,
        tokens: np.ndarray,
        sizes: Sequence[int],
        model: MarginalModel,
        budget: MarginalBudget,
        rng: np.random.Generator,
        *,
        focus: int | None = None,
    ) -> None:
        self.tokens, self.sizes, self.model, self.budget, self.rng = tokens, list(sizes), model, budget, rng
        self.focus = focus  # the attribute data.target is, if any
        self.measurements: list[Measurement] = []
        self.truth: dict[Query, np.ndarray] = {}

    def count(self, query: Query) -> np.ndarray:
        if query not in self.truth:
            self.truth[query] = marginal_counts(self.tokens, self.sizes, query)
        return self.truth[query]

    def measure(self, query: Query, sigma: float) -> None:
        true = self.count(query)
        noisy = true + discrete_gaussian(sigma, true.shape, self.rng)
        self.measurements.append(Measurement(query, noisy.astype(np.float64), sigma))

    def run(self, progress: Progress) -> list[dict[str, float]]:
        progress.start("measure marginals", total=self.budget.rounds + 1)
        for column in range(len(self.sizes)):
            self.measure((column,), self.budget.one_way_sigma)
        # The rows, estimated from the noisy one-way totals (post-processing).
        rows = max(float(np.mean([m.counts.sum() for m in self.measurements])), 1.0)
        history = []
        for number in range(self.budget.rounds):
            loss = self.model.fit_measurements(self.measurements, rows, final=False)
            chosen = self.select(rows, focused=number % 2 == 1)
            self.measure(chosen, self.budget.measure_sigma)
            history.append(
                {"loss": loss, "round": float(number + 1), "cells": float(cells(self.sizes, chosen))}
            )
            progress.advance(1, loss=loss)
        loss = self.model.fit_measurements(self.measurements, rows, final=True)
        history.append({"loss": loss, "round": float(self.budget.rounds + 1), "cells": 0.0})
        progress.advance(1, loss=loss)
        progress.finish()
        return history

    def candidates(self, focused: bool = False) -> list[Query]:
        """Every pair, and every triple that grows a selected pair, not yet measured; in a
        ``focused`` round only those that hold the focus column (and its pairs' triples)."""
        selected = [m.attributes for m in self.measurements if len(m.attributes) > 1]
        measured = set(selected)
        focus = self.focus
        pairs = pair_queries(self.sizes)

        def unmeasured(grow_from: list[Query], among: list[Query]) -> list[Query]:
            # A marginal is measured once: its measurement already says what its noise allows.
            return [q for q in among + extensions(grow_from, self.sizes) if q not in measured]

        if not focused or focus is None:
            return unmeasured(selected, pairs)
        # Every triple that holds the focus grows from one of the focus's pairs.
        focus_pairs = [q for q in pairs if focus in q]
        return unmeasured(focus_pairs, focus_pairs) or unmeasured(pairs, pairs)

    def select(self, rows: float, focused: bool = False) -> Query:
        """The exponential mechanism over the candidates' AIM scores (Gumbel-max sampling)."""
        candidates = self.candidates(focused)
        answers = self.model.model_marginals(candidates)
        expected_noise = math.sqrt(2.0 / math.pi) * self.budget.measure_sigma
        scores = np.array(
            [
                np.abs(self.count(q) - rows * answer).sum() - expected_noise * answer.size
                for q, answer in zip(candidates, answers, strict=True)
            ]
        )
        # exp(epsilon * score / (2 * sensitivity)), sensitivity 1: Gumbel noise of scale 1 on the log-weights.
        logits = self.budget.selection_epsilon * scores / 2.0
        return candidates[int(np.argmax(logits + self.rng.gumbel(size=len(logits))))]
