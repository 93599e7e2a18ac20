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

from synthpriv.attacks.anonymeter import RiskResult
from synthpriv.attacks.proxies import ProxyFigures
from synthpriv.attacks.summary import PROXY_ATTACK, AttackSummary, MembershipFigure
from synthpriv.metrics.efficacy import EfficacyResult
from synthpriv.reports.formatting import number as _num
from synthpriv.reports.formatting import span as _ci
from synthpriv.reports.model import Table, Tone
from synthpriv.reports.summaries import SynthesizeSummary, TrainSummary, ValidateSummary
from synthpriv.reports.verdicts import (
    tone_closeness,
    tone_closer_share,
    tone_detection_auc,
    tone_exact_match,
    tone_holdout_control,
    tone_membership_auc,
    tone_ml_efficacy,
    tone_risk,
)

Summaries = Mapping[str, dict[str, Any]]
"""Stage name -> that stage's summary.json (stages that have not run are absent)."""


@dataclass(frozen=True)
class RunSummaries:
    """The finished stages' summaries, typed (a stage that has not run is None)."""

    train: TrainSummary | None = None
    synthesize: SynthesizeSummary | None = None
    validate: ValidateSummary | None = None
    attack: AttackSummary | None = None

    @classmethod
    def parse(cls, raw: Summaries | RunSummaries) -> RunSummaries:
        """Validate the summary.json objects of ``raw``; pydantic's ValidationError when one is malformed."""
        if isinstance(raw, RunSummaries):
            return raw
        return cls(
            train=TrainSummary.model_validate(raw["train"]) if "train" in raw else None,
            synthesize=SynthesizeSummary.model_validate(raw["synthesize"]) if "synthesize" in raw else None,
            validate=ValidateSummary.model_validate(raw["validate"]) if "validate" in raw else None,
            attack=AttackSummary.model_validate(raw["attack"]) if "attack" in raw else None,
        )


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
    anchor: str = ""
    """The id of the section of that report that measures it (`Section.id`)."""
    tone: Tone = "neutral"
    verdict_kind: str = ""
    """The `reports.verdicts.Kind` whose rule gave the tone (the legend's entry)."""

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


def guarantee(summaries: Summaries | RunSummaries) -> Guarantee:
    """The proven (epsilon, delta) of a run, from its train summary's ledger."""
    train = RunSummaries.parse(summaries).train
    ledger = train.privacy if train is not None else None
    if ledger is None:
        return Guarantee(epsilon=None, delta=None)
    return Guarantee(epsilon=ledger.spent_epsilon, delta=ledger.spent_delta, releases=len(ledger.releases))


@dataclass(frozen=True)
class TableSizes:
    """The whole tables' rows, so that a figure measured on fewer can say so (None: not known)."""

    train: int | None = None
    synthetic: int | None = None

    @classmethod
    def of(cls, summaries: RunSummaries) -> TableSizes:
        """From the train and synthesize summaries, else from what validate recorded reading the
        tables (an evaluation of an outside table has no train or synthesize stage)."""
        train, synthetic, validate = summaries.train, summaries.synthesize, summaries.validate
        read = (validate.table_rows_train, validate.table_rows_synthetic) if validate else (None, None)
        return cls(
            train=train.train_rows if train is not None else read[0],
            synthetic=synthetic.rows if synthetic is not None else read[1],
        )


def in_sample(rows: int | None, of: int | None, what: str) -> str:
    """``"; in a sample of 1,000 of 32,561 training rows"`` when a figure used fewer rows than the table
    has, else ``""`` (every row used, or either count unknown)."""
    return in_samples((rows, of, what))


def in_samples(*parts: tuple[int | None, int | None, str]) -> str:
    """`in_sample` of several tables at once, each ``(rows used, rows of the table, what)``: ``"; in a
    sample of 2,000 of 32,561 training rows and 2,000 of 50,000 synthetic rows"``, naming only the
    tables a figure sampled."""
    sampled = [f"{rows:,} of {of:,} {what}" for rows, of, what in parts if _fewer(rows, of)]
    return f"; in a sample of {' and '.join(sampled)}" if sampled else ""


def _fewer(rows: int | None, of: int | None) -> bool:
    return rows is not None and of is not None and rows < of


def fidelity_headlines(validate: ValidateSummary, sizes: TableSizes = TableSizes()) -> list[Headline]:
    train, synthetic = sizes.train, sizes.synthetic
    quality_sample = in_samples(
        (validate.rows_real, train, "training rows"), (validate.rows_synthetic, synthetic, "synthetic rows")
    )
    detection_sample = in_samples(
        (validate.detection_rows_real, train, "training rows"),
        (validate.detection_rows_synthetic, synthetic, "synthetic rows"),
    )
    out = [
        Headline(
            "fidelity",
            "quality (sdmetrics, all pairs)",
            _num(validate.quality),
            reference=f"real holdout {_num(validate.holdout_quality)}{quality_sample}",
            stage="validate",
            tone=tone_closeness(validate.quality, validate.holdout_quality),
            verdict_kind="fidelity",
            anchor="fidelity",
        ),
        Headline(
            "fidelity",
            "detection AUC (real vs synthetic)",
            _num(validate.detection_auc),
            reference=f"ideal 0.5; real holdout {_num(validate.holdout_detection_auc)}{detection_sample}",
            interval=_ci(validate.detection_auc_ci),
            stage="validate",
            tone=tone_detection_auc(validate.detection_auc),
            verdict_kind="detection_auc",
            anchor="usefulness",
        ),
    ]
    efficacy = validate.efficacy
    if efficacy is not None and efficacy.ratio is not None:
        out.append(_efficacy_headline(efficacy, sizes))
    return out


