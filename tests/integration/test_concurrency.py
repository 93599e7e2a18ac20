"""Two `synthpriv run` on one output folder at once: the second refuses with one line naming the
lock, the first finishes unharmed (issue 8, must-have 4). Real processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.cli_process import run, run_together, start
from tests.conftest import TINY_VALIDATE, quick_demo_config

pytestmark = pytest.mark.slow

STAGES = ("train", "synthesize", "validate", "attack", "export")


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    config = quick_demo_config(
        validate=TINY_VALIDATE,
        attack={"quasi_identifiers": ["gender", "degree_type"], "sensitive": "placed", "max_rows": 100},
    )
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def assert_refused_by_the_lock(stderr: str, out: Path) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"error: {out / '.lock'}: output folder is locked by another synthpriv run"), (
        lines[0]
    )
    assert "Traceback" not in stderr


def assert_complete(out: Path) -> None:
    for stage in STAGES:
        assert (out / stage / "stage.json").is_file(), stage
    manifest = json.loads((out / "manifest.json").read_text())
    assert {s: r["status"] for s, r in manifest["stages"].items()} == dict.fromkeys(STAGES, "complete")
    assert len(pd.read_parquet(out / "export" / "synthetic.parquet")) == 300
    assert not (out / ".lock").exists()


def test_second_run_is_refused_while_the_first_runs(pipeline: Path) -> None:
    out = pipeline.parent / "run"
    first = start(pipeline, out, log=pipeline.parent / "first.log")
    try:
        deadline = time.monotonic() + 120
        while not (out / ".staging" / "train").is_dir():  # the lock is taken before any stage runs
            assert first.poll() is None, (pipeline.parent / "first.log").read_text()
            assert time.monotonic() < deadline, "the first run never started training"
            time.sleep(0.01)
        second = run(pipeline, out)
        assert first.poll() is None, "the first run ended before the second was refused: nothing was tested"
        assert second.returncode != 0
        assert_refused_by_the_lock(second.stderr, out)
        assert str(first.pid) in second.stderr  # the owner, from the lock file
        assert first.wait(timeout=300) == 0, (pipeline.parent / "first.log").read_text()
    finally:
        first.kill()
        first.wait()
    assert_complete(out)
    assert "error" not in (pipeline.parent / "first.log").read_text()


def test_two_runs_started_together_one_runs_the_other_is_refused(pipeline: Path) -> None:
    out = pipeline.parent / "run"
    results = run_together((pipeline, out), (pipeline, out))
    codes = sorted(r.returncode for r in results)
    assert codes[0] == 0 and codes[1] != 0, [r.stderr for r in results]
    winner, loser = sorted(results, key=lambda r: r.returncode)
    assert_refused_by_the_lock(loser.stderr, out)
    assert "error" not in winner.stderr
    assert_complete(out)
