"""Local metrics: grades computed from the prediction alone, on the same 0–10 scale as judge grades."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from vipbench.errors import UnknownNameError
from vipbench.records import PredictionRecord

_NUMBER_WORDS = {
    w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
_ARTICLES = {"a", "an", "the"}


def normalize(text: str) -> str:
    """Lower case, no accents or punctuation, number words as digits, no articles."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = [_NUMBER_WORDS.get(w, w) for w in re.sub(r"[^a-z0-9\s-]", " ", text).replace("-", " ").split()]
    kept = [w for w in words if w not in _ARTICLES]
    return " ".join(kept or words)  # a lone "A" is an answer (a letter, an option), not an article


def _mentions(haystack: str, needle: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])", haystack) is not None


def exact_match(record: PredictionRecord) -> float:
    """10 when the normalised answer equals a reference, or when the answer names exactly one of the
    question's ``choices`` and it is the right one ("The object is red." → red); else 0. Naming several
    choices scores 0, so listing every option cannot game it."""
    prediction = normalize(record.prediction)
    references = {normalize(r) for r in record.references}
    if prediction in references:
        return 10.0
    choices = {normalize(c) for c in record.metadata.get("choices", ())}
    named = {c for c in choices if c and _mentions(prediction, c)}
    return 10.0 if len(named) == 1 and named <= references else 0.0


METRICS: dict[str, Callable[[PredictionRecord], float]] = {"exact_match": exact_match}


def get_metric(name: str) -> Callable[[PredictionRecord], float]:
    if name not in METRICS:
        raise UnknownNameError("metric", name, METRICS)
    return METRICS[name]
