"""Regions a model answers with (REC's box, RES's mask), drawn beside the truth in the sample browser.

A REC sample's picture shows the true box (solid green) and the graded box (dashed red); a RES sample's the true
mask and the predicted one as translucent green and red fills. They are drawn into the sample's JPEG, as the
regions a model is given are, so the picture is made once per distinct image and answer (``images.py``). The
browser shows the IoU beside the answer, from the grade scores.json used, and says so when the reply had no region.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vipbench.records import PredictionRecord

if TYPE_CHECKING:  # the drawing imports them when a picture is made
    import numpy as np
    from PIL import Image, ImageDraw

TRUTH_COLOUR = (0, 200, 80)
PREDICTION_COLOUR = (235, 30, 30)
MASK_ALPHA = 110
"""Of 255: a mask's fill lets the image show through."""
BOX_SCORERS = ("box-accuracy",)
MASK_SCORERS = ("mask-iou",)
SPLIT_SCORERS = {"box-accuracy": "miou", "mask-iou": "giou"}
"""Scorers whose tasks are splits of one dataset (RefCOCO val, testA, testB): each group of them gets a table of
splits, the headline per split and this secondary number beside it."""


def _box(value: Any) -> list[float] | None:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 4:
        try:
            return [float(v) for v in value]
        except (TypeError, ValueError):
            return None
    return None


def answer_kind(record: PredictionRecord, values: dict[str, Any], scorer: str) -> str | None:
    """``box`` for a REC sample, ``mask`` for a RES sample, None for any other: by the unit's scorer, or by what
    its grade and truth hold (a plugin's REC metric grades the same values)."""
    meta = record.metadata
    if scorer in BOX_SCORERS or ("box" in values and "iou" in values and _box(meta.get("box"))):
        return "box" if _box(meta.get("box")) else None
    if scorer in MASK_SCORERS or ("union" in values and "segmentation" in meta):
        return "mask" if meta.get("segmentation") is not None and _size(meta) else None
    return None


def _size(meta: dict[str, Any]) -> list[int] | None:
    size = meta.get("image_size")
    if isinstance(size, Sequence) and len(size) == 2 and all(isinstance(v, (int, float)) and v > 0 for v in size):
        return [int(size[0]), int(size[1])]
    return None


def _predicted_box(record: PredictionRecord, values: dict[str, Any]) -> list[float] | None:
    """The box the grade read (0–1 of the image); before grading, the model's first decoded box."""
    if "box" in values:
        return _box(values["box"])
    size = _size(record.metadata)
    box = _box(record.output_regions[0].box) if record.output_regions else None
    if box is None or size is None:
        return None
    w, h = size
    return [box[0] / w, box[1] / h, box[2] / w, box[3] / h]


def region_answer(
    record: PredictionRecord, scorer: str, values: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A REC or RES sample's (what its picture draws, the browser's line beside the answer); (None, None) for any
    other sample. ``values``: the grade scores.json used (None when it has none)."""
    kind = answer_kind(record, values or {}, scorer)
    if kind is None:
        return None, None
    drawn = drawn_answer(record, kind, values or {})
    return drawn, answer_view(kind, drawn, values)


def drawn_answer(record: PredictionRecord, kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """What the picture draws (part of its file name's hash): the truth and the prediction, or None for a reply
    with no region."""
    if kind == "box":
        return {"kind": "box", "truth": _box(record.metadata["box"]), "prediction": _predicted_box(record, values)}
    mask = record.output_regions[0].mask if record.output_regions else None
    return {
        "kind": "mask",
        "size": _size(record.metadata),
        "truth": record.metadata["segmentation"],
        "prediction": mask,
    }


def answer_view(kind: str, drawn: dict[str, Any], values: dict[str, Any] | None) -> dict[str, Any]:
    """The browser's line beside the answer: ``IoU 0.62 · hit``, or that the reply had no region."""
    noun = "box" if kind == "box" else "mask"
    view: dict[str, Any] = {
        "kind": kind,
        "iou": None,
        "hit": None,
        "source": None,
        "found": drawn["prediction"] is not None,
    }
    if values is None:
        view["text"] = "not graded"
        return view
    if not values.get("parsed", view["found"]) or drawn["prediction"] is None:
        view["found"] = False
        view["text"] = f"no {noun} in the reply"
        return view
    iou = values.get("iou")
    view["iou"] = None if iou is None else round(float(iou), 4)
    view["source"] = values.get("source")
    text = "IoU –" if iou is None else f"IoU {float(iou):.2f}"
    if kind == "box" and iou is not None:
        view["hit"] = bool(values.get("hit@0.5", float(iou) >= 0.5))
        text += " · hit" if view["hit"] else " · miss"
    if kind == "mask" and "intersection" in values and "union" in values:
        text += f" ({values['intersection']} / {values['union']} pixels)"
    view["text"] = text
    return view


# ---------------------------------------------------------------------------------------------------- drawing


def draw_answer(image: Image.Image, drawn: dict[str, Any]) -> Image.Image:
    """``image`` (already downsized) with the truth and the prediction drawn at its own size."""
    if drawn["kind"] == "box":
        return _draw_boxes(image, drawn["truth"], drawn["prediction"])
    w, h = drawn["size"]
    truth = segmentation_mask(drawn["truth"], w, h)
    predicted = None if drawn["prediction"] is None else _rle_mask(drawn["prediction"])
    return _draw_masks(image, truth, predicted)


def _line_width(size: tuple[int, int]) -> int:
    return max(3, round(max(size) / 160))


def _draw_boxes(image: Image.Image, truth: list[float] | None, prediction: list[float] | None) -> Image.Image:
    from PIL import ImageDraw

    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    w, h = out.size
    width = _line_width(out.size)

    def corners(box: list[float]) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
        return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)

    if truth is not None:
        draw.rectangle(corners(truth), outline=TRUTH_COLOUR, width=width)
    if prediction is not None:
        _dashed_rectangle(draw, corners(prediction), PREDICTION_COLOUR, width)
    return out


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], colour, width: int) -> None:
    """Dashes of 4 line widths with gaps of 2: told apart from the solid truth where the two boxes share an edge."""
    x1, y1, x2, y2 = box
    dash, gap = 4 * width, 2 * width
    for (ax, ay), (bx, by) in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = max(abs(bx - ax), abs(by - ay))
        t = 0.0
        while t < length:
            end = min(t + dash, length)
            f0, f1 = (t / length, end / length) if length else (0.0, 1.0)
            draw.line(
                [(ax + (bx - ax) * f0, ay + (by - ay) * f0), (ax + (bx - ax) * f1, ay + (by - ay) * f1)],
                fill=colour,
                width=width,
            )
            t += dash + gap


