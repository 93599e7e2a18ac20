"""The run's front page: the verdict, the headline figures and a link to every stage report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from synthpriv.reports import charts
from synthpriv.reports.model import Figure, Report, Section, Table
from synthpriv.reports.render import render_report


class _Record(Protocol):
    name: str
    status: str
    seconds: float | None
    gates: list[dict[str, Any]]


def _summary(run_dir: Path, stage: str) -> dict[str, Any] | None:
    path = run_dir / stage / "summary.json"
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _verdict(records: dict[str, _Record]) -> Figure:
    failed = [g for r in records.values() for g in r.gates if not g["passed"]]
    if any(r.status == "failed" for r in records.values()):
        return Figure("verdict", "Run failed", note="see the stage marked failed", tone="bad")
    if "export" not in records:  # an evaluation of an outside table: no export stage
        if failed:
            return Figure("verdict", "Gates failed", note="failed: " + ", ".join(g["name"] for g in failed), tone="bad")
        gated = any(r.gates for r in records.values())
        return Figure("verdict", "Evaluated", note="every gate passed" if gated else "no gates were set", tone="good" if gated else "warn")
    if records["export"].status in ("complete", "reused"):
        note = f"{len(failed)} gate(s) failed but export was forced" if failed else "every gate passed"
        return Figure("verdict", "Exported", note=note, tone="warn" if failed else "good")
    if failed:
        names = ", ".join(g["name"] for g in failed)
        return Figure("verdict", "Not exported", note=f"failed gates: {names}", tone="bad")
    return Figure("verdict", "Incomplete", note="not every stage has run", tone="warn")


def _headline(run_dir: Path) -> tuple[Figure, ...]:
    figures: list[Figure] = []
    validate = _summary(run_dir, "validate")
    if validate:
        reference = validate.get("holdout_quality")
        note = f"real holdout scores {reference:.3f}" if reference is not None else "no holdout reference"
        figures.append(Figure("fidelity (quality, all pairs)", f"{validate['quality']:.3f}", note=note))
    attack = _summary(run_dir, "attack")
    if attack:
        figures.append(
            Figure(
                "closer to train than holdout",
                f"{attack['dcr_share']:.3f}",
                note=f"ideal 0.5; 95% CI {attack['dcr_share_ci'][0]:.3f}–{attack['dcr_share_ci'][1]:.3f}",
            )
        )
        figures.append(Figure("identical to a training row", f"{attack['exact_match_train']:.2%}", note=f"holdout control {attack['exact_match_holdout']:.2%}"))
    train = _summary(run_dir, "train")
    if train:
        ledger = train.get("privacy")
        if ledger:
            spent = ledger["spent"]
            figures.append(
                Figure(
                    "differential privacy",
                    f"epsilon {spent['epsilon']:.3g}",
                    note=f"delta {spent['delta']:.2g}; {len(ledger['releases'])} releases, composed sequentially",
                    tone="good",
                )
            )
        else:
            figures.append(Figure("differential privacy", "none", note="this run was trained without DP"))
    if attack and attack.get("audit"):
        audit = attack["audit"]
        figures.append(
            Figure(
                "audit: epsilon the attack proves",
                f">= {audit['epsilon_lower_bound']:.3g}",
                note=f"{audit['confidence']:.0%} confidence; at most {audit['epsilon_ceiling']:.3g} provable with these rows",
            )
        )
    return tuple(figures)


def render_index(run_dir: Path, run_name: str, records: dict[str, _Record], *, nav: list[tuple[str, str]]) -> None:
    """Write ``index.html`` from the stage records and the finished stages' summaries."""
    stages = Table(
        headers=("stage", "status", "time", "gates"),
        rows=tuple(
            (
                name,
                record.status,
                f"{record.seconds:.1f} s" if record.seconds is not None else "–",
                "; ".join(f"{g['name']} {'passed' if g['passed'] else 'FAILED'}" for g in record.gates) or "–",
            )
            for name, record in records.items()
        ),
    )
    timed = [(n, r.seconds) for n, r in records.items() if r.seconds is not None]
    sections = [Section(title="Headline figures", figures=_headline(run_dir))]
    stage_section = Section(title="Stages", tables=(stages,))
    if timed:
        chart = charts.bar_chart(
            "Time per stage (seconds, last run of each)",
            [n for n, _ in timed],
            {"seconds": [float(s) for _, s in timed]},
            value_format="{:.1f}",
        )
        stage_section = Section(title="Stages", tables=(stages,), charts=(chart,))
    sections.append(stage_section)
    report = Report(
        stage="index",
        title="Overview",
        run_name=run_name,
        subtitle="The verdict, the headline figures, and each stage's report",
        verdict=_verdict(records),
        sections=tuple(sections),
    )
    render_report(report, run_dir / "index.html", nav=nav)
