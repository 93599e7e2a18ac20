"""A small inline-SVG chart library: no JavaScript, no CDN, opens offline in any browser.

Each function returns a `Chart` whose ``svg`` is one complete ``<svg>`` element built
here. Every piece of text in it (titles, labels, category and column names, series names)
may be data-derived, so all of it goes through `_esc` (``html.escape(..., quote=True)``
after dropping characters XML cannot hold): the SVG is valid XML and can never carry live
markup. Charts draw the aggregates they are given; making those aggregates safe to show
is `data.redact`'s job, before they reach a summary.

All charts share one drawing width (`WIDTH`, scaled to the container by ``viewBox`` and
``width="100%"``), one font and one palette: "real", "synthetic" and "holdout" always get
the same colours, other series take colours from `PALETTE` in order.
"""

from __future__ import annotations

import html
import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import SupportsFloat

from synthpriv.data.redact import nice_step, truncate_label
from synthpriv.reports.model import Chart

REAL_COLOUR = "#5b6b7f"
SYNTHETIC_COLOUR = "#0f8b8d"
HOLDOUT_COLOUR = "#d8892b"
PALETTE = ("#6d5bd0", "#d0567a", "#3f8f3f", "#b5651d", "#2f6fb5", "#8a8f98")
REFERENCE_COLOUR = "#9aa5b1"
# Training rows are real rows: they share real's colour in every chart. "chance" is a
# reference line, drawn dashed and grey so that it never reads as one more result.
SERIES_COLOURS = {
    "real": REAL_COLOUR,
    "train": REAL_COLOUR,
    "synthetic": SYNTHETIC_COLOUR,
    "holdout": HOLDOUT_COLOUR,
    "chance": REFERENCE_COLOUR,
}
MISSING_COLOUR = "#d5d9df"

WIDTH = 520
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
TEXT_COLOUR = "#1f2933"
MUTED_COLOUR = "#616e7c"
GRID_COLOUR = "#e4e7eb"
AXIS_COLOUR = "#9aa5b1"
FONT_SIZE = 12
CHAR_WIDTH = 7.0  # average advance of the system sans at FONT_SIZE, for layout estimates
# Sequential ramp for heatmaps, light (vmin) to dark (vmax).
HEAT_RAMP = ("#f4f7f6", "#bfe3dc", "#5fb3ad", "#1f7f86", "#18475e")
#: A heatmap's colours by what its values mean, so that two heatmaps of opposite meaning never
#: share a ramp: ``agreement`` (dark teal = reproduced, 1 is ideal), ``difference`` (dark orange
#: = far apart, 0 is ideal) and ``association`` (a diverging ramp for a signed strength in
#: [-1, 1]: blue negative, white none, purple positive).
RAMPS: dict[str, tuple[str, ...]] = {
    "agreement": HEAT_RAMP,
    "difference": ("#fbf7f2", "#f6d9b4", "#eea95f", "#cf6f1f", "#7a3a0c"),
    "association": ("#2f6fb5", "#9cc0e6", "#f7f7f7", "#c5a6e0", "#6d3fa8"),
}

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
Formatter = Callable[[float], str]


# --- text and numbers -----------------------------------------------------------------


def _esc(text: object) -> str:
    """Text safe inside SVG/HTML content and double- or single-quoted attributes."""
    return html.escape(_XML_INVALID.sub("", str(text)), quote=True)


def _tip_name(label: object) -> str:
    """A label as shown in a hover tooltip: one line, longer than on the axis."""
    return truncate_label(label, 60)


def format_number(value: float) -> str:
    """Compact human form: 0.123, 12.5, 1.23k, 4.5M, "n/a" for NaN or inf."""
    if not math.isfinite(value):
        return "n/a"
    rounded = float(f"{value:.3g}")
    magnitude = abs(rounded)
    for divisor, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= divisor:
            return f"{rounded / divisor:.3g}{suffix}" if magnitude < 1e15 else f"{rounded:.3g}"
    return f"{rounded:.3g}"


def _formatter(value_format: str | None) -> Formatter:
    """``value_format.format`` that falls back to `format_number` when the format does not fit."""

    def apply(value: float) -> str:
        if not math.isfinite(value):
            return "n/a"
        if value_format is None:
            return format_number(value)
        try:
            return value_format.format(value)
        except (ValueError, TypeError, IndexError, KeyError):
            return format_number(value)

    return apply


