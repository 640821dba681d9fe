"""Built-in scorers: a unit's grades → its scores (0–100), and group scorers over several tasks of a run."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from vipbench.scoring.base import GradedItem, MemberScores, Numbers


def _mean_of(items: Sequence[GradedItem], value: str) -> float | None:
    present = [float(i.values[value]) for i in items if i.values.get(value) is not None]
    return statistics.fmean(present) if present else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return 100 * numerator / denominator if denominator else None


class Mean:
    """The mean grade × 100 / full marks: ViP-Bench's All is Σ scores / N × 100 over every item (not the mean of
    its capability columns), and a capability's score is the mean over the items that have it. ``also`` names
    further values averaged the same way, reported beside it (a multiple-choice task's strict accuracy)."""

    version = 1
    headline = "mean"

    def __init__(
        self, value: str = "score", full_marks: float = 10.0, label: str = "All", also: Mapping[str, str] | None = None
    ):
        self.value, self.full_marks = value, full_marks
        self.also = dict(also or {})
        self.labels = {"mean": label, **self.also}

    def score(self, items: Sequence[GradedItem]) -> Numbers:
        numbers: Numbers = {}
        for name, value in (("mean", self.value), *((name, name) for name in self.also)):
            mean = _mean_of(items, value)
            numbers[name] = None if mean is None else 100 * mean / self.full_marks
        return numbers


class Binary:
    """Yes/no answers against labels over the whole set: accuracy, precision, recall, F1 (positive = ``positive``)
    and the yes-ratio, the share of *predictions* that are positive (as LLaVA's eval_pope.py; lmms-eval's
    pope_yes_ratio reads the labels instead, so it is always about 50).

    Each grade needs an ``answer`` and a ``label``. An answer of None could not be parsed (lmms-eval's and the
    strict rule): it is wrong in the accuracy, its share is reported as ``unparseable``, and precision, recall and
    F1 count only the parsed answers, as lmms-eval's ``pope_aggregate_*`` do (LLaVA's and Osprey's rules parse
    every answer).

    Where no answer is yes, precision is undefined ("–") and F1 is 0 (2·TP / (2·TP + FP + FN), 0 without a true
    positive, as lmms-eval reports it); LLaVA's eval_pope.py stops there with a ZeroDivisionError.
    """

    version = 2
    headline = "f1"
    labels = {
        "accuracy": "Accuracy",
        "precision": "Precision",
        "recall": "Recall",
        "f1": "F1",
        "yes_ratio": "Yes-ratio",
        "unparseable": "Unparseable",
    }

    def __init__(self, positive: str = "yes", answer: str = "answer", label: str = "label"):
        self.positive, self.answer, self.label = positive, answer, label

    def score(self, items: Sequence[GradedItem]) -> Numbers:
        if not items:
            return dict.fromkeys(("accuracy", "precision", "recall", "f1", "yes_ratio", "unparseable"))
        answers = [(i.values.get(self.answer), i.values.get(self.label) == self.positive) for i in items]
        tp = sum(1 for a, gold in answers if a == self.positive and gold)
        fp = sum(1 for a, gold in answers if a == self.positive and not gold)
        tn = sum(1 for a, gold in answers if a is not None and a != self.positive and not gold)
        fn = sum(1 for a, gold in answers if a is not None and a != self.positive and gold)
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = _ratio(2 * tp, 2 * tp + fp + fn) or 0.0  # = 2PR/(P+R); 0 without a true positive
        n = len(answers)
        return {
            "accuracy": _ratio(tp + tn, n),
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "yes_ratio": _ratio(tp + fp, n),
            "unparseable": _ratio(sum(1 for a, _ in answers if a is None), n),
        }


class Relative:
    """LLaVA-Bench's relative score: mean(``value``) / mean(``baseline``) × 100 over the graded items, beside
    both means × 100 / full marks (LLaVA's summarize_gpt_review.py). It can exceed 100."""

    version = 1
    headline = "relative"
    labels = {"relative": "Relative score"}

    def __init__(self, value: str = "model", baseline: str = "reference", full_marks: float = 10.0):
        self.value, self.baseline, self.full_marks = value, baseline, full_marks

    def score(self, items: Sequence[GradedItem]) -> Numbers:
        both = [i for i in items if i.values.get(self.value) is not None and i.values.get(self.baseline) is not None]
        model, reference = _mean_of(both, self.value), _mean_of(both, self.baseline)
        if model is None or reference is None:
            return {"relative": None, self.baseline: None, self.value: None}
        return {
            "relative": _ratio(model, reference),
            self.baseline: 100 * reference / self.full_marks,
            self.value: 100 * model / self.full_marks,
        }


class Joint:
    """A sample counts only if it is right (full marks) in every member task: VCR's Q→AR is right when both
    Q→A and QA→R are. Samples are joined by id, never by position; one missing from a member (a failed grade)
    is left out."""

    version = 1
    headline = "accuracy"

    def __init__(self, full_marks: float = 10.0):
        self.full_marks = full_marks

    def score_group(self, members: Mapping[str, MemberScores]) -> Numbers:
        scores = [{i.record.sample_id: i.score for i in m.items} for m in members.values()]
        common = set.intersection(*(set(s) for s in scores)) if scores else set()
        right = sum(1 for sid in common if all(s[sid] == self.full_marks for s in scores))
        return {"accuracy": _ratio(right, len(common))}


class MeanOf:
    """The mean over the member tasks of one of their scores: POPE's headline is the mean F1 of its three
    settings (LLaVA-1.5's 85.9)."""

    version = 1

    def __init__(self, score: str):
        self.headline = score

    @staticmethod
    def sample_count(ids: Sequence[set[str]]) -> int:
        """Every member's samples: the settings are separate question sets, whose ids may coincide by chance."""
        return sum(map(len, ids))

    def score_group(self, members: Mapping[str, MemberScores]) -> Numbers:
        values = [m.numbers.get(self.headline) for m in members.values()]
        present = [v for v in values if v is not None]
        return {self.headline: statistics.fmean(present) if present and len(present) == len(values) else None}


class BoxAccuracy:
    """Referring expression comprehension over a split, from ``text_box`` grades: the share of expressions whose
    box has IoU ≥ t with the truth (Acc@t; the headline Acc@0.5, as the REC papers and lmms-eval report it), the
    mean IoU, the share whose predicted centre lies in the true box, and the share of replies with no box (each
    a miss, IoU 0, in every other number). All × 100."""

    version = 1
    headline = "acc50"
    thresholds = (0.1, 0.3, 0.5, 0.7, 0.9)
    labels = {
        **{f"acc{round(t * 100)}": f"Acc@{t}" for t in thresholds},
        "miou": "Mean IoU",
        "centre": "Centre accuracy",
        "no_box": "No box",
    }

    def score(self, items: Sequence[GradedItem]) -> Numbers:
        if not items:
            return dict.fromkeys(self.labels)
        n = len(items)
        ious = [float(i.values.get("iou") or 0.0) for i in items]
        numbers: Numbers = {f"acc{round(t * 100)}": _ratio(sum(iou >= t for iou in ious), n) for t in self.thresholds}
        numbers["miou"] = 100 * statistics.fmean(ious)
        numbers["centre"] = _ratio(sum(bool(i.values.get("centre")) for i in items), n)
        numbers["no_box"] = _ratio(sum(not i.values.get("parsed") for i in items), n)
        return numbers
