"""Progress reporting: the library reports to a callback; the CLI shows a rich bar."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

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
