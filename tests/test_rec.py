"""Referring expression comprehension with text boxes (tasks/refcoco_rec): each expression its own sample, asked as
lmms-eval asks it; the first [x1, y1, x2, y2] of a reply parsed in 0–1 of the image (or 0–1000, or pixels); Acc@t,
mean IoU, centre accuracy and the no-box share computed by hand per split, and against lmms-eval's own functions on
the same predictions."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from scripted import ScriptedAdapter, use_script

from vipbench.cli import main
from vipbench.errors import VipbenchError
from vipbench.examples.refcoco import write_refcoco, write_refcocoplus
from vipbench.examples.region_tasks import write_refcocog
from vipbench.models import MODELS
from vipbench.models.base import Generation, ModelAdapter
from vipbench.records import PredictionRecord
from vipbench.scoring.metrics import box_iou, parse_box, text_box
from vipbench.tasks import TaskIndex

INDEX = TaskIndex()
LMMS_QUESTION = (
    "Bounding box coordinates are specified in the format (top-left x, top-left y, bottom-right x, bottom-right y). "
    "All values are floating point numbers bounded between 0 and 1. Please provide the bounding box coordinate of "
    "the region this sentence describes: "
)
# The example's true boxes in 0–1 (400 × 400 images): item 1 (two expressions), item 2 (one), item 3 (two, in the
# top-left corner).
TRUTH = {"1": (0.1, 0.2, 0.5, 0.5), "2": (0.6, 0.1, 0.9, 0.7), "3": (0.0, 0.0, 0.2, 0.2)}
VAL = {
    "val-1-0": "The box is [0.1, 0.2, 0.5, 0.5].",  # IoU 1
    "val-1-1": "[0.25, 0.2, 0.65, 0.5]",  # IoU 0.075 / 0.165 = 5/11; centre (0.45, 0.35) inside
    "val-2-0": "I cannot find it.",  # no box: a miss
    "val-3-0": "[0, 0, 0.2, 0.2]",  # integers are numbers too: IoU 1
    "val-3-1": "Sure: [0.05, 0.05, 0.25, 0.25], or maybe [0, 0, 0.2, 0.2]",  # the first box: IoU 0.0225 / 0.0575 = 9/23
}
TESTA = dict.fromkeys(("testA-1-0", "testA-1-1", "testA-2-0", "testA-3-0", "testA-3-1"), "[0.6, 0.1, 0.9, 0.7]")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("rec-data")
    return {
        "refcoco": write_refcoco(base / "RefCOCO"),
        "refcocoplus": write_refcocoplus(base / "RefCOCOplus"),
        "refcocog": write_refcocog(base / "RefCOCOg"),
    }


def run_scripted(results: Path, tasks: str, data_dirs: list[str], answers: dict, run_id: str = "r") -> Path:
    use_script(answers)
    args = ["run", "--model", "scripted", "--tasks", tasks, "--results", str(results), "--run-id", run_id]
    for d in data_dirs:
        args += ["--data-dir", d]
    assert main(args) == 0
    return results / run_id


def numbers(unit: dict) -> dict[str, float]:
    return {unit["headline"]: unit["total"]["mean"], **{k: v["mean"] for k, v in unit["secondary"].items()}}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _lmms_rec():
    lmms_eval = pytest.importorskip("lmms_eval", reason="lmms-eval is not installed (pip install --no-deps lmms-eval)")
    path = Path(lmms_eval.__file__).parent / "tasks" / "refcoco" / "utils_rec.py"
    spec = importlib.util.spec_from_file_location("lmms_refcoco_utils_rec", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


# ------------------------------------------------------------------------------------------------ tasks and loading


def lmms_rec_numbers(utils, results: list) -> dict[str, float]:
    """lmms-eval's REC aggregations (``utils_rec.py``) on its per-item results, under vipbench's number names."""
    return {
        "acc10": utils.refcoco_bbox_rec_acc01(results),
        "acc30": utils.refcoco_bbox_rec_acc03(results),
        "acc50": utils.refcoco_bbox_rec_acc05(results),
        "acc70": utils.refcoco_bbox_rec_acc07(results),
        "acc90": utils.refcoco_bbox_rec_acc09(results),
        "miou": utils.refcoco_bbox_rec_iou(results),
    }

def test_the_rec_tasks_and_their_groups():
    assert INDEX.resolve("refcoco-rec") == ["refcoco-rec-testa", "refcoco-rec-testb", "refcoco-rec-val"]
    assert INDEX.resolve("refcocoplus-rec") == ["refcocoplus-rec-testa", "refcocoplus-rec-testb", "refcocoplus-rec-val"]
    assert INDEX.resolve("refcocog-rec") == ["refcocog-rec-test", "refcocog-rec-val"]
    config = INDEX.configs["refcoco-rec-testa"]
    assert (config.dataset.key, config.dataset.hf_id, config.dataset.options) == (
        "refcoco",
        "lmms-lab/RefCOCO",
        {"split": "testA"},
    )
    assert INDEX.configs["refcocog-rec-val"].dataset.key == "refcocog"  # the files RefCOCOg captioning reads
    assert set(config.region_modes) == {"overlay", "coords", "mask", "box", "point"}  # text only, any mode


def test_each_expression_is_a_sample_with_lmms_evals_question_and_no_input_region(data):
    samples = INDEX.task("refcoco-rec-val").load_samples(data["refcoco"])
    assert [s.id for s in samples] == list(VAL)
    first, second = samples[0], samples[1]
    assert (
        first.question == LMMS_QUESTION + "man on the left"
        and second.question == LMMS_QUESTION + "guy in the red shirt"
    )
    assert first.regions == () and first.image == first.source_image
    assert first.metadata["box"] == [0.1, 0.2, 0.5, 0.5] and first.metadata["image_size"] == [400, 400]
    assert first.references == ("[0.100, 0.200, 0.500, 0.500]",)  # the truth as a reply would write it
    request = INDEX.task("refcoco-rec-val").build_request(first, "box")
    assert request.text == first.question and request.regions == ()
    plus = INDEX.task("refcocoplus-rec-testb").load_samples(data["refcocoplus"])
    assert [s.id for s in plus][:2] == ["testB-1-0", "testB-1-1"]
    g = INDEX.task("refcocog-rec-val").load_samples(data["refcocog"])  # 640 × 427, xywh [60, 48, 180, 120]
    assert [s.id for s in g][:3] == ["val-r1-0", "val-r1-1", "val-r2-0"]
    assert g[0].metadata["box"] == [60 / 640, 48 / 427, 240 / 640, 168 / 427]


def test_the_samples_are_lmms_evals_exploded_rows(data):
    """lmms-eval's own preprocessing of the same parquet gives the same rows, expressions, boxes and questions."""
    import datasets

    utils = _lmms_rec()
    ds = datasets.load_dataset(str(data["refcoco"]), split="testB")
    rows = list(utils.refcoco_bbox_rec_preprocess_dataset(ds))
    samples = INDEX.task("refcoco-rec-testb").load_samples(data["refcoco"])
    assert len(rows) == len(samples) == 5
    for row, sample in zip(rows, samples):
        assert (row["question_id"], row["answer"]) == (sample.metadata["question_id"], sample.metadata["expression"])
        # lmms-eval's map keeps the parquet's float32 column, so its box is rounded to float32; ours is float64.
        assert row["bbox"] == pytest.approx(sample.metadata["box"], abs=1e-7)
        assert utils.refcoco_bbox_rec_doc_to_text(row) == sample.question


