"""The run's front page: the verdict and why, the DP guarantee, the headline figures with their
references, and a link to every stage report. Rendered from the stage records and summaries
only, so `synthpriv report` can render it again at any time."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from synthpriv.reports import charts
from synthpriv.reports.headline import Headline, Summaries, gate_line, gate_table, guarantee, headlines
from synthpriv.reports.model import Figure, Link, Report, Section, Tone
from synthpriv.reports.render import render_report


class StageStatus(Protocol):
    name: str
    status: str
    seconds: float | None
    gates: list[dict[str, Any]]


def read_summaries(run_dir: Path, stages: list[str]) -> dict[str, dict[str, Any]]:
    """The summary.json of each listed stage that has one (unreadable ones, and any that is
    not a JSON object, are skipped)."""
    out: dict[str, dict[str, Any]] = {}
    for stage in stages:
        try:
            summary = json.loads((run_dir / stage / "summary.json").read_text())
        except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
            continue
        if isinstance(summary, dict):
            out[stage] = summary
    return out


def verdict(records: dict[str, StageStatus]) -> Figure:
    """Export allowed or not, and why (one detail line per failed gate)."""
    failed = [g for r in records.values() for g in r.gates if not g["passed"]]
    reasons = tuple(gate_line(g) for g in failed)
    broken = [r.name for r in records.values() if r.status == "failed"]
    if broken and not (broken == ["export"] and failed):
        return Figure(
            "verdict",
            "Run failed",
            note=f"stage {broken[0]} failed; run again with --debug to see why",
            tone="bad",
        )
    if "export" not in records:  # an evaluation of an outside table: there is no export stage
        if failed:
            return Figure(
                "verdict", "Gates failed", note=f"{len(failed)} gate(s) failed", tone="bad", details=reasons
            )
        gated = any(r.gates for r in records.values())
        return Figure(
            "verdict",
            "Evaluated",
            note="every gate passed" if gated else "no gates were set",
            tone="good" if gated else "warn",
        )
    if records["export"].status in ("complete", "reused"):
        if failed:
            note = f"{len(failed)} gate(s) failed; exported only because --allow-failed-gates was given"
            return Figure("verdict", "Exported despite failed gates", note=note, tone="warn", details=reasons)
        gated = any(r.gates for r in records.values())
        note = "every gate passed" if gated else "no gates were set in the pipeline file: nothing was checked"
        return Figure("verdict", "Export allowed", note=note, tone="good" if gated else "warn")
    if failed:
        return Figure(
            "verdict", "Not exported", note=f"{len(failed)} gate(s) failed", tone="bad", details=reasons
        )
    return Figure("verdict", "Incomplete", note="not every stage has run", tone="warn")


def _figure(headline: Headline) -> Figure:
    note = (
        headline.reference if not headline.interval else f"95% CI {headline.interval}; {headline.reference}"
    )
    href = f"{headline.stage}/report.html" if headline.stage else ""
    return Figure(headline.label, headline.value, note=note, tone=headline.tone, href=href)


def _guarantee_section(summaries: Summaries) -> Section:
    dp = guarantee(summaries)
    if dp.private:
        figures = [
            Figure(
                "differential privacy",
                f"epsilon {dp.epsilon:.3g}",
                note=f"delta {dp.delta:.2g}; {dp.releases} releases, composed sequentially (train ledger)",
                tone="good",
                href="train/report.html",
            )
        ]
        text = "The guarantee the code can prove: every computation that read the real table is in the train stage's ledger."
    else:
        figures = [
            Figure(
                "differential privacy",
                "none",
                note="trained without DP: the privacy figures below are empirical",
                tone="neutral",
            )
        ]
        text = (
            "Without differential privacy there is no proven bound: the attacks below measure what these attackers "
            "learn from this table, with real held-out rows as the control."
        )
    audit = (summaries.get("attack") or {}).get("audit")
    if audit:
        figures.append(
            Figure(
                "audit: epsilon the attack proves",
                f">= {audit['epsilon_lower_bound']:.3g}",
                note=f"{audit['confidence']:.0%} confidence; at most {audit['epsilon_ceiling']:.3g} provable with these rows",
                href="attack/report.html",
            )
        )
    return Section(title="Privacy guarantee", text=text, figures=tuple(figures))


def _stage_links(records: dict[str, StageStatus]) -> tuple[Link, ...]:
    links = []
    for name, record in records.items():
        failed = sum(not g["passed"] for g in record.gates)
        parts = [record.status]
        if record.seconds is not None:
            parts.append(f"{record.seconds:.1f} s")
        if record.gates:
            parts.append(f"{len(record.gates) - failed} of {len(record.gates)} gates passed")
        tone: Tone = (
            "bad"
            if record.status == "failed" or failed
            else ("good" if record.status in ("complete", "reused") else "neutral")
        )
        links.append(
            Link(label=name.capitalize(), href=f"{name}/report.html", note=" · ".join(parts), tone=tone)
        )
    return tuple(links)


def render_index(
    run_dir: Path, run_name: str, records: dict[str, StageStatus], *, nav: list[tuple[str, str]]
) -> None:
    """Write ``index.html`` from the stage records and the finished stages' summaries."""
    ran = [name for name, r in records.items() if r.status in ("complete", "reused")]
    summaries = read_summaries(run_dir, ran)
    judged = headlines(summaries)
    sections = [_guarantee_section(summaries)]
    for kind, title in (
        ("privacy", "Privacy: attacks on the synthetic table"),
        ("fidelity", "Fidelity: how close to the real table"),
    ):
        chosen = tuple(_figure(h) for h in judged if h.kind == kind)
        if chosen:
            sections.append(Section(title=title, figures=chosen))
    gates = [g for r in records.values() for g in r.gates]
    if gates:
        caption = "From the pipeline file's gates section; export needs every one to pass."
        sections.append(Section(title="Gates", tables=(gate_table(gates, caption),)))
    timed = [(n, r.seconds) for n, r in records.items() if r.seconds is not None]
    time_chart = ()
    if timed:
        time_chart = (
            charts.bar_chart(
                "Time per stage (seconds, last run of each)",
                [n for n, _ in timed],
                {"seconds": [float(s) for _, s in timed]},
                value_format="{:.1f}",
            ),
        )
    sections.append(Section(title="Stage reports", links=_stage_links(records), charts=time_chart))
    judgement = verdict(records)
    ungated_bad = tuple(
        f"weak, though no gate stopped it: {h.label} {h.value} ({h.reference})"
        for h in judged
        if h.tone == "bad"
    )
    if judgement.tone == "good" and ungated_bad:
        judgement = replace(judgement, tone="warn", details=ungated_bad)
    report = Report(
        stage="index",
        title="Overview",
        run_name=run_name,
        subtitle="The verdict, the privacy guarantee, the headline figures, and each stage's report",
        verdict=judgement,
        sections=tuple(sections),
    )
    render_report(report, run_dir / "index.html", nav=nav)
