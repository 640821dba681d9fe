"""Visual7W pointing (Zhu et al. 2016): which of four boxed objects answers the question, as ViP-LLaVA evaluates
it. Two layouts:

- ViP-LLaVA's ``v7w-<split>.json``: id, image, question, ``bboxes`` (the 4 candidates, pixel xyxy), ``answer``
  (one of them); the options keep the file's order, as ViP-LLaVA's evaluation does;
- the official ``dataset.json`` of ``dataset_v7w_pointing`` (images with ``qa_pairs`` whose answer and
  ``multiple_choices`` are box ids; top-level ``boxes`` with ``x``, ``y``, ``width``, ``height``) beside the
  ``images/`` folder. The official order puts the right box first, so the four are shuffled, seeded by
  ``qa_id``.

Each candidate is drawn as a rectangle in its own colour, and the options read "The object within the red
rectangle", colours and "the" drawn as ViP-LLaVA's organizer draws them (``vipbench.prompting.draws``: four
named colours of its pool, "the" kept half the time); the answer is the option's letter.
"""

from __future__ import annotations

import random
from pathlib import Path

from vipbench.data import field, find_image, read_json, read_json_list, xywh_to_xyxy
from vipbench.errors import DataError
from vipbench.multiple_choice import LETTERS, options_prompt
from vipbench.taskconfig import TaskConfig
from vipbench.types import Region, Sample

Box = tuple[float, float, float, float]


def load_samples(root: Path, config: TaskConfig) -> list[Sample]:
    split = config.dataset.options["split"]
    if (root / f"v7w-{split}.json").is_file():
        return _vip_llava(root, root / f"v7w-{split}.json")
    if (root / "dataset.json").is_file():
        return _official(root, root / "dataset.json", split)
    raise DataError(f"no Visual7W pointing annotations in {root}: looked for v7w-{split}.json and dataset.json")


def _sample(sample_id: str, image: Path, question: str, candidates: list[Box], answer: int) -> Sample:
    regions = tuple(Region(box=box, label=f"obj{i}") for i, box in enumerate(candidates))
    template = options_prompt(question, [f"The object <obj{i}>" for i in range(len(candidates))])
    return Sample(
        id=sample_id,
        image=None,
        question=None,
        references=(LETTERS[answer],),
        regions=regions,
        template=template,
        source_image=image,
        metadata={"options": len(candidates), "prompt_style": "rectangle"},
    )


def _box(value: object, where: str) -> Box:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise DataError(f"{where}: a box is [x1, y1, x2, y2], not {value!r}")
    x1, y1, x2, y2 = (float(v) for v in value)
    return (x1, y1, x2, y2)


def _vip_llava(root: Path, path: Path) -> list[Sample]:
    rows = read_json_list(path)
    samples = []
    for i, row in enumerate(rows):
        where = f"{path} [{i}]"
        candidates = [_box(b, where) for b in field(row, "bboxes", where)]
        answer = _box(field(row, "answer", where), where)
        if len(candidates) != 4 or answer not in candidates:
            raise DataError(f"{where}: expected 4 candidate boxes, the answer among them")
        image = find_image(root, str(field(row, "image", where)), where)
        samples.append(
            _sample(
                str(field(row, "id", where)), image, field(row, "question", where), candidates, candidates.index(answer)
            )
        )
    return samples


def _official(root: Path, path: Path, split: str) -> list[Sample]:
    data = read_json(path)
    boxes = {b["box_id"]: xywh_to_xyxy((b["x"], b["y"], b["width"], b["height"])) for b in data.get("boxes", [])}
    samples = []
    for image in data.get("images", []):
        if image.get("split") != split:
            continue
        where = f"{path} [image {image.get('image_id')}]"
        file = find_image(root, str(field(image, "filename", where)), where)
        for qa in field(image, "qa_pairs", where):
            ids = [field(qa, "answer", where), *field(qa, "multiple_choices", where)]
            if any(i not in boxes for i in ids):
                raise DataError(f"{where}: qa {qa.get('qa_id')} names a box id that is not in 'boxes'")
            order = list(range(len(ids)))
            random.Random(qa["qa_id"]).shuffle(order)
            candidates = [boxes[ids[k]] for k in order]
            samples.append(_sample(str(qa["qa_id"]), file, qa["question"], candidates, order.index(0)))
    if not samples:
        raise DataError(f"{path}: no {split} questions")
    return samples
