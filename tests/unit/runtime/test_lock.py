"""One run per output folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from synthpriv.errors import StageError
from synthpriv.runtime.lock import LOCK_FILE, RunLock

#: A process that takes the lock, says so, and holds it until killed.
_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from synthpriv.runtime.lock import RunLock
    with RunLock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(60)
    """
)


def _hold(folder: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_second_lock_on_same_folder_is_refused_naming_the_lock_and_pid(tmp_path: Path) -> None:
    holder = _hold(tmp_path)
    try:
        expected = f"locked by another synthpriv run \\(pid {holder.pid}\\)"
        with pytest.raises(StageError, match=expected) as caught, RunLock(tmp_path):
            pass
        assert caught.value.where == str(tmp_path / LOCK_FILE)
        assert (tmp_path / LOCK_FILE).read_text() == str(holder.pid), (
            "a refused lock must leave the holder's file alone"
        )
    finally:
        holder.kill()
        holder.wait()


def test_lock_in_the_same_process_is_refused_too(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        with pytest.raises(StageError, match="locked"), RunLock(tmp_path):
            pass
        assert (tmp_path / LOCK_FILE).exists()
    assert not (tmp_path / LOCK_FILE).exists()


def test_lock_of_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    holder = _hold(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / LOCK_FILE).read_text() == str(holder.pid)  # the file stays; the kernel lock does not
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text() == str(os.getpid())
    assert not (tmp_path / LOCK_FILE).exists()


def test_leftover_lock_file_with_a_live_pid_but_no_lock_is_taken(tmp_path: Path) -> None:
    # What a pid file alone cannot tell: the pid was reused by an unrelated, live process.
    (tmp_path / LOCK_FILE).write_text(str(os.getppid()))
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text() == str(os.getpid())


#: Many processes race for one folder whose .lock a dead run left behind; each reports whether
#: it got the lock and holds it a moment, so that overlapping holders would show.
_RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from synthpriv.errors import StageError
    from synthpriv.runtime.lock import RunLock
    folder, start = Path(sys.argv[1]), float(sys.argv[2])
    while time.time() < start:
        pass
    try:
        with RunLock(folder):
            marker = folder / "holder"
            if marker.exists():
                print("overlap", flush=True)
            marker.write_text("x")
            time.sleep(0.2)
            marker.unlink()
            print("got", flush=True)
    except StageError:
        print("refused", flush=True)
    """
)


def test_racing_for_a_stale_lock_gives_it_to_one_process_at_a_time(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text("999999999")  # a dead run's file
    start = time.time() + 1.5
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(tmp_path), str(start)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outcomes = [r.communicate(timeout=60)[0].strip() for r in racers]
    assert "overlap" not in " ".join(outcomes), outcomes
    assert outcomes.count("got") >= 1, outcomes
    assert all(o in ("got", "refused") for o in outcomes), outcomes
    assert not (tmp_path / LOCK_FILE).exists()
