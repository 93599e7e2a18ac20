"""The generators' settings, under the name the generators import them by.

They are defined in `synthpriv.config.generator_params`: the config validates `train.params`
and sits below the generators in the layers, so it must not import this package.
"""

from synthpriv.config.generator_params import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DP_EPOCHS,
    DEFAULT_EPOCHS,
    DEFAULT_STEPS,
    PARAMS_BY_KIND,
    AutoregressiveParams,
    DiffusionParams,
    GANParams,
    GeneratorParams,
    MarginalParams,
    VAEParams,
    default_epochs,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_DP_EPOCHS",
    "DEFAULT_EPOCHS",
    "DEFAULT_STEPS",
    "PARAMS_BY_KIND",
    "AutoregressiveParams",
    "DiffusionParams",
    "GANParams",
    "GeneratorParams",
    "MarginalParams",
    "VAEParams",
    "default_epochs",
]
