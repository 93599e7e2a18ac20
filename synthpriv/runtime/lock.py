"""One run per output folder at a time: a kernel lock (``flock``) on ``<run>/.lock``.

The kernel keeps the lock with the process's open file and drops it when the process ends,
however it ends (SIGKILL included), so a lock can never be stale: a ``.lock`` file left by a
dead run is simply locked again by the next one, and two processes that find such a file at
the same moment cannot both take it (only one ``flock`` succeeds). The file holds the owner's
pid, for the error message only; nothing reads it to decide who owns the folder.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import Self

from synthpriv.errors import StageError

LOCK_FILE = ".lock"


def _owner(fd: int) -> str:
    """The pid the holder wrote into the lock file ('' if not written yet or unreadable)."""
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


class RunLock:
    """Exclusive lock on a run folder, held from ``__enter__`` to ``__exit__`` (or the process's end).

    A second RunLock on the same folder, in this process or another, raises StageError at once.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def __enter__(self) -> Self:
        while True:
            # An OSError here (a folder that cannot be written) names the file; the CLI says what to do.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                owner = _owner(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    by = f"another synthpriv run (pid {owner})" if owner else "another synthpriv run"
                    raise StageError(
                        f"output folder is locked by {by}; wait for it to finish or choose another "
                        "--output-dir",
                        where=str(self.path),
                    ) from None
                raise OSError(exc.errno, exc.strerror, str(self.path)) from None
            # A holder that just finished removes the file: if it did so between our open and our
            # flock, we locked a file no longer in the folder, and the next run would create and
            # lock a new one. Only the file at the path counts; try again with that one.
            try:
                held = os.fstat(fd)
                current = os.stat(self.path)
                if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is None:
            return
        # Removed while still locked, so that nobody locks this file once we let it go (and only
        # if it is still ours: never another run's lock that replaced a file deleted by hand).
        try:
            held, current = os.fstat(self._fd), os.stat(self.path)
            if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
                self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None
