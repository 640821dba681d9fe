"""Referring segmentation (RES): a predicted mask against the true one, at the image's own resolution.

The truth is a sample's ``metadata["segmentation"]`` in any form COCO writes an object's mask: one flat polygon (as
lmms-lab's RefCOCO parquet files store it), a list of polygons, or RLE, compressed (``counts`` a string) or not
(``counts`` a list of run lengths), or a list of RLEs, or any of these as JSON text. It is read through pycocotools
(``frPyObjects``, then ``merge`` into one mask: the union of its parts) at ``metadata["image_size"]`` (W, H), as
LISA's and OMG-LLaVA's loaders read refer's annotations; intersection and union are counted on the RLEs without
decoding them.

Per sample, IoU = I / U, and 1 where the union is empty (both masks empty: LISA's "no-object target" rule, which
OMG-LLaVA copies). LISA and OMG-LLaVA divide by U + 1e-5 (and ΣU + 1e-10 for cIoU): vipbench divides exactly, a
difference below 1e-5 of an IoU.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from pycocotools import mask as coco_mask

from vipbench.errors import DataError, VipbenchError
from vipbench.records import PredictionRecord
from vipbench.scoring.base import GradedItem, Numbers, metric

RLE = dict[str, Any]


def truth_rle(segmentation: Any, width: int, height: int, where: str = "segmentation") -> RLE:
    """A COCO segmentation (polygons or RLE, in any of the forms above) → one compressed RLE of ``height × width``.
    A malformed one, or an RLE of another size than the image, is a one-line ``DataError``."""
    parts = _parts(_parsed(segmentation, where), width, height, where)
    for part in parts:
        if [int(v) for v in part["size"]] != [height, width]:
            raise DataError(f"{where}: an RLE of size {part['size']} (H, W) on an image of {height} × {width}")
    return coco_mask.merge(parts) if len(parts) > 1 else parts[0]


def _parsed(segmentation: Any, where: str) -> Any:
    if isinstance(segmentation, (str, bytes)):
        try:
            return json.loads(segmentation)
        except json.JSONDecodeError:
            raise DataError(f"{where}: text that is not a JSON polygon or RLE") from None
    return segmentation


def _parts(segmentation: Any, width: int, height: int, where: str) -> list[RLE]:
    """The segmentation as a list of compressed RLEs of the image's size."""
    if isinstance(segmentation, Mapping):
        return [_rle(segmentation, where)]
    if not isinstance(segmentation, Sequence) or not segmentation:
        raise DataError(f"{where}: no polygon or RLE (got {type(segmentation).__name__})")
    if all(isinstance(v, (int, float)) for v in segmentation):  # one flat polygon (lmms-lab's parquet)
        segmentation = [segmentation]
    if all(isinstance(p, Mapping) for p in segmentation):
        return [_rle(p, where) for p in segmentation]
    polygons = [[float(v) for v in p] for p in segmentation if isinstance(p, Sequence) and not isinstance(p, str)]
    if len(polygons) != len(segmentation) or any(len(p) < 6 or len(p) % 2 for p in polygons):
        raise DataError(f"{where}: a polygon is a flat list of x, y pairs, at least three points")
    return list(coco_mask.frPyObjects(polygons, height, width))


def _rle(rle: Mapping[str, Any], where: str) -> RLE:
    """One RLE, compressed: run lengths are encoded, a string ``counts`` becomes bytes (pycocotools' own type)."""
    size, counts = rle.get("size"), rle.get("counts")
    if not isinstance(size, Sequence) or len(size) != 2 or counts is None:
        raise DataError(f"{where}: an RLE needs 'size' [H, W] and 'counts'")
    if isinstance(counts, list):  # uncompressed: run lengths
        if sum(counts) != int(size[0]) * int(size[1]):
            raise DataError(f"{where}: uncompressed RLE counts sum to {sum(counts)}, not H × W = {size[0] * size[1]}")
        return coco_mask.frPyObjects({"size": list(size), "counts": counts}, int(size[0]), int(size[1]))
    return {"size": [int(v) for v in size], "counts": counts.encode() if isinstance(counts, str) else counts}


