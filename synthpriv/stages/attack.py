"""Stage 4, attack: privacy risks of the synthetic table, with real held-out rows as the control.

The stage runs every attack of `synthpriv.attacks.registry` that the settings allow, keeps each
result under its name in the summary, writes the generic scores table, and checks every attack
gate set in the pipeline file. It names no attack: adding one touches only the attacks package.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from synthpriv.attacks.base import AttackInputs, PrivacyClaim, Score
from synthpriv.attacks.registry import attacks
from synthpriv.attacks.summary import AttackSummary, scores_frame
from synthpriv.config.model import AttackConfig, GatesConfig
from synthpriv.data.io import write_parquet
from synthpriv.errors import StageError
from synthpriv.privacy.ledger import PrivacyLedger
from synthpriv.reports.model import Report
from synthpriv.reports.pages.attack import attack_page
from synthpriv.runtime.progress import Progress
from synthpriv.stages.base import GateOutcome, Stage, StageContext, StageResult, check_gate, read_summary
from synthpriv.stages.common import evaluation_tables

#: The gate the headline membership figure decides.
MEMBERSHIP_GATE = "max_membership_auc"


@dataclass
class _Findings:
    """What the registered attacks returned, gathered for the summary and the gates."""

    stored: dict[str, Any] = field(default_factory=dict)
    scores: list[Score] = field(default_factory=list)
    gate_values: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    """Gate -> the attack that gave a value for it -> that value."""
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class AttackStage(Stage[AttackConfig]):
    name: ClassVar = "attack"
    requires: ClassVar = frozenset({"split", "synthetic", "model", "ledger"})
    produces: ClassVar = frozenset({"privacy"})

    def run(self, ctx: StageContext) -> StageResult:
        started = time.perf_counter()
        tables = evaluation_tables(ctx)
        inputs = AttackInputs(
            train=tables.train,
            holdout=tables.holdout,
            synthetic=tables.synthetic,
            schema=tables.schema,
            seed=ctx.seed,
            quasi_identifiers=tuple(self.config.quasi_identifiers),
            sensitive=self.config.sensitive,
            max_rows=self.config.max_rows,
            claim=_privacy_claim(ctx),
        )
        findings = run_attacks(inputs, self.config, ctx.progress)
        summary = AttackSummary(
            holdout_rows_dropped=ctx.real.dropped_holdout_rows,
            seconds=round(time.perf_counter() - started, 3),
            claimed_epsilon=inputs.claim.epsilon if inputs.claim else None,
            claimed_delta=inputs.claim.delta if inputs.claim else None,
            seconds_by_part=findings.seconds,
            scores=findings.scores,
            skipped=findings.skipped,
            **findings.stored,
        )
        write_parquet(scores_frame(findings.scores), ctx.stage_dir / "attack_scores.parquet")
        return StageResult(summary=summary, gates=attack_gates(gate_inputs(findings, summary), self.gates))

    @classmethod
    def build_report(cls, run_name: str, stage_dir: Path) -> Report:
        return attack_page(run_name, AttackSummary.model_validate(read_summary(stage_dir)))


def run_attacks(inputs: AttackInputs, config: AttackConfig, progress: Progress) -> _Findings:
    """Run every registered attack whose needs ``inputs`` meet, in registry order."""
    registered = attacks()
    findings = _Findings()
    progress.start("attack", len(registered))
    for attack in registered:
        settings = attack.settings(config)
        reason = attack.skip_reason(inputs, settings)
        if reason is not None:
            findings.skipped[attack.name] = reason
        else:
            began = time.perf_counter()
            result = attack.run(inputs, settings)
            findings.seconds[attack.name] = round(time.perf_counter() - began, 3)
            findings.stored.update(attack.store(result))
            findings.scores += attack.scores(result)
            for gate, value in attack.gate_values(result).items():
                findings.gate_values[gate][attack.name] = value
        progress.advance(1)
    progress.finish()
    return findings


def gate_inputs(findings: _Findings, summary: AttackSummary) -> dict[str, list[float]]:
    """Each gate's values. The membership gate judges the figure every page headlines (issue 20): the
    strongest of all membership attacks by the lower end of its interval, in the direction it is
    counted (`AttackSummary.strongest_membership`), in place of the pick of each attack it pools;
    an attack outside that pool that feeds the gate still counts."""
    values = {gate: list(by_attack.values()) for gate, by_attack in findings.gate_values.items()}
    strongest = summary.strongest_membership()
    if strongest is not None:
        pooled = summary.membership_sources()
        others = findings.gate_values.get(MEMBERSHIP_GATE, {})
        values[MEMBERSHIP_GATE] = [v for name, v in others.items() if name not in pooled] + [strongest.auc]
    return values


def attack_gates(values: dict[str, list[float]], gates: GatesConfig) -> tuple[GateOutcome, ...]:
    """Every attack gate the file sets, in the file format's order, against the largest value its
    attacks gave (attack gates are ``max_*``: the strongest attack decides).

    A gate none of whose attacks ran gets 1.0, which fails any bound below 1: `Pipeline.check`
    refuses such a file, so this is reached only by a table evaluated from outside.
    """
    declared = {gate for attack in attacks() for gate in attack.gates}
    outcomes: list[GateOutcome] = []
    for name in GatesConfig.model_fields:
        if name in declared:
            outcomes += check_gate(name, max(values.get(name) or [1.0]), getattr(gates, name))
    return tuple(outcomes)


def _privacy_claim(ctx: StageContext) -> PrivacyClaim | None:
    """The total (epsilon, delta) the train stage's ledger proves, or None for a run without DP.

    A table evaluated from outside a run (`synthpriv evaluate`) carries no claim we could prove.
    """
    if ctx.evaluation is not None:
        return None
    path = ctx.artifact("ledger")
    try:  # the typed ledger, validated: its total is the claim every page and the export state
        ledger = PrivacyLedger.from_claim(json.loads(path.read_text()))
    except ValueError as exc:  # LedgerError, or not JSON at all
        raise StageError(f"privacy ledger is not valid: {exc}", where=str(path)) from None
    if ledger is None:
        return None
    return PrivacyClaim(epsilon=ledger.spent_epsilon, delta=ledger.spent_delta)
