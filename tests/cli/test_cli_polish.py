"""CLI polish (issue 20, points 4 and 7): the stage names in --only/--from help, `runs` on a
folder that is not there, plain progress lines when stderr is not a terminal, one line per
generator, and the stage table and page to open after a failed run as after a passed one.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from synthpriv.cli import _STAGE_NAMES, app
from synthpriv.config.model import STAGES
from synthpriv.errors import PrivacyConfigError
from synthpriv.generators.registry import available_generators, get_generator
from synthpriv.privacy.attach import refuse_unprivate
from synthpriv.privacy.marginals import refuse_unmarginal
from synthpriv.runtime.progress import LineProgress, NullProgress, RichProgress, terminal_progress
from tests.cli.terminal import stage_outcomes
from tests.conftest import one_line_error, quick_demo_config

runner = CliRunner()


class _Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- point 7: --only/--from help, runs on a missing folder ------------------------------------


def test_only_and_from_help_names_every_stage() -> None:
    assert _STAGE_NAMES == ", ".join(STAGES[:-1]) + f" or {STAGES[-1]}"  # the literal follows STAGES
    result = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for option in ("--only", "--from"):
        line = next(line for line in result.stdout.splitlines() if f" {option} " in line)
        assert all(stage in line for stage in STAGES), line


def test_runs_on_a_file_is_the_same_one_line_error_as_on_a_missing_folder(tmp_path: Path) -> None:
    a_file = tmp_path / "runs.txt"
    a_file.write_text("not a folder")
    for root in (a_file, tmp_path / "missing"):
        result = runner.invoke(app, ["runs", str(root)])
        one_line_error(result, 7, str(root), "no such folder")
        assert "no runs" not in result.output


# -- point 7: plain progress lines where a bar would be cut ---------------------------------


def test_line_progress_writes_the_first_and_last_steps_and_one_line_per_interval() -> None:
    stream, clock = io.StringIO(), _Clock()
    progress = LineProgress(stream, interval=5.0, clock=clock)
    progress.start("train gan", 12)
    for _ in range(12):
        clock.now += 1.0
        progress.advance(1, generator_loss=0.25, critic_loss=-1.5)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[train gan] 0/12"
    # Step 1 (the first), 6 and 11 (5 s after the line before), 12 (the last).
    assert re.findall(r"^\[train gan\] (\d+)/12,", stream.getvalue(), re.MULTILINE) == ["1", "6", "11", "12"]
    assert lines[2] == "[train gan] 6/12, 6.0 s, about 6.0 s left  generator_loss 0.25  critic_loss -1.5"
    assert lines[-2] == "[train gan] 12/12, 12.0 s  generator_loss 0.25  critic_loss -1.5"  # nothing left
    assert lines[-1] == "[train gan] done in 12.0 s"
    assert not any("…" in line or "\x1b" in line for line in lines)


def test_line_progress_says_where_work_that_stopped_early_stopped() -> None:
    stream, clock = io.StringIO(), _Clock()
    progress = LineProgress(stream, interval=0.0, clock=clock)
    progress.start("train autoregressive", 100)
    for _ in range(3):
        clock.now += 40.0
        progress.advance(1, loss=1.0)
    progress.start("sample", 2)  # starting the next task ends the one before
    lines = stream.getvalue().splitlines()
    assert lines[1:4] == [
        "[train autoregressive] 1/100, 40.0 s, about 66 min 00 s left  loss 1",
        "[train autoregressive] 2/100, 1 min 20 s, about 65 min 20 s left  loss 1",
        "[train autoregressive] 3/100, 2 min 00 s, about 64 min 40 s left  loss 1",
    ]
    assert lines[4:] == ["[train autoregressive] stopped at 3/100 in 2 min 00 s", "[sample] 0/2"]


def test_terminal_progress_is_plain_lines_unless_stderr_is_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("FORCE_COLOR", "1")  # colours in a CI log do not make it a terminal
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert isinstance(terminal_progress(), LineProgress)
    assert isinstance(terminal_progress(quiet=True), NullProgress)
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as tty, os.fdopen(leader, "rb"):
        monkeypatch.setattr("sys.stderr", tty)
        assert isinstance(terminal_progress(), RichProgress)
        monkeypatch.setenv("TERM", "dumb")  # a terminal that cannot redraw a line
        assert isinstance(terminal_progress(), LineProgress)


# -- point 7: one line per generator ---------------------------------------------------------


def _offers(kind: str) -> dict[str, bool]:
    """Whether a run would accept ``kind`` under DP-SGD and under noisy marginals."""
    shape = get_generator(kind)().fit_shape(1000, fixed_budget=True, transformer_given=True)
    offered = {}
    for name, refuse in (("DP-SGD", refuse_unprivate), ("marginals", refuse_unmarginal)):
        try:
            refuse(shape)
            offered[name] = True
        except PrivacyConfigError:
            offered[name] = False
    return offered


def test_generators_lists_what_each_is_its_adult_fit_time_and_the_privacy_a_run_accepts() -> None:
    result = runner.invoke(app, ["generators"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == available_generators()
    for kind, line in zip(available_generators(), lines, strict=True):
        assert re.search(r"; fits Adult in ~\d+ s on 2 cores", line), line
        dp = line.rsplit("; DP: ", 1)[1]
        offered = _offers(kind)
        assert ("DP-SGD" in dp) == offered["DP-SGD"], line
        assert ("marginals" in dp) == offered["marginals"], line
        assert (dp == "none") == (not any(offered.values())), line
    by_kind = dict(zip(available_generators(), lines, strict=True))
    assert by_kind["gan"].endswith("; DP: none")
    assert all("DP-SGD" in by_kind[kind] for kind in ("autoregressive", "vae", "diffusion"))


# -- point 4: the terminal after a run, failed or passed -------------------------------------


@pytest.fixture(scope="module")
def gated_gan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """A few-epoch GAN run on the demo whose quality gate cannot pass, its output not a
    terminal: (pipeline, run folder, CLI result)."""
    folder = tmp_path_factory.mktemp("gated")
    config = quick_demo_config(gates={"min_quality": 0.999})
    config["train"] = {"generator": "gan", "epochs": 4, "batch_size": 64}
    pipeline = folder / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(config))
    out = folder / "run"
    return pipeline, out, runner.invoke(app, ["run", str(pipeline), "-o", str(out)])


def test_a_failed_run_prints_its_stage_table_and_page_before_the_error_lines(
    gated_gan: tuple[Path, Path, Any],
) -> None:
    _, out, result = gated_gan
    assert result.exit_code == 5, result.output
    assert stage_outcomes(result.stderr) == {
        "train": "ran",
        "synthesize": "ran",
        "validate": "ran",
        "attack": "ran",
        "export": "failed",
    }
    lines = result.stderr.splitlines()
    opened = lines.index(f"open {out / 'index.html'}")
    errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert errors and opened < errors[0] and errors == list(range(errors[0], len(lines)))
    assert any("min_quality" in lines[i] for i in errors)
    assert (out / "index.html").is_file() and "Traceback" not in result.output


def test_progress_of_a_run_not_on_a_terminal_is_plain_lines(gated_gan: tuple[Path, Path, Any]) -> None:
    _, _, result = gated_gan
    lines = result.stderr.splitlines()
    epochs = [line for line in lines if line.startswith("[train gan] ")]
    assert epochs[0] == "[train gan] 0/4" and epochs[-1].startswith("[train gan] done in ")
    assert re.match(r"\[train gan\] 4/4, \d+\.\d s  \w+ -?\d", epochs[-2]), epochs[-2]
    assert any(line.startswith("[sample] done in ") for line in lines)
    assert not any("…" in line or "\x1b" in line or "\r" in line for line in lines)


def test_a_passed_run_prints_the_same_table_then_its_time(gated_gan: tuple[Path, Path, Any]) -> None:
    pipeline, out, _ = gated_gan
    result = runner.invoke(app, ["run", "-q", str(pipeline), "-o", str(out), "--allow-failed-gates"])
    assert result.exit_code == 0, result.output
    assert stage_outcomes(result.stderr) == {
        "train": "reused",
        "synthesize": "reused",
        "validate": "reused",
        "attack": "reused",
        "export": "ran",
    }
    lines = result.stderr.splitlines()
    assert lines[-2] == f"open {out / 'index.html'}"
    assert re.fullmatch(r"done in \d+\.\d s", lines[-1]), lines[-1]
    assert not any(line.startswith(("[", "error")) for line in lines)  # -q: no progress


def test_a_run_that_fails_before_any_stage_is_one_error_line(gated_gan: tuple[Path, Path, Any]) -> None:
    pipeline, out, _ = gated_gan
    result = runner.invoke(
        app, ["run", "-q", str(pipeline), "-o", str(out), "--only", "train", "--from", "attack"]
    )
    one_line_error(result, 7, "either --only or --from")
