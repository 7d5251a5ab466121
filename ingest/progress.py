"""Progress display on stderr, shared by every layer: one look, one switch (``progress=``).

Long work (reading logs, building a snapshot, loading Neo4j, training) shows a rich progress bar
or status line on stderr when ``enabled`` and nothing at all otherwise; callers never test the
switch themselves::

    with progress_display(enabled) as bars:
        task = bars.add("rows", total=n)
        bars.advance(task, 1000)
        bars.update(task, info="loss 0.31")     # free text shown after the bar

    with status_display(enabled, "building snapshot") as step:
        step("account features")              # "building snapshot: account features"

``ingest`` is the lowest package, so ``graph``, ``gnn`` and ``abusenet`` use these too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

Unit = Literal["items", "bytes"]


class ProgressDisplay:
    """Tasks on a rich ``Progress``, or a silent stand-in when the display is off."""

    def __init__(self, progress: Any | None) -> None:
        self._progress = progress

    @property
    def enabled(self) -> bool:
        """Whether anything is shown."""
        return self._progress is not None

    def add(self, description: str, total: float | None = None, *, info: str = "") -> int:
        """A new task; ``total`` 0 or ``None`` shows a pulsing bar (unknown length)."""
        if self._progress is None:
            return 0
        return int(self._progress.add_task(description, total=total or None, info=info))

    def advance(self, task: int, amount: float = 1) -> None:
        """Move ``task`` on by ``amount``."""
        if self._progress is not None:
            self._progress.advance(task, amount)

    def update(
        self, task: int, *, description: str | None = None, info: str | None = None,
        completed: float | None = None, total: float | None = None,
    ) -> None:
        """Change a task's description, free text, completed amount or total."""
        if self._progress is None:
            return
        fields: dict[str, Any] = {}
        if info is not None:
            fields["info"] = info
        self._progress.update(
            task, description=description, completed=completed, total=total, **fields
        )

    def describe(self, task: int, description: str) -> None:
        """Change a task's description."""
        self.update(task, description=description)


@contextmanager
def progress_display(enabled: bool, *, unit: Unit = "items") -> Iterator[ProgressDisplay]:
    """A progress display on stderr while the block runs (transient: gone when it ends).

    Parameters
    ----------
    enabled
        ``False`` shows nothing; every method of the display is then a no-op.
    unit
        ``items`` shows ``done/total`` and items per second; ``bytes`` shows a transfer speed.
    """
    if not enabled:
        yield ProgressDisplay(None)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    amount = TransferSpeedColumn() if unit == "bytes" else MofNCompleteColumn()
    columns = (
        TextColumn("{task.description}"), BarColumn(), amount, TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield ProgressDisplay(bar)


@contextmanager
def status_display(enabled: bool, title: str) -> Iterator[Callable[[str], None]]:
    """A spinner line ``title: step`` on stderr; yields ``step(description)`` to change it."""
    if not enabled:
        yield lambda description: None
        return
    from rich.console import Console

    with Console(stderr=True).status(title) as status:
        yield lambda description: status.update(f"{title}: {description}")
