"""The run's front page: the verdict and why, the DP guarantee, the headline figures with their
references, and a link to every stage report. Rendered from the stage records and summaries
only, so `synthpriv report` can render it again at any time."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from synthpriv.reports import charts
from synthpriv.reports.headline import Headline, RunSummaries, gate_line, gate_table, guarantee, headlines
from synthpriv.reports.model import Chart, Figure, Link, Report, Section, Tone
from synthpriv.reports.render import render_report
from synthpriv.reports.verdicts import tone_audit_epsilon, tone_dp_epsilon, tone_stage, tone_verdict


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
    """Export allowed or not, and why (one detail line per failed gate); its tone from `tone_verdict`."""
    failed = [g for r in records.values() for g in r.gates if not g["passed"]]
    reasons = tuple(gate_line(g) for g in failed)
    broken = [r.name for r in records.values() if r.status == "failed"]
    gated = any(r.gates for r in records.values())
    if broken and not (broken == ["export"] and failed):
        note = f"stage {broken[0]} failed; run again with --debug to see why"
        return _verdict("Run failed", note, tone_verdict(True))
    if "export" not in records:  # an evaluation of an outside table: there is no export stage
        if failed:
            return _verdict("Gates failed", f"{len(failed)} gate(s) failed", tone_verdict(True), reasons)
        note = "every gate passed" if gated else "no gates were set"
        return _verdict("Evaluated", note, tone_verdict(False, caveat=not gated))
    if records["export"].status in ("complete", "reused"):
        if failed:
            note = f"{len(failed)} gate(s) failed; exported only because --allow-failed-gates was given"
            return _verdict("Exported despite failed gates", note, tone_verdict(False, caveat=True), reasons)
        note = "every gate passed" if gated else "no gates were set in the pipeline file: nothing was checked"
        return _verdict("Export allowed", note, tone_verdict(False, caveat=not gated))
    if failed:
        return _verdict("Not exported", f"{len(failed)} gate(s) failed", tone_verdict(True), reasons)
    return _verdict("Incomplete", "not every stage has run", tone_verdict(False, caveat=True))


def _verdict(value: str, note: str, tone: Tone, details: tuple[str, ...] = ()) -> Figure:
    return Figure("verdict", value, note=note, tone=tone, details=details, kind="verdict")


def _figure(headline: Headline, pages: frozenset[str]) -> Figure:
    note = (
        headline.reference if not headline.interval else f"95% CI {headline.interval}; {headline.reference}"
    )
    href = ""
    if headline.stage in pages:  # the section of the stage page that measures it
        href = f"{headline.stage}/report.html" + (f"#{headline.anchor}" if headline.anchor else "")
    return Figure(
        headline.label, headline.value, note=note, tone=headline.tone, href=href, kind=headline.verdict_kind
    )


def written_pages(run_dir: Path, stages: Iterable[str]) -> frozenset[str]:
    """The stages whose ``report.html`` is in the run folder now: the only pages a link may name."""
    return frozenset(name for name in stages if (run_dir / name / "report.html").is_file())


def existing_nav(nav: list[tuple[str, str]], page: Path) -> list[tuple[str, str]]:
    """The links of ``nav`` (relative to ``page``'s folder) to ``page`` itself or to a page that exists:
    a stage that did not run, or failed, has no page, and a report never links to a missing one."""
    return [
        (label, href)
        for label, href in nav
        if (page.parent / href.split("#", 1)[0]).resolve() == page.resolve()
        or (page.parent / href.split("#", 1)[0]).is_file()
    ]


def _guarantee_section(summaries: RunSummaries, pages: frozenset[str]) -> Section:
    dp = guarantee(summaries)
    if dp.private:
        figures = [
            Figure(
                "differential privacy",
                f"epsilon {dp.epsilon:.3g}",
                note=f"delta {dp.delta:.2g}; {dp.releases} releases, composed sequentially (train ledger)",
                tone=tone_dp_epsilon(dp.epsilon),
                href="train/report.html#ledger" if "train" in pages else "",
                kind="dp_epsilon",
            )
        ]
        text = (
            "The guarantee the code can prove: every computation that read the real table is in the "
            "train stage's ledger."
        )
    else:
        figures = [
            Figure(
                "differential privacy",
                "none",
                note="trained without DP: the privacy figures below are empirical",
                tone=tone_dp_epsilon(None),
                kind="dp_epsilon",
            )
        ]
        text = (
            "Without differential privacy there is no proven bound: the attacks below measure what these "
            "attackers learn from this table, with real held-out rows as the control."
        )
    audit = summaries.attack.audit if summaries.attack is not None else None
    if audit is not None:
        figures.append(
            Figure(
                "audit: epsilon the attack proves",
                f">= {audit.epsilon_lower_bound:.3g}",
                note=(
                    f"{audit.confidence:.0%} confidence; at most {audit.epsilon_ceiling:.3g} "
                    "provable with these rows"
                ),
                tone=tone_audit_epsilon(audit.epsilon_lower_bound, dp.epsilon),
                href="attack/report.html#audit" if "attack" in pages else "",
                kind="audit_epsilon",
            )
        )
    return Section(title="Privacy guarantee", text=text, figures=tuple(figures))


def _stage_links(records: dict[str, StageStatus], pages: frozenset[str]) -> tuple[Link, ...]:
    links = []
    for name, record in records.items():
        failed = sum(not g["passed"] for g in record.gates)
        parts = [record.status]
        if record.seconds is not None:
            parts.append(f"{record.seconds:.1f} s")
        if record.gates:
            parts.append(f"{len(record.gates) - failed} of {len(record.gates)} gates passed")
        if name not in pages:
            parts.append(_no_page(name, record, records))
        links.append(
            Link(
                label=name.capitalize(),
                href=f"{name}/report.html" if name in pages else "",
                note=" · ".join(parts),
                tone=tone_stage(record.status, failed),
                kind="stage",
            )
        )
    return tuple(links)


def _no_page(name: str, record: StageStatus, records: dict[str, StageStatus]) -> str:
    """Why a stage has no page to link to."""
    gates_failed = any(not g["passed"] for r in records.values() for g in r.gates)
    if name == "export" and gates_failed and record.status != "complete":
        return "no page: nothing was exported because a gate failed (see Gates above)"
    if record.status == "failed":
        return "no page: the stage failed"
    return "no page: the stage has not run"


def _time_chart(records: dict[str, StageStatus]) -> tuple[Chart, ...]:
    timed = [(n, r.seconds) for n, r in records.items() if r.seconds is not None]
    if not timed:
        return ()
    chart = charts.bar_chart(
        "Time per stage (seconds, last run of each)",
        [n for n, _ in timed],
        {"seconds": [float(s) for _, s in timed]},
        value_format="{:.1f}",
    )
    return (chart,)


def render_index(
    run_dir: Path, run_name: str, records: dict[str, StageStatus], *, nav: list[tuple[str, str]]
) -> None:
    """Write ``index.html`` from the stage records and the finished stages' summaries."""
    ran = [name for name, r in records.items() if r.status in ("complete", "reused")]
    summaries = RunSummaries.parse(read_summaries(run_dir, ran))
    pages = written_pages(run_dir, ran)
    judged = headlines(summaries)
    sections = [_guarantee_section(summaries, pages)]
    for kind, title in (
        ("privacy", "Privacy: attacks on the synthetic table"),
        ("fidelity", "Fidelity: how close to the real table"),
    ):
        chosen = tuple(_figure(h, pages) for h in judged if h.kind == kind)
        if chosen:
            sections.append(Section(title=title, figures=chosen))
    gates = [g for r in records.values() for g in r.gates]
    if gates:
        caption = "From the pipeline file's gates section; export needs every one to pass."
        sections.append(Section(title="Gates", tables=(gate_table(gates, caption),)))
    sections.append(
        Section(title="Stage reports", links=_stage_links(records, pages), charts=_time_chart(records))
    )
    judgement = verdict(records)
    ungated_bad = tuple(
        f"weak, though no gate stopped it: {h.label} {h.value} ({h.reference})"
        for h in judged
        if h.tone == "bad"
    )
    if judgement.tone == "good" and ungated_bad:
        judgement = replace(judgement, tone=tone_verdict(False, caveat=True), details=ungated_bad)
    report = Report(
        stage="index",
        title="Overview",
        run_name=run_name,
        subtitle="The verdict, the privacy guarantee, the headline figures, and each stage's report",
        verdict=judgement,
        sections=tuple(sections),
    )
    render_report(report, run_dir / "index.html", nav=existing_nav(nav, run_dir / "index.html"))
