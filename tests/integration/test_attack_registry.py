"""The attack registry drives the attack stage, its gates, its page and `synthpriv check` (issue 16, must-have 4).

A tiny attack defined here and added with `register` (no other module edited) runs in the
stage, lands in ``summary.json`` under its name, in ``attack_scores.parquet`` and on the page
(the generic scores table), takes its settings from ``attack.settings.<name>`` in the pipeline
file, and feeds the gate it declares. A section of its own is a renderer the report package
keys by its result type (attacks import nothing of reports). The older flat
keys of the ``attack:`` section keep working; wrong per-attack settings are one line, exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pydantic import Field
from typer.testing import CliRunner

from synthpriv.attacks.base import Attack, AttackInputs, Score
from synthpriv.attacks.registry import get_attack, names, register, unregister
from synthpriv.attacks.summary import AttackSummary
from synthpriv.cli import app
from synthpriv.config.base import StrictModel
from synthpriv.config.model import AttackConfig
from synthpriv.data.io import builtin_table_path
from synthpriv.evaluate import Evaluation
from synthpriv.reports.model import Section
from synthpriv.reports.pages.attack import attack_page
from synthpriv.reports.pages.attack_sections import register_sections, unregister_sections
from tests.conftest import one_line_error

runner = CliRunner()


class FakeSettings(StrictModel):
    level: float = Field(default=0.5, ge=0, le=1)


class FakeResult(StrictModel):
    level: float
    rows: int


class FakeAttack(Attack[FakeSettings, FakeResult]):
    """Reports the level it is set to, and how many synthetic rows it saw."""

    name = "fake_leak"
    title = "fake leak"
    kind = "proxy"
    settings_model = FakeSettings
    result_model = FakeResult
    gates = ("max_membership_auc",)

    def run(self, inputs: AttackInputs, settings: FakeSettings) -> FakeResult:
        return FakeResult(level=settings.level, rows=len(inputs.synthetic))

    def scores(self, result: FakeResult) -> list[Score]:
        return [
            Score(
                attack=self.name,
                label="fake leak figure",
                measure="share",
                value=result.level,
                ci_low=result.level - 0.01,
                ci_high=result.level + 0.01,
                control=0.5,
            )
        ]

    def gate_values(self, result: FakeResult) -> dict[str, float]:
        return {"max_membership_auc": result.level}


def fake_sections(result: FakeResult, summary: AttackSummary) -> tuple[Section, ...]:
    return (Section(title="The fake attack's own section", text=f"It saw {result.rows} rows."),)


@pytest.fixture
def fake() -> Iterator[FakeAttack]:
    attack = FakeAttack()
    register(attack)
    try:
        yield attack
    finally:
        unregister(attack.name)
    assert attack.name not in names()


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("registry_parts")
    table = pd.read_csv(builtin_table_path("student_placements")).sample(frac=1.0, random_state=1)
    half, three_quarters = len(table) // 2, 3 * len(table) // 4
    table.iloc[:half].to_parquet(folder / "train.parquet")
    table.iloc[half:three_quarters].to_parquet(folder / "holdout.parquet")
    table.iloc[three_quarters:].to_parquet(folder / "third.parquet")
    return folder


def test_a_registered_attack_runs_in_the_stage_its_gate_and_its_page(
    fake: FakeAttack, parts: Path, tmp_path: Path
) -> None:
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        yaml.safe_dump(
            {
                "name": "registry",
                "data": {"path": "unused.csv"},
                # Small attack settings keep the real attacks quick.
                "attack": {"settings": {"fake_leak": {"level": 0.97}, "membership": {"bootstrap": 20}}},
                "gates": {"max_membership_auc": 0.9},
            }
        )
    )
    out = tmp_path / "run"
    evaluation = Evaluation.from_files(
        parts / "train.parquet",
        parts / "holdout.parquet",
        parts / "third.parquet",
        output_dir=out,
        pipeline_file=pipeline,
    )
    evaluation.run(stages=("attack",))
    summary = json.loads((out / "attack" / "summary.json").read_text())
    assert summary["fake_leak"] == {"level": 0.97, "rows": 54}
    assert AttackSummary.model_validate(summary).result(fake) == FakeResult(level=0.97, rows=54)
    # The real membership attacks on a disjoint sample sit near 0.5: the fake one decides the gate.
    gate = next(g for g in summary["gates"] if g["name"] == "max_membership_auc")
    assert gate["value"] == pytest.approx(0.97) and not gate["passed"]
    assert "inference" in summary["skipped"]  # no sensitive column given: skipped, and said so
    scores = pd.read_parquet(out / "attack" / "attack_scores.parquet")
    assert scores.loc[scores["registered_as"] == "fake_leak", "attack"].tolist() == ["fake leak figure"]
    page = (out / "attack" / "report.html").read_text()
    # Without a renderer of its own, the attack is on the page through the generic scores table.
    assert "fake leak figure" in page and "It saw 54 rows." not in page
    generic_titles = [
        s.title for s in attack_page("registry", AttackSummary.model_validate(summary)).sections
    ]
    assert "The fake attack's own section" not in generic_titles
    # A renderer keyed by its result type adds its own section, among the proxies' (its kind).
    register_sections(FakeResult, fake_sections)
    try:
        report = attack_page("registry", AttackSummary.model_validate(summary))
    finally:
        unregister_sections(FakeResult)
    titles = [s.title for s in report.sections]
    own = titles.index("The fake attack's own section")
    assert (
        titles[own - 1] == "Proxies (necessary, not sufficient)"
        and titles[own + 1] == "Every attack's figures"
    )
    assert report.sections[own].text == "It saw 54 rows."


def test_old_flat_keys_still_set_each_attacks_settings_and_the_mapping_wins() -> None:
    config = AttackConfig.model_validate(
        {"risk_targets": 50, "linkability_neighbors": 3, "settings": {"linkability": {"neighbors": 7}}}
    )
    linkability = get_attack("linkability").settings(config)
    assert (linkability.targets, linkability.neighbors) == (50, 7)
    assert get_attack("inference").settings(config).targets == 50
    multivariate = get_attack("singling_out_multivariate").settings(AttackConfig(singling_out_columns=4))
    assert multivariate.columns == 4


@pytest.mark.parametrize(
    ("attack", "needle"),
    [
        ({"settings": {"nope": {}}}, "attack.settings.nope"),
        ({"settings": {"linkability": {"neighbors": 0}}}, "attack.settings.linkability.neighbors"),
        ({"settings": {"membership": {"bootstrapp": 5}}}, "attack.settings.membership.bootstrapp"),
    ],
)
def test_check_refuses_wrong_attack_settings_in_one_line(write_pipeline, attack: dict, needle: str) -> None:  # type: ignore[no-untyped-def]
    path = write_pipeline({"name": "x", "data": {"path": "builtin:student_placements"}, "attack": attack})
    one_line_error(runner.invoke(app, ["check", str(path)]), 2, needle)


def test_check_refuses_a_gate_whose_attacks_cannot_run(write_pipeline) -> None:  # type: ignore[no-untyped-def]
    path = write_pipeline(
        {
            "name": "x",
            "data": {"path": "builtin:student_placements"},
            "attack": {"quasi_identifiers": ["gender"]},
            "gates": {"max_linkage_risk": 0.1},
        }
    )
    one_line_error(
        runner.invoke(app, ["check", str(path)]),
        2,
        "gate max_linkage_risk needs at least two attack.quasi_identifiers",
        "gates.max_linkage_risk",
    )