def _draw_masks(image: Image.Image, truth: np.ndarray, predicted: np.ndarray | None) -> Image.Image:
    """Each mask a translucent fill with an opaque edge inside it (where the two overlap, the fills mix)."""
    import numpy as np
    from PIL import Image, ImageChops, ImageFilter

    base = image.convert("RGBA")
    edge = 2 * max(1, round(max(base.size) / 300)) + 1
    for mask, colour in ((truth, TRUTH_COLOUR), (predicted, PREDICTION_COLOUR)):
        if mask is None or not mask.any():
            continue
        shown = Image.fromarray(mask.astype(np.uint8) * 255, mode="L").resize(base.size, Image.NEAREST)
        inner = ImageChops.subtract(shown, shown.filter(ImageFilter.MinFilter(edge)))
        alpha = ImageChops.lighter(shown.point(lambda v: MASK_ALPHA if v else 0), inner)
        fill = Image.new("RGBA", base.size, (*colour, 0))
        fill.putalpha(alpha)
        base = Image.alpha_composite(base, fill)
    return base.convert("RGB")


# ------------------------------------------------------------------------------------------- masks from records


def _rle_mask(rle: dict[str, Any]) -> np.ndarray:
    """A COCO RLE (compressed string counts, or a list of counts) → a boolean height × width mask."""
    import numpy as np

    from vipbench import rle as coco_rle

    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError("a mask is not COCO RLE (size and counts)")
    if isinstance(rle["counts"], str):
        return coco_rle.decode(rle)
    h, w = (int(v) for v in rle["size"])
    flat = np.zeros(h * w, dtype=bool)
    position, value = 0, False
    for count in rle["counts"]:
        flat[position : position + int(count)] = value
        position, value = position + int(count), not value
    return flat.reshape((h, w), order="F")


def segmentation_mask(segmentation: Any, width: int, height: int) -> np.ndarray:
    """A sample's true segmentation in the forms RES grading reads (``vipbench.scoring.masks``: one flat polygon as
    lmms-lab's parquet holds it, a list of polygons, RLE compressed or not, a list of RLEs, or any as JSON text) → a
    boolean height × width mask, the union of its parts. Decoded here, without pycocotools, so that a rebuild loads
    no grading code; polygons are filled with PIL, for display only (pycocotools' rasteriser, which scores, may
    differ by a pixel along an edge)."""
    import numpy as np
    from PIL import Image, ImageDraw

    if isinstance(segmentation, str):
        segmentation = json.loads(segmentation)
    if isinstance(segmentation, dict):
        return _rle_mask(segmentation)
    if not isinstance(segmentation, Sequence) or not segmentation:
        raise ValueError("a segmentation is neither polygons nor RLE")
    if all(isinstance(v, (int, float)) for v in segmentation):
        segmentation = [segmentation]
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    masks = []
    for part in segmentation:
        if isinstance(part, dict):
            masks.append(_rle_mask(part))
            continue
        points = [float(v) for v in part]
        if len(points) >= 6:
            draw.polygon(list(zip(points[0::2], points[1::2])), fill=1)
    mask = np.asarray(canvas, dtype=bool)
    for other in masks:
        mask = mask | other if other.shape == mask.shape else mask
    return mask