def _efficacy_headline(efficacy: EfficacyResult, sizes: TableSizes) -> Headline:
    """The efficacy ratio; its sample is the rows each model was trained on (the holdout scores both)."""
    sample = in_samples(
        (efficacy.rows_train_real, sizes.train, "training rows"),
        (efficacy.rows_synthetic, sizes.synthetic, "synthetic rows"),
    )
    return Headline(
        "fidelity",
        f"ML efficacy ({efficacy.target}, synthetic / real)",
        _num(efficacy.ratio),
        reference=f"ideal 1{sample}",
        interval=_ci(efficacy.ratio_ci),
        stage="validate",
        tone=tone_ml_efficacy(efficacy.ratio),
        verdict_kind="ml_efficacy",
        anchor="usefulness",
    )


def _membership_headline(strongest: MembershipFigure, targets: tuple[int, int] | None) -> Headline:
    reference = "ideal 0.5 (held-out real rows as the control)"
    if targets is not None:
        reference += f"; on {targets[0]:,} training rows against {targets[1]:,} held-out rows"
    if strongest.reversed:
        reference += "; its score pointed the wrong way on the reference half and is counted flipped"
    return Headline(
        "privacy",
        f"membership inference AUC (strongest: {strongest.described})",
        _num(strongest.auc),
        reference=reference,
        interval=_ci(strongest.auc_ci),
        stage="attack",
        tone=tone_membership_auc(strongest.auc, strongest.auc_ci),
        verdict_kind="membership_auc",
        anchor="membership",
    )


def _proxy_headlines(proxies: ProxyFigures, dropped: int, sizes: TableSizes) -> list[Headline]:
    out = [
        Headline(
            "privacy",
            "closer to a training row than to a held-out one",
            _num(proxies.dcr_share),
            reference="ideal 0.5" + in_sample(proxies.rows_synthetic, sizes.synthetic, "synthetic rows"),
            interval=_ci(proxies.dcr_share_ci),
            stage="attack",
            tone=tone_closer_share(proxies.dcr_share, proxies.dcr_share_ci),
            verdict_kind="closer_share",
            anchor="proxies",
        )
    ]
    if dropped:  # the control is smaller than the file given: say why
        out.append(
            Headline(
                "privacy",
                "holdout rows dropped: they repeated training rows",
                f"{dropped:,}",
                reference="a true holdout needs none dropped",
                stage="attack",
                tone=tone_holdout_control(dropped),
                verdict_kind="holdout_control",
                anchor="distance",
            )
        )
    out.append(
        Headline(
            "privacy",
            "identical to a training row",
            f"{proxies.exact_match_all_train:.2%}",
            reference=(
                "every synthetic row against every training row; red above 1 % whatever the control and "
                f"the other attacks say; held-out control {proxies.exact_match_holdout:.2%} (in a sample as "
                "large as the holdout)"
            ),
            stage="attack",
            tone=tone_exact_match(
                proxies.exact_match_all_train, proxies.exact_match_train, proxies.exact_match_holdout
            ),
            verdict_kind="exact_match",
            anchor="proxies",
        )
    )
    return out


def _risk_headline(risk: RiskResult, label: str) -> Headline:
    return Headline(
        "privacy",
        label,
        _num(risk.risk),
        reference=(
            f"ideal 0; attack {_num(risk.attack_rate)} vs control {_num(risk.control_rate)}; "
            f"{risk.targets:,} {'queries' if risk.queries is not None else 'targets'} a side"
        ),
        interval=_ci(risk.risk_ci),
        stage="attack",
        tone=tone_risk(risk.risk, risk.risk_ci),
        verdict_kind="risk",
        anchor="risks",
    )


def privacy_headlines(attack: AttackSummary, sizes: TableSizes = TableSizes()) -> list[Headline]:
    """The attack stage's headline figures: the strongest membership attack of all (by the lower
    end of its interval, `AttackSummary.strongest_membership`), the distance proxies, then every
    registered risk-style attack that ran, in registry order."""
    out: list[Headline] = []
    strongest = attack.strongest_membership()
    proxies = attack.proxies
    if strongest is not None:
        out.append(_membership_headline(strongest, _targets(attack, strongest)))
    if proxies is not None:
        out += _proxy_headlines(proxies, attack.holdout_rows_dropped, sizes)
    out += [_risk_headline(risk, f"{registered.title} risk") for registered, risk in attack.risks()]
    return out


def _targets(attack: AttackSummary, strongest: MembershipFigure) -> tuple[int, int] | None:
    """The members and non-members the strongest membership attack scored."""
    if strongest.name == PROXY_ATTACK and attack.proxies is not None:
        return attack.proxies.rows_train, attack.proxies.rows_holdout
    if attack.membership is not None:
        return attack.membership.members, attack.membership.non_members
    return None


def headlines(summaries: Summaries | RunSummaries) -> list[Headline]:
    """Fidelity figures (when validate ran), then privacy figures (when attack ran)."""
    typed = RunSummaries.parse(summaries)
    sizes = TableSizes.of(typed)
    out: list[Headline] = []
    if typed.validate is not None:
        out += fidelity_headlines(typed.validate, sizes)
    if typed.attack is not None:
        out += privacy_headlines(typed.attack, sizes)
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
        kind="gate",
    )
