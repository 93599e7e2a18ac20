"""The attack interface: what an attack declares, what it is given, and the typed results it returns.

An attack is one class (registered in `synthpriv.attacks.registry`) that declares

- its ``name`` (the key of its result in the attack stage's ``summary.json``, of its settings
  under ``attack.settings`` and of its seed stream ``("attack", name)``), a ``title`` and a
  ``kind``: ``membership`` (who trained the generator: AUC, TPR at FPR 1 % and 0.1 %,
  advantage, intervals: `MembershipScore`), ``risk`` (Anonymeter's threat models: a success
  rate on training rows against the holdout control: `RiskResult`) or ``proxy`` (figures that
  are necessary, not sufficient);
- its settings (a pydantic model, read from ``attack.settings.<name>`` over the older flat
  keys of the ``attack:`` section that `legacy_settings` names);
- what it needs (`AttackNeeds`: quasi-identifiers, a sensitive column, reference rows, a holdout);
- the gates its result decides (``gates``: names of `GatesConfig` fields, always ``max_*``);

and turns `AttackInputs` into its result model, the figures of the generic scores table
(`Score`) and its gate values. The attack stage, the pipeline's checks and the attack page
iterate over the registry; none of them names an attack. Attacks import nothing of
`synthpriv.reports`: the attack page renders their results, by result type
(`synthpriv.reports.pages.attack_sections`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from synthpriv.config.base import StrictModel
from synthpriv.data.sampling import sample_rows
from synthpriv.data.schema import TableSchema
from synthpriv.runtime.seeding import seed_sequence, stream_rng

if TYPE_CHECKING:
    from synthpriv.config.model import AttackConfig

AttackKind = Literal["membership", "risk", "proxy"]
#: A seed an attack's algorithm accepts: an integer (tests, benchmarks) or a named stream's
#: `SeedSequence` (`AttackInputs.seed_sequence`, what the attack stage passes).
SeedLike = int | np.random.SeedSequence


def spawn_seeds(seed: SeedLike, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent child seeds of ``seed``; a child's stream depends on its index only."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return root.spawn(n)


class MembershipScore(StrictModel):
    """One membership attack's success on the members and non-members (rates only, no rows)."""

    name: str
    """The attack's name (`distance`, `domias`, `classifier` for `synthpriv.attacks.membership`)."""
    auc: float = Field(ge=0, le=1)
    """ROC AUC of "member" (ties count half). 0.5 = no membership signal; 1 = every member found."""
    auc_ci: tuple[float, float]
    """95 % percentile bootstrap interval of `auc` (targets resampled, attack held fixed)."""
    tpr_at_fpr_1pct: float = Field(ge=0, le=1)
    """Share of members found when 1 % of non-members are wrongly flagged (0.01 = chance)."""
    tpr_at_fpr_1pct_ci: tuple[float, float]
    """95 % percentile bootstrap interval of `tpr_at_fpr_1pct`."""
    tpr_at_fpr_0_1pct: float = Field(ge=0, le=1)
    """Share of members found at a 0.1 % false-positive rate. With fewer than 1000 non-members
    the lowest observable non-zero FPR is above 0.1 %, so this is interpolated between the ROC
    vertices at FPR 0 and 1/n, not measured (`MembershipResult.tpr_at_fpr_0_1pct_resolved`)."""
    advantage: float = Field(ge=0, le=1)
    """Attacker's advantage: max(TPR - FPR) over thresholds. 0 = no signal, 1 = perfect."""
    roc_fpr: list[float]
    """False-positive rates of the ROC curve (at most 200 points, from 0 to 1, for plots)."""
    roc_tpr: list[float]
    """True-positive rates at `roc_fpr` (non-decreasing, from 0 to 1)."""
    seconds: float = Field(ge=0)
    """Time to score the targets and compute these figures (the shared encoding not included)."""


