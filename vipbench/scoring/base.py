"""The scoring contract: a run's predictions → grades → scores.

One name per concept:

- A **grade** is what one prediction earns in one judge run: named values, with ``score`` on vipbench's
  0–10 scale, plus anything a scorer needs (a parsed ``answer``, a ``label``). A **grader** makes it: a
  **metric** (local code) or a **judge** (an LLM). Every grader has a version, and the version is part of the
  grade's cache key, so bumping it grades again and nothing else does.
- A **score** is a task-level number on a 0–100 scale. A **scorer** computes a unit's scores from all of its
  grades at once (a mean, an F1 over the set, a corpus metric, a ratio of means) and names one of them the
  headline. A **group scorer** computes a score over several tasks of one run (VCR's joint Q→AR).

Metrics, scorers and reply parsers are registered by name; plugins add their own through the entry-point
groups ``vipbench.metrics``, ``vipbench.scorers`` and ``vipbench.parsers``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from vipbench.errors import VipbenchError
from vipbench.records import PredictionRecord
from vipbench.registry import Registry, check_keywords

Numbers = dict[str, float | None]
"""Named task-level numbers on a 0–100 scale; None where a number is undefined (no item, no positive answer)."""


@dataclass(frozen=True)
class GradedItem:
    """One prediction and its grade in one judge run."""

    record: PredictionRecord
    values: Mapping[str, Any]

    @property
    def score(self) -> float | None:
        return self.values.get("score")


@runtime_checkable
class Scorer(Protocol):
    """Scores from the grades of one scored unit in one judge run.

    ``score`` sees every graded item at once, so it can compute what a mean cannot. Breakdowns call it again
    on each group's items and report its ``headline`` number. A failed grade is never in ``items``.

    Example::

        class Accuracy:
            version = 1
            headline = "accuracy"

            def score(self, items):
                return {"accuracy": 100 * sum(i.score == 10 for i in items) / len(items) if items else None}
    """

    version: int
    headline: str

    def score(self, items: Sequence[GradedItem]) -> Numbers: ...


@dataclass(frozen=True)
class MemberScores:
    """One member task of a group, in one judge run: its graded items and its own scores."""

    items: Sequence[GradedItem]
    numbers: Mapping[str, float | None]


@runtime_checkable
class GroupScorer(Protocol):
    """Scores over several tasks of one run, in one judge run (VCR's Q→AR joins Q→A and QA→R)."""

    version: int
    headline: str

    def score_group(self, members: Mapping[str, MemberScores]) -> Numbers: ...


@dataclass(frozen=True)
class Versioned:
    """A metric or reply parser: a function, and the version that goes into the key of every grade it makes."""

    fn: Callable[..., Any]
    version: int

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def metric(*, version: int) -> Callable[[Callable[..., Mapping[str, Any]]], Versioned]:
    """Declare a metric: ``fn(record, **args) -> {"score": 0..10, ...}``. Bump ``version`` whenever the code
    changes what it returns: every grade it made is then made again.

    Example::

        @metric(version=1)
        def shouts(record: PredictionRecord) -> dict:
            return {"score": 10.0 if record.prediction.isupper() else 0.0}
    """
    if not isinstance(version, int) or version < 1:
        raise ValueError("a metric's version is a positive integer")
    return lambda fn: Versioned(fn, version)


#: A reply parser: ``fn(reply, scale) -> values | None`` (None when the reply holds no usable grade).
reply_parser = metric

METRICS: Registry[Versioned] = Registry("metric")
SCORERS: Registry[type] = Registry("scorer")
PARSERS: Registry[Versioned] = Registry("parser")

METRICS.register("exact_match", "vipbench.scoring.metrics:exact_match", "normalised answer = reference")
METRICS.register("choice_letter", "vipbench.scoring.metrics:choice_letter", "the option letter of an answer")
METRICS.register("yes_no", "vipbench.scoring.metrics:yes_no", "a yes/no answer against its label (POPE)")
METRICS.register("text_box", "vipbench.scoring.metrics:text_box", "a box written in the reply, IoU vs the truth (REC)")
METRICS.register("mask_iou", "vipbench.scoring.masks:mask_iou", "the first output mask, IoU vs the truth (RES)")
METRICS.register("passthrough", "vipbench.scoring.metrics:passthrough", "no per-item grade (corpus scorers)")
SCORERS.register("mean", "vipbench.scoring.scorers:Mean", "mean grade × 10 (ViP-Bench's All)")
SCORERS.register("binary", "vipbench.scoring.scorers:Binary", "accuracy, precision, recall, F1, yes-ratio (POPE)")
SCORERS.register("relative", "vipbench.scoring.scorers:Relative", "mean(model) / mean(reference) × 100")
SCORERS.register("caption", "vipbench.scoring.captions:Caption", "BLEU-1..4, METEOR, ROUGE-L, CIDEr (corpus)")
SCORERS.register("box-accuracy", "vipbench.scoring.scorers:BoxAccuracy", "Acc@0.5, mean IoU, centre accuracy (REC)")
SCORERS.register("mask-iou", "vipbench.scoring.masks:MaskIoU", "cIoU, gIoU, no-mask share (RES)")
SCORERS.register("joint", "vipbench.scoring.scorers:Joint", "a sample counts only if right in every task")
SCORERS.register("mean-of", "vipbench.scoring.scorers:MeanOf", "the mean of one score over the member tasks")
PARSERS.register("first-number", "vipbench.scoring.judge.parsers:first_number", "the first number (vipbench)")
PARSERS.register("score-pair", "vipbench.scoring.judge.parsers:score_pair", "two scores on the first line")
PARSERS.register(
    "mmvet-first-token", "vipbench.scoring.judge.parsers:mmvet_first_token", "the official ViP-Bench reading"
)
PARSERS.register("llava-score-pair", "vipbench.scoring.judge.parsers:llava_score_pair", "LLaVA's parse_score")


def load_versioned(registry: Registry[Versioned], name: str) -> Versioned:
    entry = registry.entry(name)
    obj = entry.load()
    if not isinstance(obj, Versioned):
        raise VipbenchError(
            f"{registry.kind} {name!r} ({entry.origin}) has no version: declare it with "
            f"@vipbench.scoring.{'metric' if registry is METRICS else 'reply_parser'}(version=N)"
        )
    return obj


def check_metric_args(name: str, args: Mapping[str, Any]) -> Versioned:
    found = load_versioned(METRICS, name)
    check_keywords(f"metric {name!r}", found.fn, args, positional=1)
    return found


def build_scorer(name: str, args: Mapping[str, Any], group: bool = False) -> Any:
    """A scorer (or, with ``group``, a group scorer) by name, built with its arguments."""
    cls = SCORERS.entry(name).load()
    check_keywords(f"scorer {name!r}", cls, args)
    try:
        scorer = cls(**args)
    except (TypeError, ValueError) as exc:
        raise VipbenchError(f"scorer {name!r}: {exc}") from None
    protocol, method = (GroupScorer, "score_group") if group else (Scorer, "score")
    if not isinstance(scorer, protocol):
        kind = "a group scorer" if group else "a task scorer"
        raise VipbenchError(f"scorer {name!r} is not {kind}: it needs version, headline and {method}()")
    return scorer