def _tick_formatter(step: float) -> Formatter:
    """Tick labels with just enough decimals to tell neighbouring ticks apart."""

    def apply(value: float) -> str:
        if abs(value) >= 1e4:
            return format_number(value)
        exponent = math.floor(math.log10(step) + 1e-9) if step > 0 else 0
        mantissa = f"{step / 10.0**exponent:.2g}" if step > 0 else "1"
        decimals = max(0, -exponent) + (1 if mantissa == "2.5" and exponent <= 0 else 0)
        text = f"{value:.{min(decimals, 8)}f}"
        return "0" if float(text) == 0 else text

    return apply


def _as_float(value: object) -> float:
    """``value`` as a float (numpy scalars included), NaN when it is not a finite number."""
    if not isinstance(value, SupportsFloat | str):
        return math.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _finite(value: object) -> bool:
    return not math.isnan(_as_float(value))


# --- scales ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scale:
    """Linear map from a data domain to a pixel range."""

    lo: float
    hi: float
    start: float
    stop: float

    def __call__(self, value: float) -> float:
        if not self.hi > self.lo:
            return (self.start + self.stop) / 2
        clamped = min(max(value, self.lo), self.hi)
        return self.start + (clamped - self.lo) / (self.hi - self.lo) * (self.stop - self.start)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[lo, hi]`` (padded when lo == hi)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    # Beyond 1e300 the span (hi - lo) overflows; no axis needs that range.
    lo, hi = (min(max(v, -1e300), 1e300) for v in (min(lo, hi), max(lo, hi)))
    if hi == lo:
        pad = abs(lo) * 0.5 if abs(lo) > 1e-100 else 1.0
        lo, hi = lo - pad, hi + pad
    step = nice_step((hi - lo) / max(count - 1, 1))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    if not 0 < last - first <= 4 * count:
        return [lo, hi]  # a spread this far below the values' magnitude has no round ticks
    return [float(f"{i * step:.12g}") for i in range(first, last + 1)]


def _values_range(values: Iterable[float], *, include_zero: bool) -> tuple[float, float]:
    finite = [v for v in values if not math.isnan(v)]
    if include_zero:
        finite.append(0.0)
    return (min(finite), max(finite)) if finite else (0.0, 1.0)


# --- primitives -----------------------------------------------------------------------


def _attrs(**attributes: object) -> str:
    """SVG attributes; floats are rounded to whole drawing units.

    Whole units are crisp at the 1:1 scale charts are drawn for, keep files small, and mean
    the only decimals in a chart are its labels, never a coordinate that happens to read
    like a value from the data.
    """
    parts = []
    for name, value in attributes.items():
        if value is None:
            continue
        shown = f"{round(value)}" if isinstance(value, float) else value
        parts.append(f'{name.rstrip("_").replace("_", "-")}="{_esc(shown)}"')
    return " ".join(parts)


def _text(x: float, y: float, text: str, **attributes: object) -> str:
    return f"<text {_attrs(x=x, y=y, **attributes)}>{_esc(text)}</text>"


def _rect(
    x: float, y: float, width: float, height: float, fill: str, tip: str = "", **attributes: object
) -> str:
    shape = _attrs(x=x, y=y, width=max(width, 0.0), height=max(height, 0.0), fill=fill, **attributes)
    return f"<rect {shape}><title>{_esc(tip)}</title></rect>" if tip else f"<rect {shape}/>"


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, **attributes: object) -> str:
    return f"<line {_attrs(x1=x1, y1=y1, x2=x2, y2=y2, stroke=stroke, **attributes)}/>"


def _svg(title: str, caption: str, height: float, body: Sequence[str], width: float = WIDTH) -> str:
    header = _attrs(
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {math.ceil(width)} {math.ceil(height)}",
        width="100%",
        role="img",
        aria_label=title,
        font_family=FONT,
        font_size=FONT_SIZE,
        fill=TEXT_COLOUR,
        class_="sp-chart",
    )
    desc = f"<desc>{_esc(caption)}</desc>" if caption else ""
    return f"<svg {header}><title>{_esc(title)}</title>{desc}{''.join(body)}</svg>"


def _chart(title: str, caption: str, height: float, body: Sequence[str], width: float = WIDTH) -> Chart:
    return Chart(title=title, svg=_svg(title, caption, height, body, width), caption=caption)


