"""Referring segmentation (tasks/refcoco_res): each expression its own sample, asked with no input region; the truth a
COCO polygon or RLE read through pycocotools at the image's own size; the first output mask graded; cIoU, gIoU and
the no-mask share computed by hand on fixed masks and on a run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pycocotools import mask as coco_mask
from scripted import use_script

from vipbench import rle
from vipbench.cli import main
from vipbench.errors import DataError, VipbenchError
from vipbench.examples.refcoco import RLE_SIZE, ring_mask, write_refcoco, write_refcoco_rle, write_refcocoplus
from vipbench.examples.region_tasks import write_refcocog
from vipbench.models.base import Generation, OutputRegion
from vipbench.scoring.base import GradedItem
from vipbench.scoring.masks import MaskIoU, iou, mask_iou, truth_rle
from vipbench.tasks import TaskIndex

INDEX = TaskIndex()
W, H = 60, 40  # a non-square image for the unit tests


def rect(x1: int, y1: int, x2: int, y2: int, size: tuple[int, int] = (W, H)) -> np.ndarray:
    return ring_mask(size, (x1, y1, x2, y2))


def polygon(x1: int, y1: int, x2: int, y2: int) -> list[float]:
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def decoded(segmentation, size: tuple[int, int] = (W, H)) -> np.ndarray:
    return coco_mask.decode(truth_rle(segmentation, *size)).astype(bool)


def record(truth, masks: list[np.ndarray | None], size: tuple[int, int] = (W, H)) -> SimpleNamespace:
    regions = [SimpleNamespace(mask=None if m is None else rle.encode(m)) for m in masks]
    metadata = {"segmentation": truth, "image_size": list(size)}
    return SimpleNamespace(sample_id="s", metadata=metadata, output_regions=regions)


def numbers(unit: dict) -> dict[str, float]:
    return {unit["headline"]: unit["total"]["mean"], **{k: v["mean"] for k, v in unit["secondary"].items()}}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("res-data")
    return {
        "refcoco": write_refcoco(base / "RefCOCO"),
        "refcoco-rle": write_refcoco_rle(base / "RefCOCO-rle"),
        "refcocoplus": write_refcocoplus(base / "RefCOCOplus"),
        "refcocog": write_refcocog(base / "RefCOCOg"),
    }


def run(results: Path, tasks: str, data_dirs: list[str], model: str = "scripted", run_id: str = "r") -> Path:
    args = ["run", "--model", model, "--tasks", tasks, "--results", str(results), "--run-id", run_id]
    assert main([*args, *sum((["--data-dir", d] for d in data_dirs), [])]) == 0
    return results / run_id


# ------------------------------------------------------------------------------------------------ tasks and loading


def test_the_res_tasks_and_their_groups():
    assert INDEX.resolve("refcoco-res") == ["refcoco-res-testa", "refcoco-res-testb", "refcoco-res-val"]
    assert INDEX.resolve("refcocoplus-res") == ["refcocoplus-res-testa", "refcocoplus-res-testb", "refcocoplus-res-val"]
    assert INDEX.resolve("refcocog-res") == ["refcocog-res-test", "refcocog-res-val"]
    config = INDEX.configs["refcocoplus-res-testb"]
    assert (config.dataset.key, config.dataset.hf_id, dict(config.dataset.options)) == (
        "refcocoplus",
        "lmms-lab/RefCOCOplus",
        {"split": "testB"},
    )
    assert (config.scorer.name, config.scorer.metric) == ("mask-iou", "mask_iou")
    assert set(config.region_modes) == {"overlay", "coords", "mask", "box", "point"}  # text only, any mode
    omg = config.protocols["omg-llava"]
    assert omg.question == "Please segment <expr> in this image." and omg.generation["max_new_tokens"] == 100


def test_each_expression_is_a_sample_with_its_truth_and_no_input_region(data):
    samples = INDEX.task("refcoco-res-val").load_samples(data["refcoco"])
    assert [s.id for s in samples] == ["val-1-0", "val-1-1", "val-2-0", "val-3-0", "val-3-1"]  # REC's ids
    first = samples[0]
    assert first.question == "What is man on the left in this image? Please output segmentation mask."
    assert first.regions == () and first.references == ("man on the left",)
    assert first.metadata["segmentation"] == polygon(40, 80, 200, 200)  # lmms-lab's one flat polygon, as stored
    assert first.metadata["image_size"] == [400, 400]
    request = INDEX.task("refcoco-res-val").build_request(first, "mask")
    assert request.text == first.question and request.regions == ()
    ring = INDEX.task("refcoco-res-testa").load_samples(data["refcoco-rle"])[3]
    assert ring.metadata["image_size"] == list(RLE_SIZE)
    assert decoded(ring.metadata["segmentation"], RLE_SIZE).sum() == 80 * 80 - 40 * 40  # the hole is kept


def test_a_malformed_truth_fails_when_the_data_loads(tmp_path):
    from vipbench.examples.region_tasks import _card, _parquet, add_refcoco_row, image_bytes, refcoco_features

    features = refcoco_features(rle=True)
    rows = {name: [] for name in features}
    wrong = rle.encode(np.zeros((10, 10), dtype=bool))  # an RLE of another size than the 64 × 48 image
    add_refcoco_row(rows, "val-1", "a.jpg", image_bytes((64, 48), (1, 2, 3)), "", ["x"], [0, 0, 4, 4], wrong)
    _parquet(tmp_path / "data" / "val-00000-of-00001.parquet", rows, features)
    _card(tmp_path, {"default": {"val": "data/val-*"}})
    with pytest.raises(DataError, match=r"an RLE of size \[10, 10\] \(H, W\) on an image of 48 × 64"):
        INDEX.task("refcoco-res-val").load_samples(tmp_path)


# ------------------------------------------------------------------------------------------------ truths


def test_polygon_and_rle_truths_decode_at_the_images_resolution_on_a_non_square_image():
    expected = rect(10, 10, 20, 30)  # columns 10–19, rows 10–29: 200 pixels
    assert decoded(polygon(10, 10, 20, 30)).shape == (H, W)
    assert (decoded(polygon(10, 10, 20, 30)) == expected).all()  # one flat polygon (lmms-lab)
    two = decoded([polygon(10, 10, 20, 30), polygon(40, 0, 50, 5)])  # polygons: their union
    assert (two == (expected | rect(40, 0, 50, 5))).all()
    ring = ring_mask((W, H), (30, 0, 50, 20), (35, 5, 45, 15))
    compressed = rle.encode(ring)
    assert (decoded(compressed) == ring).all() and decoded(compressed).sum() == 300
    assert (decoded(json.dumps(compressed)) == ring).all()  # as JSON text
    flat = ring.flatten(order="F")  # uncompressed: run lengths, column-major, starting with zeros
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], edges, [flat.size]))).tolist()
    assert (decoded({"size": [H, W], "counts": counts}) == ring).all()
    with pytest.raises(DataError, match="RLE of size"):
        truth_rle(compressed, H, W)  # W and H swapped: a square-only bug shows here
    with pytest.raises(DataError, match="at least three points"):
        truth_rle([1.0, 2.0, 3.0, 4.0], W, H)
    with pytest.raises(DataError, match="counts sum to 3"):
        truth_rle({"size": [H, W], "counts": [1, 2]}, W, H)


# ------------------------------------------------------------------------------------------------ by hand


def test_ciou_and_giou_by_hand_on_fixed_masks():
    ring = rle.encode(ring_mask((W, H), (30, 0, 50, 20), (35, 5, 45, 15)))  # 400 − 100 = 300 pixels
    grades = [
        mask_iou(record(polygon(10, 10, 20, 30), [rect(15, 10, 25, 30)])),  # I 100, U 300
        mask_iou(record(ring, [rect(30, 0, 50, 20), rect(0, 0, 1, 1)])),  # the first: hole filled, I 300, U 400
        mask_iou(record(polygon(0, 30, 10, 40), [])),  # no mask: a miss, I 0, U 100
        mask_iou(record(polygon(40, 30, 60, 40), [np.zeros((H, W), dtype=bool)])),  # an empty mask: I 0, U 200
    ]
    assert [(g["intersection"], g["union"], g["parsed"]) for g in grades] == [
        (100, 300, True),
        (300, 400, True),
        (0, 100, False),
        (0, 200, True),
    ]
    assert [g["iou"] for g in grades] == [pytest.approx(1 / 3), 0.75, 0.0, 0.0]
    scores = MaskIoU().score([GradedItem(None, g) for g in grades])
    assert scores["ciou"] == pytest.approx(100 * 400 / 1000)
    assert scores["giou"] == pytest.approx(100 * (1 / 3 + 0.75) / 4)
    assert scores["no_mask"] == 25.0
    # Both empty: IoU 1 (LISA's and OMG-LLaVA's no-object rule), and nothing to add to cIoU.
    empty = rle.encode(np.zeros((H, W), dtype=bool))
    both = mask_iou(record(empty, [np.zeros((H, W), dtype=bool)]))
    assert (both["iou"], both["union"], iou(0, 0)) == (1.0, 0, 1.0)
    assert MaskIoU().score([GradedItem(None, both)])["ciou"] is None  # 0 / 0: undefined, shown as "–"
    with pytest.raises(VipbenchError, match="compared at the image's own resolution"):
        mask_iou(record(ring, [np.zeros((W, H), dtype=bool)]))


# ------------------------------------------------------------------------------------------------ runs


def region(mask: np.ndarray) -> OutputRegion:
    return OutputRegion(box=None, mask=rle.encode(mask))


def test_a_run_scores_the_first_output_mask_by_hand(data, tmp_path):
    """On 480 × 320 images: item 1 a 160 × 120 rectangle (19200 px), item 2 120 × 240 (28800), item 3 a ring (80 × 80
    less a 40 × 40 hole: 4800)."""
    item1, item2 = ring_mask(RLE_SIZE, (40, 80, 200, 200)), ring_mask(RLE_SIZE, (240, 40, 360, 280))
    item3 = ring_mask(RLE_SIZE, (0, 0, 80, 80), (20, 20, 60, 60))
    use_script(
        {
            "val-1-0": Generation("[SEG]", regions=[region(item1)]),  # I 19200, U 19200
            "val-1-1": Generation("[SEG]", regions=[region(ring_mask(RLE_SIZE, (120, 80, 280, 200)))]),  # 9600, 28800
            "val-2-0": "Sorry, I cannot segment that.",  # no mask: I 0, U 28800
            "val-3-0": Generation("[SEG]", regions=[region(ring_mask(RLE_SIZE, (0, 0, 80, 80)))]),  # 4800, 6400
            "val-3-1": Generation("[SEG] [SEG]", regions=[region(item3), region(item2)]),  # the first: 4800, 4800
        }
    )
    folder = run(tmp_path, "refcoco-res-val", [f"refcoco={data['refcoco-rle']}"])
    unit = json.loads((folder / "scores.json").read_text())["units"]["refcoco-res-val"]
    assert (unit["headline"], unit["total"]["label"], unit["n"], unit["failed"]) == ("ciou", "cIoU", 5, 0)
    ciou, giou = 100 * 38400 / 88000, 100 * (1 + 1 / 3 + 0 + 0.75 + 1) / 5
    assert numbers(unit) == {"ciou": round(ciou, 1), "giou": round(giou, 1), "no_mask": 20.0}
    assert (round(ciou, 1), round(giou, 1)) == (43.6, 61.7)
    grades = {g["sample_id"]: g["values"] for g in lines(folder / "judgements.jsonl")}
    assert [(grades[s]["intersection"], grades[s]["union"]) for s in sorted(grades)] == [
        (19200, 19200),
        (9600, 28800),
        (0, 28800),
        (4800, 6400),
        (4800, 4800),
    ]
    predictions = {p["sample_id"]: p for p in lines(folder / "predictions.jsonl")}
    assert len(predictions["val-3-1"]["output_regions"]) == 2 and predictions["val-2-0"]["output_regions"] == []
    # Grading again from the run folder alone (no model, no dataset) gives the same numbers.
    (folder / "scores.json").unlink()
    assert main(["judge", "r", "--results", str(tmp_path)]) == 0
    again = json.loads((folder / "scores.json").read_text())["units"]["refcoco-res-val"]
    assert numbers(again) == numbers(unit)


def test_a_model_with_no_mask_scores_zero_without_an_error(data, tmp_path):
    use_script({})  # every answer is text ("no idea")
    dirs = [f"refcoco={data['refcoco']}", f"refcocog={data['refcocog']}"]
    folder = run(tmp_path, "refcoco-res-val,refcocog-res-test", dirs)
    for unit in json.loads((folder / "scores.json").read_text())["units"].values():
        assert numbers(unit) == {"ciou": 0.0, "giou": 0.0, "no_mask": 100.0} and unit["failed"] == 0


def test_the_oracle_scores_100_on_every_res_split(data, tmp_path):
    """Polygons on square (RefCOCO, RefCOCO+) and 640 × 427 (RefCOCOg) images: the oracle outputs the true mask."""
    dirs = [f"refcoco={data['refcoco']}", f"refcocoplus={data['refcocoplus']}", f"refcocog={data['refcocog']}"]
    folder = run(tmp_path, "refcoco-res,refcocoplus-res,refcocog-res", dirs, model="oracle", run_id="o")
    units = json.loads((folder / "scores.json").read_text())["units"]
    assert len(units) == 8
    for name, unit in units.items():
        assert numbers(unit) == {"ciou": 100.0, "giou": 100.0, "no_mask": 0.0}, name
    first = lines(folder / "predictions.jsonl")[0]["output_regions"][0]
    assert first["box"] == [40.0, 80.0, 200.0, 200.0] and first["mask"]["size"] == [400, 400]


def test_the_manifest_records_that_text_only_tasks_give_no_region(data, tmp_path):
    """POPE, LLaVA-Bench, REC and RES give the model no region (``input_region: none``); a region task records
    ``given``; an unknown value is a one-line error."""
    assert {name for name, c in INDEX.configs.items() if c.input_region == "none"} >= {
        "pope-random",
        "llava-bench-wild",
        "refcoco-rec-val",
        "refcocog-res-test",
    }
    assert INDEX.configs["vip-bench-bbox"].input_region == "given"
    use_script({})
    folder = run(tmp_path, "refcoco-res-val,refcoco-rec-val", [f"refcoco={data['refcoco']}"])
    tasks = json.loads((folder / "manifest.json").read_text())["tasks"]
    assert tasks["refcoco-res-val"]["input_region"] == tasks["refcoco-rec-val"]["input_region"] == "none"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "task: bad\nloader: !function hooks.load\ndataset: {key: x}\nscorer: {metric: exact_match}\ninput_region: box\n"
    )
    from vipbench.taskconfig import config_from_yaml

    with pytest.raises(VipbenchError, match="input_region must be one of given, none"):
        config_from_yaml(bad)
