"""Names from the user's data reach the terminal inert (issue 15, cases 8 and 9).

A column, file or run name holding an ANSI escape or a newline is printed with the
character escaped, so it can neither drive the terminal nor split the one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from synthpriv.cli import app
from tests.conftest import one_line_error

runner = CliRunner()
CLEAR = "\x1b[2J"
HOSTILE = f"x{CLEAR}\ny"


def _hostile_table(tmp_path: Path, demo_table: pd.DataFrame) -> Path:
    table = demo_table.rename(columns={"gender": HOSTILE})
    path = tmp_path / "hostile.parquet"
    table.to_parquet(path)
    return path


def _no_raw_controls(text: str) -> None:
    assert "\x1b" not in text
    assert "x\\x1b[2J\\ny" in text


def test_check_escapes_column_names(tmp_path: Path, demo_table: pd.DataFrame, write_pipeline) -> None:
    data = _hostile_table(tmp_path, demo_table)
    path = write_pipeline({"name": "t", "data": {"path": str(data), "target": "placed"}})
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 0, result.output
    _no_raw_controls(result.stdout)
    assert len(result.stdout.strip().splitlines()) == 1


def test_did_you_mean_error_stays_one_inert_line(
    tmp_path: Path, demo_table: pd.DataFrame, write_pipeline
) -> None:
    data = _hostile_table(tmp_path, demo_table)
    wrong = HOSTILE.replace("y", "z")
    path = write_pipeline({"name": "t", "data": {"path": str(data), "target": wrong}})
    line = one_line_error(runner.invoke(app, ["check", str(path)]), 3, "did you mean")
    _no_raw_controls(line)


def test_runs_escapes_run_and_folder_names(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "a\nb"
    folder.mkdir(parents=True)
    manifest = {"kind": "pipeline", "name": f"n{CLEAR}", "stages": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    assert "n\\x1b[2J" in result.stdout and "a\\nb" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 2  # the header and the one run


def test_runs_of_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    one_line_error(runner.invoke(app, ["runs", str(tmp_path / "nope")]), 7, "nope", "no such folder")


def test_debug_keeps_the_exit_code_and_adds_the_traceback(write_pipeline) -> None:
    path = write_pipeline("name: demo\ndata: {path: builtin:student_placements}\ntrain: {generator: vea}\n")
    result = runner.invoke(app, ["check", "--debug", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