def overlap(prediction: RLE, truth: RLE) -> tuple[int, int]:
    """Pixel counts of the intersection and the union of two masks of one size."""
    both = [_rle(prediction, "predicted mask"), truth]
    intersection = int(coco_mask.area(coco_mask.merge(both, intersect=True)))
    union = int(coco_mask.area(coco_mask.merge(both, intersect=False)))
    return intersection, union


def tight_box(rle: RLE) -> tuple[float, float, float, float] | None:
    """The mask's tight box in pixel xyxy (an output region's ``box``), None for an empty mask."""
    if not coco_mask.area(rle):
        return None
    x, y, w, h = (float(v) for v in coco_mask.toBbox(rle))
    return (x, y, x + w, y + h)


def iou(intersection: int, union: int) -> float:
    """I / U; 1 for an empty union (both masks empty), as LISA's and OMG-LLaVA's gIoU count it."""
    return intersection / union if union else 1.0


def sample_truth(metadata: Mapping[str, Any], what: str) -> RLE:
    """The true mask of a sample from its metadata (``segmentation`` and ``image_size`` [W, H])."""
    segmentation, size = metadata.get("segmentation"), metadata.get("image_size")
    if segmentation is None or not isinstance(size, Sequence) or len(size) != 2:
        raise VipbenchError(f"{what}: no true mask (metadata 'segmentation' and 'image_size')")
    return truth_rle(segmentation, int(size[0]), int(size[1]), f"{what}: segmentation")


@metric(version=1)
def mask_iou(record: PredictionRecord) -> dict[str, Any]:
    """The first output region's mask (``output_regions[0].mask``) against the true mask. No mask is a miss: IoU 0,
    the truth's area in the union, ``parsed`` false. ``intersection`` and ``union`` are pixel counts, for cIoU;
    ``score`` is 10 × IoU."""
    truth = sample_truth(record.metadata, f"metric mask_iou: sample {record.sample_id}")
    first = record.output_regions[0] if record.output_regions else None
    if first is None or first.mask is None:
        area = int(coco_mask.area(truth))
        return {"score": 0.0, "iou": 0.0 if area else 1.0, "intersection": 0, "union": area, "parsed": False}
    if [int(v) for v in first.mask.get("size", ())] != truth["size"]:
        raise VipbenchError(
            f"metric mask_iou: sample {record.sample_id}: the predicted mask is {first.mask.get('size')} (H, W), "
            f"the image {truth['size']}: masks are compared at the image's own resolution"
        )
    intersection, union = overlap(first.mask, truth)
    value = iou(intersection, union)
    return {"score": 10 * value, "iou": value, "intersection": intersection, "union": union, "parsed": True}


class MaskIoU:
    """Referring segmentation over a split, from ``mask_iou`` grades, as LISA and OMG-LLaVA report it: cIoU, the
    cumulative intersection over the cumulative union (the headline; undefined, "–", where the union is empty),
    gIoU, the mean per-sample IoU, and the share of samples with no mask (each a miss, its truth counted in the
    union). All × 100. OMG-LLaVA's script skips a reply with no ``[SEG]`` in its cIoU sums instead (README)."""

    version = 1
    headline = "ciou"
    labels = {"ciou": "cIoU", "giou": "gIoU", "no_mask": "No mask"}

    def score(self, items: Sequence[GradedItem]) -> Numbers:
        if not items:
            return dict.fromkeys(self.labels)
        intersection = sum(int(i.values.get("intersection") or 0) for i in items)
        union = sum(int(i.values.get("union") or 0) for i in items)
        return {
            "ciou": 100 * intersection / union if union else None,
            "giou": 100 * statistics.fmean(float(i.values.get("iou") or 0.0) for i in items),
            "no_mask": 100 * sum(not i.values.get("parsed") for i in items) / len(items),
        }
