"""One run per output folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synthpriv.errors import StageError
from synthpriv.runtime.lock import LOCK_FILE, RunLock


def test_second_lock_on_same_folder_is_refused(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / LOCK_FILE).write_text(str(holder.pid))
        with pytest.raises(StageError, match="another synthpriv run"):
            with RunLock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_stale_lock_of_dead_process_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK_FILE).write_text(dead.stdout.strip())
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_FILE).exists()
    assert not (tmp_path / LOCK_FILE).exists()
