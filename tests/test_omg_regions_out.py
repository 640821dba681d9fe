"""OMG-LLaVA answers REC and RES with the mask of its first [SEG], end to end through ``vipbench run``: the tiny
model's output head is biased towards [SEG] (the test's only hand on it), so a random model segments; the mask is
decoded onto the original image, recorded as the prediction's output region, graded from predictions.jsonl alone
(RES: the mask; REC: the mask's tight box) and drawn by the leaderboard."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as coco_mask

torch = pytest.importorskip("torch")

from forcing import SegForcingOMGLLaVA, register  # noqa: E402

from vipbench import rle  # noqa: E402
from vipbench.cli import main  # noqa: E402
from vipbench.examples.refcoco import write_refcoco_rle  # noqa: E402
from vipbench.models.tiny.omg_llava import build_tiny_omg_llava  # noqa: E402
from vipbench.scoring.masks import truth_rle  # noqa: E402
from vipbench.scoring.metrics import box_iou  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """refcoco-res-val and refcoco-rec-val, run by the [SEG]-forced tiny OMG-LLaVA on RLE truths (480 × 320)."""
    register("omg-llava-segs", SegForcingOMGLLaVA)
    base = tmp_path_factory.mktemp("omg-regions")
    checkpoint = build_tiny_omg_llava(base / "OMG-LLaVA")
    data = write_refcoco_rle(base / "RefCOCO")
    results = base / "results"
    for task in ("refcoco-res-val", "refcoco-rec-val"):
        args = ["run", "--model", "omg-llava-segs", "--model-path", str(checkpoint), "--tasks", task]
        args += ["--data-dir", f"refcoco={data}", "--max-new-tokens", "3", "--results", str(results)]
        assert main([*args, "--run-id", task]) == 0
    return results


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_res_grades_the_decoded_mask_of_the_first_seg(runs):
    run = runs / "refcoco-res-val"
    records = {r["sample_id"]: r for r in lines(run / "predictions.jsonl")}
    grades = {g["sample_id"]: g["values"] for g in lines(run / "judgements.jsonl")}
    manifest = json.loads((run / "manifest.json").read_text())["tasks"]["refcoco-res-val"]
    assert manifest["family"] == "omg-llava" and manifest["input_region"] == "none"
    assert manifest["follows"].startswith("lxtGH/OMG-Seg@1ae2e7d omg_llava/omg_llava/tools/refcoco_omg_seg_llava.py")
    total_i = total_u = 0
    for sample_id, record in records.items():
        assert "Please segment " in record["model_input"] and record["metadata"]["expression"] in record["model_input"]
        regions = record["output_regions"]
        assert len(regions) == 2  # "[SEG][SEG][SEG]": the last one has no state after it, so no mask
        mask = rle.decode(regions[0]["mask"])
        assert mask.shape == (320, 480)
        truth = coco_mask.decode(truth_rle(record["metadata"]["segmentation"], 480, 320)).astype(bool)
        inter, union = int((mask & truth).sum()), int((mask | truth).sum())
        grade = grades[sample_id]
        assert (grade["intersection"], grade["union"], grade["parsed"]) == (inter, union, True)
        total_i, total_u = total_i + inter, total_u + union
    unit = json.loads((run / "scores.json").read_text())["units"]["refcoco-res-val"]
    assert unit["total"]["mean"] == pytest.approx(round(100 * total_i / total_u, 1))


def test_rec_grades_the_first_masks_tight_box(runs):
    run = runs / "refcoco-rec-val"
    records = {r["sample_id"]: r for r in lines(run / "predictions.jsonl")}
    grades = {g["sample_id"]: g["values"] for g in lines(run / "judgements.jsonl")}
    hits = 0
    for sample_id, record in records.items():
        region = record["output_regions"][0]
        mask = rle.decode(region["mask"])
        ys, xs = np.nonzero(mask)
        assert region["box"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]  # pixel edges
        grade = grades[sample_id]
        box = [region["box"][0] / 480, region["box"][1] / 320, region["box"][2] / 480, region["box"][3] / 320]
        assert grade["source"] == "decoded" and grade["box"] == pytest.approx(box)
        assert grade["iou"] == pytest.approx(box_iou(record["metadata"]["box"], box))
        hits += grade["iou"] >= 0.5
    unit = json.loads((run / "scores.json").read_text())["units"]["refcoco-rec-val"]
    assert unit["total"]["mean"] == pytest.approx(round(100 * hits / len(records), 1))


def test_a_changed_expression_changes_the_decoded_mask(runs):
    """Two expressions of one object in one image: the same pixels, another question, another mask."""
    records = lines(runs / "refcoco-res-val" / "predictions.jsonl")
    by_image: dict[str, list[dict]] = {}
    for record in records:
        by_image.setdefault(record["image"], []).append(record)
    pairs = [rs for rs in by_image.values() if len(rs) > 1]
    assert pairs, "the fixture has an object with two expressions"
    first, second = pairs[0][:2]
    assert first["metadata"]["expression"] != second["metadata"]["expression"]
    assert first["output_regions"][0]["mask"] != second["output_regions"][0]["mask"]


def test_the_leaderboard_shows_each_decoded_mask_with_its_iou(runs):
    from vipbench.leaderboard import build_site

    site = build_site(runs).parent
    pages = " ".join(p.read_text(errors="ignore") for p in site.rglob("*") if p.suffix in (".html", ".json", ".js"))
    for grade in lines(runs / "refcoco-res-val" / "judgements.jsonl"):
        assert f"({grade['values']['intersection']} / {grade['values']['union']} pixels)" in pages
