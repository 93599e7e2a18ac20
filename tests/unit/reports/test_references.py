"""Every page cites the papers and documentation behind its methods (issue 20, must-have 4)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from synthpriv.attacks.summary import AttackSummary
from synthpriv.reports import references
from synthpriv.reports.model import Report, Section
from synthpriv.reports.pages.attack import attack_page
from synthpriv.reports.render import render_string


@pytest.mark.parametrize("stage", ["index", "validate", "attack", "export"])
def test_each_page_lists_plain_https_links(stage: str) -> None:
    cited = references.for_page(stage)
    assert cited
    for reference in cited:
        parsed = urlparse(reference.url)
        assert parsed.scheme == "https" and parsed.netloc, reference
        assert reference.label and reference.used_for


def test_the_attack_page_cites_each_attack() -> None:
    html = render_string(attack_page("run", AttackSummary()))
    for url in ("arxiv.org/abs/2302.12580", "arxiv.org/abs/1705.07663", "arxiv.org/abs/2211.10459"):
        assert f'href="https://{url}"' in html  # DOMIAS, LOGAN, Anonymeter
    assert 'id="references"' in html


def test_a_page_with_its_own_references_keeps_them() -> None:
    own = references.JAGIELSKI
    html = render_string(Report(stage="attack", title="A", run_name="r", references=(own,)))
    assert own.url in html and references.DOMIAS.url not in html


def test_the_train_page_cites_the_generator_and_for_dp_its_mechanisms() -> None:
    assert references.for_training("vae", private=False) == (references.CTGAN,)
    dp_sgd = references.for_training(
        "vae", private=True, mechanisms=frozenset({"subsampled gaussian (DP-SGD)", "discrete laplace"})
    )
    assert {references.DPSGD, references.OPACUS, references.RDP, references.DISCRETE} <= set(dp_sgd)
    marginals = references.for_training("marginal", private=True, mechanisms=frozenset({"gaussian (zCDP)"}))
    assert references.AIM in marginals and references.ZCDP in marginals and references.OPACUS not in marginals


def test_sections_have_ids_from_their_anchor_or_title() -> None:
    html = render_string(
        Report(
            stage="attack",
            title="A",
            run_name="r",
            sections=(
                Section(title="Membership inference: the strongest attack"),
                Section(title="X", anchor="x"),
            ),
        )
    )
    assert 'id="membership-inference-the-strongest-attack"' in html and 'id="x"' in html
