"""The region benchmarks scored by metrics, on fixtures in their official layouts: loading and box conversions,
each task's requests in every region mode, and metrics computed by hand (and, where lmms-eval implements the same
metric, against lmms-eval on the same predictions)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import fixture_region_tasks as fx
import pytest
from scripted import use_script

from vipbench.cli import main
from vipbench.prompting import COLORS, DrawSettings, request_image
from vipbench.rle import decode
from vipbench.tasks import TaskIndex
from vipbench.types import REGION_TOKEN

INDEX = TaskIndex()


def load(task: str, root: Path):
    return INDEX.task(task).load_samples(root)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("region-data")
    return {
        "pope": fx.write_pope_parquet(base / "POPE"),
        "pope-json": fx.write_pope_rucaibox(base / "POPE-json"),
        "refcocog": fx.write_refcocog(base / "RefCOCOg"),
        "vcr": fx.write_vcr_official(base / "VCR"),
        "vcr-vip": fx.write_vcr_vip_llava(base / "VCR-vip"),
        "v7w": fx.write_v7w_vip_llava(base / "V7W"),
        "v7w-official": fx.write_v7w_official(base / "V7W-official"),
        "pointqa": fx.write_pointqa_vip_llava(base / "PointQA"),
        "pointqa-shikra": fx.write_pointqa_shikra(base / "PointQA-shikra"),
    }


# ------------------------------------------------------------------------------------------------ loading


@pytest.mark.parametrize("source", ["pope", "pope-json"])
def test_pope_loads_from_parquet_or_rucaibox_json_lines(data, source):
    samples = load("pope-popular", data[source])
    assert [s.id for s in samples] == ["1", "2", "3", "4", "5", "6"]
    assert [s.references for s in samples] == [(label,) for _, _, label in fx.POPE_ITEMS]
    first = samples[0]
    assert first.question == "Is there a dog in the image?\nAnswer the question using a single word or phrase."
    assert first.image.is_file() and first.regions == () and first.metadata == {"category": "popular"}


def test_refcocog_boxes_are_converted_from_xywh(data):
    samples = {s.id: s for s in load("refcocog-val", data["refcocog"])}
    assert list(samples) == ["val-r1", "val-r2", "val-r3"]
    r1 = samples["val-r1"]
    assert r1.regions[0].box == (60.0, 48.0, 240.0, 168.0)  # [60, 48, 180, 120] xywh
    assert r1.regions[0].polygons[0] == ((60.0, 48.0), (240.0, 48.0), (240.0, 168.0), (60.0, 168.0))  # flat polygon
    assert r1.references == ("a man riding a horse", "the person on the brown horse")
    assert r1.template == "Provide a short description of the region <obj>."
    assert {s.id for s in load("refcocog-test", data["refcocog"])} == {"test-r1", "test-r2", "test-r3"}


@pytest.mark.parametrize("source", ["vcr", "vcr-vip"])
def test_vcr_references_become_object_phrases_and_boxes_lose_their_score(data, source):
    qa = {s.id.removeprefix("vcr-"): s for s in load("vcr-qa", data[source])}
    s = qa["val-0"]
    assert s.template.splitlines() == [
        "Why is the person <obj0> looking at the person <obj1>?",
        "A. The person <obj0> is angry.",
        "B. The person <obj0> wants to talk to the person <obj1>.",
        "C. Nobody is looking.",
        "D. The person <obj0> and the person <obj1> are friends.",
        "Answer with the option's letter from the given choices directly.",
    ]
    assert s.references == ("B",) and [r.label for r in s.regions] == ["obj0", "obj1"]
    assert s.regions[0].box == (10.0, 10.0, 40.0, 60.0)  # [x1, y1, x2, y2, score] without the score
    assert len(s.regions[1].polygons) == 1 and len(s.regions[1].polygons[0]) == 4  # the 3-point polygon dropped
    qar = {s.id.removeprefix("vcr-"): s for s in load("vcr-qar", data[source])}
    assert qar["val-0"].template.startswith(
        "I give you a question and its answer, I need you to provide a rationale explaining why the answer is right. "
        '"Why is the person <obj0> looking at the person <obj1>?" The answer is "The person <obj0> wants to talk to '
        'the person <obj1>.".What is the rationale for this decision?\nA. The person <obj0> is walking toward'
    )  # conditioned on the ground-truth answer, B
    assert qar["val-0"].references == ("A",) and [r.label for r in qar["val-0"].regions] == ["obj0", "obj1", "obj2"]


def test_v7w_answer_letters_in_both_layouts(data):
    vip = {s.id: s for s in load("v7w", data["v7w"])}
    assert vip["v7w-1"].references == ("C",) and vip["v7w-2"].references == ("A",)  # the file's order kept
    assert "A. The object <obj0>\nB. The object <obj1>" in vip["v7w-1"].template
    official = {s.id: s for s in load("v7w", data["v7w-official"])}
    assert set(official) == {"11", "12"}  # the train image's questions are left out
    cup = official["11"]
    letter = "ABCD".index(cup.references[0])
    assert cup.regions[letter].box == tuple(fx.V7W_BOXES[2])  # box 102, x/y/width/height → xyxy
    assert [r.box for r in load("v7w", data["v7w-official"])[0].regions] == [r.box for r in cup.regions]  # seeded
    assert sorted(r.box for r in cup.regions) == sorted(tuple(b) for b in fx.V7W_BOXES)


@pytest.mark.parametrize("source", ["pointqa", "pointqa-shikra"])
def test_pointqa_in_both_layouts(data, source):
    samples = load("pointqa-twice", data[source])
    assert [s.references for s in samples] == [("3",), ("two",)]
    assert samples[0].template == (
        "How many birds are there? The exemplary object is <obj>.\nAnswer the question using a single word or phrase."
    )
    assert samples[0].regions[0].box == (10.0, 10.0, 30.0, 40.0)


# ------------------------------------------------------------------------------------ requests per mode

MODES = ["overlay", "mask", "box", "coords", "point"]
TASKS = {
    "pope-random": "pope",
    "refcocog-val": "refcocog",
    "vcr-qa": "vcr",
    "vcr-qar": "vcr",
    "v7w": "v7w",
    "pointqa-twice": "pointqa",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_renders_its_regions_in_every_mode(data, task, mode):
    t = INDEX.task(task)
    sample = t.load_samples(data[TASKS[task]])[0]
    request = t.build_request(sample, mode)
    n = len(sample.regions)
    assert "<obj" not in request.text
    if mode == "overlay":
        assert len(request.overlays) == n and request.text.count(REGION_TOKEN) == 0
        shapes = {o.shape for o in request.overlays}
        assert shapes <= {"point" if task.startswith("vcr") else "rectangle"}
        assert len({o.color for o in request.overlays}) == n  # one colour per region
        if n:
            from PIL import Image

            assert request.overlays[0].color in COLORS  # named: a pool colour (red where the task fixes it)
            with Image.open(sample.source_image) as source:
                assert request_image(request).size == source.size  # drawn on the clean image, same size
    elif mode == "coords":
        assert request.text.count("[0.") + request.text.count("[1.") >= n and REGION_TOKEN not in request.text
    else:
        assert request.text.count(REGION_TOKEN) >= n and len(request.regions) == request.text.count(REGION_TOKEN)


def test_overlay_phrases_read_as_vip_llava_writes_them(data):
    # Pool order, always "the": the colour rule vipbench's protocol opts into (the upstream draws:
    # tests/test_upstream_wording.py).
    pool = DrawSettings(colour_rule="pool")
    vcr = INDEX.task("vcr-qa")
    request = vcr.build_request(vcr.load_samples(data["vcr"])[0], "overlay", draws=pool)
    assert request.text.startswith("Why is the person at the red point looking at the person at the lime point?")
    v7w = INDEX.task("v7w")
    request = v7w.build_request(v7w.load_samples(data["v7w"])[0], "overlay", draws=pool)
    assert "A. The object within the red rectangle\nB. The object within the lime rectangle" in request.text
    ref = INDEX.task("refcocog-val")
    sample = ref.load_samples(data["refcocog"])[0]
    request = ref.build_request(sample, "overlay")
    assert request.text == "Provide a short description of the region within the red rectangle."
    # ViP-LLaVA's width, scaled to the image, not lmms-eval's 1-pixel box: the outline is several pixels wide.
    from PIL import Image

    drawn, plain = request_image(request), Image.open(sample.source_image).convert("RGB")
    x1, y1, x2, y2 = (round(v) for v in sample.regions[0].box)
    changed = [y for y in range(y1 - 8, y1 + 9) if drawn.getpixel((x1 + 20, y)) != plain.getpixel((x1 + 20, y))]
    assert len(changed) >= 4  # 3 × 640 / 336 ≈ 6 pixels


# --------------------------------------------------------------------------------- scoring, by hand

POPE_ANSWERS = {  # labels: 1 yes, 2 no, 3 yes, 4 no, 5 yes, 6 no
    "1": "Yes, there is a dog.",  # yes: TP
    "2": "No.",  # no: TN
    "3": "There is not a car in the image.",  # "not": no → FN
    "4": "Yes",  # FP
    "5": "yes",  # TP
    "6": "I cannot tell",  # no "no" word: yes under LLaVA's rule → FP
}


def run_scripted(results: Path, tasks: str, data_dirs: list[str], answers: dict, run_id: str = "r") -> dict:
    use_script(answers)
    args = ["run", "--model", "scripted", "--tasks", tasks, "--results", str(results), "--run-id", run_id]
    for d in data_dirs:
        args += ["--data-dir", d]
    assert main(args) == 0
    return json.loads((results / run_id / "scores.json").read_text())


def test_pope_metrics_by_hand_and_the_mean_f1_of_its_settings(data, tmp_path):
    scores = run_scripted(tmp_path, "pope", [f"pope={data['pope']}"], POPE_ANSWERS)
    unit = scores["units"]["pope-random"]
    # The scripted model has no family: lmms-eval's exact yes/no (the official protocol for a model without a
    # script of its own). Only "Yes" (FP) and "yes" (TP) are read; the other four are unparseable and wrong.
    numbers = {k: v["mean"] for k, v in unit["secondary"].items()}
    assert unit["headline"] == "f1" and unit["total"]["mean"] == 66.7
    assert unit["scored_by"]["args"] == {"rule": "lmms-eval"}
    assert numbers == {"accuracy": 16.7, "precision": 50.0, "recall": 100.0, "yes_ratio": 33.3, "unparseable": 66.7}
    group = scores["groups"]["pope"]
    assert group["tasks"] == ["pope-random", "pope-popular", "pope-adversarial"]
    assert group["total"]["mean"] == 66.7 and group["headline"] == "f1"


def test_pope_strict_rule_counts_unparseable_answers(data, tmp_path):
    from vipbench.records import PredictionRecord
    from vipbench.scoring.metrics import yes_no

    def answer(text: str, rule: str) -> str | None:
        record = PredictionRecord(
            task="t",
            sample_id="s",
            region_mode="overlay",
            prediction=text,
            prompt="q",
            references=["yes"],
            image="i",
            doc_hash="",
            prompt_hash="",
            target_hash="",
            seconds=0,
        )
        return yes_no(record, rule=rule)["answer"]

    assert [answer(t, "llava") for t in POPE_ANSWERS.values()] == ["yes", "no", "no", "yes", "yes", "yes"]
    assert [answer(t, "strict") for t in POPE_ANSWERS.values()] == [None, "no", None, "yes", "yes", None]
    assert answer("NO, there is none.", "llava") == "yes"  # case-sensitive, as upstream: "NO" is not a no-word


def _lmms(module: str):
    lmms_eval = pytest.importorskip("lmms_eval", reason="lmms-eval is not installed (pip install --no-deps lmms-eval)")
    path = Path(lmms_eval.__file__).parent / "tasks" / module / "utils.py"
    spec = importlib.util.spec_from_file_location(f"lmms_{module}_utils", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def test_pope_against_lmms_eval_on_the_same_predictions(data, tmp_path):
    """lmms-eval scores POPE differently, and this is why: it needs the exact strings "yes"/"no" (so "Yes, there
    is a dog." counts as neither), and its yes-ratio counts the labels, not the predictions."""
    utils = _lmms("pope")
    scores = run_scripted(tmp_path, "pope-random", [f"pope={data['pope']}"], POPE_ANSWERS)
    docs = [{"question_id": qid, "answer": label} for qid, _, label in fx.POPE_ITEMS]
    results = [utils.pope_process_results(doc, [POPE_ANSWERS[doc["question_id"]]])["pope_accuracy"] for doc in docs]
    lmms = {
        "accuracy": utils.pope_aggregate_accuracy(results),
        "precision": utils.pope_aggregate_precision(results),
        "recall": utils.pope_aggregate_recall(results),
        "f1": utils.pope_aggregate_f1_score(results),
        "yes_ratio": utils.pope_aggregate_yes_ratio(results),
    }
    # Only "Yes" (4, FP) and "yes" (5, TP) are read at all; nothing reads as an exact "no".
    assert lmms == pytest.approx({"accuracy": 1 / 6, "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "yes_ratio": 0.5})
    ours = scores["units"]["pope-random"]
    assert ours["total"]["mean"] == round(100 * lmms["f1"], 1) and ours["secondary"]["yes_ratio"]["mean"] == 33.3
    # With answers that are exactly yes/no, both read the same words and agree (but for the yes-ratio).
    exact = {qid: label for qid, _, label in fx.POPE_ITEMS}
    exact["2"] = "yes"
    scores = run_scripted(tmp_path, "pope-random", [f"pope={data['pope']}"], exact, run_id="exact")
    results = [utils.pope_process_results(doc, [exact[doc["question_id"]]])["pope_accuracy"] for doc in docs]
    unit = scores["units"]["pope-random"]
    assert unit["total"]["mean"] == round(100 * utils.pope_aggregate_f1_score(results), 1)
    assert unit["secondary"]["accuracy"]["mean"] == round(100 * utils.pope_aggregate_accuracy(results), 1)
    assert unit["secondary"]["yes_ratio"]["mean"] == 66.7 and utils.pope_aggregate_yes_ratio(results) == 0.5


def test_vcr_letters_lenient_and_strict_and_the_joint_q2ar(data, tmp_path):
    answers = {
        "vcr-qa/val-0": "B",  # right
        "vcr-qar/val-0": "A",  # right → Q→AR right
        "vcr-qa/val-1": "A.",  # right when read leniently, wrong for the upstream exact match
        "vcr-qar/val-1": "(B)",  # wrong
    }
    scores = run_scripted(tmp_path, "vcr", [f"vcr={data['vcr']}"], answers)
    qa, qar = scores["units"]["vcr-qa"], scores["units"]["vcr-qar"]
    # ViP-LLaVA's exact match is the headline; vipbench's letter reading beside it.
    assert (qa["total"]["label"], qa["total"]["mean"], qa["secondary"]["letter"]["mean"]) == ("Accuracy", 50.0, 100.0)
    assert qar["total"]["mean"] == 50.0 and qar["secondary"]["exact"]["mean"] == 50.0
    q2ar = scores["groups"]["vcr-q2ar"]
    assert (q2ar["total"]["mean"], q2ar["total"]["n"], q2ar["scorer"]) == (50.0, 2, "joint")  # val-0 only


def test_v7w_and_pointqa_accuracy(data, tmp_path):
    scores = run_scripted(tmp_path, "v7w", [f"v7w={data['v7w']}"], {"v7w-1": "The answer is C", "v7w-2": "B"})
    v7w = scores["units"]["v7w"]
    assert v7w["total"]["mean"] == 0.0 and v7w["secondary"]["letter"]["mean"] == 50.0  # "The answer is C": letter only
    answers = {"pointQA_twice-p1": "3", "pointQA_twice-p2": "2"}  # "2" for "two": right when normalised only
    scores = run_scripted(tmp_path, "pointqa-twice", [f"pointqa={data['pointqa']}"], answers, run_id="pq")
    unit = scores["units"]["pointqa-twice"]
    assert unit["total"]["mean"] == 50.0 and unit["secondary"]["normalised"]["mean"] == 100.0


needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")


@needs_java
def test_refcocog_caption_metrics_equal_lmms_evals_on_the_same_predictions(data, tmp_path):
    """lmms-eval computes each COCO caption metric through pycocoevalcap's own tokenizer and COCO objects; on the
    same predictions vipbench's numbers are the same (METEOR aside: left out here, it takes 5 s a start)."""
    pytest.importorskip("pycocoevalcap")
    answers = {"val-r1": "a man on a horse", "val-r2": "a dog in snow", "val-r3": "the red car"}
    scores = run_scripted(tmp_path, "refcocog-val", [f"refcocog={data['refcocog']}"], answers)
    unit = scores["units"]["refcocog-val"]
    assert unit["headline"] == "cider" and unit["total"]["label"] == "CIDEr"
    utils = _lmms("refcocog")
    results = [{"answer": refs, "pred": answers[f"val-{qid}"], "ann_id": qid} for qid, _, refs in fx.REFCOCOG_ITEMS]
    for ours, theirs in [("cider", "CIDEr"), ("bleu_1", "Bleu_1"), ("bleu_4", "Bleu_4"), ("rouge_l", "ROUGE_L")]:
        value = unit["total"] if ours == "cider" else unit["secondary"][ours]
        assert value["mean"] == round(100 * utils.refcoco_aggregation_result(results, theirs), 1), ours
    assert "meteor" in unit["secondary"]


def test_all_covers_every_task_and_tasks_lists_them(capsys):
    names = INDEX.resolve("all")
    for task in [
        "pope-random",
        "pope-popular",
        "pope-adversarial",
        "refcocog-val",
        "refcocog-test",
        "vcr-qa",
        "vcr-qar",
        "v7w",
        "pointqa-twice",
    ]:
        assert task in names
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "pope-random · data lmms-lab/POPE · metric yes_no, scorer binary" in out
    assert "refcocog-val · data lmms-lab/RefCOCOg · metric passthrough, scorer caption" in out
    assert "vcr-qa · data --data-dir only · metric choice_letter, scorer mean" in out
    assert "group vcr-q2ar: vcr-qa, vcr-qar" in out


def test_mask_mode_records_the_mask_the_model_was_given(data, tmp_path):
    pytest.importorskip("pycocoevalcap", reason="refcocog-val is scored by the caption scorer: the [captions] extra")
    use_script({})
    args = ["run", "--model", "scripted", "--tasks", "refcocog-val", "--region-mode", "mask", "--limit", "1"]
    assert main([*args, "--data-dir", f"refcocog={data['refcocog']}", "--results", str(tmp_path)]) in (0, 1)
    (record,) = [json.loads(line) for line in next(tmp_path.glob("*/predictions.jsonl")).read_text().splitlines()]
    mask = decode(record["regions"][0]["mask"])
    assert mask.shape == (427, 640) and mask[48:168, 60:240].mean() > 0.95 and mask.sum() < 0.1 * mask.size


def test_group_scores_and_fine_tuned_checkpoints_on_the_leaderboard(data, tmp_path, capsys):
    """Q→AR gets its own table; a checkpoint fine-tuned on VCR is labelled and listed apart, never ranked."""
    from test_leaderboard import page_data

    from vipbench.leaderboard import build_site
    from vipbench.results import load_scores

    answers = {"vcr-qa/val-0": "B", "vcr-qar/val-0": "A", "vcr-qa/val-1": "A", "vcr-qar/val-1": "A"}
    run_scripted(tmp_path, "vcr", [f"vcr={data['vcr']}"], answers, run_id="zero-shot")
    use_script({})
    args = ["run", "--model", "scripted", "--tasks", "vcr", "--data-dir", f"vcr={data['vcr']}", "--run-id", "ft"]
    assert main([*args, "--results", str(tmp_path), "--finetuned-on", "vcr"]) == 0
    assert json.loads((tmp_path / "ft" / "manifest.json").read_text())["spec"]["finetuned_on"] == ["vcr-qa", "vcr-qar"]
    site = page_data(build_site(tmp_path))
    tables = {t["task"]: t for t in site["tables"]}
    q2ar = tables["vcr-q2ar"]
    assert [r["run"] for r in q2ar["rows"]] == ["zero-shot"] and q2ar["rows"][0]["total"]["mean"] == 100.0
    assert [r["run"] for r in q2ar["apart_rows"]] == ["ft"]
    assert "fine-tuned on vcr-qa, vcr-qar" in [t["text"] for t in q2ar["apart_rows"][0]["tags"]]
    qa = tables["vcr-qa"]
    assert [r["run"] for r in qa["rows"]] == ["zero-shot"] and [r["run"] for r in qa["apart_rows"]] == ["ft"]
    headings = {g["name"]: [t["task"] for t in g["tables"]] for g in site["groups"]}
    assert headings["vcr"] == ["vcr-qa", "vcr-qar", "vcr-q2ar"]  # the group score after its tasks
    frame = load_scores(tmp_path)
    assert (
        set(frame[frame.run_id == "ft"].finetuned) == {True} and not frame[frame.run_id == "zero-shot"].finetuned.any()
    )
    assert main(["runs", "--results", str(tmp_path), "--format", "csv"]) == 0
    assert "vcr-qa Accuracy 0.0 (fine-tuned)" in capsys.readouterr().out
