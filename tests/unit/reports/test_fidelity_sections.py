"""The validate page's per-column accuracy table and column-pair section (issue 20, points 5 and 6),
from a hand-made fidelity result."""

from __future__ import annotations

import math
import re

from synthpriv.metrics.fidelity import ColumnScore, FidelityResult, PairScore
from synthpriv.reports.model import Report, Table
from synthpriv.reports.pages.fidelity_sections import (
    column_accuracy_section,
    pair_section,
    signed,
    worst_pairs_table,
)
from synthpriv.reports.render import render_string


def result() -> FidelityResult:
    columns = [
        ColumnScore(column="age", metric="KSComplement", score=0.91, holdout_score=0.95),
        ColumnScore(column="city", metric="TVComplement", score=0.70, holdout_score=0.97),
        ColumnScore(column="salary", metric="KSComplement", score=math.nan, holdout_score=0.9),
    ]
    pairs = [
        PairScore(
            column_1="age", column_2="city", metric="ContingencySimilarity", score=0.8,
            real_value=0.30, synthetic_value=0.10, meets_default_threshold=False, holdout_score=0.9,
        ),
        PairScore(
            column_1="age", column_2="salary", metric="CorrelationSimilarity", score=0.99,
            real_value=-0.00001, synthetic_value=0.00002, meets_default_threshold=False, holdout_score=None,
        ),
        PairScore(
            column_1="city", column_2="salary", metric="ContingencySimilarity", score=math.nan,
            real_value=math.nan, synthetic_value=math.nan, meets_default_threshold=False,
        ),
    ]  # fmt: skip
    return FidelityResult(column_scores=columns, pair_scores=pairs, rows_real=100, rows_synthetic=100,
                          seconds=1.0, sdmetrics_seconds=0.5)  # fmt: skip


def test_signed_never_prints_minus_zero_or_a_placeholder_number() -> None:
    assert signed(-0.0001) == "0.000" and signed(-0.02) == "-0.020" and signed(None) == "–"
    assert signed(math.nan) == "–"


def test_worst_pairs_show_real_and_synthetic_strength_without_n_a() -> None:
    table = worst_pairs_table(result())
    assert table.headers[3:5] == ("real", "synthetic")
    assert table.rows[0][:6] == ("age", "city", "Cramér's V", "0.300", "0.100", "-0.200")
    cells = {cell for row in table.rows for cell in row}
    assert "n/a" not in cells and "-0.000" not in cells
    assert len(table.rows) == 2  # the pair that could not be scored is counted in the text, not listed


def test_the_pair_section_sets_real_and_synthetic_side_by_side_without_self_pairs() -> None:
    section = pair_section(result())
    titles = [c.title for c in section.charts]
    assert titles[:2] == ["Association in the real rows", "Association in the synthetic rows"]
    assert "1 pair(s) could not be scored" in section.text
    for chart in section.charts:
        assert "age × age" not in chart.svg  # no self-pair cell


def test_the_accuracy_table_sorts_without_a_script() -> None:
    section = column_accuracy_section(result())
    table = section.tables[0]
    assert [row[0] for row in table.rows] == ["city", "age", "salary"]  # worst first, unscored last
    html = render_string(Report(stage="validate", title="V", run_name="r", sections=(section,)))
    assert "<script" not in html
    assert html.count('<tbody data-by="') == len(table.headers)
    by_name = re.search(r'<tbody data-by="0">(.*?)</tbody>', html, re.DOTALL)
    assert by_name is not None
    assert re.findall(r"<tr><td>(\w+)</td>", by_name.group(1)) == ["age", "city", "salary"]
    assert 'class="sort sort-2" name="t1-1" id="t1-1-2" checked' in html


def test_sort_orders_put_numbers_in_order_and_empty_cells_last() -> None:
    table = Table(headers=("a", "b"), rows=(("x", "10"), ("y", "–"), ("z", "9.5")), sortable=True)
    assert table.sort_orders() == [(0, 1, 2), (2, 0, 1)]
