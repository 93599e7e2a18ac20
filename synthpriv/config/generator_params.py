"""Per-generator settings (``train.params`` in the pipeline file): config, so that the config
validates them without importing the generators.

Kept free of torch so that ``synthpriv check`` and ``--help`` stay instant.
"""

from __future__ import annotations

from pydantic import Field

from synthpriv.config.base import StrictModel


class GeneratorParams(StrictModel):
    """Settings every generator accepts."""

    learning_rate: float = Field(default=1e-3, gt=0, le=1)
    """Adam learning rate."""


class VAEParams(GeneratorParams):
    """A TVAE-style variational autoencoder."""

    latent_dim: int = Field(default=128, ge=2, le=4096)
    """Size of the latent code."""
    hidden_dims: tuple[int, ...] = Field(default=(256, 256), min_length=1, max_length=8)
    """Widths of the encoder's hidden layers; the decoder mirrors them."""
    weight_decay: float = Field(default=1e-5, ge=0)
    """L2 penalty on the weights."""
    loss_factor: float = Field(default=1.0, gt=0)
    """Weight of the reconstruction term against the KL term (TVAE uses 2)."""


class GANParams(GeneratorParams):
    """A CTGAN-style conditional Wasserstein GAN with gradient penalty and PacGAN packing.

    The defaults were tuned on UCI Adult (benchmarks/sweep.py): a generator narrower than
    CTGAN's keeps sampling above 250,000 rows/s on a 2-core CPU, and at 300 epochs a learning
    rate of 1e-3 (CTGAN: 2e-4) cut the pair-trend error from 16-18 % to 10.4 %; a wider
    generator or CTGAN's critic dropout of 0.5 did not help.
    """

    embedding_dim: int = Field(default=64, ge=2, le=4096)
    """Size of the generator's noise input."""
    generator_dims: tuple[int, ...] = Field(default=(192, 192), min_length=1, max_length=8)
    """Widths of the generator's layers (residual where consecutive widths agree)."""
    critic_dims: tuple[int, ...] = Field(default=(256, 256), min_length=1, max_length=8)
    """Widths of the critic's hidden layers."""
    learning_rate: float = Field(default=1e-3, gt=0, le=1)
    """Adam learning rate of generator and critic."""
    weight_decay: float = Field(default=1e-6, ge=0)
    """L2 penalty on the weights."""
    critic_steps: int = Field(default=1, ge=1, le=20)
    """Critic updates per generator update."""
    pac: int = Field(default=10, ge=1, le=64)
    """Rows the critic judges together (PacGAN), against mode collapse."""
    gradient_penalty: float = Field(default=10.0, ge=0)
    """Weight of the WGAN-GP gradient penalty."""
    critic_dropout: float = Field(default=0.25, ge=0, lt=1)
    """Dropout after each hidden layer of the critic (CTGAN uses 0.5)."""


class DiffusionParams(GeneratorParams):
    """A TabDDPM-style diffusion model: Gaussian on numbers, multinomial on categories.

    The defaults were chosen on UCI Adult with benchmarks/sweep.py: at a fixed budget of
    24,000 steps of 1,024 rows (15 minutes on 2 CPU cores), the learning rate, the sampler's
    eta and its step count mattered most; a wider denoiser helped less per second of CPU.
    """

    timesteps: int = Field(default=1000, ge=2, le=10_000)
    """Diffusion steps in training."""
    sampling_steps: int | None = Field(default=100, ge=1, le=10_000)
    """Denoising steps when sampling (evenly spaced jumps); None: as many as in training."""
    hidden_dims: tuple[int, ...] = Field(default=(512, 512, 512, 512), min_length=1, max_length=8)
    """Widths of the denoiser MLP."""
    embedding_dim: int = Field(default=128, ge=2, le=4096)
    """Width of the row projection and the timestep embedding."""
    learning_rate: float = Field(default=2e-3, gt=0, le=1)
    """Adam learning rate, annealed linearly to zero over training."""
    weight_decay: float = Field(default=0.0, ge=0)
    """L2 penalty on the weights."""
    ema_decay: float = Field(default=0.999, ge=0, lt=1)
    """Decay of the moving average of the weights that samples (0: the last weights)."""
    eta: float = Field(default=0.5, ge=0, le=1)
    """Noise of the Gaussian reverse step: 1 is the DDPM posterior, 0 deterministic DDIM.

    Halfway was best on Adult with 100 steps (shape/trend error 1.47/2.83 % against 1.45/3.13
    at 0 and 1.90/3.69 at 1 with 50 steps; benchmarks/sweep.py)."""
    condition_rate: float = Field(default=0.1, ge=0, le=1)
    """Share of training rows given some category columns as known, for conditional sampling."""
    ce_weight: float = Field(default=1.0, ge=0)
    """Weight of the auxiliary x_0 cross-entropy of the categories (D3PM's hybrid loss)."""


