"""`train.privacy`: the differential-privacy budget of everything that reads the real table."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from synthpriv.config.base import StrictModel


class PrivacyConfig(StrictModel):
    """Train with differential privacy: preprocessing and training share one (epsilon, delta) budget."""

    mechanism: Literal["dp-sgd", "marginals"] = "dp-sgd"
    """How the model learns privately: ``dp-sgd`` (noisy clipped gradients, any generator but the
    GAN) or ``marginals`` (noisy, adaptively selected marginals that ``generator: marginal`` is
    fitted to: AIM-style, usually far more useful at small epsilon)."""
    rounds: int | None = Field(default=None, ge=1, le=10_000)
    """``marginals`` only: marginals selected and measured after the one-way ones; default
    two per column, fewer on a small table (at most as many as keep each measurement's noise
    within 4 % of the rows). More rounds learn more relations, each with more noise."""

    epsilon: float = Field(gt=0, le=100)
    """Total epsilon for everything that reads the real table (preprocessing plus training)."""
    delta: float | None = Field(default=None, gt=0, lt=1)
    """Total delta; default the smaller of 1e-5 and 1 / (10 n) for n training rows. Refused if >= 1 / n."""
    max_grad_norm: float = Field(default=1.0, gt=0, le=1e4)
    """Per-example gradient clipping bound of DP-SGD."""
    accountant: Literal["rdp", "prv"] = "rdp"
    """How DP-SGD's steps are composed: Renyi DP (`rdp`) or the PRV accountant (`prv`, tighter)."""
    preprocessing_share: float | None = Field(default=None, gt=0, lt=1)
    """Share of epsilon spent on the statistics the transformer needs (quantiles, category domains);
    default 0.1 for ``dp-sgd`` and 0.25 for ``marginals``, whose numbers are drawn within the
    quantile map's bins, so its noise shows in every number (see `resolved_preprocessing_share`)."""
    secure_mode: bool = False
    """DP-SGD only: Opacus' secure mode. Its Gaussian noise is the sum of four draws (robust to the
    floating-point attacks on the Gaussian mechanism, Mironov 2012, Holohan and Braghin 2021), and
    the noise and the Poisson batches come from a cryptographic generator reading /dev/urandom.
    It costs the `torchcsprng` package (refused when it is not installed), a fit that cannot be
    reproduced from a seed, and five Gaussian draws where one was. Off by default: then the noise
    is one float draw from a secretly seeded PRNG; the guarantee is proved for real-valued noise,
    and the float attacks need the noisy gradient of a step, where a run releases only the final
    weights."""

    @model_validator(mode="after")
    def _rounds_need_marginals(self) -> PrivacyConfig:
        if self.rounds is not None and self.mechanism != "marginals":
            raise ValueError("rounds applies to mechanism: marginals only")
        return self

    def resolved_preprocessing_share(self) -> float:
        """The share of epsilon preprocessing spends. Measured on UCI Adult at epsilon 1
        (benchmarks/adult_dp.py): with ``marginals`` a share of 0.1 left the quantile maps' tails
        noisy enough (spurious ages above the real maximum) to double the pair-trend error in
        about half the runs; 0.25 did not, at the same shape error."""
        if self.preprocessing_share is not None:
            return self.preprocessing_share
        return 0.25 if self.mechanism == "marginals" else 0.1

    def preprocessing_epsilon(self) -> float:
        """The epsilon preprocessing spends (`resolved_preprocessing_share` of the total)."""
        return self.resolved_preprocessing_share() * self.epsilon

    def resolved_delta(self, rows: int) -> float:
        """The delta to use for ``rows`` training rows (see `delta`); validation happens in the train
        stage."""
        return self.delta if self.delta is not None else min(1e-5, 1.0 / (10.0 * max(rows, 1)))
