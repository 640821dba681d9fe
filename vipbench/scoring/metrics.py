"""Built-in metrics: grades computed from a prediction record alone, on the same 0–10 scale as judge grades."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
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


def upstream_exact(prediction: str, references: Sequence[str]) -> bool:
    """ViP-LLaVA's ``llava/eval/model_vqa_loader_vip.py`` (VCR, Visual7W, PointQA): ``outputs.strip().lower() ==
    gt.lower()``, so "A." and "(A)" are wrong and the reference is not stripped."""
    return any(prediction.strip().lower() == r.lower() for r in references)


@metric(version=4)
def exact_match(
    record: PredictionRecord,
    extract: Literal["whole", "first_word", "choice"] = "whole",
    max_words: int = 5,
    headline: Literal["normalised", "exact"] = "normalised",
) -> dict[str, Any]:
    """10 when the answer equals a reference, else 0. ``normalised`` compares after normalisation (case, accents,
    punctuation, articles, number words as digits: "Two." = "2"); ``exact`` is the upstream academic scripts' rule
    (``upstream_exact``). Both are in the grade; ``headline`` says which one is ``score`` (PointQA's official
    protocol: ``exact``). ``answer`` is the normalised answer compared.

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
    grades = {
        "normalised": _ten(answer in references),
        "exact": _ten(upstream_exact(record.prediction, record.references)),
    }
    return {"score": grades[headline], "answer": answer, **grades}


@metric(version=2)
def choice_letter(record: PredictionRecord, headline: Literal["exact", "letter"] = "exact") -> dict[str, Any]:
    """Multiple choice with letter answers (Visual7W, VCR), 10 or 0. ``exact`` is the official rule, the whole
    prediction equal to the letter (``upstream_exact``: "A." and "(A)" are wrong); ``letter`` is vipbench's
    lenient reading, the letter the prediction gives (``vipbench.multiple_choice.extract_letter``: "A", "(A)",
    "A. the cup", "The answer is A", ...). Both are in the grade; ``headline`` says which one is ``score``."""
    count = int(record.metadata.get("options", 4))
    answer = extract_letter(record.prediction, count)
    gold = record.references[0].strip().upper()
    grades = {"exact": _ten(upstream_exact(record.prediction, record.references[:1])), "letter": _ten(answer == gold)}
    return {"score": grades[headline], "answer": answer, **grades}


def _ten(right: bool) -> float:
    return 10.0 if right else 0.0


#: The POPE answer rule of each model family's own script, and of lmms-eval for the families without one.
POPE_RULES = {"llava": "llava", "osprey": "osprey", "omg-llava": "lmms-eval", "perceptiongpt": "lmms-eval"}


@metric(version=2)
def yes_no(
    record: PredictionRecord, rule: Literal["llava", "osprey", "lmms-eval", "strict", "family"] = "llava"
) -> dict[str, Any]:
    """A yes/no answer (POPE) as ``answer`` beside its ``label``, 10 when they agree.

    - ``llava``: LLaVA's ``llava/eval/eval_pope.py`` exactly: the text before the first ".", commas removed,
      split on single spaces; a word that is exactly "No", "no" or "not" means no, and anything else, an empty
      or garbled answer ("I cannot tell") included, means yes (case-sensitive, as upstream: "NO" is yes).
    - ``osprey``: Osprey's ``osprey/eval/pope/evaluate.py``: the same after lower-casing ("NO", "Not sure." → no).
    - ``lmms-eval``: lmms-eval's ``pope_process_results``: the answer lower-cased and stripped must be exactly
      "yes" or "no"; anything else is unparseable (``answer`` None) and wrong.
    - ``strict`` (vipbench): only "yes" or "no" in any case, surrounding punctuation ignored; else unparseable.
    - ``family``: the model family's own rule (``POPE_RULES``), resolved when a run is scored
      (``protocol_args``); where no family is known (an lmms-eval export), lmms-eval's.
    """
    text = record.prediction
    answer: str | None
    if rule == "family":
        rule = "lmms-eval"
    if rule in ("llava", "osprey"):
        words = (text.lower() if rule == "osprey" else text).split(".")[0].replace(",", "").split(" ")
        answer = "no" if {"No", "no", "not"} & set(words) else "yes"
    elif rule == "lmms-eval":
        word = text.lower().strip()
        answer = word if word in ("yes", "no") else None
    else:  # strict
        word = text.strip().strip(".,!?;:'\"").lower()
        answer = word if word in ("yes", "no") else None
    label = record.references[0].strip().lower()
    return {"answer": answer, "label": label, "score": 10.0 if answer == label else 0.0}


#: vipbench's own reading of each metric, used under ``--protocol vipbench`` (a recorded deviation).
VIPBENCH_ARGS: dict[str, dict[str, Any]] = {
    "choice_letter": {"headline": "letter"},
    "exact_match": {"headline": "normalised"},
}


def protocol_args(name: str, args: Mapping[str, Any], protocol: str | None, family: str | None) -> dict[str, Any]:
    """A metric's arguments for one run: ``rule: family`` becomes the family's own rule (lmms-eval's for a
    model of no family), and the ``vipbench`` protocol takes vipbench's own reading (``VIPBENCH_ARGS``)."""
    resolved = dict(args)
    if name == "yes_no" and resolved.get("rule") == "family":
        resolved["rule"] = POPE_RULES.get(family or "", "lmms-eval")
    if protocol == "vipbench":
        resolved.update(VIPBENCH_ARGS.get(name, {}))
    return resolved


@metric(version=1)
def passthrough(record: PredictionRecord) -> dict[str, Any]:
    """No per-item grade: a corpus scorer (``caption``) reads each prediction and its references itself."""
    return {}
