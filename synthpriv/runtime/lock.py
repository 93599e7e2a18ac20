"""One run per output folder at a time: a lock file holding the owner's pid."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Self

from synthpriv.errors import StageError

LOCK_FILE = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """Exclusive lock on a run folder; a lock left by a dead process is taken over."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE

    def __enter__(self) -> Self:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    owner = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    owner = 0
                if owner and _alive(owner) and owner != os.getpid():
                    raise StageError(
                        f"another synthpriv run (pid {owner}) is using this output folder; wait for it or "
                        "choose another --output-dir",
                        where=str(self.path.parent),
                    ) from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            return self
        raise StageError("cannot take the run folder's lock", where=str(self.path.parent))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.path.unlink(missing_ok=True)
