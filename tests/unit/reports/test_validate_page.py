"""The validate page from real measures on the demo table (issue 20, points 5 and 6): the per-column
accuracy and column-pair sections, the detector's importances on an axis fitted to them, and figures
measured on a sample saying so on the page and the index alike, with or without a train and a
synthesize summary (an `evaluate` run has neither).

The "synthetic" table is 300 real rows drawn with replacement, so that it is larger than the 150
training rows: the detector then uses 150 of its rows, and efficacy (at most 100 rows a table) a
sample of both.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from synthpriv.data.io import read_table
from synthpriv.data.schema import TableSchema, infer_schema
from synthpriv.metrics.coverage import coverage
from synthpriv.metrics.detection import detection
from synthpriv.metrics.diagnostic import evaluate_diagnostic
from synthpriv.metrics.efficacy import ml_efficacy
from synthpriv.metrics.fidelity import column_distributions, evaluate_fidelity
from synthpriv.metrics.rowlogic import row_logic
from synthpriv.reports.headline import headlines
from synthpriv.reports.model import Chart, Report
from synthpriv.reports.pages.validate import validate_report
from synthpriv.reports.summaries import ValidateMeasures

DETECTION_SAMPLE = "in a sample of 150 of 300 synthetic rows"
EFFICACY_SAMPLE = "in a sample of 100 of 150 training rows and 100 of 300 synthetic rows"


def _tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, TableSchema]:
    table = read_table("builtin:student_placements").drop(columns="student_id")
    train, holdout = table.iloc[:150].reset_index(drop=True), table.iloc[150:].reset_index(drop=True)
    synthetic = table.sample(300, replace=True, random_state=7).reset_index(drop=True)
    return train, synthetic, holdout, infer_schema(table)


@pytest.fixture(scope="module")
def measures() -> ValidateMeasures:
    train, synthetic, holdout, schema = _tables()
    return ValidateMeasures(
        fidelity=evaluate_fidelity(train, synthetic, schema, holdout=holdout, seed=1),
        diagnostic=evaluate_diagnostic(train, synthetic, schema, holdout=holdout),
        detection=detection(train, synthetic, schema, seed=2, folds=2, n_bootstrap=0),
        detection_reference=detection(train, holdout, schema, seed=2, folds=2, n_bootstrap=0),
        efficacy=ml_efficacy(
            train, synthetic, holdout, schema, "placed", seed=3, n_bootstrap=0, max_rows=100
        ),
        coverage=coverage(train, synthetic, schema, seed=4, holdout=holdout),
        distributions=column_distributions(train, synthetic, schema, k=10),
        min_count=10,
        seconds=1.0,
        row_logic=row_logic(train, synthetic, schema, holdout=holdout, min_count=10),
        table_rows_train=len(train),
        table_rows_synthetic=len(synthetic),
    )


@pytest.fixture(scope="module")
def page(measures: ValidateMeasures) -> Report:
    return validate_report("demo", measures, [])


def _chart(page: Report, title: str) -> Chart:
    return next(c for s in page.sections for c in s.charts if c.title == title)


def _note(page: Report, label: str) -> str:
    return next(f.note for s in page.sections for f in s.figures if f.label == label)


def test_the_page_has_the_accuracy_table_and_the_association_matrices(page: Report) -> None:
    titles = [s.title for s in page.sections]
    assert titles.index("Row logic") < titles.index("Accuracy per column") < titles.index("Column pairs")
    accuracy = next(s for s in page.sections if s.title == "Accuracy per column")
    assert accuracy.tables[0].sortable and accuracy.charts[0].title == "Column shapes, worst first"
    pairs = next(s for s in page.sections if s.title == "Column pairs")
    assert [c.title for c in pairs.charts][:2] == [
        "Association in the real rows",
        "Association in the synthetic rows",
    ]
    worst = pairs.tables[0]
    assert worst.headers[3:5] == ("real", "synthetic") and worst.rows
    assert not {"n/a", "-0.000"} & {cell for row in worst.rows for cell in row}


def test_the_importance_bars_sit_on_an_axis_fitted_to_them(page: Report, measures: ValidateMeasures) -> None:
    largest = max(i.auc_drop for i in measures.detection.importances[:10])
    assert 0 < largest < 0.5  # real rows against real rows: every drop is small
    chart = _chart(page, "What gives synthetic rows away")
    ticks = [float(t) for t in re.findall(r'text-anchor="middle"[^>]*>([\d.]+)</text>', chart.svg)]
    assert ticks[0] == 0 and largest <= ticks[-1] < 2 * largest + 0.05  # not a 0-1 axis


def test_sampled_figures_say_so_on_the_page(page: Report) -> None:
    assert DETECTION_SAMPLE in _note(page, "detection AUC")
    assert EFFICACY_SAMPLE in _note(page, "efficacy ratio")
    assert "in a sample" not in _note(page, "quality (all pairs)")  # every row compared
    assert _note(page, "synthetic rows compared") == "of 300 synthetic rows"


@pytest.mark.parametrize("with_stage_summaries", [True, False])
def test_sampled_figures_say_so_on_the_index(measures: ValidateMeasures, with_stage_summaries: bool) -> None:
    summaries: dict[str, dict] = {"validate": measures.summary().model_dump(mode="json")}
    if with_stage_summaries:  # a pipeline run: the table sizes also come from train and synthesize
        summaries["synthesize"] = {
            "rows": 300, "seed": 0, "batch_size": 300, "seconds": 1.0, "rows_per_second": 300.0,
            "missing_share": {}, "conditions": {},
        }  # fmt: skip
    references = {h.label: h.reference for h in headlines(summaries)}
    assert DETECTION_SAMPLE in references["detection AUC (real vs synthetic)"]
    assert EFFICACY_SAMPLE in references["ML efficacy (placed, synthetic / real)"]
    assert "in a sample" not in references["quality (sdmetrics, all pairs)"]


def test_a_few_valued_whole_number_column_is_drawn_by_value(page: Report) -> None:
    # experience_years holds 0-3; 2 and 3 are rarer than 10 rows, so they are counted with 1.
    chart = _chart(page, "experience_years")
    assert ">0<" in chart.svg and ">1 or more<" in chart.svg
    assert ">0.5<" not in chart.svg and ">0.1 – 0.2<" not in chart.svg
    assert "counted in the edge bars" in chart.caption