# ------------------------------------------------------------------------------------------------ parsing and IoU


def test_box_parsing_in_each_convention():
    assert parse_box("It is at [0.1, 0.2, 0.5, 0.5] I think") == (0.1, 0.2, 0.5, 0.5)
    assert parse_box("[ 0.1,0.2, 0.5 ,0.5]") is None  # lmms-eval's pattern: no space before a comma
    assert parse_box("no box here, (0.1, 0.2, 0.5, 0.5)") is None
    assert parse_box("[100, 200, 500, 500]", "thousand") == (0.1, 0.2, 0.5, 0.5)
    assert parse_box("[40, 80, 200, 200]", "pixel", (400, 400)) == (0.1, 0.2, 0.5, 0.5)
    assert box_iou((0.1, 0.2, 0.5, 0.5), (0.5, 0.5, 0.1, 0.2)) == 0.0  # reversed corners: no area, no overlap
    assert box_iou((0.0, 0.0, 0.2, 0.2), (0.1, 0.1, 0.3, 0.3)) == pytest.approx(1 / 7)

    def grade(reply: str, convention: str = "unit") -> dict:
        record = SimpleNamespace(
            sample_id="s", prediction=reply, metadata={"box": [0.1, 0.2, 0.5, 0.5], "image_size": [400, 400]}
        )
        return text_box(record, convention=convention)

    assert grade("[40, 80, 200, 200]", "pixel")["iou"] == pytest.approx(1.0)
    assert grade("[100, 200, 500, 500]", "thousand")["score"] == 10.0
    assert grade("[100, 200, 500, 500]")["score"] == 0.0  # read as 0–1, far outside the image
    assert grade("nothing") == {
        "score": 0.0,
        "box": None,
        "parsed": False,
        "iou": 0.0,
        "hit@0.5": False,
        "centre": False,
        "source": "text",
    }


