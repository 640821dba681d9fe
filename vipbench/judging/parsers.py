"""Judge reply → score on the reply's own scale, or None when the reply holds no usable score."""

from __future__ import annotations

from collections.abc import Callable

from vipbench.errors import UnknownNameError


def first_number(reply: str, scale: float) -> float | None:
    """The first whitespace-separated token as a number in [0, scale] (the official graders' rule:
    ``content.split(' ')[0]`` → float, range-checked). Trailing punctuation is tolerated."""
    tokens = reply.strip().split()
    if not tokens:
        return None
    try:
        value = float(tokens[0].rstrip(".,;:"))
    except ValueError:
        return None
    return value if 0.0 <= value <= scale else None


PARSERS: dict[str, Callable[[str, float], float | None]] = {"first-number": first_number}


def get_parser(name: str) -> Callable[[str, float], float | None]:
    if name not in PARSERS:
        raise UnknownNameError("reply parser", name, PARSERS)
    return PARSERS[name]
