"""Small copies of ``lmms-lab/RefCOCO`` and ``lmms-lab/RefCOCOplus`` (Hugging Face parquet: a README with
``configs``, one parquet file per split), read by the REC and RES tasks (``tasks/refcoco_rec``, ``refcoco_res``).
Square 400-pixel images and boxes on an 8-pixel grid, so every box is exact at 3 decimals in 0–1 and ``oracle``
scores an IoU of exactly 1. ``write_refcoco_rle`` holds the same columns with each mask as COCO RLE on 480 × 320
images, one of them a ring (a mask with a hole, which no single polygon draws)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vipbench import rle
from vipbench.examples.region_tasks import _card, _parquet, add_refcoco_row, image_bytes, refcoco_features, refcoco_rows

SIZE = (400, 400)

REFCOCO_ITEMS = [  # (question_id, [x, y, w, h] in pixels, referring expressions)
    ("1", [40.0, 80.0, 160.0, 120.0], ["man on the left", "guy in the red shirt"]),
    ("2", [240.0, 40.0, 120.0, 240.0], ["tall woman right"]),
    ("3", [0.0, 0.0, 80.0, 80.0], ["top left corner sign", "sign"]),
]

SPLITS = {"refcoco": ("val", "test", "testA", "testB"), "refcocoplus": ("val", "testA", "testB")}


#: The ``question`` column of lmms-lab's RefCOCO files (a captioning question; REC and RES do not read it).
QUESTION = "Please carefully observe the area circled in the image and come up with a caption."


def _write(root: Path, splits: tuple[str, ...]) -> Path:
    for s, split in enumerate(splits):
        rows = refcoco_rows()
        for i, (qid, box, expressions) in enumerate(REFCOCO_ITEMS):
            image = image_bytes(SIZE, (50 * i, 20 * s, 120))
            name = f"COCO_train2014_{s * 10 + i:012d}.jpg"
            add_refcoco_row(rows, f"{split}-{qid}", name, image, QUESTION, expressions, box)
        _parquet(root / "data" / f"{split}-00000-of-00001.parquet", rows, refcoco_features())
    _card(root, {"default": {split: f"data/{split}-*" for split in splits}})
    return root


def write_refcoco(root: Path) -> Path:
    """``lmms-lab/RefCOCO``: splits val, test, testA and testB; bbox COCO xywh, segmentation one flat polygon."""
    return _write(root, SPLITS["refcoco"])


def write_refcocoplus(root: Path) -> Path:
    """``lmms-lab/RefCOCOplus``: splits val, testA and testB, the same columns."""
    return _write(root, SPLITS["refcocoplus"])


RLE_SIZE = (480, 320)  # W × H

RLE_ITEMS = [  # (question_id, the mask's filled [x1, y1, x2, y2] in pixels, its hole or None, referring expressions)
    ("1", (40, 80, 200, 200), None, ["man on the left", "guy in the red shirt"]),
    ("2", (240, 40, 360, 280), None, ["tall woman right"]),
    ("3", (0, 0, 80, 80), (20, 20, 60, 60), ["the frame", "picture frame top left"]),
]


def ring_mask(size: tuple[int, int], filled: tuple[int, ...], hole: tuple[int, ...] | None = None) -> np.ndarray:
    """A height × width boolean mask: the ``filled`` rectangle (pixel xyxy, end excluded) less the ``hole``."""
    w, h = size
    mask = np.zeros((h, w), dtype=bool)
    mask[filled[1] : filled[3], filled[0] : filled[2]] = True
    if hole is not None:
        mask[hole[1] : hole[3], hole[0] : hole[2]] = False
    return mask


def write_refcoco_rle(root: Path) -> Path:
    """``lmms-lab/RefCOCO``'s splits and columns with segmentation as COCO compressed RLE on 480 × 320 images; item 3
    is a ring (80 × 80 less a 40 × 40 hole)."""
    splits = SPLITS["refcoco"]
    for s, split in enumerate(splits):
        rows = {name: [] for name in refcoco_features(rle=True)}
        for i, (qid, filled, hole, expressions) in enumerate(RLE_ITEMS):
            image = image_bytes(RLE_SIZE, (50 * i, 20 * s, 120))
            name = f"COCO_train2014_{s * 10 + i:012d}.jpg"
            box = [filled[0], filled[1], filled[2] - filled[0], filled[3] - filled[1]]
            mask = rle.encode(ring_mask(RLE_SIZE, filled, hole))
            add_refcoco_row(rows, f"{split}-{qid}", name, image, QUESTION, expressions, box, mask)
        _parquet(root / "data" / f"{split}-00000-of-00001.parquet", rows, refcoco_features(rle=True))
    _card(root, {"default": {split: f"data/{split}-*" for split in splits}})
    return root
