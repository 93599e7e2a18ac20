"""Copies headlined as copies (issue 19, point 6) and figures that say when they used a sample; the
synthesize page's missing values beside the real reference (issue 20, point 5)."""

from __future__ import annotations

import re

import pytest

from synthpriv.attacks.proxies import ProxyFigures
from synthpriv.attacks.summary import AttackSummary
from synthpriv.reports.headline import TableSizes, in_sample, privacy_headlines
from synthpriv.reports.pages.attack import attack_page
from synthpriv.reports.pages.synthesize import missing_chart
from synthpriv.reports.render import render_string
from tests.unit.reports.test_headline_membership import proxies


def figures(all_train: float, train: float, holdout: float) -> ProxyFigures:
    return ProxyFigures.model_validate(
        {
            **proxies(0.5, (0.47, 0.53)),
            "exact_match_all_train": all_train,
            "exact_match_train": train,
            "exact_match_holdout": holdout,
        }
    )


@pytest.mark.parametrize(
    ("shares", "tone"),
    [
        ((0.05, 0.05, 0.05), "bad"),  # common rows: the control repeats them as often, yet they are copies
        ((0.011, 0.0, 0.0), "bad"),
        ((0.009, 0.009, 0.0), "good"),
        ((0.0, 0.03, 0.0), "bad"),  # beyond the control in the matched sample
    ],
)
def test_the_copies_figure_has_one_colour_on_the_index_and_the_attack_page(
    shares: tuple[float, float, float], tone: str
) -> None:
    summary = AttackSummary.model_validate(figures(*shares).model_dump(mode="json"))
    headline = next(h for h in privacy_headlines(summary) if h.verdict_kind == "exact_match")
    assert headline.tone == tone and "every synthetic row against every training row" in headline.reference
    assert "red above 1 %" in headline.reference
    page_figures = [
        f for s in attack_page("run", summary).sections for f in s.figures if f.kind == "exact_match"
    ]
    assert [f.tone for f in page_figures] == [tone]
    html = render_string(attack_page("run", summary))
    assert re.search(r'data-legend-tone="bad"><b>red</b> above 1 %:', html)


def test_a_figure_on_a_sample_says_so() -> None:
    assert in_sample(1_000, 32_561, "training rows") == "; in a sample of 1,000 of 32,561 training rows"
    assert in_sample(500, 500, "synthetic rows") == "" and in_sample(500, None, "synthetic rows") == ""
    summary = AttackSummary.model_validate(figures(0.0, 0.0, 0.0).model_dump(mode="json"))
    closer = next(
        h
        for h in privacy_headlines(summary, TableSizes(train=2000, synthetic=5000))
        if h.verdict_kind == "closer_share"
    )
    assert "in a sample of 1,000 of 5,000 synthetic rows" in closer.reference


def test_missing_values_are_drawn_beside_the_real_share() -> None:
    chart = missing_chart(
        {"salary": 0.22, "city": 0.0, "age": 0.0}, {"salary": 0.08, "city": 0.0, "age": 0.0}
    )
    assert "real against synthetic" in chart.title and "salary" in chart.svg and "city" not in chart.svg
    alone = missing_chart({"salary": 0.22}, None)
    assert "were not recorded" in alone.caption
    assert "No column has a missing value" in missing_chart({"a": 0.0}, {"a": 0.0}).caption
