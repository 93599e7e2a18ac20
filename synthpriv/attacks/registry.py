"""The attacks the attack stage runs, in the order they run and are reported.

Adding an attack: write its module (a subclass of `synthpriv.attacks.base.Attack`, or of
`RiskAttack` for an Anonymeter-style risk with its control), add one
line to `_BUILTIN` below, and its tests. Code outside the package (a test, a plug-in) uses
`register` and `unregister`. Names are stable: they key the attack's result in
``attack/summary.json``, its settings under ``attack.settings`` and its seed stream.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from synthpriv.attacks.anonymeter import InferenceAttack, LinkabilityAttack
from synthpriv.attacks.base import Attack
from synthpriv.attacks.membership import MembershipAttack
from synthpriv.attacks.outliers import OutlierMembershipAttack
from synthpriv.attacks.proxies import DistanceProxies
from synthpriv.attacks.singling_out import SinglingOutAttack
from synthpriv.attacks.value_reuse import ValueReuseAttack
from synthpriv.config.model import AttackConfig, GatesConfig

AnyAttack = Attack[Any, Any]

_BUILTIN: tuple[AnyAttack, ...] = (
    DistanceProxies(),
    MembershipAttack(),
    OutlierMembershipAttack(),
    InferenceAttack(),
    LinkabilityAttack(),
    SinglingOutAttack("univariate"),
    SinglingOutAttack("multivariate"),
    ValueReuseAttack(),
)

_ATTACKS: dict[str, AnyAttack] = {attack.name: attack for attack in _BUILTIN}


def attacks() -> tuple[AnyAttack, ...]:
    """Every registered attack, in registration order."""
    return tuple(_ATTACKS.values())


def names() -> tuple[str, ...]:
    return tuple(_ATTACKS)


def get_attack(name: str) -> AnyAttack:
    """The attack registered as ``name``; KeyError naming the registered ones otherwise."""
    try:
        return _ATTACKS[name]
    except KeyError:
        raise KeyError(f"unknown attack {name!r}; registered: {', '.join(_ATTACKS)}") from None


def register(attack: AnyAttack) -> None:
    """Add ``attack`` after the others; ValueError when its name is taken."""
    if attack.name in _ATTACKS:
        raise ValueError(f"an attack named {attack.name!r} is already registered")
    _ATTACKS[attack.name] = attack


def unregister(name: str) -> None:
    """Remove the attack registered as ``name`` (no error when there is none)."""
    _ATTACKS.pop(name, None)


def config_problems(attack: AttackConfig, gates: GatesConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """What is wrong with the pipeline file's attack settings and attack gates: (config path, message).

    An ``attack.settings`` key that names no attack, settings an attack refuses, and a gate
    none of whose attacks can run with these settings (``max_inference_risk`` without
    ``attack.sensitive``). Empty when all is well.
    """
    problems: list[tuple[tuple[str | int, ...], str]] = [
        (("attack", "settings", name), f"no attack is named '{name}' (registered: {', '.join(_ATTACKS)})")
        for name in attack.settings
        if name not in _ATTACKS
    ]
    for registered in attacks():
        try:
            registered.settings(attack)
        except ValidationError as exc:
            error = exc.errors()[0]
            problems.append((("attack", "settings", registered.name, *error["loc"]), error["msg"]))
    quasi, sensitive = len(attack.quasi_identifiers), attack.sensitive is not None
    for gate in GatesConfig.model_fields:
        feeders = [a for a in attacks() if gate in a.gates]
        unmet = [a.needs.unmet(quasi, sensitive) for a in feeders]
        if getattr(gates, gate) is not None and feeders and all(unmet):
            problems.append((("gates", gate), f"gate {gate} needs {unmet[0]}"))
    return problems
