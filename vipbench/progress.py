"""The one progress bar style every long stage uses: what, how far, a live detail, elapsed and ETA."""

from __future__ import annotations


def progress_bar(console=None):
    """A rich Progress whose tasks take a ``detail`` field (a rate, request counts, ...)."""
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
    )
