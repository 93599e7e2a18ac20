"""Sections of the validate page a data scientist looks for (issue 20, point 6), from `FidelityResult`.

- `column_accuracy_section`: one row per column, its shape score (sdmetrics' KSComplement or
  TVComplement, 1 = identical) beside the real holdout's and the gap, sortable by any column;
- `pair_section`: the real and the synthetic association matrices side by side (Pearson
  correlation for two numerical columns, Cramér's V otherwise, one diverging colour ramp), the
  difference between them on a ramp of its own, and the pairs that got worst with their real and
  synthetic strength.

Self-pairs are left out of every matrix, pairs sdmetrics could not score are counted, not
printed as "n/a", and no figure reads "-0.000".
"""

from __future__ import annotations

import math
from collections.abc import Callable

from synthpriv.metrics.fidelity import ColumnScore, FidelityResult, PairScore
from synthpriv.reports import charts
from synthpriv.reports.model import Chart, Section, Table

#: Rows of the worst-pairs table.
WORST_PAIRS = 10
_STATISTIC = {"CorrelationSimilarity": "Pearson r"}
_SHAPE_METRIC = {"KSComplement": "KS complement", "TVComplement": "TV complement"}


def signed(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` decimals with an honest sign ("0.000", never "-0.000"); "–" when it
    is missing or not a finite number."""
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def column_accuracy_section(result: FidelityResult) -> Section:
    """Per column: how well the synthetic rows reproduce its distribution, beside the holdout's."""
    scored = sorted(result.column_scores, key=lambda c: (not math.isfinite(c.score), c.score))
    rows = tuple(
        (
            c.column,
            _SHAPE_METRIC.get(c.metric, c.metric),
            signed(c.score),
            signed(c.holdout_score),
            signed(None if c.holdout_score is None else c.holdout_score - c.score),
        )
        for c in scored
    )
    return Section(
        title="Accuracy per column",
        anchor="column-accuracy",
        text=(
            "How closely each column's distribution in the synthetic rows matches the real training rows "
            "(1 = identical; KS complement for numbers and dates, TV complement for categories), beside "
            "the same score of real held-out rows: the best a generator can honestly reach. The gap is "
            "holdout minus synthetic; above 0.05 the column is visibly off."
        ),
        charts=(_shape_bars(scored),),
        tables=(
            Table(
                headers=("column", "metric", "synthetic vs real", "holdout vs real", "gap"),
                rows=rows,
                caption="Worst first.",
                sortable=True,
                sorted_by=2,
            ),
        ),
    )


def _shape_bars(scored: list[ColumnScore]) -> Chart:
    """The shape scores as bars, worst first, each with the holdout's as a tick (none when missing)."""
    return charts.score_bars(
        "Column shapes, worst first",
        [c.column for c in scored],
        [c.score for c in scored],
        reference=[math.nan if c.holdout_score is None else c.holdout_score for c in scored],
        caption="Bar: synthetic vs real. Tick: real holdout vs real train.",
        value_label="synthetic vs real",
        reference_label="holdout vs train",
    )


def pair_section(result: FidelityResult) -> Section:
    """The association matrices side by side, their difference, the pair scores and the worst pairs."""
    names = [c.column for c in result.column_scores]
    unscored = sum(1 for p in result.pair_scores if not _finite_pair(p))
    note = (
        f" {unscored} pair(s) could not be scored (a column without two distinct values, or all missing) "
        "and are grey in the matrices."
        if unscored
        else ""
    )
    return Section(
        title="Column pairs",
        anchor="pairs",
        text=(
            "How strongly each pair of columns is related, in the real training rows and in the synthetic "
            "rows: Pearson correlation for two numerical columns (−1 to 1), Cramér's V otherwise (0 to 1). "
            "The two matrices share one colour ramp; their difference has a ramp of its own, where dark "
            "means the synthetic rows got the relationship wrong." + note
        ),
        charts=(
            _association(result, names, "real", lambda p: p.real_value),
            _association(result, names, "synthetic", lambda p: p.synthetic_value),
            charts.heatmap(
                "Association difference |synthetic − real| (0 = same strength)",
                names,
                _matrix(result, names, lambda p: abs(p.synthetic_value - p.real_value)),
                vmin=0.0,
                vmax=0.5,
                ramp="difference",
                caption="0.5 and above share the darkest colour.",
            ),
            charts.heatmap(
                "Pair trend scores (1 = relationship reproduced)",
                names,
                _matrix(result, names, lambda p: p.score),
                vmin=0.0,
                vmax=1.0,
                ramp="agreement",
                caption="sdmetrics' correlation or contingency similarity of each pair.",
            ),
        ),
        tables=(worst_pairs_table(result),),
    )


def worst_pairs_table(result: FidelityResult, count: int = WORST_PAIRS) -> Table:
    """The ``count`` scored pairs whose strength moved most, with the real and synthetic strength."""
    scored = [p for p in result.pair_scores if _finite_pair(p)]
    worst = sorted(scored, key=lambda p: abs(p.synthetic_value - p.real_value), reverse=True)[:count]
    rows = tuple(
        (
            p.column_1,
            p.column_2,
            _STATISTIC.get(p.metric, "Cramér's V"),
            signed(p.real_value),
            signed(p.synthetic_value),
            signed(p.synthetic_value - p.real_value),
            signed(p.score),
            signed(p.holdout_score),
        )
        for p in worst
    )
    return Table(
        headers=("column 1", "column 2", "strength", "real", "synthetic", "change", "pair score", "holdout"),
        rows=rows,
        caption=(
            f"The {len(worst)} pairs whose relationship changed most in the synthetic rows. Pair score: "
            "sdmetrics' similarity (1 = reproduced); holdout: the same score of real held-out rows."
        ),
        sortable=True,
        sorted_by=5,
    )


def _finite_pair(pair: PairScore) -> bool:
    return all(math.isfinite(v) for v in (pair.score, pair.real_value, pair.synthetic_value))


def _association(
    result: FidelityResult, names: list[str], side: str, value: Callable[[PairScore], float]
) -> Chart:
    return charts.heatmap(
        f"Association in the {side} rows",
        names,
        _matrix(result, names, value),
        vmin=-1.0,
        vmax=1.0,
        ramp="association",
        caption="Blue: negative correlation; purple: positive correlation or a strong Cramér's V.",
    )


def _matrix(
    result: FidelityResult, names: list[str], value: Callable[[PairScore], float]
) -> list[list[float | None]]:
    """A symmetric matrix of ``value`` per scored pair (None elsewhere; the diagonal is not drawn)."""
    position = {name: i for i, name in enumerate(names)}
    matrix: list[list[float | None]] = [[None] * len(names) for _ in names]
    for pair in result.pair_scores:
        if pair.column_1 in position and pair.column_2 in position and _finite_pair(pair):
            i, j = position[pair.column_1], position[pair.column_2]
            matrix[i][j] = matrix[j][i] = float(value(pair))
    return matrix
