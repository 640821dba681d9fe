"""Judge reply → grade values, or None when the reply holds no usable grade (it is then asked again)."""

from __future__ import annotations

from typing import Any

from vipbench.scoring.base import reply_parser


@reply_parser(version=1)
def first_number(reply: str, scale: float) -> dict[str, Any] | None:
    """The first whitespace-separated token as a number in [0, scale], as ``score`` on 0–10 (the official
    graders' rule: ``content.split(' ')[0]`` → float, range-checked). Trailing punctuation is tolerated."""
    tokens = reply.strip().split()
    if not tokens:
        return None
    try:
        value = float(tokens[0].rstrip(".,;:"))
    except ValueError:
        return None
    return {"score": value / scale * 10} if 0.0 <= value <= scale else None
