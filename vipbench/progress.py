"""The one progress bar style every long stage uses: what, how far, a live detail, elapsed and ETA.

The detail is the task's ``detail`` field, then whatever the sources registered with ``live_detail`` say at each
refresh: an API client's timeouts and retries show as they happen, while the bar itself waits for a batch (or a
deadline) before it moves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

_LIVE: list[Callable[[], str]] = []
BAR = 1
"""The bar's place among the columns."""

BAR_WIDTH = 40
"""The bar's widest; on a narrow terminal it gives way first, down to ``MIN_BAR_WIDTH``, then the detail does."""
MIN_BAR_WIDTH = 5


@contextmanager
def live_detail(source: Callable[[], str]) -> Iterator[None]:
    """While inside, every bar's detail ends with ``source()``, read at each refresh (from rich's thread)."""
    _LIVE.append(source)
    try:
        yield
    finally:
        _LIVE.remove(source)


def detail_text(fields: dict) -> str:
    """A task's detail as shown: its own ``detail`` field, then the live sources'."""
    parts = [fields.get("detail", ""), *(source() for source in tuple(_LIVE))]
    return " · ".join(part for part in parts if part)


def progress_bar(console=None, shown: bool = True):
    """A rich Progress whose tasks take a ``detail`` field (a rate, request counts, ...); ``shown=False`` keeps it
    quiet (the other processes of a data-parallel run). On a narrow terminal the bar and then the detail give way
    (the detail cut with "…", on one line); the description and the counts are never cut."""
    from rich.measure import Measurement
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column
    from rich.text import Text

    class DetailColumn(ProgressColumn):
        def render(self, task) -> Text:
            return Text(detail_text(task.fields), no_wrap=True, overflow="ellipsis")

    class FittingProgress(Progress):
        def make_tasks_table(self, tasks):
            """The bar as wide as what the other columns leave, within its bounds."""
            table = super().make_tasks_table(tasks)
            if not tasks:  # also while rich builds the Progress, before it has a console
                return table
            console, options = self.console, self.console.options
            others = sum(
                max((Measurement.get(console, options, cell).maximum for cell in column.cells), default=0)
                for index, column in enumerate(table.columns)
                if index != BAR
            )
            spaces = len(table.columns) - 1
            table.columns[BAR].width = max(MIN_BAR_WIDTH, min(BAR_WIDTH, options.max_width - others - spaces))
            return table

    def whole() -> Column:
        return Column(no_wrap=True)

    return FittingProgress(
        TextColumn("[bold]{task.description}", table_column=whole()),
        BarColumn(bar_width=None),
        MofNCompleteColumn(table_column=whole()),
        DetailColumn(),
        TimeElapsedColumn(table_column=whole()),
        TextColumn("eta", table_column=whole()),
        TimeRemainingColumn(table_column=whole()),
        console=console,
        disable=not shown,
    )