def record(reply: str, regions: list[dict] | None = None, size=(400, 400), **model_metadata) -> PredictionRecord:
    """A prediction of the box (0.1, 0.2, 0.5, 0.5) as predictions.jsonl holds it."""
    return PredictionRecord(
        task="refcoco-rec-val",
        sample_id="s",
        region_mode="overlay",
        prediction=reply,
        prompt="q",
        references=["[0.100, 0.200, 0.500, 0.500]"],
        metadata={"box": [0.1, 0.2, 0.5, 0.5], "image_size": list(size)},
        image="i.png",
        model_metadata=model_metadata,
        output_regions=regions or [],
        doc_hash="h",
        prompt_hash="h",
        target_hash="h",
        seconds=0.0,
    )


def test_a_decoded_region_is_read_before_the_text():
    """The first output region's box (pixels of the original image) is the answer, whatever the text says; a
    decoded-region model with no region (or an empty first mask) is a miss, counted, not an error."""
    decoded = [{"box": [40, 80, 200, 200]}, {"box": [0, 0, 10, 10]}]
    grade = text_box(record("It is at [0.6, 0.1, 0.9, 0.7].", decoded))
    assert grade["source"] == "decoded" and grade["box"] == [0.1, 0.2, 0.5, 0.5] and grade["iou"] == 1.0
    grade = text_box(record("", [{"box": [60, 80, 200, 200]}]), convention="decoded")
    assert grade["iou"] == pytest.approx(140 * 120 / (160 * 120)) and grade["parsed"] is True
    for regions in ([], [{"box": None, "mask": {"size": [400, 400], "counts": "0"}}]):
        miss = text_box(record("[0.1, 0.2, 0.5, 0.5]", regions), convention="decoded")
        assert (miss["source"], miss["parsed"], miss["iou"], miss["score"]) == ("decoded", False, 0.0, 0.0)
    # Without a decoded region, a text-box model's reply is read as text.
    assert text_box(record("[0.1, 0.2, 0.5, 0.5]"))["source"] == "text"
    with pytest.raises(VipbenchError, match="no image size for decoded boxes"):
        text_box(record("", decoded, size=()))


# ------------------------------------------------------------------------------------------------ scores by hand


def test_acc_iou_centre_and_no_box_by_hand_per_split(data, tmp_path):
    run = run_scripted(tmp_path, "refcoco-rec-val,refcoco-rec-testa", [f"refcoco={data['refcoco']}"], VAL | TESTA)
    units = json.loads((run / "scores.json").read_text())["units"]
    val = units["refcoco-rec-val"]
    assert (val["headline"], val["total"]["label"], val["n"]) == ("acc50", "Acc@0.5", 5)
    # IoUs: 1, 5/11, miss, 1, 9/23.
    miou = round(100 * (2 + 5 / 11 + 9 / 23) / 5, 1)
    assert numbers(val) == {
        "acc50": 40.0,
        "acc10": 80.0,
        "acc30": 80.0,
        "acc70": 40.0,
        "acc90": 40.0,
        "miou": miou,
        "centre": 80.0,
        "no_box": 20.0,
    }
    assert miou == 56.9
    # testA: every reply is item 2's box: one hit in five, no overlap elsewhere.
    testa = numbers(units["refcoco-rec-testa"])
    assert (testa["acc50"], testa["miou"], testa["centre"], testa["no_box"]) == (20.0, 20.0, 20.0, 0.0)
    # The parsed box is kept with the grade: grading needs no model.
    grades = {g["sample_id"]: g["values"] for g in lines(run / "judgements.jsonl") if g["task"] == "refcoco-rec-val"}
    assert grades["val-1-1"]["box"] == [0.25, 0.2, 0.65, 0.5] and grades["val-1-1"]["iou"] == pytest.approx(5 / 11)
    assert grades["val-2-0"]["box"] is None and grades["val-2-0"]["parsed"] is False
    predictions = {p["sample_id"]: p for p in lines(run / "predictions.jsonl")}
    assert predictions["val-3-1"]["metadata"]["box"] == list(TRUTH["3"])


