"""Referring expression comprehension on RefCOCO, RefCOCO+ and RefCOCOg, from the Hugging Face parquet datasets
``lmms-lab/RefCOCO`` (splits val, testA, testB), ``lmms-lab/RefCOCOplus`` (val, testA, testB) and
``lmms-lab/RefCOCOg`` (val, test; the files RefCOCOg captioning reads): question_id, image, answer (every
referring expression of the object), bbox (COCO xywh pixels), segmentation, file_name.

As lmms-eval's ``refcoco*_bbox_rec`` tasks (``lmms_eval/tasks/refcoco/utils_rec.py`` @75571cf): each expression is
its own sample, asked with lmms-eval's words over the whole image, with no input region; the true box is xywh →
xyxy divided by the image's width and height, and the reference is that box as text, so ``oracle`` answers it.
"""

from __future__ import annotations

from pathlib import Path

from vipbench.data import field, image_file, referring_expressions, split_rows, xywh_to_xyxy
from vipbench.errors import DataError
from vipbench.imaging import image_size
from vipbench.taskconfig import TaskConfig
from vipbench.types import Sample

#: lmms-eval's ``refcoco_bbox_rec_doc_to_text``, followed by the expression.
QUESTION = (
    "Bounding box coordinates are specified in the format (top-left x, top-left y, bottom-right x, bottom-right y). "
    "All values are floating point numbers bounded between 0 and 1. Please provide the bounding box coordinate of "
    "the region this sentence describes: "
)


def box_text(box: tuple[float, ...]) -> str:
    """A 0–1 box as a reply in lmms-eval's convention would write it, 3 decimals."""
    return "[" + ", ".join(f"{v:.3f}" for v in box) + "]"


def load_samples(root: Path, config: TaskConfig) -> list[Sample]:
    return [sample for row, where in split_rows(root, config) for sample in _samples(row, config.dataset.key, where)]


def _samples(row: dict, dataset: str, where: str) -> list[Sample]:
    x1, y1, x2, y2 = xywh_to_xyxy(field(row, "bbox", where))
    if x2 <= x1 or y2 <= y1:
        raise DataError(f"{where}: empty bbox {row['bbox']}")
    image = image_file(field(row, "image", where), dataset, where)
    w, h = image_size(image)
    truth = (x1 / w, y1 / h, x2 / w, y2 / h)  # not clamped, as lmms-eval
    expressions = referring_expressions(row, where)
    question_id = str(field(row, "question_id", where))
    samples = []
    for k, expression in enumerate(expressions):
        text = QUESTION + expression
        samples.append(
            Sample(
                id=f"{question_id}-{k}",
                image=image,
                question=text,
                references=(box_text(truth),),
                template=text,
                source_image=image,
                metadata={
                    "expression": expression,
                    "box": list(truth),
                    "image_size": [w, h],
                    "question_id": question_id,
                    "file_name": row.get("file_name"),
                },
            )
        )
    return samples
