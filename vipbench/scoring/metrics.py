"""Built-in metrics: grades computed from a prediction record alone, on the same 0–10 scale as judge grades."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from vipbench.errors import VipbenchError
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


#: Shikra's (PerceptionGPT's) answer extraction (``PointQAComputeMetrics.extract_ans``): exactly one match.
SHIKRA_ANSWER = re.compile(r"(?:The answer is (.+?)\.)")
#: The official answer rule of VCR and PointQA per model family (``rule: family``): ViP-LLaVA's exact match
#: (``upstream_exact``), else the family's own; resolved when a run is scored (``protocol_args``).
ANSWER_RULES = {"perceptiongpt": "shikra"}
AnswerRule = Literal["vip-llava", "shikra", "family"]


def shikra_answer(text: str) -> str | None:
    """The X of the one "The answer is X." in a reply, stripped; None when there is none or several."""
    found = SHIKRA_ANSWER.findall(text.strip())
    return found[0].strip() if len(found) == 1 else None


def shikra_exact(prediction: str, target: str) -> bool:
    """PerceptionGPT's (Shikra's) ``BaseComputeMetrics.calculate_metric`` on one item: the answers extracted from
    the reply and from the target its dataset writes are equal (as they are: case counts); an unreadable target
    is wrong."""
    gold = shikra_answer(target)
    return gold is not None and shikra_answer(prediction) == gold


@metric(version=5)
def exact_match(
    record: PredictionRecord,
    extract: Literal["whole", "first_word", "choice"] = "whole",
    max_words: int = 5,
    headline: Literal["normalised", "exact"] = "normalised",
    rule: AnswerRule = "vip-llava",
) -> dict[str, Any]:
    """10 when the answer equals a reference, else 0. ``normalised`` compares after normalisation (case, accents,
    punctuation, articles, number words as digits: "Two." = "2"); ``exact`` is the official rule: ``rule``
    ``vip-llava``, the upstream academic scripts' (``upstream_exact``), or ``shikra``, PerceptionGPT's PointQA
    reading (``shikra_exact`` against its target "The answer is <reference> ."). Both are in the grade;
    ``headline`` says which one is ``score`` (PointQA's official protocol: ``exact``). ``answer`` is the
    normalised answer compared.

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
    if rule == "shikra":
        exact = any(shikra_exact(record.prediction, f"The answer is {r} .") for r in record.references)
    else:
        exact = upstream_exact(record.prediction, record.references)
    grades = {"normalised": _ten(answer in references), "exact": _ten(exact)}
    return {"score": grades[headline], "answer": answer, **grades}


@metric(version=3)
def choice_letter(
    record: PredictionRecord, headline: Literal["exact", "letter"] = "exact", rule: AnswerRule = "vip-llava"
) -> dict[str, Any]:
    """Multiple choice with letter answers (Visual7W, VCR), 10 or 0. ``exact`` is the official rule: ``rule``
    ``vip-llava``, the whole prediction equal to the letter (``upstream_exact``: "A." and "(A)" are wrong), or
    ``shikra``, PerceptionGPT's (``shikra_exact`` against its VCR target "The answer is (A)."; it ships no VCR
    scorer: its answer format read as its ``PointQAComputeMetrics`` reads answers). ``letter`` is vipbench's
    lenient reading, the letter the prediction gives (``vipbench.multiple_choice.extract_letter``: "A", "(A)",
    "A. the cup", "The answer is A", ...). Both are in the grade; ``headline`` says which one is ``score``."""
    count = int(record.metadata.get("options", 4))
    answer = extract_letter(record.prediction, count)
    gold = record.references[0].strip().upper()
    if rule == "shikra":
        exact = shikra_exact(record.prediction, f"The answer is ({record.references[0]}).")
    else:
        exact = upstream_exact(record.prediction, record.references[:1])
    grades = {"exact": _ten(exact), "letter": _ten(answer == gold)}
    return {"score": grades[headline], "answer": answer, **grades}


def _ten(right: bool) -> float:
    return 10.0 if right else 0.0


#: The POPE answer rule of each model family's own script, and of lmms-eval for the families without one.
POPE_RULES = {"llava": "llava", "osprey": "osprey", "omg-llava": "lmms-eval", "perceptiongpt": "shikra"}


@metric(version=3)
def yes_no(
    record: PredictionRecord, rule: Literal["llava", "osprey", "lmms-eval", "shikra", "strict", "family"] = "llava"
) -> dict[str, Any]:
    """A yes/no answer (POPE) as ``answer`` beside its ``label``, 10 when they agree.

    - ``llava``: LLaVA's ``llava/eval/eval_pope.py`` exactly: the text before the first ".", commas removed,
      split on single spaces; a word that is exactly "No", "no" or "not" means no, and anything else, an empty
      or garbled answer ("I cannot tell") included, means yes (case-sensitive, as upstream: "NO" is yes).
    - ``osprey``: Osprey's ``osprey/eval/pope/evaluate.py``: the same after lower-casing ("NO", "Not sure." → no).
    - ``lmms-eval``: lmms-eval's ``pope_process_results``: the answer lower-cased and stripped must be exactly
      "yes" or "no"; anything else is unparseable (``answer`` None) and wrong.
    - ``shikra``: PerceptionGPT's (Shikra's) answers, trained as "The answer is yes .": the one "The answer is X."
      of the reply (its ``PointQAComputeMetrics.extract_ans``; none or several: unparseable), X exactly "yes" or
      "no" (upstream compares the extracted strings as they are); it has no POPE scorer of its own.
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
    elif rule == "shikra":
        word = shikra_answer(text)
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
    """A metric's arguments for one run: ``rule: family`` (``convention: family``) becomes the family's own rule
    (box convention; lmms-eval's for a model of no family), and the ``vipbench`` protocol takes vipbench's own
    reading (``VIPBENCH_ARGS``)."""
    resolved = dict(args)
    if name == "yes_no" and resolved.get("rule") == "family":
        resolved["rule"] = POPE_RULES.get(family or "", "lmms-eval")
    if name in ("choice_letter", "exact_match") and resolved.get("rule") == "family":
        resolved["rule"] = ANSWER_RULES.get(family or "", "vip-llava")
    if name == "text_box" and resolved.get("convention") == "family":
        resolved["convention"] = REC_CONVENTIONS.get(family or "", "unit")
    if protocol == "vipbench":
        resolved.update(VIPBENCH_ARGS.get(name, {}))
    return resolved


@metric(version=1)
def passthrough(record: PredictionRecord) -> dict[str, Any]:
    """No per-item grade: a corpus scorer (``caption``) reads each prediction and its references itself."""
    return {}


# -------------------------------------------------------------------------------- boxes in text (REC)

#: lmms-eval's ``parse_float_sequence_within`` (tasks/refcoco/utils_rec.py @75571cf): the first ``[a, b, c, d]``.
BOX_IN_TEXT = re.compile(r"\[\s*(-?\d+(?:\.\d+)?),\s*(-?\d+(?:\.\d+)?),\s*(-?\d+(?:\.\d+)?),\s*(-?\d+(?:\.\d+)?)\s*\]")

#: How a reply writes a box: ``unit`` 0–1 of the original image (lmms-eval's), ``thousand`` 0–1000, ``pixel``,
#: ``padded_square`` 0–1 of the image padded to a square, centred (LLaVA's ``expand2square``); ``decoded`` reads no
#: text: the model answers with a decoded region (``output_regions``) or not at all; ``family`` is the model
#: family's own (``REC_CONVENTIONS``), resolved when a run is scored, else lmms-eval's.
BoxConvention = Literal["unit", "thousand", "pixel", "padded_square", "decoded", "family"]
BOX_CONVENTIONS = ("unit", "thousand", "pixel", "padded_square", "decoded")

#: Each model family's REC answer: LLaVA-1.5 (and ViP-LLaVA, trained on its data) writes 0–1 boxes on the image
#: padded to a square (README, REC); PerceptionGPT decodes a box from its ``<loc>`` output and OMG-LLaVA a mask from
#: its ``[SEG]``, read from the prediction's ``output_regions``.
REC_CONVENTIONS = {"llava": "padded_square", "perceptiongpt": "decoded", "omg-llava": "decoded"}


def padded_square(size: Sequence[float]) -> tuple[int, int, int]:
    """The side of the square an image of (W, H) is padded to, and the image's offset in it, as LLaVA's
    ``expand2square`` pastes it: (max(W, H), (side − W) // 2, (side − H) // 2)."""
    w, h = (int(v) for v in size)
    side = max(w, h)
    return side, (side - w) // 2, (side - h) // 2


def parse_box(
    text: str, convention: BoxConvention = "unit", size: Sequence[float] = (1.0, 1.0)
) -> tuple[float, float, float, float] | None:
    """The first ``[x1, y1, x2, y2]`` in ``text`` as a box in 0–1 of the image (``size`` = W, H, for pixel and
    padded-square boxes), or None where there is none. Numbers are taken as written: no clamping, no reordering
    (lmms-eval's)."""
    found = BOX_IN_TEXT.search(text)
    if found is None or convention == "decoded":
        return None
    x1, y1, x2, y2 = (float(v) for v in found.groups())
    if convention == "thousand":
        return (x1 / 1000, y1 / 1000, x2 / 1000, y2 / 1000)
    if convention == "pixel":
        return _unit((x1, y1, x2, y2), size)
    if convention == "padded_square":
        side, dx, dy = padded_square(size)
        return _unit((x1 * side - dx, y1 * side - dy, x2 * side - dx, y2 * side - dy), size)
    return (x1, y1, x2, y2)


def _unit(box: Sequence[float], size: Sequence[float]) -> tuple[float, float, float, float]:
    """A box in pixels of an image of (W, H) → 0–1 of it."""
    w, h = (float(v) for v in size)
    return (box[0] / w, box[1] / h, box[2] / w, box[3] / h)


def box_iou(truth: Sequence[float], box: Sequence[float]) -> float:
    """Intersection over union of two xyxy boxes, as lmms-eval's ``compute_iou``; a box with no area (x2 ≤ x1 or
    y2 ≤ y1, where lmms-eval's area can turn negative or divide by zero) overlaps nothing: 0."""
    if box[2] <= box[0] or box[3] <= box[1] or truth[2] <= truth[0] or truth[3] <= truth[1]:
        return 0.0
    inter = max(0.0, min(truth[2], box[2]) - max(truth[0], box[0])) * max(
        0.0, min(truth[3], box[3]) - max(truth[1], box[1])
    )
    union = (truth[2] - truth[0]) * (truth[3] - truth[1]) + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return inter / union


def centre_inside(truth: Sequence[float], box: Sequence[float]) -> bool:
    """The predicted box's centre lies in the true box, edges included (lmms-eval's ``compute_center_accuracy``)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return truth[0] <= cx <= truth[2] and truth[1] <= cy <= truth[3]


@metric(version=2)
def text_box(record: PredictionRecord, convention: BoxConvention = "unit") -> dict[str, Any]:
    """Referring expression comprehension, against the true box in ``metadata["box"]`` (0–1 of the image;
    ``metadata["image_size"]`` converts pixel boxes). The predicted box is the prediction's first decoded region
    (``output_regions``, in pixels: ``source`` "decoded") when it has one; else the first box written in the reply
    (``parse_box``, ``source`` "text") in the convention the model's adapter recorded (``model_metadata
    ["box_convention"]``: an API model's ``box_convention`` argument), else ``convention``. ``score`` is 10 when
    IoU ≥ 0.5; ``box`` is the box in 0–1, kept with the grade so grading needs no model. A reply with no box, or a
    decoded-region model with no region, is a miss (``parsed`` false, IoU 0, no centre hit); lmms-eval reads a
    reply with no box as [0, 0, 0, 0] instead, whose centre hits a true box that touches the top-left corner."""
    truth = record.metadata.get("box")
    if not isinstance(truth, Sequence) or len(truth) != 4:
        raise VipbenchError(f"metric text_box: sample {record.sample_id} has no true box (metadata 'box')")
    size = record.metadata.get("image_size")
    convention = box_convention(record, convention)
    regions = getattr(record, "output_regions", None) or []
    if regions or convention == "decoded":
        source = "decoded"
        first = regions[0].box if regions else None
        box = None if first is None else _unit(first, _size(record, size, "decoded boxes"))
    else:
        source = "text"
        if convention in ("pixel", "padded_square"):
            size = _size(record, size, f"{convention} boxes")
        box = parse_box(record.prediction, convention, size or (1.0, 1.0))
    if box is None:
        return {
            "score": 0.0,
            "box": None,
            "parsed": False,
            "iou": 0.0,
            "hit@0.5": False,
            "centre": False,
            "source": source,
        }
    iou = box_iou(truth, box)
    return {
        "score": _ten(iou >= 0.5),
        "box": list(box),
        "parsed": True,
        "iou": iou,
        "hit@0.5": iou >= 0.5,
        "centre": centre_inside(truth, box),
        "source": source,
    }


def box_convention(record: PredictionRecord, convention: str) -> str:
    """The convention a reply is read in: the one its adapter recorded, else the task's (``family`` unresolved,
    as in an lmms-eval export: lmms-eval's ``unit``)."""
    recorded = (getattr(record, "model_metadata", None) or {}).get("box_convention")
    chosen = recorded or convention
    if chosen == "family":
        return "unit"
    if chosen not in BOX_CONVENTIONS:
        raise VipbenchError(f"metric text_box: unknown box convention {chosen!r}; known: {', '.join(BOX_CONVENTIONS)}")
    return chosen


def _size(record: PredictionRecord, size: Any, what: str) -> Sequence[float]:
    if not size:
        raise VipbenchError(f"metric text_box: sample {record.sample_id} has no image size for {what}")
    return size