class MarginalParams(GeneratorParams):
    """A mixture of product distributions fitted to marginals (GEM / MargNet-style training).

    Every column becomes tokens (a category, a quantile bin of a number, a few-valued number's
    value, or missing); the model is a weighted mixture of ``components`` distributions, each
    independent across columns, trained so that its marginals match measured ones: exact in a
    plain fit, noisy and adaptively selected under ``train.privacy.mechanism: marginals``.
    ``train.epochs`` is the optimizer steps of its final fit (``train.batch_size`` is unused:
    the marginals are computed exactly, not from a batch).
    """

    learning_rate: float = Field(default=0.05, gt=0, le=10)
    components: int = Field(default=512, ge=1, le=100_000)
    """Mixture components: more fit finer relations between columns."""
    bins: int = Field(default=16, ge=2, le=512)
    """Quantile bins a number or date is cut into (values are drawn within their bin)."""
    steps_per_round: int = Field(default=100, ge=1, le=100_000)
    """Optimizer steps after each newly measured marginal (DP), before the final fit."""


class AutoregressiveParams(GeneratorParams):
    """A per-column autoregressive network (TabularARGN-style, arXiv 2501.12012).

    Every column is one or two tokens (a category; a few-valued number's value; a number's
    quantile bin then its sub-bin; missing), each predicted by a small network of its own from
    the tokens before it. Trained partly in random column orders, so that it can condition on
    any columns; early stopping on a share of the training rows ends a plain fit.
    """

    learning_rate: float = Field(default=2e-3, gt=0, le=1)
    hidden_dim: int = Field(default=128, ge=4, le=4096)
    """Width of each token's network."""
    bins: int = Field(default=32, ge=2, le=1024)
    """Quantile bins a number or date is cut into (its first token)."""
    sub_bins: int = Field(default=16, ge=1, le=1024)
    """Sub-bins of each bin (its second token; 1: none, a value is drawn uniformly in its bin)."""
    random_order_share: float = Field(default=0.5, ge=0, le=1)
    """Share of training rows seen in a random column order, the rest in the table's order.
    Conditions and imputation on columns other than the first need some (above 0)."""
    validation_share: float = Field(default=0.1, ge=0, lt=1)
    """Share of the training rows held out to stop training when their loss stops falling
    (not under DP-SGD, where the epochs are fixed by the budget)."""
    patience: int = Field(default=5, ge=1, le=1000)
    """Epochs without a better validation loss before training stops."""
    weight_decay: float = Field(default=0.0, ge=0)
    """L2 penalty on the weights."""
    weight_average: float = Field(default=0.99, ge=0, lt=1)
    """Decay of the moving average of the weights that is kept and samples (0: the last weights)."""


#: The generator `train.generator` names when left out: the best on every measure (benchmarks/).
DEFAULT_GENERATOR = "autoregressive"

#: The generator kinds the pipeline file accepts, with their settings model.
PARAMS_BY_KIND: dict[str, type[GeneratorParams]] = {
    "vae": VAEParams,
    "gan": GANParams,
    "diffusion": DiffusionParams,
    "marginal": MarginalParams,
    "autoregressive": AutoregressiveParams,
}

#: Tuned defaults used when ``train.epochs`` / ``train.batch_size`` are left out. A default
#: fit runs ``DEFAULT_EPOCHS`` passes over a small table, and on a large one stops at
#: ``DEFAULT_STEPS`` optimizer steps: quality on UCI Adult (benchmarks/) depends on the steps
#: taken, and the cap keeps a laptop fit of a large table to minutes rather than hours.
DEFAULT_EPOCHS: dict[str, int] = {
    "vae": 300,
    "gan": 300,
    "diffusion": 750,
    "marginal": 2000,
    "autoregressive": 100,
}
DEFAULT_STEPS: dict[str, int] = {
    "vae": 10_000,
    "gan": 20_000,
    "diffusion": 21_000,
    "marginal": 2000,
    "autoregressive": 10_000,
}
DEFAULT_BATCH_SIZE: dict[str, int] = {
    "vae": 500,
    "gan": 500,
    "diffusion": 1024,
    "marginal": 1024,
    "autoregressive": 512,
}


#: Defaults of a DP fit (`train.privacy`). Each DP-SGD step adds noise, so a fixed budget
#: spread over more steps means more noise per step: on Adult at epsilon 3 (benchmarks/adult_dp.py)
#: the diffusion model's trend error rose from 18.2 % at 100 epochs to 36.2 % at its non-DP
#: default of 657, and the GAN's from 22.7 % at 100 epochs to 29.9 % at 300 (ML AUC 0.42).
#: The VAE keeps its non-DP default (10,000 steps: 19.7 % at epsilon 3).
DEFAULT_DP_EPOCHS: dict[str, int] = {
    "vae": 300,
    "gan": 100,
    "diffusion": 100,
    "marginal": 2000,
    "autoregressive": 30,
}


def default_epochs(kind: str, rows: int, batch_size: int, *, private: bool = False) -> int:
    """The epochs of a default fit of ``rows`` rows: ``DEFAULT_EPOCHS`` (``DEFAULT_DP_EPOCHS``
    with ``private``), capped at ``DEFAULT_STEPS`` steps."""
    steps_per_epoch = max(1, -(-rows // batch_size))
    epochs = (DEFAULT_DP_EPOCHS if private else DEFAULT_EPOCHS)[kind]
    return max(1, min(epochs, -(-DEFAULT_STEPS[kind] // steps_per_epoch)))
