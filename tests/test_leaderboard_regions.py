"""The leaderboard draws the regions a model answers with (issue 24): a REC sample's picture shows the true box and
the graded box in two styles, with the IoU beside the answer (or that the reply had no box); a RES sample's the true
and the predicted masks as tinted fills; and each REC dataset gets a table of its splits. REC runs are real
(``vipbench run`` on the example RefCOCO with scripted replies); the RES run is written file by file in the formats
of records.py and scoring/record.py, as a mask-iou scorer writes it."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scripted import use_script

from vipbench import cli, rle
from vipbench.examples.refcoco import write_refcoco
from vipbench.leaderboard import build_site, load_run
from vipbench.leaderboard.regions_out import PREDICTION_COLOUR, TRUTH_COLOUR, segmentation_mask
from vipbench.leaderboard.summary import summarize
from vipbench.leaderboard.tables import TaskInfo, _split_tables
from vipbench.records import (
    Judgement,
    Manifest,
    MetricSpec,
    OutputRegionRecord,
    PredictionRecord,
    RunSpec,
    ScorerSpec,
    TaskProvenance,
)
from vipbench.scoring.aggregate import Stat
from vipbench.scoring.record import RunScores, SampleGrades, ScoredBy, UnitScores
from vipbench.store import RunStore, append_jsonl, write_json

# The example RefCOCO: 400 × 400 images; item 1's true box is [40, 80, 200, 200] in pixels (0.1, 0.2, 0.5, 0.5).
VAL = {
    "val-1-0": "The box is [0.1, 0.2, 0.5, 0.5].",  # IoU 1: a hit
    "val-1-1": "[0.25, 0.2, 0.65, 0.5]",  # IoU 5/11: a miss; pixels [100, 80, 260, 200]
    "val-2-0": "I cannot find it.",  # no box
    "val-3-0": "[0, 0, 0.2, 0.2]",
    "val-3-1": "Sure: [0.05, 0.05, 0.25, 0.25], or maybe [0, 0, 0.2, 0.2]",
}
TESTA = dict.fromkeys(("testA-1-0", "testA-1-1", "testA-2-0", "testA-3-0", "testA-3-1"), "[0.6, 0.1, 0.9, 0.7]")
GREY = (128, 128, 128)
RES_SIZE = (200, 100)  # w, h


def _res_masks() -> dict[str, tuple[object, np.ndarray | None]]:
    """Sample → (true segmentation as the parquet holds it, predicted mask or None)."""
    w, h = RES_SIZE
    predicted = np.zeros((h, w), dtype=bool)
    predicted[20:80, 60:140] = True
    ring = np.zeros((h, w), dtype=bool)  # an RLE truth with a hole
    ring[10:90, 150:190] = True
    ring[40:60, 160:180] = False
    return {
        "res-1": ([20.0, 20.0, 100.0, 20.0, 100.0, 80.0, 20.0, 80.0], predicted),  # one flat polygon
        "res-2": (rle.encode(ring), None),  # the reply had no mask
    }


def write_res_run(results: Path, run_id: str = "res") -> None:
    """A RES run of two samples on a grey 200 × 100 image, scored by mask-iou (cIoU headline, gIoU)."""
    folder = results / run_id
    (folder / "images").mkdir(parents=True)
    image = folder / "images" / "grey.png"
    Image.new("RGB", RES_SIZE, GREY).save(image)
    task = "refcoco-res-val"
    grades = {
        "res-1": {"score": 10 / 3, "iou": 1 / 3, "intersection": 2400, "union": 7200, "parsed": True},
        "res-2": {"score": 0.0, "iou": 0.0, "intersection": 0, "union": 2800, "parsed": False},
    }
    predictions, judgements, samples = [], [], []
    for sample_id, (segmentation, mask) in _res_masks().items():
        regions = []
        if mask is not None:
            ys, xs = np.nonzero(mask)
            box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
            regions = [OutputRegionRecord(box=box, mask=rle.encode(mask))]
        predictions.append(
            PredictionRecord(
                task=task,
                sample_id=sample_id,
                region_mode="box",
                prediction="It is [SEG]." if mask is not None else "Sorry.",
                prompt="Please segment the man on the left.",
                references=["man on the left"],
                metadata={"segmentation": segmentation, "image_size": list(RES_SIZE), "expression": "man"},
                image=str(image),
                doc_hash="d",
                prompt_hash="p",
                target_hash="t",
                seconds=0.0,
                output_regions=regions,
            )
        )
        judgements.append(
            Judgement(
                grade_key=f"k-{sample_id}",
                task=task,
                sample_id=sample_id,
                run=0,
                grader="metric:mask_iou",
                version=1,
                status="ok",
                values=grades[sample_id],
                created="2026-01-01T00:00:00+00:00",
            )
        )
        samples.append(SampleGrades(id=sample_id, prediction="h", values=[grades[sample_id]], keys=[f"k-{sample_id}"]))
    stat = {
        "ciou": Stat(mean=24.0, std=0.0, runs=[24.0], n=2, label="cIoU"),
        "giou": Stat(mean=16.7, std=0.0, runs=[16.7], n=2, label="gIoU"),
    }
    unit = UnitScores(
        unit=task,
        task=task,
        region_mode="box",
        scored_by=ScoredBy(scorer="mask-iou", scorer_version=1, grader="metric:mask_iou", grader_version=1, runs=1),
        dataset_hash="r" * 32,
        prompt_hash="p" * 32,
        n=2,
        planned=2,
        expected_grades=2,
        failed=0,
        headline="ciou",
        total=stat["ciou"],
        secondary={"giou": stat["giou"]},
        samples=samples,
    )
    scores = RunScores(run_id=run_id, model="omg-tiny", status="complete", predictions=2, planned=2, units={task: unit})
    write_json(folder / "scores.json", scores.model_dump(mode="json"))
    append_jsonl(folder / "predictions.jsonl", predictions, sync=False)
    append_jsonl(folder / "judgements.jsonl", judgements, sync=False)
    scoring = ScorerSpec(name="mask-iou", version=1, metric=MetricSpec(name="mask_iou", version=1))
    provenance = TaskProvenance(
        version=1,
        source="generated",
        samples=2,
        dataset_hash="r" * 32,
        prompt_hash="p" * 32,
        requests={task: 2},
        generation={},
        scoring=scoring,
    )
    manifest = Manifest(
        run_id=run_id,
        created="2026-01-03T00:00:00+00:00",
        updated="2026-01-03T00:00:00+00:00",
        status="complete",
        command=["vipbench", "run"],
        spec=RunSpec(model="omg-tiny", tasks=[task]),
        model={"adapter": "OmgTiny"},
        tasks={task: provenance},
        environment={},
    )
    (folder / "manifest.json").write_text(manifest.model_dump_json(indent=2))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("regions-out")
    data = write_refcoco(base / "RefCOCO")
    results = base / "results"
    tasks = ["--tasks", "refcoco-rec-val,refcoco-rec-testa", "--data-dir", f"refcoco={data}", "--results", str(results)]
    use_script(VAL | TESTA)
    assert cli.main(["run", "--model", "scripted", *tasks, "--run-id", "rec"]) == 0
    assert cli.main(["run", "--model", "oracle", *tasks, "--run-id", "oracle"]) == 0
    write_res_run(results)
    return results, build_site(results)


def page_data(index: Path) -> dict:
    html = index.read_text(encoding="utf-8")
    match = re.search(r'<script id="vipbench-data" type="application/json">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))


def samples_of(index: Path, run_id: str, unit_name: str) -> dict[str, dict]:
    unit = next(u for u in page_data(index)["units"] if u["run"] == run_id and u["unit"] == unit_name)
    js = (index.parent / unit["src"]).read_text(encoding="utf-8")
    return {s["id"]: s for s in json.loads(js[js.index(",") + 1 : js.rindex(")")])["samples"]}


def near(pixel, colour, tolerance: int = 60) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def is_red(p) -> bool:
    return p[0] > 180 and p[1] < 90 and p[2] < 90


# --------------------------------------------------------------------------------------------------------- REC


def test_a_rec_sample_shows_the_true_and_the_predicted_box_and_the_iou(site):
    results, index = site
    samples = samples_of(index, "rec", "refcoco-rec-val")
    miss, hit, none = samples["val-1-1"], samples["val-1-0"], samples["val-2-0"]
    assert miss["answer"]["text"] == "IoU 0.45 · miss" and miss["answer"]["iou"] == pytest.approx(5 / 11, abs=1e-4)
    assert hit["answer"]["text"] == "IoU 1.00 · hit" and hit["answer"]["hit"] is True
    assert none["answer"] == {**none["answer"], "found": False, "text": "no box in the reply", "iou": None}
    with Image.open(index.parent / miss["image"]) as shown:
        assert shown.size == (400, 400)
        # Truth [40, 80, 200, 200]: a solid green left edge (the line is drawn inside the box).
        left = [shown.getpixel((41, y)) for y in range(90, 190)]
        assert all(near(p, TRUTH_COLOUR) for p in left)
        # Prediction [100, 80, 260, 200]: a dashed red right edge, red on its dashes, the image in its gaps.
        right = [shown.getpixel((260, y)) for y in range(85, 195)]
        red = sum(1 for p in right if is_red(p))
        assert 0.5 * len(right) < red < 0.9 * len(right)
        assert near(shown.getpixel((300, 300)), (0, 0, 120), 20)  # the image itself, outside both boxes
    with Image.open(index.parent / none["image"]) as shown:  # the miss: only the truth is drawn
        pixels = list(shown.getdata())
        assert not any(is_red(p) for p in pixels)
        assert sum(1 for p in pixels if near(p, TRUTH_COLOUR)) > 1000
    # Each drawn answer is its own picture; the same answer on the same image would share one.
    assert len({s["image"] for s in samples.values()}) == len(samples)


def test_a_rec_table_per_dataset_has_the_headline_of_each_split(site):
    _, index = site
    group = next(g for g in page_data(index)["groups"] if g["name"] == "refcoco-rec")
    assert [t["task"] for t in group["tables"]] == ["refcoco-rec-testa", "refcoco-rec-val"]
    (table,) = group["splits"]
    assert (table["headline"], table["second"]) == ("Acc@0.5", "Mean IoU")
    assert [c["label"] for c in table["columns"]] == ["val", "testA"]
    rows = {r["run"]: r for r in table["rows"]}
    assert rows["rec"]["cells"]["refcoco-rec-val"]["mean"] == 40.0
    assert rows["rec"]["second"]["refcoco-rec-val"]["mean"] == 56.9  # mean IoU (2 + 5/11 + 9/23) / 5
    assert rows["rec"]["cells"]["refcoco-rec-testa"]["mean"] == 20.0
    assert rows["oracle"]["cells"]["refcoco-rec-val"]["mean"] == 100.0
    assert rows["oracle"]["cells"]["refcoco-rec-val"]["best"] is True
    assert html_table(index, table["id"]) == {
        "headers": ["Model", "val", "testA"],
        "rec": ["40.0 Mean IoU 56.9", "20.0 Mean IoU 20.0"],
        "oracle": ["100.0 Mean IoU 100.0", "100.0 Mean IoU 100.0"],
    }


class _Table(HTMLParser):
    def __init__(self, table_id: str):
        super().__init__()
        self.id, self.inside, self.rows = table_id, False, {}
        self.run: str | None = None
        self.cell: list[str] | None = None
        self.cells: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("data-table") == self.id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.run, self.cells = a.get("data-run", "headers"), []
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.cells.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif self.inside and tag == "tr":
            self.rows[self.run] = self.cells if self.run == "headers" else self.cells[1:]  # past the model cell

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def html_table(index: Path, table_id: str) -> dict[str, list[str]]:
    parser = _Table(table_id)
    parser.feed(index.read_text(encoding="utf-8"))
    return parser.rows


# --------------------------------------------------------------------------------------------------------- RES


def test_a_res_sample_shows_both_masks_tinted_and_the_iou(site):
    _, index = site
    samples = samples_of(index, "res", "refcoco-res-val")
    one, empty = samples["res-1"], samples["res-2"]
    assert one["answer"]["text"] == "IoU 0.33 (2400 / 7200 pixels)" and one["answer"]["kind"] == "mask"
    assert empty["answer"]["text"] == "no mask in the reply" and empty["answer"]["found"] is False
    with Image.open(index.parent / one["image"]) as shown:
        assert shown.size == RES_SIZE
        truth_only, predicted_only, both, neither = (
            shown.getpixel(xy) for xy in ((40, 50), (120, 50), (80, 50), (180, 50))
        )
    assert truth_only[1] > GREY[1] + 20 and truth_only[0] < GREY[0] - 30  # tinted green
    assert predicted_only[0] > GREY[0] + 30 and predicted_only[1] < GREY[1] - 30  # tinted red
    assert both != truth_only and both != predicted_only  # the two fills overlap
    assert near(neither, GREY, 8)
    with Image.open(index.parent / empty["image"]) as shown:  # no prediction: the truth alone, its hole untinted
        ring, hole = shown.getpixel((155, 50)), shown.getpixel((170, 50))
        assert ring[1] > GREY[1] + 20 and near(hole, GREY, 8)
        assert not any(p[0] > GREY[0] + 30 for p in shown.getdata())


def test_a_res_table_per_dataset_has_the_ciou_of_each_split(site):
    """The same table of splits for RES (cIoU, gIoU beneath), whichever RES tasks are installed."""
    results, _ = site
    entry = summarize(load_run(RunStore(results / "res")), "res", [])
    val = entry.scores.units["refcoco-res-val"]
    testa = val.model_copy(
        update={
            "unit": "refcoco-res-testa",
            "task": "refcoco-res-testa",
            "total": Stat(mean=30.0, std=0.0, runs=[30.0], n=2),
        }
    )
    tasks = {"refcoco-res-val": "val", "refcoco-res-testa": "testA"}
    info = TaskInfo(group=dict.fromkeys(tasks, "refcoco-res"), split=tasks)
    table = _split_tables({"refcoco-res-val": [(entry, val)], "refcoco-res-testa": [(entry, testa)]}, info)[
        "refcoco-res"
    ]
    assert (table["headline"], table["second"]) == ("cIoU", "gIoU")
    assert [c["label"] for c in table["columns"]] == ["val", "testA"]
    (row,) = table["rows"]
    assert {t: c["mean"] for t, c in row["cells"].items()} == {"refcoco-res-val": 24.0, "refcoco-res-testa": 30.0}
    assert row["second"]["refcoco-res-val"]["mean"] == 16.7
    assert _split_tables({"refcoco-res-val": [(entry, val)]}, info) == {}  # one split: its own table says it all


def test_true_segmentations_are_read_as_polygons_and_rle():
    polygon, _ = _res_masks()["res-1"]
    mask = segmentation_mask(polygon, 200, 100)
    assert mask[50, 40] and mask[50, 60] and not mask[50, 120] and not mask[10, 40]
    ring, _ = _res_masks()["res-2"]
    assert np.array_equal(segmentation_mask(ring, 200, 100), rle.decode(ring))
    nested = segmentation_mask([polygon, [150.0, 10.0, 190.0, 10.0, 190.0, 90.0, 150.0, 90.0]], 200, 100)
    assert nested[50, 40] and nested[50, 170] and not nested[50, 120]
    uncompressed = {"size": [2, 3], "counts": [1, 2, 3]}  # column-major: 0, then 1 1, then 0 0 0
    assert segmentation_mask(uncompressed, 3, 2).tolist() == [[False, True, False], [True, False, False]]
    assert np.array_equal(segmentation_mask(json.dumps([ring, polygon]), 200, 100), rle.decode(ring) | mask)


def test_the_colours_are_the_legends(site):
    """The picture's colours are the ones the page's legend draws (style.css), so the legend tells them apart."""
    _, index = site
    css = (index.parent / "assets" / "style.css").read_text(encoding="utf-8")
    assert f".answer-swatch.truth {{ border: 3px solid rgb{TRUTH_COLOUR}; }}" in css
    assert "3px dashed rgb({}, {}, {})".format(*PREDICTION_COLOUR) in css


# ------------------------------------------------------------------------------------------------------ browser


@pytest.mark.browser
def test_the_sample_browser_shows_the_legend_and_the_iou(site, tmp_path):
    from browser import CHROMIUM, launch

    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    _, index = site
    unit = next(u for u in page_data(index)["units"] if u["run"] == "rec" and u["unit"] == "refcoco-rec-val")
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{index.as_uri()}#samples?unit={unit['key']}&sample=val-1-1")
            page.wait_for_selector("#sample-detail .answer-iou")
            assert page.text_content("#sample-detail .answer-iou").startswith("IoU 0.45 · miss")
            assert page.text_content("#sample-detail .answer-legend") == "truthprediction"
            assert (
                page.locator("#sample-detail .answer-swatch.prediction").evaluate(
                    "e => getComputedStyle(e).borderTopStyle"
                )
                == "dashed"
            )
            page.click('#sample-list [data-sample="val-2-0"]')
            page.wait_for_selector("#sample-detail .answer-none")
            assert page.text_content("#sample-detail .answer-none") == "no box in the reply"
            assert "no box in the reply" in page.text_content('#sample-list [data-sample="val-2-0"]')
            assert not errors, errors
        finally:
            browser.close()
