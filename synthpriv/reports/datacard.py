"""The data card: what a recipient of the exported table reads first.

Built from the stage summaries only (schema, aggregates, gate results), never from values of
the real table: column names and kinds are shown, cells and categories are not. The JSON form
is the source; the Markdown form is rendered from it.
"""

from __future__ import annotations

import re
from typing import Any

from synthpriv import __version__
from synthpriv.reports.headline import RunSummaries, Summaries, gate_relation, guarantee, headlines
from synthpriv.reports.verdicts import COLOUR, Tone, legend_for, tone_gate

DATACARD_JSON = "datacard.json"
DATACARD_MD = "datacard.md"


def build_datacard(
    summaries: Summaries | RunSummaries,
    *,
    run_name: str,
    files: list[dict[str, Any]],
    gates: list[dict[str, Any]],
    gates_forced: bool,
    config_sha256: str | None,
) -> dict[str, Any]:
    """The card as a JSON-ready dict. ``summaries`` holds the train, synthesize, validate and attack
    summaries."""
    typed = RunSummaries.parse(summaries)
    train, sampling = typed.train, typed.synthesize
    if train is None or sampling is None:
        raise ValueError("a data card needs the train and synthesize summaries")
    dp = guarantee(typed)
    return {
        "synthpriv_version": __version__,
        "run": run_name,
        "verdict": _verdict_text(gates, gates_forced),
        "generated": {
            "rows": sampling.rows,
            "columns": len(train.columns),
            "generator": train.generator,
            "epochs": train.epochs,
            "sampling_seed": sampling.seed,
            "conditions": sampling.conditions,
            "conditions_file_rows": sampling.conditions_file_rows,
            "rebalance": sampling.rebalance,
            "config_sha256": config_sha256,
            "files": files,
        },
        "source": {
            "training_rows": train.train_rows,
            "holdout_rows": train.holdout_rows,
            "holdout_rows_dropped": typed.attack.holdout_rows_dropped if typed.attack is not None else 0,
            "columns": [{"name": c.name, "kind": c.kind, "has_missing": c.nullable} for c in train.columns],
        },
        "differential_privacy": dp.to_metadata(),
        "differential_privacy_text": dp.describe(),
        "headlines": [h.to_dict() for h in headlines(typed)],
        "gates": gates,
        "gates_forced": gates_forced,
    }


def _verdict_text(gates: list[dict[str, Any]], gates_forced: bool) -> str:
    failed = [g for g in gates if not g["passed"]]
    if gates_forced:
        return (
            f"exported despite {len(failed)} failed gate(s), at the data owner's request "
            "(--allow-failed-gates)"
        )
    if gates:
        return f"exported: all {len(gates)} gate(s) passed"
    return "exported: no gates were set in the pipeline file"


# What can start markup or HTML, break a table cell, or (an underscore at a word's edge) emphasis.
_MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]<>|&#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md(text: object) -> str:
    """Data-derived text (names, labels) safe inside Markdown and the HTML a viewer makes of it."""
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(str(text).split()))


def _dropped_sentence(dropped: int) -> str:
    return f" {dropped:,} holdout rows that repeated training rows were dropped." if dropped else ""