def test_the_oracle_scores_100_on_every_rec_split(data, tmp_path):
    dirs = [f"refcoco={data['refcoco']}", f"refcocoplus={data['refcocoplus']}", f"refcocog={data['refcocog']}"]
    args = ["run", "--model", "oracle", "--tasks", "refcoco-rec,refcocoplus-rec,refcocog-rec", "--run-id", "o"]
    assert main([*args, "--results", str(tmp_path), *sum((["--data-dir", d] for d in dirs), [])]) == 0
    units = json.loads((tmp_path / "o" / "scores.json").read_text())["units"]
    assert len(units) == 8
    for name, unit in units.items():
        assert unit["total"]["mean"] == 100.0 and unit["secondary"]["no_box"]["mean"] == 0.0, name
        if not name.startswith("refcocog"):  # square images, boxes exact at 3 decimals
            assert unit["secondary"]["miou"]["mean"] == 100.0


def test_acc_and_iou_equal_lmms_evals_on_the_same_replies(data, tmp_path):
    """lmms-eval's refcoco_bbox_rec functions on the same replies give the same Acc@t and mean IoU; its centre
    accuracy differs only where a reply has no box (read as [0, 0, 0, 0], a hit for a box at the top-left corner)."""
    utils = _lmms_rec()
    replies = VAL | {"val-3-1": "It is the sign."}  # no box, on the top-left truth
    run = run_scripted(tmp_path, "refcoco-rec-val", [f"refcoco={data['refcoco']}"], replies)
    ours = numbers(json.loads((run / "scores.json").read_text())["units"]["refcoco-rec-val"])
    samples = INDEX.task("refcoco-rec-val").load_samples(data["refcoco"])
    docs = [
        {"question_id": s.metadata["question_id"], "answer": s.metadata["expression"], "bbox": s.metadata["box"]}
        for s in samples
    ]
    results = [utils.refcoco_bbox_rec_process_result(d, [replies[s.id]])["refcoco_IoU"] for d, s in zip(docs, samples)]
    lmms = lmms_rec_numbers(utils, results)
    assert {k: ours[k] for k in lmms} == {k: round(100 * v, 1) for k, v in lmms.items()}
    assert utils.refcoco_bbox_rec_center_acc(results) == 0.8 and ours["centre"] == 60.0


# ------------------------------------------------------------------------------------------------ model conventions

# The VAL replies' boxes in 0–1000 (item 2: no box; val-3-1: the first of two boxes).
THOUSAND = {
    "man on the left": "The box is [100, 200, 500, 500].",
    "guy in the red shirt": "[250, 200, 650, 500]",
    "tall woman right": "I cannot find it.",
    "top left corner sign": "[0, 0, 200, 200]",
    "sign": "Sure: [50, 50, 250, 250], or maybe [0, 0, 200, 200]",
}


