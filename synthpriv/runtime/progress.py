"""Progress reporting: the library reports to a callback; the CLI shows a rich bar on a
terminal and plain lines elsewhere (a log file, a pipe, CI), where a bar is cut to its width."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress as RichBar
    from rich.progress import TaskID


class Progress(Protocol):
    """What long-running work reports to. Implementations must be cheap to call."""

    def start(self, description: str, total: int) -> None: ...

    def advance(self, steps: int = 1, **info: float) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """The library default: report nothing."""

    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, steps: int = 1, **info: float) -> None:
        pass

    def finish(self) -> None:
        pass


class RichProgress:
    """A rich progress bar on stderr, one task at a time, with the latest figures."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar_columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
        )
        self._console = Console(stderr=True)
        self._progress: RichBar | None = None
        self._task: TaskID | None = None

    def start(self, description: str, total: int) -> None:
        from rich.progress import Progress as _RichBar

        self.finish()
        bar = _RichBar(*self._bar_columns, console=self._console, transient=False)
        bar.start()
        self._progress = bar
        self._task = bar.add_task(description, total=total, info="")

    def advance(self, steps: int = 1, **info: float) -> None:
        if self._progress is None or self._task is None:
            return
        # The first two figures (e.g. the loss) keep the bar on one line.
        text = "  ".join(f"{k} {v:.4g}" for k, v in list(info.items())[:2])
        self._progress.update(self._task, advance=steps, info=text)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._progress = None
        self._task = None


class LineProgress:
    """Plain lines for output that is not a terminal: one when a task starts, then one after
    each step once ``interval`` seconds have passed since the last line (so one per epoch when
    epochs are slower), the first and last steps always, and one when the task ends. Each
    begins with the task in brackets (``[train gan] 12/300, ...``), which no line of the
    stage table a run prints at its end begins with.

    ``stream`` defaults to stderr as it is when a line is written.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._interval = interval
        self._clock = clock
        self._task: _LineTask | None = None

    def start(self, description: str, total: int) -> None:
        self.finish()
        now = self._clock()
        self._task = _LineTask(description, total, began=now, last_line=now)
        self._write(f"[{description}] 0/{total}")

    def advance(self, steps: int = 1, **info: float) -> None:
        task = self._task
        if task is None:
            return
        task.done += steps
        now = self._clock()
        if task.done in (steps, task.total) or now - task.last_line >= self._interval:
            task.last_line = now
            self._write(task.status_line(now, info))

    def finish(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            how = "done" if task.done >= task.total else f"stopped at {task.done}/{task.total}"
            self._write(f"[{task.description}] {how} in {_seconds(self._clock() - task.began)}")

    def _write(self, line: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()  # a log being followed shows the line now, not when a buffer fills


class _LineTask:
    """The task a `LineProgress` reports on."""

    def __init__(self, description: str, total: int, *, began: float, last_line: float) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self.began = began
        self.last_line = last_line

    def status_line(self, now: float, info: dict[str, float]) -> str:
        elapsed = now - self.began
        line = f"[{self.description}] {self.done}/{self.total}, {_seconds(elapsed)}"
        if 0 < self.done < self.total:
            line += f", about {_seconds(elapsed / self.done * (self.total - self.done))} left"
        figures = "  ".join(f"{name} {value:.4g}" for name, value in info.items())
        return f"{line}  {figures}" if figures else line


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def terminal_progress(*, quiet: bool = False) -> Progress:
    """What a command reports its long work to: nothing when ``quiet``, a rich bar when stderr
    is a terminal that can redraw a line, plain lines (`LineProgress`) otherwise (a file, a
    pipe, CI, ``TERM=dumb``).

    Decided on the stream itself, not on rich's ``is_terminal``: that one follows
    ``FORCE_COLOR``, which CI sets for colours while its log still cuts a bar to its width.
    """
    if quiet:
        return NullProgress()
    return RichProgress() if _redraws(sys.stderr) else LineProgress()


def _redraws(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except ValueError:  # closed
        return False
