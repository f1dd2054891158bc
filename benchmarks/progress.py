"""The progress display of a running workload: a rich progress bar on stderr with what was offered,
what was answered and the p99 so far. Shown only on a terminal: when stdout is not a TTY (piped
into a file or jq) nothing is drawn, so the JSON on stdout stays clean and no escape codes land in
a log."""

from __future__ import annotations

import sys
from typing import IO, Any


def wanted(stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> bool:
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    return _isatty(stdout) and _isatty(stderr)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Display:
    """Offered / answered / p99 of one run; `enabled=False`: does nothing at all."""

    def __init__(
        self, title: str, total: int, enabled: bool, stream: IO[str] | None = None
    ) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(file=stream or sys.stderr)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(),
            TextColumn("offered {task.completed:>7.0f}/{task.total:.0f}"),
            TextColumn("answered {task.fields[answered]:>7}"), TextColumn("p99 {task.fields[p99]}"),
            TimeElapsedColumn(), console=console, transient=False,
        )  # fmt: skip
        self._task = self._progress.add_task(title, total=total, answered=0, p99="-")
        self._progress.start()

    def update(self, live: dict[str, Any]) -> None:
        if not self.enabled:
            return
        p99 = live.get("p99_ms")
        self._progress.update(
            self._task, completed=live.get("offered", 0), answered=live.get("answered", 0),
            p99="-" if p99 is None else f"{p99:.0f} ms",
        )  # fmt: skip

    def stop(self) -> None:
        if self.enabled:
            self._progress.stop()
            self.enabled = False