def _empty(title: str, caption: str, message: str = "No data to show") -> Chart:
    body = [
        _rect(1, 1, WIDTH - 2, 78, "#f8f9fa", stroke=GRID_COLOUR, rx=6),
        _text(WIDTH / 2, 44, message, text_anchor="middle", fill=MUTED_COLOUR),
    ]
    return _chart(title, caption, 80, body)


def series_colours(names: Iterable[str]) -> dict[str, str]:
    """Colour per series: fixed for real/synthetic/holdout, `PALETTE` in order for the rest."""
    colours: dict[str, str] = {}
    others = 0
    for name in names:
        fixed = SERIES_COLOURS.get(str(name).strip().lower())
        colours[name] = fixed or PALETTE[others % len(PALETTE)]
        others += fixed is None
    return colours


def _legend(entries: Sequence[tuple[str, str, str]], y: float, x: float = 0.0) -> tuple[str, float]:
    """Swatches in a row that wraps; entry = (label, colour, "box" | "line" | "tick")."""
    parts, cursor, row = [], x, 0
    for label, colour, kind in entries:
        shown = truncate_label(label, 24)
        advance = 18 + len(shown) * CHAR_WIDTH + 18
        if cursor + advance > WIDTH and cursor > x:
            cursor, row = x, row + 1
        top = y + row * 20
        parts.append(_swatch(cursor, top, colour, kind))
        parts.append(_text(cursor + 18, top + 10, shown, fill=MUTED_COLOUR))
        cursor += advance
    return "".join(parts), (row + 1) * 20 if entries else 0.0


def _swatch(x: float, y: float, colour: str, kind: str) -> str:
    if kind == "line":
        return _line(x, y + 6, x + 13, y + 6, colour, stroke_width=3)
    if kind == "tick":
        return _line(x + 6, y, x + 6, y + 12, colour, stroke_width=3)
    return _rect(x, y + 1, 12, 10, colour, rx=2)


def _x_axis(scale: _Scale, ticks: Sequence[float], top: float, bottom: float, fmt: Formatter) -> str:
    parts = []
    for tick in ticks:
        x = scale(tick)
        parts.append(_line(x, top, x, bottom, GRID_COLOUR))
        parts.append(_text(x, bottom + 16, fmt(tick), text_anchor="middle", fill=MUTED_COLOUR, font_size=12))
    return "".join(parts)


def _y_axis(scale: _Scale, ticks: Sequence[float], left: float, right: float, fmt: Formatter) -> str:
    parts = []
    for tick in ticks:
        y = scale(tick)
        parts.append(_line(left, y, right, y, GRID_COLOUR))
        parts.append(_text(left - 6, y + 4, fmt(tick), text_anchor="end", fill=MUTED_COLOUR, font_size=12))
    return "".join(parts)


def _axis_room(labels: Sequence[str]) -> float:
    """Width left of a plot for its y tick labels (drawn at 11px, right-aligned 6px from the axis)."""
    return max(len(label) for label in labels) * CHAR_WIDTH * 11 / 12 + 14 if labels else 14.0


def _clean_series(series: dict[str, list[float]], length: int) -> dict[str, list[float]]:
    """Each series cut or padded to ``length``, with NaN for anything not a finite number."""
    cleaned = {}
    for name, values in series.items():
        padded = list(values)[:length] + [math.nan] * max(0, length - len(values))
        cleaned[str(name)] = [_as_float(v) for v in padded]
    return cleaned


# --- bar chart ------------------------------------------------------------------------


