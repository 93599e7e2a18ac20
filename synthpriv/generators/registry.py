"""The generator registry: explicit, lazy (torch is imported only when a generator is used).

A kind is a name here, never a module path read from a file: `model_files` looks a saved
model's recorded kind up in this table. The registry imports the base class only for type
checking, so the base class and the registry never import each other.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from synthpriv.errors import ConfigError

if TYPE_CHECKING:
    from synthpriv.generators.base import Generator

_GENERATORS: dict[str, str] = {
    "vae": "synthpriv.generators.tvae:TVAE",
    "diffusion": "synthpriv.generators.ddpm:TabDDPM",
    "gan": "synthpriv.generators.ctgan:CTGAN",
    "marginal": "synthpriv.generators.marginal:MarginalNet",
    "autoregressive": "synthpriv.generators.autoregressive:Autoregressive",
}


def available_generators() -> list[str]:
    return sorted(_GENERATORS)


def describe_generator(kind: str) -> str:
    """One line on the generator registered under ``kind``: its class's ``description`` (what it
    is, its fit time on Adult with its defaults) and the differential privacy it offers, read
    from the `FitShape` fields the privacy plan's refusals check (`refuse_unprivate`,
    `refuse_unmarginal`), so the line cannot promise what a run refuses."""
    generator_class = get_generator(kind)
    shape = generator_class().fit_shape(1000, fixed_budget=True, transformer_given=True)
    offered = []
    if shape.per_row_capable and shape.learns_under_dp_sgd:
        offered.append("DP-SGD (train.privacy)")
    if shape.marginal_capable:
        offered.append("noisy marginals (train.privacy.mechanism: marginals)")
    description = getattr(generator_class, "description", "") or "no description"
    return f"{description}; DP: {' or '.join(offered) or 'none'}"


def get_generator(kind: str) -> type[Generator]:
    """The generator class registered under ``kind``."""
    try:
        target = _GENERATORS[kind]
    except KeyError:
        known = ", ".join(available_generators())
        raise ConfigError(f"unknown generator {kind!r}; known: {known}", where="train.generator") from None
    module_name, _, class_name = target.partition(":")
    generator_class: type[Generator] = getattr(importlib.import_module(module_name), class_name)
    return generator_class


def register_generator(kind: str, target: str, *, replace: bool = False) -> None:
    """Register ``module:Class`` under ``kind``."""
    if kind in _GENERATORS and not replace:
        raise ValueError(f"generator {kind!r} is already registered")
    _GENERATORS[kind] = target


@contextmanager
def registry_override(kind: str, target: str) -> Iterator[None]:
    """Register a generator for the duration of a ``with`` block (for tests)."""
    previous = _GENERATORS.get(kind)
    _GENERATORS[kind] = target
    try:
        yield
    finally:
        if previous is None:
            del _GENERATORS[kind]
        else:
            _GENERATORS[kind] = previous
