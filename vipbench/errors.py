"""Errors a user can fix. The CLI prints them as one line, never as a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class VipbenchError(Exception):
    """Something the user can fix: bad input, a missing file, an unknown name."""


class DataError(VipbenchError):
    """A dataset file is missing or malformed."""


class UnknownNameError(VipbenchError):
    """An unknown task, model or judge name; the message lists the known ones."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listed = f"Known {kind}s: {', '.join(known)}" if known else f"There are no {kind}s yet."
        super().__init__(f"unknown {kind} {name!r}.{hint} {listed}")


class MissingExtraError(VipbenchError):
    """An optional dependency group is not installed."""

    def __init__(self, extra: str, what: str):
        super().__init__(f"{what} needs the [{extra}] extra: pip install 'vipbench[{extra}]'")


def first_problem(exc) -> str:
    """A pydantic ValidationError as one line: where the first problem is, and what it is."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error['msg'].lower()}" if where else error["msg"].lower()
