"""Built-in metrics: grades computed from a prediction record alone, on the same 0–10 scale as judge grades."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from vipbench.multiple_choice import extract_letter
from vipbench.records import PredictionRecord
from vipbench.scoring.base import metric

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


def _names(answer: str, choice: str) -> bool:
    """``choice`` appears in ``answer`` as whole words (both normalised)."""
    return f" {choice} " in f" {answer} "


def named_choice(answer: str, choices: list[str], max_words: int) -> str | None:
    """The one choice a short normalised answer names, or None: a long answer, or one naming no choice or
    several, names none. A choice inside a longer named choice ("red" in "dark red") does not count twice."""
    if not answer or len(answer.split()) > max_words:
        return None
    named = {c for c in choices if c and _names(answer, c)}
    named = {c for c in named if not any(c != o and _names(o, c) for o in named)}
    return named.pop() if len(named) == 1 else None


@metric(version=3)
def exact_match(
    record: PredictionRecord, extract: Literal["whole", "first_word", "choice"] = "whole", max_words: int = 5
) -> dict[str, Any]:
    """10 when the answer equals a reference after normalisation (case, accents, punctuation, articles, number
    words as digits), else 0. The answer compared is ``answer`` in the grade; ``strict`` is the upstream
    academic scripts' rule, the lower-cased prediction equal to a lower-cased reference, 10 or 0.

    ``extract`` says what counts as the answer besides the whole normalised prediction:

    - ``whole``: nothing else.
    - ``first_word``: its first word, for one-word answers ("Red, I think." → red).
    - ``choice``: the one option of the sample's ``metadata["choices"]`` that a short prediction (at most
      ``max_words`` words) names ("The object is red." → red). Naming two options, or none, is wrong, and a long
      generation never matches, so neither listing every option nor rambling earns credit.
    """
    prediction = normalize(record.prediction)
    references = {normalize(r) for r in record.references}
    answer = prediction
    if prediction not in references:
        if extract == "first_word":
            answer = prediction.split(" ", 1)[0]
        elif extract == "choice":
            choices = [normalize(str(c)) for c in record.metadata.get("choices", ())]
            answer = named_choice(prediction, choices, max_words) or prediction
    strict = record.prediction.strip().lower() in {r.strip().lower() for r in record.references}
    return {"score": 10.0 if answer in references else 0.0, "answer": answer, "strict": 10.0 if strict else 0.0}


@metric(version=1)
def choice_letter(record: PredictionRecord) -> dict[str, Any]:
    """Multiple choice with letter answers (Visual7W, VCR): 10 when the letter the prediction gives
    (``vipbench.multiple_choice.extract_letter``: "A", "(A)", "A. the cup", "The answer is A", ...) is the
    reference's. ``strict`` is the upstream rule, the whole prediction equal to the letter (ViP-LLaVA's
    ``model_vqa_loader_vip.py``), which scores "A." and "(A)" wrong."""
    count = int(record.metadata.get("options", 4))
    answer = extract_letter(record.prediction, count)
    gold = record.references[0].strip().upper()
    strict = record.prediction.strip().lower() == record.references[0].strip().lower()
    return {"score": 10.0 if answer == gold else 0.0, "answer": answer, "strict": 10.0 if strict else 0.0}


@metric(version=1)
def yes_no(record: PredictionRecord, rule: Literal["llava", "strict"] = "llava") -> dict[str, Any]:
    """A yes/no answer (POPE) as ``answer`` beside its ``label``, 10 when they agree.

    ``llava`` is LLaVA's ``llava/eval/eval_pope.py`` exactly: the text before the first ".", commas removed,
    split on spaces; a word that is exactly "No", "no" or "not" means no, and anything else, an empty or
    garbled answer included, means yes (case-sensitive, as upstream). ``strict`` accepts only "yes" or "no"
    (any case, surrounding punctuation ignored); anything else is unparseable (``answer`` None) and wrong.
    """
    text = record.prediction
    if rule == "llava":
        words = text.split(".")[0].replace(",", "").split(" ")
        answer: str | None = "no" if {"No", "no", "not"} & set(words) else "yes"
    else:
        word = text.strip().strip(".,!?;:'\"").lower()
        answer = word if word in ("yes", "no") else None
    label = record.references[0].strip().lower()
    return {"answer": answer, "label": label, "score": 10.0 if answer == label else 0.0}


@metric(version=1)
def passthrough(record: PredictionRecord) -> dict[str, Any]:
    """No per-item grade: a corpus scorer (``caption``) reads each prediction and its references itself."""
    return {}