def test_an_api_model_s_box_convention_is_recorded_and_read(data, tmp_path):
    """openai: with box_convention=thousand, over a real loopback endpoint: the convention is in the manifest and
    in every prediction, and grading reads the replies in it (the hand-computed VAL numbers); the same replies
    without it are read as lmms-eval's 0–1, far outside the image."""
    from judge_server import JudgeServer

    answers = {LMMS_QUESTION + expression: reply for expression, reply in THOUSAND.items()}
    dirs = ["--data-dir", f"refcoco={data['refcoco']}", "--tasks", "refcoco-rec-val", "--results", str(tmp_path)]
    with JudgeServer(vision_answers=answers) as server:
        for run_id, extra in (("thousand", ",box_convention=thousand"), ("plain", "")):
            args = ["run", "--model", "openai:grounder", "--model-args", f"base_url={server.url}{extra}"]
            assert main([*args, *dirs, "--run-id", run_id]) == 0
    manifest = json.loads((tmp_path / "thousand" / "manifest.json").read_text())
    assert manifest["model"]["box_convention"] == "thousand"
    predictions = lines(tmp_path / "thousand" / "predictions.jsonl")
    assert {p["prediction"] for p in predictions} == set(THOUSAND.values())
    assert all(p["model_metadata"] == {"box_convention": "thousand"} for p in predictions)
    val = numbers(json.loads((tmp_path / "thousand" / "scores.json").read_text())["units"]["refcoco-rec-val"])
    assert (val["acc50"], val["miou"], val["centre"], val["no_box"]) == (40.0, 56.9, 80.0, 20.0)
    plain = numbers(json.loads((tmp_path / "plain" / "scores.json").read_text())["units"]["refcoco-rec-val"])
    assert (plain["acc50"], plain["miou"], plain["no_box"]) == (0.0, 0.0, 20.0)
    assert main(["run", "--model", "openai:x", "--model-args", "box_convention=inch", *dirs]) == 2


class PixelGrounder(ModelAdapter):
    """A plugin model that writes pixel boxes and says so, as any adapter may: ``box_convention`` in its
    generation's metadata."""

    region_modes = ("overlay",)

    def __init__(self, box_convention: str = "pixel"):
        self.box_convention = box_convention

    def generate(self, requests, settings):
        return [Generation("[40, 80, 200, 200]", metadata={"box_convention": self.box_convention}) for _ in requests]


def test_a_plugin_model_s_box_convention_is_read(data, tmp_path):
    if "pixel-grounder" not in MODELS:
        MODELS.register("pixel-grounder", PixelGrounder, "writes pixel boxes", origin="test-plugin")
    args = ["run", "--model", "pixel-grounder", "--tasks", "refcoco-rec-val", "--results", str(tmp_path)]
    args += ["--data-dir", f"refcoco={data['refcoco']}"]
    assert main([*args, "--run-id", "px"]) == 0
    assert main([*args, "--run-id", "unit", "--model-args", "box_convention=unit"]) == 0
    px = numbers(json.loads((tmp_path / "px" / "scores.json").read_text())["units"]["refcoco-rec-val"])
    assert px["acc50"] == 40.0 and px["miou"] == 40.0  # item 1's box, in pixels: its two expressions hit
    unit = numbers(json.loads((tmp_path / "unit" / "scores.json").read_text())["units"]["refcoco-rec-val"])
    assert unit["acc50"] == 0.0


def test_padded_square_boxes_by_hand_on_a_non_square_image():
    """LLaVA-1.5's boxes are 0–1 of the image padded to a square (expand2square: centred, offset (side − W) // 2,
    (side − H) // 2). On a 640 × 427 image the square is 640 px and the image 106 px down: the true box (60, 48,
    240, 168) px is written [0.094, 0.241, 0.375, 0.428]."""
    truth = [60 / 640, 48 / 427, 240 / 640, 168 / 427]
    box = parse_box("[0.094, 0.241, 0.375, 0.428]", "padded_square", (640, 427))
    assert box == pytest.approx([60.16 / 640, 48.24 / 427, 240 / 640, 167.92 / 427])
    assert box_iou(truth, box) == pytest.approx(179.84 * 119.68 / (180 * 120), abs=1e-9)  # the inner box
    # Read as 0–1 of the original image, the same reply misses: y 102.907–182.756 px against 48–168.
    unit = parse_box("[0.094, 0.241, 0.375, 0.428]", "unit")
    assert box_iou(truth, unit) == pytest.approx(179.84 * 65.093 / (180 * 120 + 179.84 * 79.849 - 179.84 * 65.093))
    assert box_iou(truth, unit) < 0.5
    # A portrait image pads left and right: 300 × 500 → 500 px, the image 100 px right.
    assert parse_box("[0.3, 0.1, 0.5, 0.9]", "padded_square", (300, 500)) == pytest.approx(
        [50 / 300, 0.1, 150 / 300, 0.9]
    )
    # A square image needs no padding: the same as 0–1.
    assert parse_box("[0.1, 0.2, 0.5, 0.5]", "padded_square", (400, 400)) == (0.1, 0.2, 0.5, 0.5)


