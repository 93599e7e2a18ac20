"""Turn a `Report` into one self-contained HTML file: inline CSS and SVG, no script, no assets.

Everything in a report may carry data-derived text (column names, category labels, run
names), so the Jinja environment autoescapes everything. The one exception is chart SVG,
which `reports.charts` builds with its text already escaped; it is still checked here
(`trusted_svg`) to be plain drawing markup before it is marked safe. The page's
Content-Security-Policy forbids scripts anyway, as a second line of defence.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from synthpriv.reports.model import Chart, Report, Table
from synthpriv.reports.references import for_page
from synthpriv.reports.verdicts import COLOUR, KindLegend, legend_for
from synthpriv.runtime.files import atomic_write_text

PRODUCT = "synthpriv"
TEMPLATE = "report.html.j2"
NavLinks = list[tuple[str, str]]

_SVG_NS = "{http://www.w3.org/2000/svg}"
_SVG_TAGS = frozenset(
    {"svg", "g", "rect", "line", "polyline", "polygon", "path", "circle", "text", "tspan", "title", "desc"}
)
# "0.93", "-1,234", "12.5%", "4.2k", "1e-05", "$3", and the usual placeholders for no value.
_NUMERIC_CELL = re.compile(
    r"^\s*[-+\u2212]?[$€£]?\d[\d,_ ]*(\.\d+)?\s*(%|[kMBT]|e[-+]?\d+)?\s*$|^\s*(n/a|\u2014|-)\s*$"
)


def trusted_svg(chart: Chart) -> Markup:
    """The chart's SVG marked safe, after checking it is only drawing markup.

    Raises ``ValueError`` if it is not well-formed XML, has an element outside the
    drawing set (script, foreignObject, image, a, ...), an event-handler attribute or a
    link: a chart built by `reports.charts` never has any of these.
    """
    try:
        root = ET.fromstring(chart.svg)
    except ET.ParseError as error:
        raise ValueError(f"chart {chart.title!r}: SVG is not well-formed ({error})") from None
    for element in root.iter():
        tag = element.tag.removeprefix(_SVG_NS)
        if tag not in _SVG_TAGS:
            raise ValueError(f"chart {chart.title!r}: element <{tag}> is not allowed in a report chart")
        for name in element.attrib:
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on") or local in {"href", "style"}:
                raise ValueError(f"chart {chart.title!r}: attribute {local!r} is not allowed in a chart")
    return Markup(chart.svg)


def numeric_columns(table: Table) -> frozenset[int]:
    """Indices of the columns whose every cell reads as a number (right-aligned on render)."""
    if not table.rows:
        return frozenset()
    width = len(table.headers)
    return frozenset(
        index
        for index in range(width)
        if all(index < len(row) and _NUMERIC_CELL.match(row[index]) for row in table.rows)
        and any(index < len(row) and any(ch.isdigit() for ch in row[index]) for row in table.rows)
    )


ENV = Environment(
    loader=PackageLoader("synthpriv", "reports/templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
ENV.filters["trusted_svg"] = trusted_svg
ENV.filters["numeric_columns"] = numeric_columns


def page_kinds(report: Report) -> list[str]:
    """The verdict-table kinds of every coloured thing on the page, in page order."""
    kinds = [report.verdict.kind] if report.verdict is not None else []
    for section in report.sections:
        kinds += [f.kind for f in section.figures] + [link.kind for link in section.links]
        kinds += [t.kind for t in section.tables]
    return [k for k in kinds if k]


def page_legend(report: Report) -> tuple[KindLegend, ...]:
    """What the page's colours mean: the verdict table's legend for the kinds the page shows."""
    return legend_for(page_kinds(report))


def render_string(report: Report, nav: NavLinks | None = None) -> str:
    """The report's HTML page; ``nav`` links as in `render_report`."""
    template = ENV.get_template(TEMPLATE)
    if not report.references:
        report = replace(report, references=for_page(report.stage))
    return template.render(
        report=report,
        nav=_nav_items(report, nav or []),
        product=PRODUCT,
        legend=page_legend(report),
        colour=COLOUR,
    )


def render_report(report: Report, path: Path, *, nav: NavLinks | None = None) -> None:
    """Write ``report`` to ``path`` as one self-contained HTML file, atomically.

    ``nav`` is a list of (label, relative href) links for the header (the run index and
    the five stage reports); the link whose file stem or label equals ``report.stage`` is
    marked as the current page. The page is rendered fully before anything is written, so
    a failure leaves any previous file in place.
    """
    atomic_write_text(Path(path), render_string(report, nav))


def _nav_items(report: Report, nav: NavLinks) -> list[dict[str, object]]:
    stage = report.stage.casefold()
    return [
        {
            "label": label,
            "href": href,
            "current": Path(href.split("#", 1)[0].split("?", 1)[0]).stem.casefold() == stage
            or label.casefold() == stage,
        }
        for label, href in nav
    ]