def render_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown, every data-derived name escaped."""
    lines = [f"# Data card: {_md(card['run'])}", "", f"**Verdict:** {_md(card['verdict'])}.", ""]
    lines += _what_lines(card) + _source_lines(card["source"]) + _private_lines(card)
    lines += _gate_lines(card) + _legend_lines(card)
    return "\n".join(lines) + "\n"


def _what_lines(card: dict[str, Any]) -> list[str]:
    generated = card["generated"]
    lines = [
        "## What this is",
        "",
        (
            f"{generated['rows']:,} synthetic rows in {generated['columns']} columns, sampled by synthpriv "
            f"{_md(card['synthpriv_version'])} from a `{_md(generated['generator'])}` generator trained for "
            f"{generated['epochs']} epochs (sampling seed {generated['sampling_seed']}). Rows are drawn "
            "from the model, not copied from the real table; how close they come to real rows is measured "
            "below."
        ),
        "",
    ]
    if generated["conditions"]:
        conditions = ", ".join(f"{_md(k)} = {_md(v)}" for k, v in generated["conditions"].items())
        lines += [f"Sampled under conditions: {conditions}.", ""]
    if generated.get("conditions_file_rows") is not None:
        imputed = (
            f"Imputed: the empty cells of a file of {generated['conditions_file_rows']:,} partial rows "
            "were drawn given each row's other cells; the given cells are the file's, copied as they "
            "are (if they are real, so are they)."
        )
        lines += [imputed, ""]
    for column, shares in (generated.get("rebalance") or {}).items():
        listed = ", ".join(f"{_md(k)}: {100 * v:.0f} %" for k, v in shares.items())
        lines += [f"Rebalanced: {_md(column)} set to {listed} of every batch.", ""]
    lines += ["| file | rows | sha256 |", "|---|---:|---|"]
    lines += [f"| {_md(f['path'])} | {f['rows']:,} | `{f['sha256']}` |" for f in generated["files"]]
    return lines + ["", f"Pipeline configuration sha256: `{generated['config_sha256'] or 'n/a'}`.", ""]


def _source_lines(source: dict[str, Any]) -> list[str]:
    lines = [
        "## What it was made from",
        "",
        (
            f"A real table of {source['training_rows']:,} training rows; {source['holdout_rows']:,} further "
            "real rows were held out, never shown to the generator, and used as the control in every "
            "comparison below. Column names and kinds only; no real values appear in this card."
            + _dropped_sentence(source.get("holdout_rows_dropped", 0))
        ),
        "",
        "| column | kind | has missing values |",
        "|---|---|---|",
    ]
    return lines + [
        f"| {_md(c['name'])} | {c['kind']} | {'yes' if c['has_missing'] else 'no'} |"
        for c in source["columns"]
    ]


def _judged(tone: Tone) -> str:
    return "–" if tone == "neutral" else f"{tone} ({COLOUR[tone]})"


def _private_lines(card: dict[str, Any]) -> list[str]:
    lines = ["", "## How private", "", f"**Differential privacy:** {_md(card['differential_privacy_text'])}."]
    if card["differential_privacy"] == "none":
        lines += [
            "",
            (
                "Without differential privacy the figures below are empirical: they measure what these "
                "attackers learned from this table, not what every attacker could."
            ),
        ]
    for kind, title in (("privacy", None), ("fidelity", "How faithful")):
        rows = [h for h in card["headlines"] if h["kind"] == kind]
        if not rows:
            continue
        if title:
            lines += ["", f"## {title}"]
        lines += ["", "| figure | value | 95 % interval | compare with | judged |", "|---|---:|---|---|---|"]
        lines += [
            f"| {_md(h['label'])} | {_md(h['value'])} | {_md(h['interval'] or '–')} | {_md(h['reference'])} "
            f"| {_judged(h['tone'])} |"
            for h in rows
        ]
    return lines


def _gate_lines(card: dict[str, Any]) -> list[str]:
    lines = ["", "## Gates", ""]
    if not card["gates"]:
        lines.append("No gates were set in the pipeline file.")
    else:
        lines += ["| gate | figure | bound | result |", "|---|---:|---:|---|"]
        for gate in card["gates"]:
            relation = gate_relation(gate["name"])
            result = "passed" if tone_gate(gate["passed"]) == "good" else "**FAILED**"
            lines.append(
                f"| {_md(gate['name'])} | {gate['value']:.4g} | {relation} {gate['bound']:.4g} | {result} |"
            )
    if card["gates_forced"]:
        lines += ["", "**Exported although gates failed**, at the data owner's explicit request."]
    return lines


def _legend_lines(card: dict[str, Any]) -> list[str]:
    """What "judged" means, for the kinds of figure in the card: the reports' verdict table, in words."""
    entries = legend_for(h.get("verdict_kind", "") for h in card["headlines"])
    if not entries:
        return []
    lines = ["", "## How the figures are judged", ""]
    lines += ["The same rules colour every page of the run's reports (green good, amber warn, red bad).", ""]
    for entry in entries:
        meanings = "; ".join(f"{tone}: {meaning}" for tone, meaning in entry.meanings if tone != "neutral")
        lines.append(f"- **{_md(entry.title)}**: {_md(meanings)}.")
    return lines
