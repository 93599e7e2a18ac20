"""A holdout that repeats training rows (issue 15, must-have 2) and `check` opening the holdout (must-have 7).

The issue's case: 150 training rows and a holdout made of 70 of them made the membership
attack and the distance proxy look harmless, and the export went out. Now `check` and `run`
refuse it before any work (exit 3, one line, nothing written), `data.drop_holdout_duplicates`
drops the copies and every report says how many, and `evaluate` does the same. A true holdout
and a split of the table itself pass; a missing or incomplete holdout file fails at `check`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from synthpriv.cli import app
from synthpriv.errors import DataError
from synthpriv.evaluate import Evaluation
from tests.conftest import one_line_error

runner = CliRunner()
COPIED = 70
# Continuous columns make every row of the demo table unique: any shared row is a copy.
DROP = ["student_id", "start_date", "end_date", "duration", "mba_spec", "high_spec", "employability_perc"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, demo_table: pd.DataFrame) -> Path:
    """train.csv (150 rows), copied.csv (70 of them), true.csv (the other 65), mixed.csv (both)."""
    folder = tmp_path_factory.mktemp("holdout-overlap")
    table = demo_table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    train, rest = table.iloc[:150], table.iloc[150:]
    train.to_csv(folder / "train.csv", index=False)
    train.iloc[:COPIED].to_parquet(folder / "copied.parquet")  # another format: dtypes differ, rows do not
    rest.to_csv(folder / "true.csv", index=False)
    pd.concat([rest, train.iloc[:COPIED]]).to_csv(folder / "mixed.csv", index=False)
    train.iloc[:30].to_csv(folder / "synthetic.csv", index=False)
    return folder


def config(holdout: str, **data: Any) -> dict[str, Any]:
    return {
        "name": "overlap",
        "seed": 0,
        "data": {"path": "train.csv", "holdout": holdout, "drop": DROP, **data},
        "train": {
            "generator": "vae",
            "epochs": 2,
            "batch_size": 64,
            "params": {"hidden_dims": [16], "latent_dim": 4},
        },
        "synthesize": {"rows": 100},
        "validate": {"bootstrap": 0},
    }


def write(folder: Path, content: dict[str, Any], name: str) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# The whole message after the file: counts only, never a value of the table.
REFUSAL = re.compile(
    r"(\d+) of (\d+) holdout rows also appear in the training rows, more than the (\d+) the table's own "
    r"repeats \(\d+\.\d%% of its rows\) explain; a holdout must be real rows the generator never sees; "
    r"use another file or (set data\.drop_holdout_duplicates: true|pass --drop-holdout-duplicates)".replace(
        "%%", "%"
    )
)


def _refusal(line: str) -> re.Match[str]:
    message = line.split(": ", 2)[-1]
    match = REFUSAL.fullmatch(message)
    assert match, line
    return match


def test_check_refuses_a_holdout_of_training_rows(files: Path) -> None:
    path = write(files, config("copied.parquet"), "copied.yaml")
    before = listing(files)
    line = one_line_error(
        runner.invoke(app, ["check", str(path)]), 3, f"{path}:", "data.holdout", "copied.parquet"
    )
    shared, rows, allowed, remedy = _refusal(line).groups()
    assert (int(shared), int(rows)) == (COPIED, COPIED) and int(allowed) < COPIED // 3
    assert remedy.startswith("set data.")
    assert listing(files) == before


def test_run_refuses_it_before_any_work(files: Path) -> None:
    path = write(files, config("copied.parquet"), "copied-run.yaml")
    out = files / "out-refused"
    line = one_line_error(
        runner.invoke(app, ["run", "-q", str(path), "-o", str(out)]), 3, f"{path}:", "data.holdout"
    )
    _refusal(line)
    assert not out.exists()


def test_a_true_holdout_passes(files: Path) -> None:
    result = runner.invoke(app, ["check", str(write(files, config("true.csv"), "true.yaml"))])
    assert result.exit_code == 0, result.output


def test_a_split_of_a_table_that_repeats_itself_passes(files: Path, demo_table: pd.DataFrame) -> None:
    """data.holdout: 0.2 draws from the table itself; every row there appears twice."""
    pd.concat([demo_table, demo_table]).to_csv(files / "twice.csv", index=False)
    split = config(0.2)  # type: ignore[arg-type]
    split["data"]["path"] = "twice.csv"
    result = runner.invoke(app, ["check", str(write(files, split, "split.yaml"))])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("holdout", "make", "needle"),
    [
        ("absent.csv", None, "data file not found"),
        ("narrow.csv", lambda t: t.drop(columns=["salary"]), "holdout file lacks columns ['salary']"),
        ("empty.csv", lambda t: t.iloc[:0], "the file is empty"),
        ("few.csv", lambda t: t.iloc[:3], "3 holdout rows are too few"),
    ],
)
def test_check_opens_the_holdout_file(
    files: Path, demo_table: pd.DataFrame, holdout: str, make, needle: str
) -> None:  # type: ignore[no-untyped-def]
    """Every file the run reads is read by check: a bad holdout fails there, not after training."""
    if make is not None:
        frame = make(demo_table.iloc[150:])
        if len(frame):
            frame.to_csv(files / holdout, index=False)
        else:
            (files / holdout).write_bytes(b"")
    path = write(files, config(holdout), f"{holdout}.yaml")
    one_line_error(runner.invoke(app, ["check", str(path)]), 3, f"{path}:", "data.holdout", holdout, needle)


@pytest.fixture(scope="module")
def dropped_run(files: Path) -> Path:
    """The flag: the 70 copies leave the holdout, the run goes on with the 65 true rows."""
    path = write(files, config("mixed.csv", drop_holdout_duplicates=True), "dropped.yaml")
    out = files / "out-dropped"
    result = runner.invoke(app, ["run", "-q", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_with_the_flag_the_run_says_how_many_were_dropped(dropped_run: Path) -> None:
    attack = json.loads((dropped_run / "attack" / "summary.json").read_text())
    assert (attack["holdout_rows_dropped"], attack["rows_holdout"]) == (COPIED, 65)
    card = json.loads((dropped_run / "export" / "datacard.json").read_text())
    assert card["source"]["holdout_rows_dropped"] == COPIED and card["source"]["holdout_rows"] == 65
    sentence = f"{COPIED} holdout rows that repeated training rows were dropped"
    assert sentence in (dropped_run / "export" / "datacard.md").read_text()
    assert sentence in (dropped_run / "attack" / "report.html").read_text()
    assert "holdout rows dropped: they repeated training rows" in (dropped_run / "index.html").read_text()
    train = json.loads((dropped_run / "train" / "summary.json").read_text())
    assert train["holdout_rows"] == 65


def test_without_drops_nothing_is_said(files: Path) -> None:
    """A true holdout: the count is 0 in the summary and absent from the card (checked through evaluate)."""
    out = files / "eval-true"
    Evaluation.from_files(
        files / "train.csv", files / "true.csv", files / "synthetic.csv", output_dir=out
    ).run(["attack"])
    attack = json.loads((out / "attack" / "summary.json").read_text())
    assert attack["holdout_rows_dropped"] == 0
    assert "were dropped" not in (out / "attack" / "report.html").read_text()


def test_evaluate_refuses_a_holdout_of_training_rows(files: Path) -> None:
    out = files / "eval-refused"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "-q",
            "--train",
            str(files / "train.csv"),
            "--holdout",
            str(files / "copied.parquet"),
            "--synthetic",
            str(files / "synthetic.csv"),
            "-o",
            str(out),
        ],
    )
    line = one_line_error(result, 3, "--holdout", "copied.parquet")
    assert _refusal(line).group(4) == "pass --drop-holdout-duplicates"
    assert not out.exists()
    with pytest.raises(DataError, match="70 of 70 holdout rows"):
        Evaluation.from_files(
            files / "train.csv", files / "copied.parquet", files / "synthetic.csv", output_dir=out
        ).run()
    assert not out.exists()


def test_evaluate_drops_them_when_asked(files: Path) -> None:
    out = files / "eval-dropped"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "-q",
            "--train",
            str(files / "train.csv"),
            "--holdout",
            str(files / "mixed.csv"),
            "--synthetic",
            str(files / "synthetic.csv"),
            "-o",
            str(out),
            "--drop-holdout-duplicates",
        ],
    )
    assert result.exit_code in (0, 5), (
        result.output
    )  # a gate may fail on 150 rows; the count is what is tested
    attack = json.loads((out / "attack" / "summary.json").read_text())
    assert (attack["holdout_rows_dropped"], attack["rows_holdout"]) == (COPIED, 65)