def bar_chart(
    title: str,
    categories: list[str],
    series: dict[str, list[float]],
    *,
    caption: str = "",
    value_format: str = "{:.0%}",
) -> Chart:
    """Grouped horizontal bars: one group per category, one bar per series (e.g. real vs synthetic shares).

    Labels are cut at 24 characters; the chart grows taller with the number of categories
    (up to ~40 stay readable). Values are printed at the bar ends while there are few bars.
    NaN and infinite values draw no bar.
    """
    names = [str(c) for c in categories]
    data = _clean_series(series, len(names))
    if not names or not data or all(math.isnan(v) for vs in data.values() for v in vs):
        return _empty(title, caption)
    colours = series_colours(data)
    legend, legend_height = _legend([(name, colours[name], "box") for name in data], 0)
    fmt = _formatter(value_format)
    bars = len(names) * len(data)
    bar_height = 14.0 if bars <= 16 else 10.0 if bars <= 48 else 7.0
    group_height = bar_height * len(data) + max(6.0, bar_height * 0.8)
    show_values = bars <= 40
    ticks = nice_ticks(*_values_range((v for vs in data.values() for v in vs), include_zero=True), count=6)
    label_right = min(max(len(truncate_label(n, 24)) for n in names), 24) * CHAR_WIDTH + 6
    # Values printed left of negative bars need room between the labels and the plot.
    left = label_right + (8 + _axis_room([fmt(ticks[0])]) if show_values and ticks[0] < 0 else 8)
    right = 44.0 if show_values else 20.0
    top = legend_height + 10
    bottom = top + group_height * len(names)
    scale = _Scale(ticks[0], ticks[-1], left, WIDTH - right)
    body = [legend, _x_axis(scale, ticks, top, bottom, fmt)]
    for index, name in enumerate(names):
        row = {series_name: values[index] for series_name, values in data.items()}
        group_top = top + index * group_height
        body.append(
            _text(
                label_right,
                group_top + bar_height * len(row) / 2 + 4,
                truncate_label(name, 24),
                text_anchor="end",
            )
        )
        body.append(_bar_group(name, row, colours, scale, group_top, bar_height, fmt, show_values))
    body.append(_line(scale(0.0), top, scale(0.0), bottom, AXIS_COLOUR))
    return _chart(title, caption, bottom + 26, body)


def _bar_group(
    category: str,
    row: dict[str, float],
    colours: dict[str, str],
    scale: _Scale,
    top: float,
    bar_height: float,
    fmt: Formatter,
    show_values: bool,
) -> str:
    parts = []
    for offset, (name, value) in enumerate(row.items()):
        if math.isnan(value):
            continue
        y = top + offset * bar_height
        x0, x1 = sorted((scale(0.0), scale(value)))
        tip = f"{_tip_name(category)} · {name}: {fmt(value)}"
        parts.append(_rect(x0, y, max(x1 - x0, 1.0), bar_height - 1, colours[name], tip))
        if show_values:
            end = x1 + 4 if value >= 0 else x0 - 4
            anchor = "start" if value >= 0 else "end"
            parts.append(
                _text(
                    end,
                    y + bar_height / 2 + 3.5,
                    fmt(value),
                    text_anchor=anchor,
                    fill=MUTED_COLOUR,
                    font_size=10,
                )
            )
    return "".join(parts)


# --- histogram ------------------------------------------------------------------------


def histogram_chart(
    title: str,
    bin_edges: list[float],
    series: dict[str, list[float]],
    *,
    caption: str = "",
    value_format: str | None = "{:.0%}",
) -> Chart:
    """Overlaid per-bin values (e.g. real and synthetic shares) on one shared x axis.

    The "real" series (else the first) is drawn as filled bars, every other series as a
    step outline over them, so both stay readable where they overlap. Bins may have unequal
    widths (as `redact.safe_histogram` returns). Edges must be finite and increasing, or
    the chart says there is no data; NaN and infinite bin values leave a gap.
    """
    edges = [_as_float(e) for e in bin_edges if _finite(e)]
    valid = len(edges) == len(bin_edges) >= 2 and all(b > a for a, b in itertools.pairwise(edges))
    data = _clean_series(series, len(edges) - 1) if valid else {}
    if not data or all(math.isnan(v) for vs in data.values() for v in vs):
        return _empty(title, caption)
    colours = series_colours(data)
    primary = next((name for name in data if name.strip().lower() == "real"), next(iter(data)))
    entries = [(name, colours[name], "box" if name == primary else "line") for name in data]
    legend, legend_height = _legend(entries, 0)
    y_ticks = nice_ticks(*_values_range((v for vs in data.values() for v in vs), include_zero=True), count=5)
    y_fmt = _formatter(value_format) if value_format else _tick_formatter(y_ticks[1] - y_ticks[0])
    left, right = _axis_room([y_fmt(t) for t in y_ticks]), WIDTH - 16.0
    top, bottom = legend_height + 12, legend_height + 212
    y_scale = _Scale(y_ticks[0], y_ticks[-1], bottom, top)
    x_scale = _Scale(edges[0], edges[-1], left, right)
    x_ticks = [t for t in nice_ticks(edges[0], edges[-1], count=6) if edges[0] <= t <= edges[-1]]
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else edges[-1] - edges[0]
    body = [
        legend,
        _y_axis(y_scale, y_ticks, left, right, y_fmt),
        _histogram_bars(edges, data[primary], x_scale, y_scale, colours[primary], primary, y_fmt),
        *(
            _step_outline(edges, values, x_scale, y_scale, colours[name])
            for name, values in data.items()
            if name != primary
        ),
        _line(left, y_scale(0.0), right, y_scale(0.0), AXIS_COLOUR),
        *(
            _text(
                x_scale(t),
                bottom + 16,
                _tick_formatter(x_step)(t),
                text_anchor="middle",
                fill=MUTED_COLOUR,
                font_size=12,
            )
            for t in x_ticks
        ),
        *(_line(x_scale(t), bottom, x_scale(t), bottom + 4, AXIS_COLOUR) for t in x_ticks),
    ]
    return _chart(title, caption, bottom + 26, body)


