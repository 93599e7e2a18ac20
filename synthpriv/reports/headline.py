"""The few figures a run is judged by, read from the stage summaries.

One source for the run's front page (`reports.index`) and the data card the export ships
(`reports.datacard`), so that both always say the same thing. Every figure comes with what to
compare it to (the real holdout, the control, the ideal) and, where the stage measured one,
its 95 % interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from synthpriv.reports.model import Table, Tone

Summaries = Mapping[str, dict[str, Any]]
"""Stage name -> that stage's summary.json (stages that have not run are absent)."""


@dataclass(frozen=True)
class Headline:
    """One headline figure, formatted, with its reference."""

    kind: Literal["fidelity", "privacy"]
    label: str
    value: str
    reference: str
    """What to compare it with: "real holdout 0.91", "ideal 0.5", "control 0.02"."""
    interval: str = ""
    """"0.48–0.52" (95 %) where the stage measured one."""
    stage: str = ""
    """The stage whose report explains it."""
    tone: Tone = "neutral"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Guarantee:
    """The differential-privacy guarantee the train stage's ledger proves, or none."""

    epsilon: float | None
    delta: float | None
    releases: int = 0

    @property
    def private(self) -> bool:
        return self.epsilon is not None

    def describe(self) -> str:
        if self.epsilon is None:
            return "none: trained without differential privacy"
        return f"(epsilon {self.epsilon:.3g}, delta {self.delta:.2g})-differential privacy"

    def to_metadata(self) -> dict[str, Any] | str:
        if self.epsilon is None:
            return "none"
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "composition": "sequential",
            "releases": self.releases,
        }


def guarantee(summaries: Summaries) -> Guarantee:
    """The proven (epsilon, delta) of a run, from its train summary's ledger."""
    ledger = (summaries.get("train") or {}).get("privacy")
    if not ledger:
        return Guarantee(epsilon=None, delta=None)
    spent = ledger["spent"]
    return Guarantee(
        epsilon=float(spent["epsilon"]), delta=float(spent["delta"]), releases=len(ledger["releases"])
    )


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ci(interval: list[float] | tuple[float, float] | None, digits: int = 3) -> str:
    return "" if not interval else f"{interval[0]:.{digits}f}–{interval[1]:.{digits}f}"


def _closeness(value: float | None, reference: float | None) -> Tone:
    if value is None or reference is None:
        return "neutral"
    return "good" if value >= reference - 0.05 else ("warn" if value >= reference - 0.15 else "bad")


def _half(value: float, interval: list[float] | tuple[float, float] | None) -> Tone:
    """Tone of a figure whose no-leak value is 0.5 (an AUC, a closer-to-train share).

    Good only when the whole interval stays near 0.5: a wide interval (few rows) cannot
    show that nothing leaks.
    """
    low, high = interval if interval else (value, value)
    if low > 0.6:
        return "bad"
    return "good" if high <= 0.56 else "warn"


def _risk(value: float, interval: list[float] | tuple[float, float]) -> Tone:
    """Tone of an Anonymeter risk (0 = no leak beyond the control), by its interval."""
    low, high = interval
    if low > 0.1:
        return "bad"
    return "good" if high <= 0.1 else "warn"


def fidelity_headlines(validate: dict[str, Any]) -> list[Headline]:
    out = [
        Headline(
            "fidelity",
            "quality (sdmetrics, all pairs)",
            _num(validate.get("quality")),
            reference=f"real holdout {_num(validate.get('holdout_quality'))}",
            stage="validate",
            tone=_closeness(validate.get("quality"), validate.get("holdout_quality")),
        ),
        Headline(
            "fidelity",
            "detection AUC (real vs synthetic)",
            _num(validate["detection_auc"]),
            reference=f"ideal 0.5; real holdout {_num(validate.get('holdout_detection_auc'))}",
            interval=_ci(validate.get("detection_auc_ci")),
            stage="validate",
            tone="good"
            if validate["detection_auc"] <= 0.6
            else ("warn" if validate["detection_auc"] <= 0.8 else "bad"),
        ),
    ]
    efficacy = validate.get("efficacy")
    if efficacy and efficacy.get("ratio") is not None:
        ratio = efficacy["ratio"]
        out.append(
            Headline(
                "fidelity",
                f"ML efficacy ({efficacy['target']}, synthetic / real)",
                _num(ratio),
                reference="ideal 1",
                interval=_ci(efficacy.get("ratio_ci")),
                stage="validate",
                tone="good" if ratio >= 0.95 else ("warn" if ratio >= 0.85 else "bad"),
            )
        )
    return out


