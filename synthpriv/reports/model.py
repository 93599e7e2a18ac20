"""What a report is made of: typed, aggregate-only building blocks.

Stages build a `Report` from their summaries; `reports.render` turns it into one
self-contained HTML file. Nothing here may hold a real row: tables are aggregates
(scores, counts of at least k, bins), and charts are built from the same aggregates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from synthpriv.reports.verdicts import Tone

__all__ = ["Chart", "Figure", "Link", "Reference", "Report", "Section", "Table", "Tone", "slug"]


@dataclass(frozen=True)
class Figure:
    """One headline number: '0.87 quality' with what to compare it to."""

    label: str
    value: str
    note: str = ""  # e.g. "holdout reference 0.91" or "ideal 0.5"
    tone: Tone = "neutral"
    href: str = ""
    """A relative link to the report that explains the figure."""
    details: tuple[str, ...] = ()
    """Lines under the note (a verdict's reasons: one per failed gate)."""
    kind: str = ""
    """The `reports.verdicts.Kind` whose rule set the tone: the page's legend explains it."""


@dataclass(frozen=True)
class Link:
    """A card linking to another page of the run (the index's stage reports)."""

    label: str
    href: str
    note: str = ""
    tone: Tone = "neutral"
    kind: str = ""
    """The `reports.verdicts.Kind` whose rule set the tone."""


@dataclass(frozen=True)
class Table:
    """An aggregate table: column headers and rows of already formatted cells."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    kind: str = ""
    """The `reports.verdicts.Kind` of the passed / FAILED cells it colours (``gate``), if any."""
    sortable: bool = False
    """A reader can sort it by any column (a click on the header; no script: `sort_orders`)."""
    sorted_by: int = 0
    """The column ``rows`` are sorted by, the order the page opens with."""

    def sort_orders(self) -> list[tuple[int, ...]]:
        """For each column, the row indices in that column's order: numbers ascending (a share of
        "12.5%" or "1,234" as its number) where every filled cell reads as one, else text A to Z;
        empty cells ("", "–", "n/a") last. ``sorted_by`` keeps ``rows`` as given."""
        orders = []
        for column in range(len(self.headers)):
            if column == self.sorted_by:
                orders.append(tuple(range(len(self.rows))))
                continue
            cells = [row[column] if column < len(row) else "" for row in self.rows]
            orders.append(tuple(sorted(range(len(cells)), key=_sort_key(cells))))
        return orders


_EMPTY_CELLS = frozenset({"", "–", "-", "—", "n/a", "not available"})


def _number(cell: str) -> float | None:
    try:
        return float(cell.replace(",", "").replace("%", "").replace("\u2212", "-").strip())
    except ValueError:
        return None


def _sort_key(cells: list[str]):  # type: ignore[no-untyped-def]
    """A key over row indices: numeric when every filled cell is a number, else by text."""
    filled = [c for c in cells if c.strip() not in _EMPTY_CELLS]
    numeric = bool(filled) and all(_number(c) is not None for c in filled)

    def key(index: int) -> tuple[bool, float, str]:
        cell = cells[index]
        if cell.strip() in _EMPTY_CELLS:
            return (True, 0.0, "")
        return (False, _number(cell) or 0.0, "") if numeric else (False, 0.0, cell.casefold())

    return key


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart produced by `reports.charts` (our own markup, never data-derived HTML)."""

    title: str
    svg: str
    caption: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    text: str = ""  # plain text; escaped on render
    figures: tuple[Figure, ...] = ()
    charts: tuple[Chart, ...] = ()
    tables: tuple[Table, ...] = ()
    links: tuple[Link, ...] = ()
    anchor: str = ""
    """The section's id on its page (``attack/report.html#membership``); by default the title's
    `slug`. Figures on other pages link here ("How it is measured")."""

    @property
    def id(self) -> str:
        return self.anchor or slug(self.title)


@dataclass(frozen=True)
class Reference:
    """A paper or documentation page a method on the page comes from (a plain link)."""

    label: str
    """Who and what: "van Breugel et al. 2023, DOMIAS (AISTATS)"."""
    url: str
    used_for: str = ""
    """What on the page it backs: "the domias membership attack"."""


def slug(title: str) -> str:
    """``Membership inference: the strongest attack`` -> ``membership-inference-the-strongest-attack``."""
    return re.sub(r"[^a-z0-9]+", "-", title.casefold()).strip("-") or "section"


@dataclass(frozen=True)
class Report:
    """One stage's report (or the run's index)."""

    stage: str  # "train", "synthesize", "validate", "attack", "export" or "index"
    title: str
    run_name: str
    subtitle: str = ""
    verdict: Figure | None = None
    sections: tuple[Section, ...] = field(default=())
    audience: str = "For the data owner: aggregates of the real table, never its rows."
    references: tuple[Reference, ...] = ()
    """The papers and documentation behind the page's methods, listed at its end."""