def _histogram_bars(
    edges: list[float],
    values: list[float],
    x_scale: _Scale,
    y_scale: _Scale,
    colour: str,
    name: str,
    fmt: Formatter,
) -> str:
    parts = []
    for lo, hi, value in zip(edges, edges[1:], values, strict=False):
        if math.isnan(value):
            continue
        x0, x1 = round(x_scale(lo)), round(x_scale(hi))
        y0, y1 = sorted((y_scale(0.0), y_scale(value)))
        tip = f"{name}: {format_number(lo)} to {format_number(hi)}: {fmt(value)}"
        parts.append(_rect(x0, y0, max(x1 - x0 - 1, 1), y1 - y0, colour, tip, fill_opacity="0.8"))
    return "".join(parts)


def _step_outline(
    edges: list[float], values: list[float], x_scale: _Scale, y_scale: _Scale, colour: str
) -> str:
    """One path tracing the top of each bin; NaN bins break it."""
    commands: list[str] = []
    previous_y: float | None = None
    for lo, hi, value in zip(edges, edges[1:], values, strict=False):
        if math.isnan(value):
            previous_y = None
            continue
        y = y_scale(value)
        if previous_y is None:
            commands.append(f"M{x_scale(lo):.0f} {y:.0f}")
        else:
            commands.append(f"V{y:.0f}")
        commands.append(f"H{x_scale(hi):.0f}")
        previous_y = y
    path = _attrs(d=" ".join(commands), fill="none", stroke=colour, stroke_width=2, stroke_linejoin="round")
    return f"<path {path}/>"


# --- line chart -----------------------------------------------------------------------


def line_chart(
    title: str,
    x: list[float],
    series: dict[str, list[float]],
    *,
    x_label: str = "",
    y_label: str = "",
    caption: str = "",
) -> Chart:
    """One line per series over shared x values (e.g. loss per epoch); negative values are fine.

    NaN and infinite points break a line; points are marked while there are few of them,
    and a lone point (a single epoch) is always marked.
    """
    xs = [_as_float(v) for v in x]
    data = _clean_series(series, len(xs))
    points = [(xv, yv) for values in data.values() for xv, yv in zip(xs, values, strict=False)]
    points = [(xv, yv) for xv, yv in points if not (math.isnan(xv) or math.isnan(yv))]
    if not points:
        return _empty(title, caption)
    colours = series_colours(data)
    legend, legend_height = _legend([(name, colours[name], "line") for name in data], 0)
    x_ticks = nice_ticks(min(p[0] for p in points), max(p[0] for p in points), count=7)
    y_ticks = nice_ticks(min(p[1] for p in points), max(p[1] for p in points), count=6)
    x_fmt, y_fmt = _tick_formatter(x_ticks[1] - x_ticks[0]), _tick_formatter(y_ticks[1] - y_ticks[0])
    left = _axis_room([y_fmt(t) for t in y_ticks]) + (18.0 if y_label else 0.0)
    top, bottom, right = legend_height + 12, legend_height + 222, WIDTH - 20.0
    x_scale = _Scale(x_ticks[0], x_ticks[-1], left, right)
    y_scale = _Scale(y_ticks[0], y_ticks[-1], bottom, top)
    body = [
        legend,
        _y_axis(y_scale, y_ticks, left, right, y_fmt),
        _x_axis(x_scale, x_ticks, top, bottom, x_fmt),
        _line(left, bottom, right, bottom, AXIS_COLOUR),
    ]
    if y_ticks[0] < 0 < y_ticks[-1]:
        body.append(_line(left, y_scale(0.0), right, y_scale(0.0), AXIS_COLOUR, stroke_dasharray="3 3"))
    marks = len(xs) <= 24
    body += [
        _series_path(xs, values, x_scale, y_scale, colours[name], name, marks)
        for name, values in data.items()
    ]
    body += _axis_labels(x_label, y_label, left, right, top, bottom)
    return _chart(title, caption, bottom + 24 + (16 if x_label else 0), body)


