"""Referring segmentation on RefCOCO, RefCOCO+ and RefCOCOg, from the same Hugging Face parquet files as the REC
tasks (``tasks/refcoco_rec``): ``lmms-lab/RefCOCO`` (val, testA, testB), ``lmms-lab/RefCOCOplus`` (val, testA,
testB), ``lmms-lab/RefCOCOg`` (val, test).

Each referring expression is its own sample (ids as REC's), asked over the whole image with no input region. The
truth is the row's ``segmentation`` (lmms-lab stores one flat polygon; a list of polygons, or COCO RLE, compressed
or not, as a struct or as JSON text, is read too), kept in the sample's metadata with the image's size, and read
through pycocotools at that size when a mask is graded (``vipbench.scoring.masks``). The reference is the
expression: no text answer is graded.
"""

from __future__ import annotations

from pathlib import Path

from vipbench.data import field, image_file, referring_expressions, split_rows, xywh_to_xyxy
from vipbench.imaging import image_size
from vipbench.scoring.masks import truth_rle
from vipbench.taskconfig import TaskConfig
from vipbench.types import Sample

#: The task's own question (models of no family; ``--protocol vipbench``): LISA's validation question for RefCOCO
#: (dvlab-research/LISA@3cb2d43 utils/dataset.py, ValDataset), the expression in place of ``{expression}``.
QUESTION = "What is {expression} in this image? Please output segmentation mask."


def load_samples(root: Path, config: TaskConfig) -> list[Sample]:
    return [sample for row, where in split_rows(root, config) for sample in _samples(row, config.dataset.key, where)]


def _samples(row: dict, dataset: str, where: str) -> list[Sample]:
    image = image_file(field(row, "image", where), dataset, where)
    w, h = image_size(image)
    segmentation = field(row, "segmentation", where)
    truth_rle(segmentation, w, h, f"{where}: segmentation")  # a malformed truth fails here, not when graded
    x1, y1, x2, y2 = xywh_to_xyxy(field(row, "bbox", where))
    expressions = referring_expressions(row, where)
    question_id = str(field(row, "question_id", where))
    return [
        Sample(
            id=f"{question_id}-{k}",
            image=image,
            question=QUESTION.format(expression=expression),
            references=(str(expression),),
            template=QUESTION.format(expression=expression),
            source_image=image,
            metadata={
                "expression": str(expression),
                "segmentation": segmentation,
                "image_size": [w, h],
                "box": [x1 / w, y1 / h, x2 / w, y2 / h],
                "question_id": question_id,
                "file_name": row.get("file_name"),
            },
        )
        for k, expression in enumerate(expressions)
    ]
