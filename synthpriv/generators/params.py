"""Per-generator settings (``train.params`` in the pipeline file).

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
    loss_factor: float = Field(default=2.0, gt=0)
    """Weight of the reconstruction term against the KL term (TVAE uses 2)."""


#: The generator kinds the pipeline file accepts, with their settings model.
PARAMS_BY_KIND: dict[str, type[GeneratorParams]] = {"vae": VAEParams}

#: Tuned defaults used when ``train.epochs`` / ``train.batch_size`` are left out.
DEFAULT_EPOCHS: dict[str, int] = {"vae": 300}
DEFAULT_BATCH_SIZE: dict[str, int] = {"vae": 500}
