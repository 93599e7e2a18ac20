"""Inline-SVG charts: valid XML for every edge case, and no live markup from data-derived text."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import numpy as np
import pytest

from synthpriv.reports import charts
from synthpriv.reports.charts import (
    PALETTE,
    REAL_COLOUR,
    SYNTHETIC_COLOUR,
    bar_chart,
    format_number,
    heatmap,
    histogram_chart,
    line_chart,
    nice_ticks,
    score_bars,
    series_colours,
)
from synthpriv.reports.model import Chart

NS = "{http://www.w3.org/2000/svg}"
SCRIPT = "</script><script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
DRAWING_TAGS = {"svg", "g", "rect", "line", "path", "circle", "text", "title", "desc"}
NAN, INF = math.nan, math.inf


def parse(chart: Chart) -> ET.Element:
    """The chart's SVG as XML, after checking the attributes every chart must carry."""
    root = ET.fromstring(chart.svg)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert re.fullmatch(r"0 0 \d+ \d+", root.get("viewBox", ""))
    assert root.find(f"{NS}title") is not None
    return root


def assert_inert(chart: Chart) -> None:
    """Only drawing elements, no event handlers or links, and no raw payload markup."""
    root = parse(chart)
    for element in root.iter():
        assert element.tag.removeprefix(NS) in DRAWING_TAGS
        assert not any(name.lower().startswith("on") or "href" in name for name in element.attrib)
    lowered = chart.svg.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    assert "&lt;/script&gt;" in chart.svg or "&lt;img" in chart.svg


def visible_texts(chart: Chart) -> list[str]:
    return [element.text or "" for element in parse(chart).iter(f"{NS}text")]


def fills(chart: Chart) -> set[str]:
    return {element.get("fill", "") for element in parse(chart).iter(f"{NS}rect")}


EDGE_CASES: dict[str, Callable[[], Chart]] = {
    "bar single value": lambda: bar_chart("t", ["a"], {"real": [0.4]}),
    "bar all nan": lambda: bar_chart("t", ["a", "b"], {"real": [NAN, NAN]}),
    "bar empty series": lambda: bar_chart("t", ["a"], {}),
    "bar no categories": lambda: bar_chart("t", [], {"real": []}),
    "bar short series": lambda: bar_chart("t", ["a", "b", "c"], {"real": [0.1]}),
    "bar 40 categories": lambda: bar_chart(
        "t",
        [f"category {i}" for i in range(40)],
        {"real": [i / 40 for i in range(40)], "synthetic": [0.02] * 40},
    ),
    "bar negative": lambda: bar_chart("t", ["a", "b"], {"delta": [-0.3, 0.2]}),
    "bar inf": lambda: bar_chart("t", ["a", "b"], {"real": [INF, 0.5], "synthetic": [-INF, 0.4]}),
    "bar bad format": lambda: bar_chart("t", ["a"], {"n": [3.0]}, value_format="{:d}"),
    "hist basic": lambda: histogram_chart(
        "t", [0, 1, 2, 5], {"real": [0.2, 0.5, 0.3], "synthetic": [0.3, 0.4, 0.3]}
    ),
    "hist single bin": lambda: histogram_chart("t", [3, 4], {"real": [1.0]}),
    "hist all nan": lambda: histogram_chart("t", [0, 1, 2], {"real": [NAN, NAN]}),
    "hist no edges": lambda: histogram_chart("t", [], {"real": []}),
    "hist nan edge": lambda: histogram_chart("t", [0, NAN, 2], {"real": [0.5, 0.5]}),
    "hist decreasing edges": lambda: histogram_chart("t", [2, 1, 0], {"real": [0.5, 0.5]}),
    "hist negative range": lambda: histogram_chart(
        "t", [-30, -20, -10], {"real": [0.5, 0.5], "synthetic": [NAN, 1]}
    ),
    "hist empty series": lambda: histogram_chart("t", [0, 1], {}),
    "line single point": lambda: line_chart("t", [1], {"loss": [0.5]}),
    "line negative": lambda: line_chart("t", [1, 2, 3], {"a": [-1.0, -2.5, -0.1], "b": [0.5, -0.5, 2.0]}),
    "line all nan": lambda: line_chart("t", [1, 2], {"loss": [NAN, NAN]}),
    "line empty": lambda: line_chart("t", [], {}),
    "line gaps": lambda: line_chart(
        "t", [1, 2, 3, 4], {"loss": [1.0, NAN, INF, 2.0]}, x_label="epoch", y_label="loss"
    ),
    "line constant": lambda: line_chart("t", [0, 0, 0], {"loss": [3.0, 3.0, 3.0]}),
    "line long": lambda: line_chart("t", list(range(2000)), {"loss": list(np.sin(np.arange(2000) / 50))}),
    "line huge": lambda: line_chart("t", [1, 2], {"loss": [-1.7e308, 1.7e308]}),
    "heat single": lambda: heatmap("t", ["a"], [[0.5]]),
    "heat none": lambda: heatmap("t", ["a", "b"], [[None, 0.2], [0.2, None]]),
    "heat all nan": lambda: heatmap("t", ["a", "b"], [[NAN, NAN], [NAN, NAN]]),
    "heat empty": lambda: heatmap("t", [], []),
    "heat ragged": lambda: heatmap("t", ["a", "b", "c"], [[1.0], []]),
    "heat out of range": lambda: heatmap("t", ["a", "b"], [[-3.0, 9.0], [INF, 0.5]], vmin=-1, vmax=1),
    "heat bad bounds": lambda: heatmap("t", ["a", "b"], [[0.1, 0.2], [0.3, 0.4]], vmin=1, vmax=1),
    "heat 80 columns": lambda: heatmap("t", [f"c{i}" for i in range(80)], [[0.5] * 80 for _ in range(80)]),
    "score single": lambda: score_bars("t", ["a"], [0.5]),
    "score nan": lambda: score_bars("t", ["a", "b"], [NAN, INF], reference=[NAN, 0.3]),
    "score empty": lambda: score_bars("t", [], []),
    "score out of range": lambda: score_bars("t", ["a", "b"], [-0.5, 1.5], reference=[2.0, -1.0]),
    "score 40 rows": lambda: score_bars("t", [f"column {i}" for i in range(40)], [i / 40 for i in range(40)]),
    "score short reference": lambda: score_bars("t", ["a", "b"], [0.2, 0.4], reference=[0.3]),
}


