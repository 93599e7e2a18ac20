"""An attack's own sections on the attack page are looked up by the type of its result (issue 16, must-have 7).

Attacks import nothing of reports: the page finds a renderer for each result's type (or the
nearest registered base type), and a result type without one gets the generic rows only.
"""

from __future__ import annotations

import pytest

from synthpriv.attacks.summary import AttackSummary
from synthpriv.config.base import StrictModel
from synthpriv.reports.model import Section
from synthpriv.reports.pages.attack_sections import (
    register_sections,
    result_sections,
    unregister_sections,
)


class BaseFigures(StrictModel):
    level: float


class SharperFigures(BaseFigures):
    pass


def render(result: BaseFigures, summary: AttackSummary) -> tuple[Section, ...]:
    return (Section(title=f"level {result.level}", text=f"{summary.holdout_rows_dropped} dropped"),)


def test_a_result_type_is_rendered_by_its_renderer_or_its_nearest_base_types() -> None:
    summary = AttackSummary(holdout_rows_dropped=3)
    assert result_sections(SharperFigures(level=0.5), summary) == ()
    register_sections(BaseFigures, render)
    try:
        assert [s.title for s in result_sections(SharperFigures(level=0.5), summary)] == ["level 0.5"]
        assert result_sections(BaseFigures(level=0.25), summary)[0].text == "3 dropped"
        with pytest.raises(ValueError, match="BaseFigures already has sections"):
            register_sections(BaseFigures, render)
    finally:
        unregister_sections(BaseFigures)
    assert result_sections(BaseFigures(level=0.25), summary) == ()
