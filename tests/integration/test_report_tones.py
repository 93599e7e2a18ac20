"""One figure, one tone, on every page: the index and the stage pages agree, and each page's legend
explains every colour it uses.

The summaries are built directly, as the stages build them, from the real metrics run on small
tables made here (no pipeline run): validate's measures, a train summary with a DP ledger, an
export summary. The pages are then rendered to HTML and read back as a person's browser would.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from synthpriv.data.schema import infer_schema
from synthpriv.metrics.coverage import coverage
from synthpriv.metrics.detection import detection
from synthpriv.metrics.diagnostic import evaluate_diagnostic
from synthpriv.metrics.efficacy import ml_efficacy
from synthpriv.metrics.fidelity import column_distributions, evaluate_fidelity
from synthpriv.privacy.ledger import PrivacyLedger, Release
from synthpriv.reports.index import render_index
from synthpriv.reports.pages.export import export_report
from synthpriv.reports.pages.train import train_report
from synthpriv.reports.pages.validate import validate_report
from synthpriv.reports.render import render_string
from synthpriv.reports.summaries import (
    ColumnSummary,
    ExportSummary,
    TrainSummary,
    ValidateMeasures,
)

RUN = "tones"
_FIGURE = re.compile(
    r'<div class="figure tone-(?P<tone>\w+)"(?: data-kind="(?P<kind>\w+)")?>\s*'
    r'<div class="label">(?P<label>.*?)</div>\s*<div class="value">(?P<value>.*?)</div>',
    re.DOTALL,
)
_USED = re.compile(r'class="(?:figure|verdict|link) tone-(\w+)"')
_EXPLAINED = re.compile(r'data-legend-tone="(\w+)"')


def _table(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    age = rng.normal(40 + shift, 10, rows).round()
    income = (age * 900 + rng.normal(0, 6000 + 4000 * shift, rows)).round(-2)
    city = rng.choice(["north", "south", "east", "west"], rows, p=[0.4, 0.3, 0.2, 0.1])
    churned = np.where(rng.random(rows) < 0.3 + 0.004 * (age - 40), "yes", "no")
    return pd.DataFrame({"age": age, "income": income, "city": city, "churned": churned})


@dataclass
class _Record:
    """A stage's record as the index reads it (the `reports.index.StageStatus` protocol)."""

    name: str
    status: str = "complete"
    seconds: float | None = 1.0
    gates: list[dict[str, Any]] = field(default_factory=list)


def _measures() -> ValidateMeasures:
    rng = np.random.default_rng(20)
    train, holdout, synthetic = _table(rng, 240, 0.0), _table(rng, 240, 0.0), _table(rng, 240, 1.5)
    schema = infer_schema(train)
    fidelity = evaluate_fidelity(train, synthetic, schema, holdout=holdout, seed=1)
    return ValidateMeasures(
        fidelity=fidelity,
        diagnostic=evaluate_diagnostic(train, synthetic, schema, holdout=holdout),
        detection=detection(train, synthetic, schema, seed=2, folds=2, n_bootstrap=0),
        detection_reference=detection(train, holdout, schema, seed=2, folds=2, n_bootstrap=0),
        efficacy=ml_efficacy(train, synthetic, holdout, schema, "churned", seed=3, n_bootstrap=0),
        coverage=coverage(train, synthetic, schema, seed=4, holdout=holdout),
        distributions=column_distributions(train, synthetic, schema, k=5),
        min_count=5,
        seconds=1.0,
    )


