"""Grades and scores: metrics and LLM judges grade each prediction, scorers turn grades into a task's numbers.

See ``vipbench.scoring.base`` for the vocabulary and the contracts a plugin implements.
"""

from vipbench.scoring.base import (
    METRICS,
    PARSERS,
    SCORERS,
    GradedItem,
    GroupScorer,
    MemberScores,
    Scorer,
    metric,
    reply_parser,
)

__all__ = [
    "METRICS",
    "PARSERS",
    "SCORERS",
    "GradedItem",
    "GroupScorer",
    "MemberScores",
    "Scorer",
    "metric",
    "reply_parser",
]
