"""POPE (Li et al. 2023) as users have it, in either layout:

- the Hugging Face parquet dataset ``lmms-lab/POPE``, config ``Full``, one split per negative-sampling setting
  (``random``, ``popular``, ``adversarial``): question_id, question, answer, image;
- RUCAIBox's ``coco_pope_<setting>.json`` (JSON lines: question_id, image, text, label), beside COCO's
  ``val2014/`` images (or ``images/``).

Each question is asked as LLaVA-1.5's ``llava_pope_test.jsonl`` asks it, with "Answer the question using a single
word or phrase." appended. POPE has no region: it checks that a region model keeps its whole-image behaviour.
"""

from __future__ import annotations

from pathlib import Path

from vipbench.data import field, image_file, inside, load_parquet_split, read_jsonl
from vipbench.errors import DataError
from vipbench.taskconfig import TaskConfig
from vipbench.types import Sample

SUFFIX = "\nAnswer the question using a single word or phrase."
RUCAIBOX = ("coco_pope_{}.json", "output/coco/coco_pope_{}.json", "coco/coco_pope_{}.json")


def load_samples(root: Path, config: TaskConfig) -> list[Sample]:
    options = config.dataset.options
    setting = options["split"]
    for pattern in RUCAIBOX:
        if (root / pattern.format(setting)).is_file():
            return _from_json_lines(root, root / pattern.format(setting), setting)
    return _from_parquet(root, options.get("config"), setting)


def _sample(question_id: str, image: Path, question: str, label: str, setting: str, where: str) -> Sample:
    label = label.strip().lower()
    if label not in ("yes", "no"):
        raise DataError(f"{where}: label must be yes or no, not {label!r}")
    text = question.strip() + SUFFIX
    return Sample(
        id=str(question_id),
        image=image,
        question=text,
        references=(label,),
        template=text,
        source_image=image,
        metadata={"category": setting},
    )


def _from_parquet(root: Path, config: str | None, setting: str) -> list[Sample]:
    rows = load_parquet_split(root, setting, config)
    samples = []
    for i, row in enumerate(rows):
        where = f"{root} [{setting}] row {i}"
        image = image_file(field(row, "image", where), "pope", where)
        samples.append(
            _sample(
                field(row, "question_id", where), image, field(row, "question", where), row["answer"], setting, where
            )
        )
    return samples


def _from_json_lines(root: Path, path: Path, setting: str) -> list[Sample]:
    images = next((root / d for d in ("val2014", "images") if (root / d).is_dir()), root)
    samples = []
    for lineno, line in read_jsonl(path):
        where = f"{path}:{lineno}"
        image = inside(images, str(field(line, "image", where)), f"{where}: image")
        if not image.is_file():
            raise DataError(f"{where}: image not found: {image}")
        label = str(field(line, "label", where))
        samples.append(
            _sample(field(line, "question_id", where), image, field(line, "text", where), label, setting, where)
        )
    return samples