class ScriptedLLaVA(ScriptedAdapter):
    """The scripted model, of the LLaVA family: it gets LLaVA's REC protocol and is read in its convention."""

    family = "llava"


def test_the_llava_family_is_asked_its_training_question_and_read_on_the_padded_square(data, tmp_path):
    if "scripted-llava" not in MODELS:
        MODELS.register("scripted-llava", ScriptedLLaVA, "scripted, LLaVA family")
    use_script({"val-r1-0": "[0.094, 0.241, 0.375, 0.428]", "val-r1-1": "It is at [0.094, 0.241, 0.375, 0.428]."})
    args = ["run", "--model", "scripted-llava", "--tasks", "refcocog-rec-val", "--results", str(tmp_path)]
    assert main([*args, "--data-dir", f"refcocog={data['refcocog']}", "--run-id", "l"]) == 0
    predictions = {p["sample_id"]: p for p in lines(tmp_path / "l" / "predictions.jsonl")}
    assert predictions["val-r1-0"]["prompt"] == (
        "Please provide the bounding box coordinate of the region this sentence describes: a man riding a horse"
    )
    task = json.loads((tmp_path / "l" / "manifest.json").read_text())["tasks"]["refcocog-rec-val"]
    assert task["follows"].startswith("haotian-liu/LLaVA@c121f04 scripts/v1_5/finetune.sh")
    grades = {g["sample_id"]: g["values"] for g in lines(tmp_path / "l" / "judgements.jsonl")}
    assert grades["val-r1-0"]["iou"] == pytest.approx(179.84 * 119.68 / (180 * 120))
    unit = numbers(json.loads((tmp_path / "l" / "scores.json").read_text())["units"]["refcocog-rec-val"])
    assert (unit["acc50"], unit["no_box"]) == (40.0, 60.0)
    assert unit["miou"] == round(100 * 2 * 179.84 * 119.68 / (180 * 120) / 5, 1)


def test_exported_rec_through_lmms_eval_equals_lmms_evals_rec_functions(data, tmp_path):
    """``vipbench export-lmms`` covers REC: lmms-eval's evaluator runs the exported task, and on the answers of that
    run vipbench's Acc@t and mean IoU equal lmms-eval's own refcoco_bbox_rec functions (a model of no family: boxes
    in lmms-eval's 0–1 convention)."""
    pytest.importorskip("lmms_eval.evaluator", reason="needs the [lmms] extra: pip install 'vipbench[lmms]'")
    from test_lmms import evaluate

    from vipbench.lmms.export import export_tasks

    utils = _lmms_rec()
    record = export_tasks(tmp_path, "refcoco-rec-val", data_dirs={"refcoco": data["refcoco"]})
    assert record.tasks["vipbench_refcoco_rec_val"].numbers[:1] == ["acc50"]
    use_script(VAL)
    result, _ = evaluate(tmp_path, ["vipbench_refcoco_rec_val"], "model=scripted")
    ours = result["results"]["vipbench_refcoco_rec_val"]
    samples = {s.id: s for s in INDEX.task("refcoco-rec-val").load_samples(data["refcoco"])}
    results = []
    for logged in result["samples"]["vipbench_refcoco_rec_val"]:
        sample = samples[logged["doc"]["sample_id"]]
        doc = {"question_id": sample.metadata["question_id"], "answer": "", "bbox": sample.metadata["box"]}
        results.append(utils.refcoco_bbox_rec_process_result(doc, logged["filtered_resps"])["refcoco_IoU"])
    assert sorted(logged["filtered_resps"][0] for logged in result["samples"]["vipbench_refcoco_rec_val"]) == sorted(
        VAL.values()
    )
    lmms = lmms_rec_numbers(utils, results)
    assert {k: ours[f"{k},none"] for k in lmms} == {k: round(100 * v, 1) for k, v in lmms.items()}
    assert ours["acc50,none"] == 40.0 and ours["no_box,none"] == 20.0