def _axis_labels(
    x_label: str, y_label: str, left: float, right: float, top: float, bottom: float
) -> list[str]:
    """The x axis's label centred under the plot, the y axis's turned up along its left side."""
    labels = []
    if x_label:
        label = truncate_label(x_label, 60)
        labels.append(_text((left + right) / 2, bottom + 36, label, text_anchor="middle", fill=MUTED_COLOUR))
    if y_label:
        mid = (top + bottom) / 2
        label = truncate_label(y_label, 40)
        rotate = f"rotate(-90 14 {mid:.0f})"
        labels.append(_text(14, mid, label, text_anchor="middle", fill=MUTED_COLOUR, transform=rotate))
    return labels


def _series_path(
    xs: list[float],
    ys: list[float],
    x_scale: _Scale,
    y_scale: _Scale,
    colour: str,
    name: str,
    marks: bool,
) -> str:
    segments: list[list[tuple[float, float, float, float]]] = [[]]
    for xv, yv in zip(xs, ys, strict=False):
        if math.isnan(xv) or math.isnan(yv):
            segments.append([])
        else:
            segments[-1].append((x_scale(xv), y_scale(yv), xv, yv))
    segments = [segment for segment in segments if segment]
    d = " ".join("M" + " L".join(f"{px:.0f} {py:.0f}" for px, py, _, _ in segment) for segment in segments)
    if name.strip().lower() == "chance":
        return f"<path {_attrs(d=d, fill='none', stroke=colour, stroke_width=1.5, stroke_dasharray='5 4')}/>"
    parts = [f"<path {_attrs(d=d, fill='none', stroke=colour, stroke_width=2, stroke_linejoin='round')}/>"]
    for segment in segments:
        if marks or len(segment) == 1:
            for px, py, xv, yv in segment:
                tip = f"{name}: {format_number(xv)}, {format_number(yv)}"
                circle = _attrs(cx=px, cy=py, r=3.0, fill=colour, stroke="#ffffff", stroke_width=1)
                parts.append(f"<circle {circle}><title>{_esc(tip)}</title></circle>")
    return "".join(parts)


# --- heatmap --------------------------------------------------------------------------


