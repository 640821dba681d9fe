"""The one progress bar style every long stage uses: what, how far, a live detail, elapsed and ETA."""

from __future__ import annotations


def progress_bar(console=None, shown: bool = True):
    """A rich Progress whose tasks take a ``detail`` field (a rate, request counts, ...); ``shown=False`` keeps it
    quiet (the other processes of a data-parallel run)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=not shown,
    )