class RiskResult(StrictModel):
    """One Anonymeter-style attack on one synthetic table (rates only, no rows)."""

    name: str
    """`inference`, `linkability`, `singling_out_univariate` or `singling_out_multivariate`."""
    attack_rate: float = Field(ge=0, le=1)
    """Share of attack targets (train rows) on which the attack succeeded."""
    attack_rate_ci: tuple[float, float]
    """95 % Wilson interval of `attack_rate`."""
    control_rate: float = Field(ge=0, le=1)
    """Share of control targets (holdout rows, never seen by the generator) on which it succeeded."""
    control_rate_ci: tuple[float, float]
    """95 % Wilson interval of `control_rate`."""
    baseline_rate: float = Field(ge=0, le=1)
    """Success rate of the random-guess baseline on the attack targets."""
    risk: float = Field(ge=0, le=1)
    """(attack - control) / (1 - control), clipped to [0, 1]. 0 = no leak beyond the population."""
    risk_ci: tuple[float, float]
    """95 % interval of the risk from both rates' Wilson intervals (`anonymeter.risk_interval`)."""
    targets: int = Field(ge=1)
    """Trials behind each rate: attack targets, and as many control targets (for singling out,
    the number of queries asked for, `n_attacks`)."""
    weaker_than_baseline: bool
    """The attack rate is not above the baseline: the attack is no better than guessing."""
    seconds: float = Field(ge=0)
    queries: int | None = Field(default=None, ge=0)
    """Singling out only: queries generated from the synthetic table (fewer than `targets` when the
    synthetic table did not yield enough; the rates still count over `targets`)."""
    rows: int | None = Field(default=None, ge=1)
    """Singling out only: rows of the train sample, and of the holdout sample (one size)."""


class Score(StrictModel):
    """One row of the generic scores table (``attack/attack_scores.parquet`` and the attack page)."""

    attack: str
    """Registry name of the attack that measured it."""
    label: str
    """What a reader calls it (``domias membership inference (reference set)``)."""
    measure: str
    """``roc_auc``, ``tpr_at_fpr_1pct``, ``tpr_at_fpr_0_1pct``, ``advantage``, ``risk``, ``share`` ..."""
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    control: float | None = None
    """What a synthetic table that learned nothing about its training rows gives: the null (0.5
    for an AUC, 0 for a risk, the FPR for a TPR) or the same figure on the holdout control."""


def membership_scores(attack: str, label: str, score: MembershipScore) -> list[Score]:
    """The generic rows of one membership score: AUC, TPR at FPR 1 % and 0.1 %, advantage."""
    return [
        Score(
            attack=attack,
            label=label,
            measure="roc_auc",
            value=score.auc,
            ci_low=score.auc_ci[0],
            ci_high=score.auc_ci[1],
            control=0.5,
        ),
        Score(
            attack=attack,
            label=label,
            measure="tpr_at_fpr_1pct",
            value=score.tpr_at_fpr_1pct,
            ci_low=score.tpr_at_fpr_1pct_ci[0],
            ci_high=score.tpr_at_fpr_1pct_ci[1],
            control=0.01,
        ),
        Score(
            attack=attack,
            label=label,
            measure="tpr_at_fpr_0_1pct",
            value=score.tpr_at_fpr_0_1pct,
            control=0.001,
        ),
        Score(attack=attack, label=label, measure="advantage", value=score.advantage, control=0.0),
    ]


@dataclass(frozen=True)
class AttackNeeds:
    """What an attack needs beyond the train, holdout and synthetic tables."""

    quasi_identifiers: int = 0
    """At least this many `attack.quasi_identifiers` (the columns the attacker knows)."""
    sensitive: bool = False
    """`attack.sensitive`: the column the attacker wants to learn."""
    reference_rows: bool = False
    """Real rows from the population that the attacker holds (it takes half of the holdout)."""
    holdout: bool = True
    """Real rows the generator never saw, the control (every attack today)."""

    def unmet(self, quasi_identifiers: int, sensitive: bool) -> str | None:
        """What the attack section lacks, in words (``attack.quasi_identifiers and attack.sensitive``),
        or None."""
        lacks_quasi = quasi_identifiers < self.quasi_identifiers
        lacks_sensitive = self.sensitive and not sensitive
        if not (lacks_quasi or lacks_sensitive):
            return None
        if self.sensitive:
            return "attack.quasi_identifiers and attack.sensitive"
        if self.quasi_identifiers >= 2:
            return (
                f"at least {_count(self.quasi_identifiers)} attack.quasi_identifiers "
                "(split between two datasets)"
            )
        return "attack.quasi_identifiers"


def _count(n: int) -> str:
    return {2: "two", 3: "three", 4: "four"}.get(n, str(n))


@dataclass(frozen=True)
class PrivacyClaim:
    """The (epsilon, delta) the train stage's ledger proves."""

    epsilon: float
    delta: float


