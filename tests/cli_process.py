"""The `synthpriv` command as a real process, for tests that need signals, locks or a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The environment of every process. OMP_WAIT_POLICY=PASSIVE: torch and scikit-learn each bring
#: an OpenMP runtime whose idle threads spin; on two shared cores they starve each other and a
#: run takes 3x longer (12 s against 36 s for the crash-safety pipeline). It changes no result.
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONWARNINGS": "ignore"}


def command(pipeline: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "synthpriv", "run", str(pipeline), "-o", str(out), "-q", *extra]


def run(pipeline: Path, out: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the pipeline to its end; the completed process (stdout, stderr as text)."""
    return subprocess.run(
        command(pipeline, out, *extra),
        check=False,
        capture_output=True,
        text=True,
        env=ENV,
        cwd=pipeline.parent,
        timeout=timeout,
    )


def run_together(*jobs: tuple[Path, Path], timeout: float = 300) -> list[subprocess.CompletedProcess[str]]:
    """Run several (pipeline, output folder) pairs at the same time, each to its end."""
    processes = [
        subprocess.Popen(
            command(pipeline, out),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            cwd=pipeline.parent,
        )
        for pipeline, out in jobs
    ]
    done = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return done


def start(pipeline: Path, out: Path, *extra: str, log: Path) -> subprocess.Popen[bytes]:
    """Start the pipeline in the background, stdout and stderr into ``log``."""
    with open(log, "wb") as handle:
        return subprocess.Popen(
            command(pipeline, out, *extra),
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=ENV,
            cwd=pipeline.parent,
        )


def without_timings(value: Any) -> Any:
    """A summary with every timing (keys naming seconds, or rows per second) left out."""
    if isinstance(value, dict):
        return {
            k: without_timings(v)
            for k, v in value.items()
            if "seconds" not in k and k not in ("rows_per_second",)
        }
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value
