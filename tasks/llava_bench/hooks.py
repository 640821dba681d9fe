"""LLaVA-Bench (Liu et al. 2023): image-level chat questions, graded by a GPT-4 pairwise review against GPT-4's
own answers. Region models take it to show they kept their general chat ability.

- In-the-Wild (HF ``liuhaotian/llava-bench-in-the-wild``, or a copy): ``questions.jsonl`` (question_id, image,
  text, category), ``context.jsonl`` (image, caption), ``answers_gpt4.jsonl`` (question_id, text), ``images/``.
- COCO (a copy of LLaVA's files): ``qa90_questions.jsonl``, ``qa90_gpt4_answer.jsonl`` and
  ``caps_boxes_coco2014_val_80.jsonl`` (image, captions, instances with normalised xyxy boxes), beside COCO's
  ``val2014/`` images (or ``images/``).

The judge reads each question's context as LLaVA's review scripts write it: the caption(s), and for COCO one
``category: [x1, y1, x2, y2]`` line per object, the boxes left as the file gives them (normalised), since the
judge's rules explain that format. Questions are asked as written, with no suffix (``llava/eval/model_vqa.py``).
"""

from __future__ import annotations

from pathlib import Path

from vipbench.data import field, find_image, read_jsonl, require_file
from vipbench.errors import DataError
from vipbench.taskconfig import TaskConfig
from vipbench.types import Sample

CATEGORIES = ("conv", "detail", "complex")


def load_samples(root: Path, config: TaskConfig) -> list[Sample]:
    if config.dataset.options["subset"] == "wild":
        return _wild(root)
    return _coco(root)


def _by_key(path: Path, key: str) -> dict:
    return {str(field(line, key, f"{path}:{n}")): line for n, line in read_jsonl(path)}


def _sample(question: dict, where: str, image: Path, reference: str, context: str, rule: str, source: str) -> Sample:
    category = str(field(question, "category", where))
    if category not in CATEGORIES:
        raise DataError(f"{where}: category must be one of {', '.join(CATEGORIES)}, not {category!r}")
    text = str(field(question, "text", where))
    return Sample(
        id=str(field(question, "question_id", where)),
        image=image,
        question=text,
        references=(reference,),
        template=text,
        source_image=image,
        metadata={"category": category, "context": context, "rule": rule.format(category), "source": source},
    )


def _wild(root: Path) -> list[Sample]:
    answers = _by_key(require_file(root, "answers_gpt4.jsonl"), "question_id")
    contexts = _by_key(require_file(root, "context.jsonl"), "image")
    questions = require_file(root, "questions.jsonl")
    samples = []
    for n, question in read_jsonl(questions):
        where = f"{questions}:{n}"
        image_name = str(field(question, "image", where))
        context = contexts.get(image_name)
        answer = answers.get(str(field(question, "question_id", where)))
        if context is None or answer is None:
            raise DataError(f"{where}: no {'context' if context is None else 'reference answer'} for this question")
        caption = field(context, "caption", f"context.jsonl [{image_name}]")
        caption = "\n".join(caption) if isinstance(caption, list) else str(caption)
        image = find_image(root, image_name, where)
        samples.append(_sample(question, where, image, str(answer["text"]), caption, "llava_bench_{}", "wild"))
    return samples


def _coco(root: Path) -> list[Sample]:
    answers = _by_key(require_file(root, "qa90_gpt4_answer.jsonl"), "question_id")
    contexts = _by_key(require_file(root, "caps_boxes_coco2014_val_80.jsonl"), "image")
    questions = require_file(root, "qa90_questions.jsonl")
    samples = []
    for n, question in read_jsonl(questions):
        where = f"{questions}:{n}"
        image_name = str(field(question, "image", where))
        bare = image_name.removeprefix("COCO_val2014_")
        context = contexts.get(image_name) or contexts.get(bare)
        answer = answers.get(str(field(question, "question_id", where)))
        if context is None or answer is None:
            raise DataError(f"{where}: no {'context' if context is None else 'reference answer'} for this question")
        captions = "\n".join(field(context, "captions", f"caps_boxes [{image_name}]"))
        boxes = "\n".join(f"{i['category']}: {i['bbox']}" for i in context.get("instances", []))
        image = _coco_image(root, image_name, bare, where)
        samples.append(_sample(question, where, image, str(answer["text"]), f"{captions}\n\n{boxes}", "{}", "coco"))
    return samples


def _coco_image(root: Path, name: str, bare: str, where: str) -> Path:
    for folder in (root / "val2014", root):
        for candidate in (name, bare, f"COCO_val2014_{bare}"):
            try:
                return find_image(folder, candidate, where)
            except DataError:
                continue
    raise DataError(f"{where}: image not found: {name} (in {root / 'val2014'}, {root} or their images/)")