@dataclass(frozen=True)
class AttackInputs:
    """What every attack is given: the three tables, the schema, the attacker's knowledge, the seed."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    synthetic: pd.DataFrame
    schema: TableSchema
    seed: int
    """The run's seed: each attack draws from its own named stream of it (`seed_sequence`)."""
    quasi_identifiers: tuple[str, ...] = ()
    sensitive: str | None = None
    max_rows: int = 50_000
    """Tables larger than this are attacked on a seeded sample of this many rows."""
    claim: PrivacyClaim | None = None
    """The run's DP guarantee, None without DP (or for a table evaluated from outside a run)."""

    def seed_sequence(self, name: str) -> np.random.SeedSequence:
        """The root of the attack ``name``'s stream: the one `stream_rng(seed, "attack", name)` draws from."""
        return seed_sequence(self.seed, "attack", name)

    def rng(self, name: str) -> np.random.Generator:
        """`stream_rng(seed, "attack", name)`."""
        return stream_rng(self.seed, "attack", name)

    def synthetic_sample(self, rng: np.random.Generator) -> pd.DataFrame:
        """The synthetic table, or a seeded sample of `max_rows` of it when larger."""
        return sample_rows(self.synthetic, min(len(self.synthetic), self.max_rows), rng)


SettingsT = TypeVar("SettingsT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)


class NoSettings(StrictModel):
    """The settings of an attack that has none."""


class Attack(ABC, Generic[SettingsT, ResultT]):
    """One privacy attack (module docstring). Subclasses set the class attributes and `run`."""

    name: str
    title: str
    kind: AttackKind
    description: str = ""
    """One or two sentences for the page: what the attacker holds and does."""
    settings_model: type[SettingsT]
    result_model: type[ResultT]
    needs: AttackNeeds = AttackNeeds()
    gates: tuple[str, ...] = ()
    """The `GatesConfig` fields (``max_*``) this attack's result decides (`gate_values`)."""
    legacy_settings: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(settings field, the flat key of the ``attack:`` section that sets it): files written before
    ``attack.settings`` keep working; ``attack.settings.<name>`` wins over them."""

    def settings(self, config: AttackConfig) -> SettingsT:
        """This attack's settings from the pipeline file's ``attack:`` section."""
        values: dict[str, Any] = {field: getattr(config, key) for field, key in self.legacy_settings}
        values.update(config.settings.get(self.name, {}))
        return self.settings_model.model_validate(values)

    def skip_reason(self, inputs: AttackInputs, settings: SettingsT) -> str | None:
        """Why this attack cannot run on ``inputs`` (None: it runs). By default: what `needs` lacks."""
        unmet = self.needs.unmet(len(inputs.quasi_identifiers), inputs.sensitive is not None)
        return f"needs {unmet}" if unmet else None

    @abstractmethod
    def run(self, inputs: AttackInputs, settings: SettingsT) -> ResultT:
        """Attack the synthetic table; randomness only from `AttackInputs.seed_sequence(self.name)`."""

    @abstractmethod
    def scores(self, result: ResultT) -> list[Score]:
        """The result's rows of the generic scores table."""

    def gate_values(self, result: ResultT) -> dict[str, float]:
        """The value each of `gates` is checked against."""
        return {}

    def store(self, result: ResultT) -> dict[str, Any]:
        """The result's entries of the stage's ``summary.json``: by default under the attack's name."""
        return {self.name: result.model_dump(mode="json")}

    def load(self, summary: Mapping[str, Any]) -> ResultT | None:
        """The result `store` wrote into ``summary``, or None when the attack did not run."""
        stored = summary.get(self.name)
        return None if stored is None else self.result_model.model_validate(stored)


class RiskAttack(Attack[SettingsT, RiskResult]):
    """An Anonymeter-style attack: its result is a `RiskResult`, its one generic row the risk
    (null 0), and each of its `gates` is checked against the risk."""

    kind: AttackKind = "risk"
    result_model = RiskResult

    def scores(self, result: RiskResult) -> list[Score]:
        # The rates stay in the risk table: the attack rate set against the control's point value
        # would ignore the control's own uncertainty, which the risk's interval carries.
        return [
            Score(
                attack=self.name,
                label=self.title,
                measure="risk",
                value=result.risk,
                ci_low=result.risk_ci[0],
                ci_high=result.risk_ci[1],
                control=0.0,
            )
        ]

    def gate_values(self, result: RiskResult) -> dict[str, float]:
        return dict.fromkeys(self.gates, result.risk)
