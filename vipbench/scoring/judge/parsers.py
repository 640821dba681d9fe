"""Judge reply → grade values, or None when the reply holds no usable grade (it is then asked again, or counted
by the judge's failure rule).

Two readings per judge: the official grader's, exactly as its script reads a reply (the default), and vipbench's
stricter one (``--judge-rules vipbench``).
"""

from __future__ import annotations

import math
from typing import Any

from vipbench.scoring.base import reply_parser


@reply_parser(version=1)
def mmvet_first_token(reply: str, scale: float) -> dict[str, Any] | None:
    """The official ViP-Bench/MM-Vet grader's reading (ViP-LLaVA ``scripts/eval/vip-bench_evaluator.py``):
    ``float(content.split(' ')[0].strip())``, refused only when above ``scale`` or below 0. So " 0.8" (the first
    field is empty), "1.0." and "0.5\\nbecause" are refused, and "1.0\\n", "0.8 because", "-0.0" and "nan" are
    kept. A kept "nan" has no score: the grade fails without a re-ask (``score`` NaN; ``protocol.grade``)."""
    try:
        value = float(reply.split(" ")[0].strip())
    except ValueError:
        return None
    if value > scale or value < 0.0:
        return None
    return {"score": value / scale * 10}


@reply_parser(version=2)
def first_number(reply: str, scale: float) -> dict[str, Any] | None:
    """vipbench's reading: the first whitespace-separated token as a finite number in [0, scale], as ``score`` on
    0–10. Leading whitespace and trailing punctuation are tolerated (" 0.8", "1.0." are 0.8 and 1.0)."""
    tokens = reply.strip().split()
    if not tokens:
        return None
    try:
        value = float(tokens[0].rstrip(".,;:"))
    except ValueError:
        return None
    return {"score": value / scale * 10} if math.isfinite(value) and 0.0 <= value <= scale else None


@reply_parser(version=1)
def llava_score_pair(reply: str, scale: float) -> dict[str, Any] | None:
    """LLaVA's ``parse_score`` (``llava/eval/eval_gpt_review_bench.py``): the first line, commas as spaces, split
    on single spaces, exactly two fields as floats ("8,7" → 8, 7; "8, 7", "8  7", " 8 7", "Score: 8 7" → none,
    which upstream records as [-1, -1]: the judge's failure rule). No range check, as upstream."""
    pair = _two_scores(reply.split("\n")[0].replace(",", " ").split(" "))
    return None if pair is None else {"first": pair[0], "second": pair[1]}


@reply_parser(version=1)
def score_pair(reply: str, scale: float) -> dict[str, Any] | None:
    """vipbench's reading of a review: two scores on the first line, commas as spaces, split on any whitespace,
    exactly two fields, each in [0, scale]; ``first`` and ``second`` in the order the answers were shown."""
    pair = _two_scores(reply.strip().split("\n")[0].replace(",", " ").split())
    if pair is None or not all(0.0 <= score <= scale for score in pair):
        return None
    return {"first": pair[0], "second": pair[1]}


def _two_scores(fields: list[str]) -> tuple[float, float] | None:
    """Exactly two fields, each a number."""
    if len(fields) != 2:
        return None
    try:
        return float(fields[0]), float(fields[1])
    except ValueError:
        return None
