"""PointQA-LookTwice (Mani et al. 2020), general questions: a counting-style question about the whole image,
given one exemplar object in a red rectangle, as ViP-LLaVA evaluates it. Two layouts:

- ViP-LLaVA's ``pointQA_twice_<split>.json``: id, image, general_question, answer, ``bboxes`` (one, pixel xyxy);
- Shikra's ``pointQA_twice_<split>.jsonl``: file_path, general_question, answer, ``bbox`` (taken as pixel xyxy).

The question ends as ViP-LLaVA's does, "... The exemplary object is within the rectangle.\\nAnswer the question
using a single word or phrase." (``create_question_prompt_direct_pointQA``: a red rectangle whose colour the text
does not say, nothing drawn at random). The ``pool`` colour rule (vipbench's protocol) names it: "within the red
rectangle".

``metadata["question_layouts"]["shikra"]`` is the question as PerceptionGPT's (Shikra's) ``Point_QA_twice`` lays it
out in version ``gq-b`` (the general question as given, the exemplar's ``<boxes>`` right after it), for that
family's protocol (``question_layout: shikra``).
"""

from __future__ import annotations

from pathlib import Path

from vipbench.data import field, find_image, read_json_list, read_jsonl
from vipbench.errors import DataError
from vipbench.taskconfig import TaskConfig
from vipbench.types import Region, Sample

#: ViP-LLaVA's fixed words for the exemplar's red rectangle.
UPSTREAM_PHRASE = "within the rectangle"
TEMPLATE = "{question} The exemplary object is <obj>.\nAnswer the question using a single word or phrase."


def load_samples(root: Path, config: TaskConfig) -> list[Sample]:
    split = config.dataset.options["split"]
    if (root / f"pointQA_twice_{split}.json").is_file():
        return _vip_llava(root, root / f"pointQA_twice_{split}.json")
    if (root / f"pointQA_twice_{split}.jsonl").is_file():
        return _shikra(root, root / f"pointQA_twice_{split}.jsonl", split)
    raise DataError(f"no PointQA-LookTwice annotations in {root}: looked for pointQA_twice_{split}.json and .jsonl")


def _sample(sample_id: str, image: Path, question: str, box: object, answer: object, where: str) -> Sample:
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise DataError(f"{where}: the exemplar box is [x1, y1, x2, y2], not {box!r}")
    x1, y1, x2, y2 = (float(v) for v in box)
    return Sample(
        id=sample_id,
        image=None,
        question=None,
        references=(str(answer),),
        regions=(Region(box=(x1, y1, x2, y2), label="obj"),),
        template=TEMPLATE.format(question=str(question).strip()),
        source_image=image,
        metadata={
            "prompt_style": "rectangle",
            "prompt_colors": ["red"],
            "prompt_phrases": [UPSTREAM_PHRASE],
            "question_layouts": {"shikra": f"{question}<obj>"},
        },
    )


def _vip_llava(root: Path, path: Path) -> list[Sample]:
    rows = read_json_list(path)
    samples = []
    for i, row in enumerate(rows):
        where = f"{path} [{i}]"
        boxes = field(row, "bboxes", where)
        if not isinstance(boxes, list) or len(boxes) != 1:
            raise DataError(f"{where}: expected one exemplar box in 'bboxes'")
        image = find_image(root, str(field(row, "image", where)), where)
        question, answer = field(row, "general_question", where), field(row, "answer", where)
        samples.append(_sample(str(field(row, "id", where)), image, question, boxes[0], answer, where))
    return samples


def _shikra(root: Path, path: Path, split: str) -> list[Sample]:
    samples = []
    for lineno, line in read_jsonl(path):
        where = f"{path}:{lineno}"
        image = find_image(root, str(field(line, "file_path", where)), where)
        question, answer = field(line, "general_question", where), field(line, "answer", where)
        samples.append(_sample(f"{split}-{lineno}", image, question, field(line, "bbox", where), answer, where))
    return samples
