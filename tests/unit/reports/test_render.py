"""Rendering a Report: one self-contained, script-free HTML file where every data-derived text is escaped."""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from synthpriv.reports import charts
from synthpriv.reports.model import Chart, Figure, Report, Section, Table
from synthpriv.reports.references import for_page
from synthpriv.reports.render import ENV, numeric_columns, render_report, render_string, trusted_svg

SCRIPT = "</script><script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
NAV = [
    ("Overview", "../index.html"),
    ("Train", "../train/report.html"),
    ("Validate", "../validate/report.html"),
    (SCRIPT, "../attack/report.html"),
]
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


class _Tags(HTMLParser):
    """Every start tag and its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def hostile_report() -> Report:
    """A report where every text field that could be data-derived carries a payload."""
    figure = Figure(label=SCRIPT, value=IMG, note=SCRIPT, tone="bad")
    table = Table(headers=(SCRIPT, "score"), rows=((IMG, "0.93"), (SCRIPT, "0.71")), caption=IMG)
    chart_list = (
        charts.bar_chart(SCRIPT, [SCRIPT, IMG], {"real": [0.4, 0.6], IMG: [0.5, 0.5]}, caption=IMG),
        charts.histogram_chart(IMG, [0, 1, 2], {"real": [0.5, 0.5], "synthetic": [0.4, 0.6]}),
        charts.line_chart(SCRIPT, [1, 2], {IMG: [1.0, 0.5]}, x_label=SCRIPT),
        charts.heatmap(IMG, [SCRIPT, IMG], [[1.0, None], [0.3, 1.0]]),
        charts.score_bars(SCRIPT, [IMG, SCRIPT], [0.9, 0.2], reference=[0.8, 0.5]),
    )
    section = Section(
        title=SCRIPT, text=f"{IMG}\n\n{SCRIPT}", figures=(figure,), charts=chart_list, tables=(table,)
    )
    return Report(
        stage="validate",
        title=SCRIPT,
        run_name=IMG,
        subtitle=SCRIPT,
        verdict=Figure(label=IMG, value=SCRIPT, note=IMG, tone="warn"),
        sections=(section,),
        audience=IMG,
    )


def plain_report(**overrides: object) -> Report:
    fields: dict[str, object] = {"stage": "train", "title": "Training", "run_name": "demo"}
    fields.update(overrides)
    return Report(**fields)  # type: ignore[arg-type]


def test_hostile_text_renders_without_live_markup() -> None:
    html = render_string(hostile_report(), NAV)
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    found = tags(html)
    assert not [
        tag for tag, _ in found if tag in {"script", "img", "iframe", "object", "embed", "foreignobject"}
    ]
    assert not [(tag, name) for tag, attrs in found for name in attrs if name.startswith("on")]
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_page_is_self_contained_and_script_free() -> None:
    html = render_string(hostile_report(), NAV)
    found = tags(html)
    metas = [attrs for tag, attrs in found if tag == "meta"]
    assert {"charset": "utf-8"} in metas
    assert any(m.get("name") == "viewport" for m in metas)
    assert {"http-equiv": "Content-Security-Policy", "content": CSP} in metas
    for tag, attrs in found:
        assert "src" not in attrs, tag
        if tag == "link":
            assert attrs.get("href") == "data:,"
        if tag == "a":
            # The nav, and the plain links of the page's references list (nothing is fetched).
            assert attrs.get("href") in {href for _, href in NAV} | {r.url for r in for_page("validate")}
    cited = html
    for reference in for_page("validate"):
        cited = cited.replace(f'href="{reference.url}"', "")
    assert "https://" not in cited
    assert "http://" not in cited.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_every_text_field_is_shown() -> None:
    report = Report(
        stage="attack",
        title="Can an attacker tell?",
        run_name="run-7",
        subtitle="Membership inference",
        verdict=Figure("Verdict", "Safe", "AUC 0.51", "good"),
        sections=(
            Section(
                "Results",
                text="First paragraph.\n\nSecond paragraph.",
                figures=(Figure("AUC", "0.51", "ideal 0.5", "good"),),
                tables=(Table(("column", "score"), (("age", "0.9"),), caption="Per column"),),
            ),
        ),
        audience="For the data owner.",
    )
    html = render_string(report)
    for text in (
        "synthpriv",
        "run-7",
        "Can an attacker tell?",
        "Membership inference",
        "For the data owner.",
        "Safe",
        "AUC 0.51",
        "Results",
        "<p>First paragraph.</p>",
        "<p>Second paragraph.</p>",
        "ideal 0.5",
        "Per column",
        "Stage 4 of 5",
    ):
        assert text in html, text
    assert 'class="verdict tone-good"' in html
    assert 'class="figure tone-good"' in html


def test_no_verdict_no_banner() -> None:
    assert 'class="verdict' not in render_string(plain_report())


def test_current_stage_is_highlighted_in_nav() -> None:
    html = render_string(plain_report(stage="validate"), NAV)
    current = [attrs for tag, attrs in tags(html) if tag == "a" and "aria-current" in attrs]
    assert current == [{"href": "../validate/report.html", "aria-current": "page"}]
    index = render_string(plain_report(stage="index"), NAV)
    assert [a["href"] for t, a in tags(index) if t == "a" and "aria-current" in a] == ["../index.html"]


def test_no_nav_renders_no_nav_bar() -> None:
    assert "<nav" not in render_string(plain_report())


def test_numeric_columns_are_right_aligned() -> None:
    table = Table(
        ("column", "score", "rows", "note"), (("age", "0.93", "1,234", "ok"), ("income", "n/a", "12k", "-"))
    )
    assert numeric_columns(table) == frozenset({1, 2})
    html = render_string(plain_report(sections=(Section("T", tables=(table,)),)))
    assert '<td class="num">0.93</td>' in html


def test_render_report_writes_exactly_one_file(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    render_report(hostile_report(), path, nav=NAV)
    assert os.listdir(tmp_path) == ["report.html"]
    assert path.read_text(encoding="utf-8") == render_string(hostile_report(), NAV)


def test_render_report_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text("old")
    render_report(plain_report(title="New"), path)
    assert os.listdir(tmp_path) == ["report.html"]
    assert "New" in path.read_text(encoding="utf-8")


def test_failed_render_leaves_nothing_behind(tmp_path: Path) -> None:
    bad = Chart(title="bad", svg='<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    path = tmp_path / "report.html"
    with pytest.raises(ValueError, match="not allowed"):
        render_report(plain_report(sections=(Section("S", charts=(bad,)),)), path)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "svg",
    [
        '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><div>x</div></foreignObject></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><text>x</text></a></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:red"/></svg>',
        "<svg><rect></svg>",
        "not svg at all <b>",
    ],
)
def test_untrusted_svg_is_refused(svg: str) -> None:
    with pytest.raises(ValueError):
        trusted_svg(Chart(title="x", svg=svg))


def test_every_chart_function_passes_the_svg_check() -> None:
    for chart in hostile_report().sections[0].charts:
        assert str(trusted_svg(chart)) == chart.svg


def test_environment_is_strict_and_autoescaping() -> None:
    assert ENV.undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError):
        ENV.from_string("{{ missing }}").render()
    with pytest.raises(jinja2.UndefinedError):
        ENV.from_string("{{ report.nope }}").render(report=plain_report())
    assert ENV.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"


def test_report_template_needs_every_variable() -> None:
    with pytest.raises(jinja2.UndefinedError):
        ENV.get_template("report.html.j2").render(report=plain_report(), nav=[])