def _train_summary() -> TrainSummary:
    ledger = PrivacyLedger(epsilon=12.0, delta=1e-5)  # above 10: amber on every page
    ledger.charge(Release("quantiles of age", "discrete laplace", 1.0, noise=0.5))
    ledger.charge(Release("VAE weights (DP-SGD)", "subsampled gaussian", 11.0, 1e-6, 1.1, 0.02, 300))
    return TrainSummary(
        generator="vae",
        params={},
        epochs=2,
        batch_size=64,
        train_rows=240,
        holdout_rows=240,
        holdout_source="split",
        columns=[ColumnSummary(name="age", kind="numerical", nullable=False)],
        fit_seconds=1.0,
        device="cpu",
        final_loss=1.0,
        category_coverage={"city": 1.0},
        warnings=[],
        privacy=ledger,
    )


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The HTML of the index and of the train, validate and export pages of one run."""
    run_dir = tmp_path_factory.mktemp("run")
    measures, train = _measures(), _train_summary()
    gates = [{"name": "max_detection_auc", "value": measures.detection.auc, "bound": 0.99, "passed": True}]
    export = ExportSummary(
        rows=240,
        files=[],
        gate_results=gates,
        gates_forced=False,
        allow_failed_gates=False,
        synthetic_sha256="0" * 64,
        provenance={},
        differential_privacy={"epsilon": train.privacy.spent_epsilon, "delta": train.privacy.spent_delta}
        if train.privacy
        else "none",
    )
    for stage, summary in (("train", train), ("validate", measures.summary()), ("export", export)):
        (run_dir / stage).mkdir()
        (run_dir / stage / "summary.json").write_text(json.dumps(summary.model_dump(mode="json")))
    records = {name: _Record(name) for name in ("train", "validate", "export")}
    records["validate"].gates = gates
    render_index(run_dir, RUN, records, nav=[])  # type: ignore[arg-type]  # _Record meets the StageStatus protocol
    history = pd.DataFrame({"epoch": [1, 2], "loss": [2.0, 1.5]})
    outcomes = [_Gate(**g) for g in gates]
    return {
        "index": (run_dir / "index.html").read_text(),
        "train": render_string(train_report(RUN, train, history)),
        "validate": render_string(validate_report(RUN, measures, outcomes)),
        "export": render_string(export_report(RUN, export, outcomes)),
    }


@dataclass(frozen=True)
class _Gate:
    name: str
    value: float
    bound: float
    passed: bool

    def describe(self) -> str:
        return f"gate {self.name}"


def _figures(html: str) -> dict[str, tuple[str, str, str]]:
    """label -> (kind, value, tone) of every figure on a page."""
    return {m["label"]: (m["kind"] or "", m["value"], m["tone"]) for m in _FIGURE.finditer(html)}


# (index label, stage, that stage's label) of the same figure.
SAME_FIGURE = [
    ("quality (sdmetrics, all pairs)", "validate", "quality (all pairs)"),
    ("detection AUC (real vs synthetic)", "validate", "detection AUC"),
    ("ML efficacy (churned, synthetic / real)", "validate", "efficacy ratio"),
]


@pytest.mark.parametrize(("index_label", "stage", "stage_label"), SAME_FIGURE)
def test_the_index_and_the_stage_page_give_one_figure_one_tone(
    pages: dict[str, str], index_label: str, stage: str, stage_label: str
) -> None:
    index_kind, index_value, index_tone = _figures(pages["index"])[index_label]
    stage_kind, stage_value, stage_tone = _figures(pages[stage])[stage_label]
    assert (index_kind, index_value) == (stage_kind, stage_value)
    assert index_tone == stage_tone, (
        f"{index_label} {index_value}: {index_tone} on the index, {stage_tone} on {stage}"
    )


def test_the_dp_guarantee_has_one_tone_on_index_train_and_export(pages: dict[str, str]) -> None:
    tones = {
        page: next(tone for kind, _, tone in _figures(pages[page]).values() if kind == "dp_epsilon")
        for page in ("index", "train", "export")
    }
    assert set(tones.values()) == {"warn"}, tones  # epsilon 12: a proof that bounds little, everywhere


def test_figures_of_one_kind_and_value_have_one_tone_across_pages(pages: dict[str, str]) -> None:
    seen: dict[tuple[str, str], set[str]] = {}
    for html in pages.values():
        for kind, value, tone in _figures(html).values():
            if kind:
                seen.setdefault((kind, value), set()).add(tone)
    assert seen and all(len(tones) == 1 for tones in seen.values()), seen


@pytest.mark.parametrize("page", ["index", "train", "validate", "export"])
def test_every_tone_on_a_page_is_in_its_legend(pages: dict[str, str], page: str) -> None:
    html = pages[page]
    used = set(_USED.findall(html)) - {"neutral"}
    explained = set(_EXPLAINED.findall(html))
    assert used, "the page colours nothing: the test would prove nothing"
    assert "What the colours mean" in html
    assert used <= explained, f"{page}: {used - explained} used but not in the legend"
    for match in _FIGURE.finditer(html):  # a judged figure names the rule that judged it
        assert match["tone"] == "neutral" or match["kind"], f"{page}: {match['label']} has a tone but no kind"
