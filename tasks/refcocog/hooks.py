"""RefCOCOg region captioning from the Hugging Face parquet dataset ``lmms-lab/RefCOCOg`` (splits ``val``, 7,573
rows, and ``test``, 5,023): question_id, image, answer (every referring expression: the references), bbox (COCO
xywh pixels), segmentation (one flat polygon), file_name.

The region reaches each model in its own mode: for an overlay model with no script of its own, ViP-LLaVA's red
rectangle with its width scaled to the image (the LLaVA family's protocol, lmms-eval's, draws a 1-pixel box
instead: ``_default.yaml``); a mask from the polygon for Osprey; the box or its coordinates for coordinate models.
"""

from __future__ import annotations

from pathlib import Path

from vipbench.data import field, flat_polygon, image_file, split_rows, xywh_to_xyxy
from vipbench.errors import DataError
from vipbench.taskconfig import TaskConfig
from vipbench.types import Region, Sample

QUESTION = "Provide a short description of the region <obj>."


def load_samples(root: Path, config: TaskConfig) -> list[Sample]:
    return [_sample(row, where) for row, where in split_rows(root, config)]


def _sample(row: dict, where: str) -> Sample:
    box = xywh_to_xyxy(field(row, "bbox", where))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise DataError(f"{where}: empty bbox {row['bbox']}")
    polygon = flat_polygon(row.get("segmentation") or [])
    region = Region(box=box, polygons=(polygon,) if len(polygon) >= 3 else (), label="obj")
    references = field(row, "answer", where)
    if isinstance(references, str):
        references = [references]
    if not references:
        raise DataError(f"{where}: no reference caption")
    return Sample(
        id=str(field(row, "question_id", where)),
        image=None,
        question=None,
        references=tuple(str(r) for r in references),
        regions=(region,),
        template=QUESTION,
        source_image=image_file(field(row, "image", where), "refcocog", where),
        metadata={"prompt_style": "rectangle", "prompt_colors": ["red"], "file_name": row.get("file_name")},
    )