def heatmap(
    title: str,
    labels: list[str],
    matrix: list[list[float | None]],
    *,
    vmin: float = 0,
    vmax: float = 1,
    caption: str = "",
    ramp: str = "agreement",
    self_pairs: bool = False,
) -> Chart:
    """A square grid of scores between ``labels`` (e.g. pairwise column similarity).

    Colours run along ``RAMPS[ramp]`` from ``vmin`` to ``vmax`` (values beyond are clamped);
    missing, NaN or infinite cells are grey. The diagonal (a column with itself) is left blank
    unless ``self_pairs``: it says nothing about a pair, and its 1 or 0 would dominate the
    colours. Row labels are cut at 18 characters, column labels too and rotated; cells print
    their value while they are large enough.
    """
    names = [truncate_label(label, 18) for label in labels]
    n = len(names)
    colours = RAMPS.get(ramp, HEAT_RAMP)
    cells = [[_cell(matrix, i, j) for j in range(n)] for i in range(n)]
    if n == 0:
        return _empty(title, caption)
    lo, hi = (float(vmin), float(vmax)) if _finite(vmin) and _finite(vmax) and vmax > vmin else (0.0, 1.0)
    label_width = math.ceil(max(len(name) for name in names) * CHAR_WIDTH + 10)
    size = max(6, min(52, (WIDTH - label_width - 12) // n))
    left, top = label_width, 8
    shown = [[v if self_pairs or i != j else _SELF for j, v in enumerate(row)] for i, row in enumerate(cells)]
    grid = _heat_grid(labels, shown, (left, top, size), (lo, hi), colours)
    row_labels = [
        _text(
            left - 6,
            top + (i + 0.5) * size + 4,
            name,
            text_anchor="end",
            font_size=min(12, round(size * 0.9)),
        )
        for i, name in enumerate(names)
    ]
    bottom = top + n * size
    column_labels = [
        _column_label(left + (j + 0.5) * size, bottom + 6, name, size) for j, name in enumerate(names)
    ]
    label_drop = max(len(name) for name in names) * CHAR_WIDTH * 0.72 + 18
    has_missing = any(v is None for row in shown for v in row)
    legend, legend_height = _heat_legend((lo, hi), left, bottom + label_drop, has_missing, colours)
    # Past ~60 columns the grid is wider than WIDTH; widen the drawing and let it scale down.
    width = max(WIDTH, left + n * size + 12)
    body = [*grid, *row_labels, *column_labels, legend]
    return _chart(title, caption, bottom + label_drop + legend_height, body, width)


#: A self-pair cell that is not drawn (`heatmap` without ``self_pairs``).
_SELF = math.inf


def _heat_grid(
    labels: list[str],
    cells: list[list[float | None]],
    place: tuple[int, int, int],
    bounds: tuple[float, float],
    colours: tuple[str, ...],
) -> list[str]:
    """The heatmap's cells at (left, top) in squares of ``size``; `_SELF` cells are left out."""
    left, top, size = place
    return [
        _heat_cell(
            left + j * size,
            top + i * size,
            size,
            value,
            bounds,
            f"{_tip_name(labels[i])} × {_tip_name(labels[j])}",
            colours,
        )
        for i, row in enumerate(cells)
        for j, value in enumerate(row)
        if value != _SELF
    ]


def _cell(matrix: list[list[float | None]], i: int, j: int) -> float | None:
    if i >= len(matrix) or j >= len(matrix[i]):
        return None
    value = _as_float(matrix[i][j])
    return None if math.isnan(value) else value


def _heat_cell(
    x: int,
    y: int,
    size: int,
    value: float | None,
    bounds: tuple[float, float],
    where: str,
    colours: tuple[str, ...] = HEAT_RAMP,
) -> str:
    if value is None:
        return _rect(x, y, size - 1, size - 1, MISSING_COLOUR, f"{where}: not available")
    lo, hi = bounds
    position = (min(max(value, lo), hi) - lo) / (hi - lo)
    fill = _ramp(position, colours)
    cell = _rect(x, y, size - 1, size - 1, fill, f"{where}: {format_number(value)}")
    if size < 30:
        return cell
    ink = "#ffffff" if _dark(fill) else TEXT_COLOUR
    label = _text(
        x + (size - 1) / 2, y + size / 2 + 3.5, f"{value:.2f}", text_anchor="middle", fill=ink, font_size=10
    )
    return cell + label


def _column_label(x: float, y: float, name: str, size: int) -> str:
    transform = f"rotate(-45 {x:.0f} {y:.0f})"
    return _text(x, y + 4, name, text_anchor="end", transform=transform, font_size=min(12, round(size * 0.9)))


def _heat_legend(
    bounds: tuple[float, float], x: float, y: float, has_missing: bool, colours: tuple[str, ...] = HEAT_RAMP
) -> tuple[str, float]:
    lo, hi = bounds
    steps, width = 10, min(24.0, (WIDTH - x - 110) / 10)
    parts = [_rect(x + i * width, y, width, 10, _ramp((i + 0.5) / steps, colours)) for i in range(steps)]
    parts.append(_text(x, y + 24, format_number(lo), fill=MUTED_COLOUR, font_size=12))
    parts.append(
        _text(
            x + steps * width, y + 24, format_number(hi), text_anchor="end", fill=MUTED_COLOUR, font_size=12
        )
    )
    if has_missing:
        gap = x + steps * width + 24
        parts.append(_rect(gap, y, 12, 10, MISSING_COLOUR, rx=2))
        parts.append(_text(gap + 18, y + 9, "not available", fill=MUTED_COLOUR, font_size=12))
    return "".join(parts), 34.0


def _ramp(position: float, colours: tuple[str, ...] = HEAT_RAMP) -> str:
    """Colour at ``position`` in [0, 1] along ``colours``, interpolated in sRGB."""
    scaled = min(max(position, 0.0), 1.0) * (len(colours) - 1)
    index = min(int(scaled), len(colours) - 2)
    a, b = _rgb(colours[index]), _rgb(colours[index + 1])
    t = scaled - index
    return "#" + "".join(f"{round(ca + (cb - ca) * t):02x}" for ca, cb in zip(a, b, strict=True))


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _dark(colour: str) -> bool:
    """Whether white text reads better than dark text on ``colour`` (relative luminance below 0.4)."""
    red, green, blue = (channel / 255 for channel in _rgb(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.4


# --- score bars -----------------------------------------------------------------------


def score_bars(
    title: str,
    labels: list[str],
    values: list[float],
    *,
    reference: list[float] | None = None,
    caption: str = "",
    value_label: str = "score",
    reference_label: str = "reference",
    fit: bool = False,
) -> Chart:
    """Horizontal bars of scores in [0, 1] (e.g. quality per column), each with an optional reference tick.

    Values outside the axis are clamped for drawing but printed as given; NaN and infinite
    scores show "not available" and no bar, and a missing reference draws no tick. ``value_label``
    and ``reference_label`` name the bars and ticks in the legend. The axis runs from 0 to 1,
    or with ``fit`` to a round number just above the largest value or reference (a share of
    a few percent, an importance of 0.09), so that small values are not drawn as slivers.
    """
    names = [str(label) for label in labels]
    if not names:
        return _empty(title, caption)
    scores = _clean_series({"score": values}, len(names))["score"]
    refs = _clean_series({"reference": reference}, len(names))["reference"] if reference is not None else None
    entries = [(value_label, SYNTHETIC_COLOUR, "box")]
    if refs is not None:
        entries.append((reference_label, HOLDOUT_COLOUR, "tick"))
    legend, legend_height = _legend(entries, 0)
    row_height = 22.0 if len(names) <= 30 else 16.0
    left = min(max(len(truncate_label(n, 28)) for n in names), 28) * CHAR_WIDTH + 14
    top = legend_height + 8
    bottom = top + row_height * len(names)
    ticks = _score_ticks(scores, refs) if fit else [0.0, 0.25, 0.5, 0.75, 1.0]
    scale = _Scale(0.0, ticks[-1], left, WIDTH - 48)
    body = [legend, _x_axis(scale, ticks, top, bottom, _tick_formatter(ticks[1] - ticks[0]))]
    for index, name in enumerate(names):
        ref = refs[index] if refs is not None else None
        body.append(_score_row(name, scores[index], ref, scale, top + index * row_height, row_height))
    return _chart(title, caption, bottom + 26, body)


def _score_ticks(scores: list[float], refs: list[float] | None) -> list[float]:
    """Round ticks from 0 to just above the largest finite value (0 to 1 when there is none)."""
    finite = [v for v in [*scores, *(refs or [])] if not math.isnan(v)]
    top = max(finite, default=0.0)
    if top <= 0:
        return [0.0, 0.25, 0.5, 0.75, 1.0]
    ticks = [t for t in nice_ticks(0.0, top, count=5) if t >= 0]
    return ticks if len(ticks) >= 2 and ticks[-1] >= top else [0.0, top]


def _score_row(
    name: str, value: float, reference: float | None, scale: _Scale, top: float, row_height: float
) -> str:
    bar_height = row_height - 8
    y = top + 4
    parts = [
        _text(scale.start - 8, y + bar_height / 2 + 4, truncate_label(name, 28), text_anchor="end"),
        _rect(scale.start, y, scale.stop - scale.start, bar_height, "#eef1f4", rx=2),
    ]
    if not math.isnan(value):
        tip = f"{_tip_name(name)}: {_score_text(value, scale.hi)}" + (
            f" (reference {_score_text(reference, scale.hi)})"
            if reference is not None and _finite(reference)
            else ""
        )
        parts.append(
            _rect(scale.start, y, scale(value) - scale.start, bar_height, SYNTHETIC_COLOUR, tip, rx=2)
        )
    shown = _score_text(value, scale.hi) if not math.isnan(value) else "not available"
    parts.append(_text(scale.stop + 8, y + bar_height / 2 + 4, shown, fill=MUTED_COLOUR, font_size=12))
    if reference is not None and not math.isnan(reference):
        x = scale(reference)
        parts.append(
            _line(x, y - 3, x, y + bar_height + 3, HOLDOUT_COLOUR, stroke_width=3, stroke_linecap="round")
        )
    return "".join(parts)


def _score_text(value: float, axis_top: float) -> str:
    """A bar's value with enough decimals for its axis (0.09 on a 0-0.1 axis reads 0.090), never -0.00."""
    decimals = 2 if axis_top >= 0.5 else 3
    text = f"{value:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text
