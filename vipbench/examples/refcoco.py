"""Small copies of ``lmms-lab/RefCOCO`` and ``lmms-lab/RefCOCOplus`` (Hugging Face parquet: a README with
``configs``, one parquet file per split), read by the REC tasks (``tasks/refcoco_rec``). Square 400-pixel images and
boxes on an 8-pixel grid, so every box is exact at 3 decimals in 0–1 and ``oracle`` scores an IoU of exactly 1."""

from __future__ import annotations

from pathlib import Path

from vipbench.examples.region_tasks import _card, _parquet, add_refcoco_row, image_bytes, refcoco_features, refcoco_rows

SIZE = (400, 400)

REFCOCO_ITEMS = [  # (question_id, [x, y, w, h] in pixels, referring expressions)
    ("1", [40.0, 80.0, 160.0, 120.0], ["man on the left", "guy in the red shirt"]),
    ("2", [240.0, 40.0, 120.0, 240.0], ["tall woman right"]),
    ("3", [0.0, 0.0, 80.0, 80.0], ["top left corner sign", "sign"]),
]

SPLITS = {"refcoco": ("val", "test", "testA", "testB"), "refcocoplus": ("val", "testA", "testB")}


def _write(root: Path, splits: tuple[str, ...]) -> Path:
    question = "Please carefully observe the area circled in the image and come up with a caption."
    for s, split in enumerate(splits):
        rows = refcoco_rows()
        for i, (qid, box, expressions) in enumerate(REFCOCO_ITEMS):
            image = image_bytes(SIZE, (50 * i, 20 * s, 120))
            name = f"COCO_train2014_{s * 10 + i:012d}.jpg"
            add_refcoco_row(rows, f"{split}-{qid}", name, image, question, expressions, box)
        _parquet(root / "data" / f"{split}-00000-of-00001.parquet", rows, refcoco_features())
    _card(root, {"default": {split: f"data/{split}-*" for split in splits}})
    return root


def write_refcoco(root: Path) -> Path:
    """``lmms-lab/RefCOCO``: splits val, test, testA and testB; bbox COCO xywh, segmentation one flat polygon."""
    return _write(root, SPLITS["refcoco"])


def write_refcocoplus(root: Path) -> Path:
    """``lmms-lab/RefCOCOplus``: splits val, testA and testB, the same columns."""
    return _write(root, SPLITS["refcocoplus"])
