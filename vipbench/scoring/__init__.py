"""Grades and scores: metrics and LLM judges grade each prediction, scorers turn grades into a task's numbers.

See ``vipbench.scoring.base`` for the vocabulary and the contracts a plugin implements. A grading goes
``spec`` (what each task is graded with) → ``plan`` (the grade keys, and the grades still to make) → ``service``
(make them: metrics, and the judge in ``judge/``, live or batch) → ``record`` (scores.json from the grades, with
``aggregate``'s numbers); ``grade`` runs these for a run folder, and ``report`` prints the tables.
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