def privacy_headlines(attack: dict[str, Any]) -> list[Headline]:
    out: list[Headline] = []
    membership = attack.get("membership")
    if membership:
        strongest = next(a for a in membership["attacks"] if a["name"] == membership["strongest"])
        out.append(
            Headline(
                "privacy",
                f"membership inference AUC (strongest: {strongest['name']})",
                _num(strongest["auc"]),
                reference="ideal 0.5 (held-out real rows as the control)",
                interval=_ci(strongest.get("auc_ci")),
                stage="attack",
                tone=_half(strongest["auc"], strongest.get("auc_ci")),
            )
        )
    out.append(
        Headline(
            "privacy",
            "closer to a training row than to a held-out one",
            _num(attack["dcr_share"]),
            reference="ideal 0.5",
            interval=_ci(attack.get("dcr_share_ci")),
            stage="attack",
            tone=_half(attack["dcr_share"], attack.get("dcr_share_ci")),
        )
    )
    dropped = attack.get("holdout_rows_dropped", 0)
    if dropped:  # the control is smaller than the file given: say why
        out.append(
            Headline(
                "privacy",
                "holdout rows dropped: they repeated training rows",
                f"{dropped:,}",
                reference="a true holdout needs none dropped",
                stage="attack",
                tone="warn",
            )
        )
    out.append(
        Headline(
            "privacy",
            "identical to a training row",
            f"{attack['exact_match_train']:.2%}",
            reference=f"held-out control {attack['exact_match_holdout']:.2%}",
            stage="attack",
            tone="good" if attack["exact_match_train"] <= attack["exact_match_holdout"] + 0.01 else "bad",
        )
    )
    for key, label in (
        ("inference", "attribute inference risk"),
        ("linkability", "linkability risk"),
        ("singling_out_multivariate", "singling-out risk (multivariate)"),
    ):
        risk = attack.get(key)
        if risk:
            out.append(
                Headline(
                    "privacy",
                    label,
                    _num(risk["risk"]),
                    reference=f"ideal 0; attack {_num(risk['attack_rate'])} vs control {_num(risk['control_rate'])}",
                    interval=_ci(risk.get("risk_ci")),
                    stage="attack",
                    tone=_risk(risk["risk"], risk["risk_ci"]),
                )
            )
    return out


def headlines(summaries: Summaries) -> list[Headline]:
    """Fidelity figures (when validate ran), then privacy figures (when attack ran)."""
    out: list[Headline] = []
    if "validate" in summaries:
        out += fidelity_headlines(summaries["validate"])
    if "attack" in summaries:
        out += privacy_headlines(summaries["attack"])
    return out


def gate_relation(name: str) -> str:
    """How a gate's figure must compare with its bound: ``min_*`` gates ``>=``, ``max_*`` gates ``<=``."""
    return ">=" if name.startswith("min_") else "<="


def gate_line(gate: dict[str, Any]) -> str:
    """``name: figure, must be <= bound`` for one recorded gate."""
    return f"{gate['name']}: {gate['value']:.4g}, must be {gate_relation(gate['name'])} {gate['bound']:.4g}"


def gate_table(gates: list[dict[str, Any]], caption: str) -> Table:
    """The recorded gates as a table: name, figure, bound, result."""
    return Table(
        headers=("gate", "figure", "bound", "result"),
        rows=tuple(
            (
                g["name"],
                f"{g['value']:.4g}",
                f"{gate_relation(g['name'])} {g['bound']:.4g}",
                "passed" if g["passed"] else "FAILED",
            )
            for g in gates
        ),
        caption=caption,
    )