@pytest.mark.parametrize("build", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_give_valid_svg(build: Callable[[], Chart]) -> None:
    root = parse(build())
    for element in root.iter():
        if element is root:
            continue
        for name, value in element.attrib.items():
            if name in {"x", "y", "width", "height", "x1", "x2", "y1", "y2", "cx", "cy", "r"}:
                assert math.isfinite(float(value)), (name, value)
            if name in {"d", "transform"}:
                assert not re.search(r"nan|inf", value, re.IGNORECASE), (name, value)


def test_empty_data_says_so() -> None:
    assert "No data to show" in visible_texts(bar_chart("t", [], {}))


@pytest.mark.parametrize(
    "build",
    [
        lambda: bar_chart(SCRIPT, [SCRIPT, IMG], {IMG: [0.2, 0.3], "synthetic": [0.1, 0.4]}, caption=IMG),
        lambda: histogram_chart(SCRIPT, [0, 1, 2], {SCRIPT: [0.5, 0.5], IMG: [0.4, 0.6]}, caption=SCRIPT),
        lambda: line_chart(IMG, [1, 2], {SCRIPT: [1.0, 2.0]}, x_label=IMG, y_label=SCRIPT, caption=IMG),
        lambda: heatmap(SCRIPT, [SCRIPT, IMG], [[1.0, 0.5], [0.5, None]], caption=IMG),
        lambda: score_bars(IMG, [SCRIPT, IMG], [0.4, 0.6], reference=[0.5, 0.5], caption=SCRIPT),
    ],
    ids=["bar", "histogram", "line", "heatmap", "score"],
)
def test_data_derived_text_is_escaped(build: Callable[[], Chart]) -> None:
    assert_inert(build())


def test_control_characters_do_not_break_xml() -> None:
    parse(bar_chart("t\x00\x1b", ["a\x01b", "\ud800"], {"real\x0b": [0.1, 0.2]}))


def test_long_labels_are_truncated_on_the_axis() -> None:
    label = "a category label that is far too long to show in full"
    texts = visible_texts(bar_chart("t", [label], {"real": [0.5]}))
    assert label not in texts
    assert any(text.endswith("…") and len(text) == 24 for text in texts)


def test_more_categories_make_a_taller_chart() -> None:
    def height(n: int) -> int:
        chart = bar_chart("t", [str(i) for i in range(n)], {"real": [0.1] * n, "synthetic": [0.1] * n})
        return int(parse(chart).get("viewBox", "").split()[3])

    assert height(40) > height(10) > height(1)


def test_fixed_colours_for_real_and_synthetic() -> None:
    colours = series_colours(["synthetic", "loss", "Real", "other"])
    assert colours == {
        "synthetic": SYNTHETIC_COLOUR,
        "loss": PALETTE[0],
        "Real": REAL_COLOUR,
        "other": PALETTE[1],
    }
    assert {REAL_COLOUR, SYNTHETIC_COLOUR} <= fills(
        bar_chart("t", ["a"], {"real": [0.1], "synthetic": [0.2]})
    )


def test_bar_values_use_the_format() -> None:
    texts = visible_texts(bar_chart("t", ["a", "b"], {"real": [0.25, 0.5]}))
    assert "25%" in texts and "50%" in texts
    texts = visible_texts(bar_chart("t", ["a"], {"rows": [12345.0]}, value_format="{:,.0f}"))
    assert "12,345" in texts


def test_histogram_draws_real_as_bars_and_others_as_outline() -> None:
    chart = histogram_chart("t", [0, 1, 2], {"real": [0.4, 0.6], "synthetic": [0.5, 0.5]})
    root = parse(chart)
    real_bars = [
        r for r in root.iter(f"{NS}rect") if r.get("fill") == REAL_COLOUR and r.find(f"{NS}title") is not None
    ]
    assert len(real_bars) == 2
    assert [p.get("stroke") for p in root.iter(f"{NS}path")] == [SYNTHETIC_COLOUR]


def test_line_single_point_is_marked() -> None:
    assert len(list(parse(line_chart("t", [3], {"loss": [0.2]})).iter(f"{NS}circle"))) == 1


def test_heatmap_missing_cells_are_grey_and_explained() -> None:
    chart = heatmap("t", ["a", "b", "c"], [[1, None, 0.2], [None, 1, 0.3], [0.2, 0.3, 1]])
    assert charts.MISSING_COLOUR in fills(chart)
    assert "not available" in visible_texts(chart)


def _cells(chart) -> list:  # type: ignore[no-untyped-def]
    return [r for r in parse(chart).iter(f"{NS}rect") if r.find(f"{NS}title") is not None]


def test_heatmap_leaves_the_self_pairs_out_unless_asked() -> None:
    matrix = [[1.0, 0.2, 0.4], [0.2, 1.0, 0.6], [0.4, 0.6, 1.0]]
    titles = [c.find(f"{NS}title").text for c in _cells(heatmap("t", ["a", "b", "c"], matrix))]
    assert len(titles) == 6 and not any(t.startswith("a × a") for t in titles)
    # No grey "not available" in the legend either: a blank diagonal is not a missing value.
    assert "not available" not in visible_texts(heatmap("t", ["a", "b", "c"], matrix))
    assert len(_cells(heatmap("t", ["a", "b", "c"], matrix, self_pairs=True))) == 9


def test_heatmaps_of_opposite_meaning_use_different_ramps() -> None:
    matrix = [[0.0, 1.0], [1.0, 0.0]]
    agreement = fills(heatmap("t", ["a", "b"], matrix))
    difference = fills(heatmap("t", ["a", "b"], matrix, ramp="difference"))
    assert charts.RAMPS["agreement"][-1] in agreement and charts.RAMPS["difference"][-1] in difference
    assert not (set(charts.RAMPS["agreement"]) & difference)


def test_score_bars_fit_their_axis_to_small_values() -> None:
    fitted = score_bars("t", ["a", "b"], [0.09, 0.02], fit=True)
    texts = visible_texts(fitted)
    assert "0.100" in texts and "1" not in texts  # the axis ends at 0.1, not 1
    assert "0.090" in texts  # three decimals on a short axis
    assert "1.00" in visible_texts(score_bars("t", ["a"], [0.09]))  # scores keep their 0-1 axis


def test_score_bars_draw_one_reference_tick_per_finite_reference() -> None:
    chart = score_bars("t", ["a", "b", "c"], [0.2, 0.4, 0.6], reference=[0.3, NAN, 0.9])
    ticks = [line for line in parse(chart).iter(f"{NS}line") if line.get("stroke") == charts.HOLDOUT_COLOUR]
    assert len(ticks) == 1 + 2  # the legend swatch and two bars


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (0.5, "0.5"),
        (0.12345, "0.123"),
        (999.9, "1k"),
        (1234.0, "1.23k"),
        (2.5e6, "2.5M"),
        (-4.2e9, "-4.2B"),
        (NAN, "n/a"),
        (INF, "n/a"),
    ],
)
def test_format_number(value: float, expected: str) -> None:
    assert format_number(value) == expected


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(0, 100, [0, 25, 50, 75, 100]), (0, 0.62, [0, 0.2, 0.4, 0.6, 0.8]), (-0.6, 1.6, [-1, 0, 1, 2])],
)
def test_nice_ticks(lo: float, hi: float, expected: list[float]) -> None:
    assert nice_ticks(lo, hi) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("lo", "hi"), [(3.0, 3.0), (0.0, 0.0), (NAN, 1.0), (-1.7e308, 1.7e308), (1e15, 1e15 + 0.125)]
)
def test_nice_ticks_always_span_a_range(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert len(ticks) >= 2 and ticks[0] < ticks[-1]
    assert all(math.isfinite(t) for t in ticks)


@pytest.mark.parametrize("build", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_coordinates_are_whole_units(build: Callable[[], Chart]) -> None:
    # A decimal coordinate such as cy="157.83" could read like a real value; only labels carry decimals.
    root = parse(build())
    for element in root.iter():
        for name, value in element.attrib.items():
            if name not in {"fill-opacity", "font-family", "aria-label", "viewBox"}:
                assert not re.search(r"\d\.\d", value), (element.tag, name, value)
