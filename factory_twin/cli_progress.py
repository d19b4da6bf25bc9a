"""The command line's stdout console and the progress bars workflows report to."""

from __future__ import annotations

import functools
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["Bar", "bars", "console", "progress_bars"]

# wide enough for the KPI table when output goes to a file or CI log instead of a terminal
# markup off: scenario and station names are the planner's text and may contain "[...]"
console = Console(width=None if sys.stdout.isatty() else 160, markup=False)


def progress_bars() -> Progress:
    """Rich progress bars on the stdout console, one per workflow task."""
    return Progress(
        TextColumn("{task.description}", markup=False, style="bold"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


class Bar:
    """A workflow's `Task` drawn as one rich progress bar."""

    def __init__(self, progress: Progress, description: str, total: int) -> None:
        self.progress, self.id = progress, progress.add_task(description, total=total, info="")

    def advance(self, n: int = 1) -> None:
        self.progress.advance(self.id, n)

    def update(self, completed: int, info: str = "") -> None:
        self.progress.update(self.id, completed=completed, info=info)


def bars(progress: Progress):
    """A workflow's `Track`: every task it starts becomes a bar."""
    return functools.partial(Bar, progress)
