"""`synthpriv outliers DATA [--pipeline FILE] -o DIR` (issue 19, must-have 5), through the real CLI.

It writes scores.parquet (each row's position and its score, nothing else), report.html and its
marker; the same seed gives the same scores; the pipeline file's column settings and seed are
used; it writes again into a folder of its own and refuses any other non-empty folder; bad
inputs are one line and a documented exit code. The demo table (215 rows) keeps each run to a
few seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.data.io import builtin_table_path
from tests.conftest import one_line_error, snapshot

runner = CliRunner()
SENTINEL = "SENTINEL-outlier-k3"  # a category no output may repeat
SENTINEL_NUMBER = 98765.4321


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo table as CSV, with a sentinel category and number in a few rows."""
    table = pd.read_csv(builtin_table_path("student_placements"))
    table.loc[:5, "mba_spec"] = SENTINEL
    table.loc[:2, "mba_perc"] = SENTINEL_NUMBER
    path = tmp_path_factory.mktemp("data") / "students.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def scored(data_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "outliers"
    result = runner.invoke(app, ["outliers", str(data_file), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "scored 215 rows; open" in result.stderr
    return out


def test_writes_row_positions_and_scores_only(scored: Path) -> None:
    assert sorted(p.name for p in scored.iterdir()) == ["outliers.json", "report.html", "scores.parquet"]
    scores = pd.read_parquet(scored / "scores.parquet")
    assert list(scores.columns) == ["row", "score"]
    assert scores["row"].tolist() == list(range(215))
    assert scores["score"].notna().all() and (scores["score"] > 0).all()
    marker = json.loads((scored / "outliers.json").read_text())
    assert marker["kind"] == "outliers" and marker["rows"] == 215 and marker["seed"] == 0
    for path in scored.iterdir():
        text = path.read_bytes()
        assert SENTINEL.encode() not in text and b"98765" not in text, path.name


def test_the_page_shows_the_distribution_and_the_columns_behind_the_top(scored: Path) -> None:
    page = (scored / "report.html").read_text()
    assert "Outlier scores" in page and "Columns that drive the top scores" in page
    assert "mba_perc" in page and "(missing-value pattern)" in page
    assert "student_id" not in page.split("<main", 1)[-1]  # an id column is not scored


def test_same_seed_same_scores_and_its_own_folder_is_written_again(data_file: Path, scored: Path) -> None:
    before = pd.read_parquet(scored / "scores.parquet")
    result = runner.invoke(app, ["outliers", str(data_file), "-o", str(scored), "--quiet"])
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_parquet(scored / "scores.parquet"), before)


def test_the_pipeline_files_columns_and_seed_are_used(
    data_file: Path, write_pipeline, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    pipeline = write_pipeline(
        {"name": "scores", "seed": 3, "data": {"path": "elsewhere.csv", "drop": ["mba_perc", "salary"]}}
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["outliers", str(data_file), "--pipeline", str(pipeline), "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "outliers.json").read_text())["seed"] == 3
    body = (out / "report.html").read_text().split("<main", 1)[-1]
    assert "mba_perc" not in body and "salary" not in body and "second_perc" in body
    reseeded = tmp_path / "reseeded"
    result = runner.invoke(app, ["outliers", str(data_file), "--seed", "4", "-o", str(reseeded), "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads((reseeded / "outliers.json").read_text())["seed"] == 4


def test_a_folder_it_did_not_write_is_refused_and_left_as_it_is(data_file: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    before = snapshot(folder)
    result = runner.invoke(app, ["outliers", str(data_file), "-o", str(folder), "-q"])
    one_line_error(result, 7, "notes.txt", "did not write", "--output-dir")
    assert snapshot(folder) == before
    # Files named like its own, without its marker, are not its own either.
    lookalike = tmp_path / "lookalike"
    lookalike.mkdir()
    (lookalike / "scores.parquet").write_text("not ours")
    one_line_error(
        runner.invoke(app, ["outliers", str(data_file), "-o", str(lookalike), "-q"]), 7, "scores.parquet"
    )
    assert (lookalike / "scores.parquet").read_text() == "not ours"


def test_a_folder_holding_the_input_is_refused(data_file: Path) -> None:
    result = runner.invoke(app, ["outliers", str(data_file), "-o", str(data_file.parent), "-q"])
    one_line_error(result, 7, "holds the input")


def test_bad_inputs_are_one_line_with_their_exit_code(
    data_file: Path, write_pipeline, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    missing = runner.invoke(app, ["outliers", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "a"), "-q"])
    one_line_error(missing, 3, "DATA", "not found")
    bad = write_pipeline({"name": "x", "data": {"path": "x.csv", "min_category_count": 0}})
    result = runner.invoke(
        app, ["outliers", str(data_file), "--pipeline", str(bad), "-o", str(tmp_path / "b"), "-q"]
    )
    one_line_error(result, 2, "min_category_count")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
