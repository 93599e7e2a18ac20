"""SIGKILL in the middle of every stage, then run again: the run finishes from the last completed
stage and its outputs are those of a run that was never interrupted (issue 8, must-have 2).

Real processes and real signals. One folder is killed five times in a row, once inside each
stage (train, synthesize, validate, attack, export): each new run is the rerun of the one killed
before it, so it must finish the stage that was killed and reuse those before, and is itself
killed in the next stage. The last run goes to the end and is compared with a reference run.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import yaml

from tests.cli_process import run, start, without_timings
from tests.conftest import TINY_VALIDATE, quick_demo_config

pytestmark = pytest.mark.slow

STAGES = ("train", "synthesize", "validate", "attack", "export")
MARKER = "stage.json"


def crash_config() -> dict:
    """The demo pipeline with every stage long enough to be caught by polling (0.3 s or more
    each on two cores) and no longer: 60,000 rows make synthesize and export last; train,
    validate and attack take their smallest settings, which still last a second or more."""
    config = quick_demo_config(
        synthesize={"rows": 60_000, "batch_size": 5_000},
        validate=TINY_VALIDATE,
        attack={
            "quasi_identifiers": ["gender", "degree_type"],
            "sensitive": "placed",
            "max_rows": 100,
            "risk_targets": 10,
            "singling_out_queries": 10,
        },
        export={"formats": ["parquet", "csv"]},
        gates={"min_quality": 0.3},
    )
    config["train"]["epochs"] = 10
    return config


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "pipeline.yaml"
    path.write_text(yaml.safe_dump(crash_config(), sort_keys=False))
    return path


@pytest.fixture(scope="module")
def reference(pipeline: Path) -> Path:
    """An uninterrupted run."""
    out = pipeline.parent / "reference"
    done = run(pipeline, out)
    assert done.returncode == 0, done.stderr
    return out


def _markers(out: Path) -> dict[str, bytes]:
    return {s: (out / s / MARKER).read_bytes() for s in STAGES if (out / s / MARKER).is_file()}


def _visible_partial_files(out: Path) -> list[str]:
    """Temporary files outside the staging folder: what a reader could mistake for output."""
    return [
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if ".tmp-" in p.name and ".staging" not in p.relative_to(out).parts
    ]


def _kill_inside(stage: str, pipeline: Path, out: Path) -> dict:
    """Start a run, SIGKILL it as soon as ``stage`` starts writing in staging; what was left."""
    before = _markers(out)
    process = start(pipeline, out, log=out.parent / f"killed-in-{stage}.log")
    staging = out / ".staging" / stage
    deadline = time.monotonic() + 120
    while not staging.is_dir():
        if process.poll() is not None:
            log = (out.parent / f"killed-in-{stage}.log").read_text()
            pytest.fail(f"the run ended (exit {process.returncode}) before stage {stage} started:\n{log}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"stage {stage} did not start within 120 s")
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return {
        "pid": process.pid,
        "returncode": process.returncode,
        "markers_before": before,
        "markers_after": _markers(out),
        "stage_folders": sorted(s for s in STAGES if (out / s).exists()),
        "lock": (out / ".lock").read_text() if (out / ".lock").exists() else None,
        "partial": _visible_partial_files(out),
    }


@pytest.fixture(scope="module")
def killed_five_times(pipeline: Path, reference: Path) -> tuple[Path, dict[str, dict], object]:
    """The folder killed once inside each stage in turn, then run to the end; (folder, kills, last run)."""
    out = pipeline.parent / "killed"
    kills = {stage: _kill_inside(stage, pipeline, out) for stage in STAGES}
    final = run(pipeline, out)
    return out, kills, final


@pytest.mark.parametrize("stage", STAGES)
def test_kill_lands_inside_the_stage_and_leaves_no_stage_folder_without_its_marker(
    killed_five_times: tuple[Path, dict[str, dict], object], stage: str
) -> None:
    _, kills, _ = killed_five_times
    kill = kills[stage]
    assert kill["returncode"] == -signal.SIGKILL
    done = STAGES[: STAGES.index(stage)]
    # The stages before were completed (by this run or an earlier one); the killed one was not.
    assert sorted(kill["markers_after"]) == sorted(done), f"kill in {stage} landed after the stage finished"
    # A stage folder is there only with its marker: nothing half-written looks complete.
    assert kill["stage_folders"] == sorted(done)
    assert kill["partial"] == []


@pytest.mark.parametrize("stage", STAGES[1:])
def test_rerun_after_a_kill_finishes_the_killed_stage_and_reuses_the_ones_before(
    killed_five_times: tuple[Path, dict[str, dict], object], stage: str
) -> None:
    """The run killed inside ``stage`` is the rerun of the one killed in the stage before."""
    _, kills, _ = killed_five_times
    kill = kills[stage]
    previous = STAGES[STAGES.index(stage) - 1]
    assert previous in kill["markers_after"] and previous not in kill["markers_before"]
    for name, marker in kill["markers_before"].items():
        # Same marker bytes (finish time and seconds included): reused, not run again.
        assert kill["markers_after"][name] == marker, f"{name} was run again instead of reused"


@pytest.mark.parametrize("stage", STAGES)
def test_lock_of_the_killed_run_is_left_behind_and_does_not_block(
    killed_five_times: tuple[Path, dict[str, dict], object], stage: str
) -> None:
    _, kills, final = killed_five_times
    # The kernel lock went with the process; its .lock file (holding its pid) stays, stale.
    assert kills[stage]["lock"] == str(kills[stage]["pid"])
    assert final.returncode == 0, final.stderr  # type: ignore[attr-defined]


def test_last_run_exits_0_and_reuses_every_completed_stage(
    killed_five_times: tuple[Path, dict[str, dict], object],
) -> None:
    out, _, final = killed_five_times
    assert final.returncode == 0, final.stderr  # type: ignore[attr-defined]
    status = {
        line.split()[0]: line.split()[1]
        for line in final.stderr.splitlines()
        if line.split()[:1] and line.split()[0] in STAGES  # type: ignore[attr-defined]
    }
    assert status == {
        "train": "reused",
        "synthesize": "reused",
        "validate": "reused",
        "attack": "reused",
        "export": "ran",
    }
    assert not (out / ".lock").exists()
    assert not (out / ".staging").exists() or not any((out / ".staging").iterdir())
    manifest = json.loads((out / "manifest.json").read_text())
    # The table says what this run did ("ran"); the manifest, that the stage is complete.
    assert {name: record["status"] for name, record in manifest["stages"].items()} == {
        **status,
        "export": "complete",
    }


def test_outputs_are_those_of_an_uninterrupted_run(
    killed_five_times: tuple[Path, dict[str, dict], object], reference: Path
) -> None:
    out, _, _ = killed_five_times
    for name in (
        "synthesize/synthetic.parquet",
        "export/synthetic.parquet",
        "export/synthetic.csv",
        "train/model/weights.pt",
    ):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    for stage in STAGES:
        ours = json.loads((out / stage / MARKER).read_text())["outputs"]
        theirs = json.loads((reference / stage / MARKER).read_text())["outputs"]
        assert [o["path"] for o in ours] == [o["path"] for o in theirs], stage
        for mine, ref in zip(ours, theirs, strict=True):
            if mine["sha256"] == ref["sha256"]:
                continue
            # Only JSON may differ, and only in its timings.
            path = mine["path"]
            assert path.endswith(".json"), f"{stage}/{path} differs from the uninterrupted run"
            assert without_timings(json.loads((out / stage / path).read_text())) == without_timings(
                json.loads((reference / stage / path).read_text())
            ), f"{stage}/{path} differs beyond its timings"
