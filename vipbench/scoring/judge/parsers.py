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


@reply_parser(version=1)
def score_pair(reply: str, scale: float) -> dict[str, Any] | None:
    """Two scores on the reply's first line, as LLaVA's review scripts read them (``parse_score``: commas as spaces,
    split on spaces, exactly two fields), each in [0, scale]; ``first`` and ``second`` in the order the answers
    were shown. Upstream, anything else becomes [-1, -1] and is averaged in; here it is no grade."""
    fields = reply.strip().split("\n")[0].replace(",", " ").split()
    if len(fields) != 2:
        return None
    try:
        first, second = (float(f) for f in fields)
    except ValueError:
        return None
    if not (0.0 <= first <= scale and 0.0 <= second <= scale):
        return None
    return {"first": first, "second": second}
