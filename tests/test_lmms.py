"""lmms-eval interop: vipbench tasks exported as lmms-eval tasks and run by lmms-eval's own TaskManager and
evaluator, vipbench models driven by lmms-eval, and lmms-eval's POPE and RefCOCOg metrics beside vipbench's on
the very answers one lmms-eval run produced.

The tests that run lmms-eval need the ``[lmms]`` extra (its evaluator imports accelerate, evaluate, sacrebleu, ...)
and skip without it; ``.ci/run`` runs them in an environment of their own. Exporting needs only vipbench.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import fixture_region_tasks as fx
import pytest
from judge_server import JudgeServer
from scripted import ScriptedAdapter, use_script

from vipbench.cli import main
from vipbench.lmms.docs import sample_from_json
from vipbench.lmms.export import export_tasks, read_record
from vipbench.models import MODELS
from vipbench.prompting import request_image
from vipbench.records import RunSpec
from vipbench.runner import run
from vipbench.tasks import TaskIndex

LIMIT = 16  # vip-synth samples: every question type, four prompt shapes


def needs_lmms():
    """lmms-eval with what its evaluator imports (the [lmms] extra), or a skip."""
    pytest.importorskip("lmms_eval.evaluator", reason="needs the [lmms] extra: pip install 'vipbench[lmms]'")


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path_factory, monkeypatch):
    """lmms-eval reads the exported docs with datasets' json builder; keep its cache out of the home folder."""
    monkeypatch.setenv("LMMS_EVAL_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "lmms-datasets"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    from fixture_data import write_vip_bench

    base = tmp_path_factory.mktemp("lmms-data")
    return {
        "pope": fx.write_pope_parquet(base / "POPE"),
        "refcocog": fx.write_refcocog(base / "RefCOCOg"),
        "vip-bench": write_vip_bench(base / "ViP-Bench"),
    }


def evaluate(folder: Path, tasks: list[str], model_args: str) -> tuple[dict, object]:
    """lmms-eval's own pieces, as ``simple_evaluate`` chains them: its TaskManager reads the folder, its
    get_task_dict builds the tasks (its json dataset builder reads the docs), the ``vipbench`` model comes from
    its model registry (our entry point), and its ``evaluate`` runs requests, hooks and aggregations."""
    from lmms_eval.evaluator import evaluate as lmms_evaluate
    from lmms_eval.models import get_model
    from lmms_eval.tasks import TaskManager, get_task_dict

    manager = TaskManager(include_path=str(folder), include_defaults=False)
    task_dict = get_task_dict(tasks, manager)
    lm = get_model("vipbench").create_from_arg_string(model_args, {"batch_size": 4})
    for name, task in task_dict.items():
        task.set_config(key="num_fewshot", value=0)
        lm.task_dict[name] = task.dataset
    return lmms_evaluate(lm=lm, task_dict=task_dict, bootstrap_iters=0, log_samples=True), lm


def vipbench_run(tmp: Path, model: str, tasks: str, run_id: str, **spec) -> tuple[dict, dict]:
    """vipbench's own run of the same model on the same samples: scores.json's unit, and answers by sample id."""
    store = run(RunSpec(model=model, tasks=[tasks], **spec), results_dir=tmp, run_id=run_id, warn=lambda m: None)
    main(["judge", run_id, "--results", str(tmp)])
    scores = json.loads(store.scores_path.read_text())["units"][tasks]
    return scores, {p.sample_id: p.prediction for p in store.predictions()}


def answers(result: dict, task: str) -> dict[str, str]:
    return {s["doc"]["sample_id"]: s["filtered_resps"][0] for s in result["samples"][task]}


# ------------------------------------------------------------------------------------------------ export


def test_export_writes_one_yaml_and_docs_file_per_task_with_vipbench_s_fingerprints(tmp_path, data):
    dirs = {"pope": data["pope"], "refcocog": data["refcocog"], "vip-bench": data["vip-bench"]}
    record = export_tasks(tmp_path, "vip-synth,pope-random,refcocog-val,vip-bench-bbox", data_dirs=dirs, limit=LIMIT)
    assert sorted(record.tasks) == [
        "vipbench_pope_random",
        "vipbench_refcocog_val",
        "vipbench_vip_bench_bbox",
        "vipbench_vip_synth",
    ]
    synth = record.tasks["vipbench_vip_synth"]
    assert (synth.samples, synth.region_mode, synth.source, synth.scoring.metric.name) == (
        LIMIT,
        "overlay",
        "generated",
        "exact_match",
    )
    assert synth.numbers[0] == "mean" and "question_type/count" in synth.numbers and "shape/ellipse" in synth.numbers
    pope = record.tasks["vipbench_pope_random"]
    assert pope.numbers[:6] == ["f1", "accuracy", "precision", "recall", "yes_ratio", "unparseable"]
    assert record.tasks["vipbench_refcocog_val"].numbers[0] == "cider"
    assert record.tasks["vipbench_vip_bench_bbox"].scoring.judge.model == "gpt-4-0613"  # the task's own judge
    # The docs are vipbench's samples, loaded by its loader; the fingerprints are those vipbench run records.
    docs = [json.loads(line) for line in (tmp_path / "vipbench_pope_random.jsonl").read_text().splitlines()]
    samples = TaskIndex().task("pope-random").load_samples(data["pope"])
    assert [sample_from_json(d["sample"]) for d in docs] == samples
    yaml_text = (tmp_path / "vipbench_vip_synth.yaml").read_text()
    assert 'generation_kwargs: {"until": [], "max_new_tokens": 16}' in yaml_text  # no "\n\n" stop, vip-synth's 16
    assert "aggregation: !function utils.aggregate_question_type_count" in yaml_text
    assert 'tag: ["vipbench_all", "vipbench_pope"]' in (tmp_path / "vipbench_pope_random.yaml").read_text()
    # A second export into the folder adds to it.
    export_tasks(tmp_path, "pope-popular", data_dirs=dirs, limit=2)
    assert len(read_record(tmp_path).tasks) == 5 and "aggregate_f1 = " in (tmp_path / "utils.py").read_text()


def test_export_errors_are_one_line(tmp_path, capsys):
    assert main(["export-lmms", str(tmp_path), "--tasks", "vip-synt"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown task 'vip-synt'. Did you mean 'vip-synth'") and err.count("\n") == 1
    assert main(["export-lmms", str(tmp_path), "--tasks", "vip-synth", "--judge", "gpt-4o"]) == 2
    assert "--judge and --runs apply to judge-scored tasks" in capsys.readouterr().err
    assert main(["export-lmms", str(tmp_path), "--tasks", "pope-random", "--data-dir", str(tmp_path / "none")]) == 2
    assert "data folder for pope not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export-lmms", "--help"])
    out = capsys.readouterr().out
    assert "--include_path lmms_tasks" in out and "vipbench_pope_random" in out
    assert main(["export-lmms", str(tmp_path / "out"), "--tasks", "vip-synth", "--limit", "3"]) == 0
    assert "vipbench_vip_synth: 3 samples (generated), regions as overlay" in capsys.readouterr().out


def test_only_the_lmms_extra_brings_lmms_eval_and_the_entry_point_names_the_model():
    """The core and [models] installs never pull lmms-eval (its torchvision requirement drags a CUDA torch in)."""
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for name, requirements in [("core", project["dependencies"]), *extras.items()]:
        pulls = [r for r in requirements if r.startswith(("lmms-eval", "lmms_eval", "torchvision"))]
        assert bool(pulls) == (name == "lmms"), name
    assert "torch==2.13.0" in extras["lmms"] and "torch==2.13.0" in extras["models"]  # one torch for both
    assert project["entry-points"]["lmms_eval.models"] == {"vipbench": "vipbench.lmms.manifest:MANIFEST"}


# ----------------------------------------------------------------------------------- lmms-eval reads them


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lmms-synth")
    export_tasks(folder, "vip-synth", limit=LIMIT)
    return folder


def test_lmms_eval_task_manager_indexes_and_renders_the_exported_tasks(tmp_path, data):
    needs_lmms()
    from lmms_eval.tasks import TaskManager, get_task_dict

    dirs = {"pope": data["pope"], "refcocog": data["refcocog"], "vip-bench": data["vip-bench"]}
    export_tasks(tmp_path, "vip-synth,pope-random,refcocog-val,vip-bench-bbox", data_dirs=dirs, limit=LIMIT)
    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    assert set(manager.all_subtasks) >= {"vipbench_vip_synth", "vipbench_refcocog_val", "vipbench_vip_bench_bbox"}
    assert "vipbench_all" in manager.all_tags and "vipbench_pope" in manager.all_tags
    tasks = get_task_dict(["vipbench_all"], manager)  # the tag: every exported task
    assert len(tasks) == 4
    index = TaskIndex()
    for name, task in tasks.items():
        docs = task.test_docs()
        vip_task = index.task(docs[0]["vipbench_task"])
        samples = vip_task.load_samples(data.get(vip_task.config.dataset.key))[:LIMIT]
        assert len(docs) == len(samples)
        for doc, sample in zip(docs, samples):
            request = vip_task.build_request(sample, "overlay")
            assert task.doc_to_text(doc) == request.text, name  # lmms-eval's prompt is vipbench's
            assert task.doc_to_target(doc) == sample.references[0]
    # The image lmms-eval models see is the one vipbench's models see: the prompt drawn as ViP-LLaVA draws it.
    doc = tasks["vipbench_vip_synth"].test_docs()[1]
    sample = sample_from_json(doc["sample"])
    image = tasks["vipbench_vip_synth"].doc_to_visual(doc)[0]
    expected = request_image(index.task("vip-synth").build_request(sample, "overlay"))
    assert image.tobytes() == expected.tobytes() and sample.source_image is not None
    from vipbench.imaging import load_rgb

    assert image.tobytes() != load_rgb(sample.source_image).tobytes()  # something was drawn


@pytest.mark.parametrize("model, limit", [("oracle", LIMIT), ("blind", 80), ("vip-llava-tiny", LIMIT)])
def test_a_model_through_lmms_eval_scores_as_vipbench_run(model, limit, synth, tmp_path):
    """The exported task run by lmms-eval's evaluator on a vipbench model gives vipbench run's answers, sample by
    sample, and its numbers, breakdowns included. ``oracle`` must score 100; ``blind`` scores in between on two
    scenes (its majority answer per question type is right for one scene's items only where both agree); the tiny
    random model's greedy answers must be the very strings vipbench run got."""
    needs_lmms()
    folder = synth
    if limit != LIMIT:
        folder = tmp_path / "export"
        export_tasks(folder, "vip-synth", limit=limit)
    result, _ = evaluate(folder, ["vipbench_vip_synth"], f"model={model}")
    numbers = result["results"]["vipbench_vip_synth"]
    unit, predictions = vipbench_run(tmp_path, model, "vip-synth", "run", limit=limit)
    assert answers(result, "vipbench_vip_synth") == predictions
    assert numbers["mean,none"] == unit["total"]["mean"]
    for key, table in unit["breakdowns"].items():
        for value, stat in table.items():
            assert numbers[f"{key}/{value},none"] == stat["mean"], (key, value)
    if model == "oracle":
        assert numbers["mean,none"] == 100.0
    if model == "blind":
        assert 0 < numbers["mean,none"] < 100


@pytest.mark.parametrize("model", ["oracle", "blind"])
def test_res_through_lmms_eval_grades_the_models_masks_as_vipbench_run(model, tmp_path):
    """lmms-eval hands process_results the answer's text alone: the vipbench model passes the masks it produced
    beside it, so RES scores as in vipbench run (the oracle's true masks: cIoU 100; a text-only model: no mask)."""
    needs_lmms()
    from vipbench.examples.refcoco import write_refcoco_rle

    dirs = {"refcoco": str(write_refcoco_rle(tmp_path / "RefCOCO"))}
    export_tasks(tmp_path / "export", "refcoco-res-val", data_dirs=dirs)
    result, _ = evaluate(tmp_path / "export", ["vipbench_refcoco_res_val"], f"model={model}")
    numbers = result["results"]["vipbench_refcoco_res_val"]
    unit, _ = vipbench_run(tmp_path / "runs", model, "refcoco-res-val", "run", data_dirs=dirs)
    assert numbers["ciou,none"] == unit["total"]["mean"] == (100.0 if model == "oracle" else 0.0)
    assert numbers["no_mask,none"] == unit["secondary"]["no_mask"]["mean"] == (0.0 if model == "oracle" else 100.0)


def test_the_lmms_eval_command_runs_an_exported_task(synth, tmp_path):
    """``lmms-eval --model vipbench ... --include_path DIR``, the command itself, in a fresh process: the model
    is found through the entry point, the tasks through the tag. (It runs in the repository, where ``./vipbench``
    is a folder: lmms-eval would read ``--tasks vipbench`` as a folder of YAML, hence the tag ``vipbench_all``.)"""
    needs_lmms()
    pytest.importorskip("filelock._api", reason="lmms-eval 0.7.3's simple_evaluate needs filelock<4 (the extra's pin)")
    command = [sys.executable, "-m", "lmms_eval", "--model", "vipbench", "--model_args", "model=oracle"]
    command += ["--tasks", "vipbench_all", "--include_path", str(synth), "--output_path", str(tmp_path), "--limit", "8"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env={**os.environ})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    found = sorted(tmp_path.rglob("*.json"))
    assert len(found) == 1, (found, done.stdout[-3000:], done.stderr[-3000:])
    (results,) = found
    assert json.loads(results.read_text())["results"]["vipbench_vip_synth"]["mean,none"] == 100.0
    assert "vipbench_vip_synth" in done.stdout and "question_type/count" in done.stdout  # its table


# --------------------------------------------------------------------------------- the vipbench lmms model


class _MaskOnly(ScriptedAdapter):
    region_modes = ("mask",)


def test_the_model_re_renders_docs_in_a_mode_its_adapter_reads(tmp_path, data):
    """An overlay export read by a mask-only adapter (Osprey's kind): the adapter gets masks and <region>
    tokens, as vipbench run gives it; an adapter that reads overlays gets the exported overlay request."""
    needs_lmms()
    export_tasks(tmp_path, "refcocog-val", data_dirs={"refcocog": data["refcocog"]})
    if "scripted-mask" not in MODELS:
        MODELS.register("scripted-mask", _MaskOnly, "answers from a test script, reads masks only")
    use_script({"val-r1": "a man on a horse"})
    _, lm = evaluate(tmp_path, ["vipbench_refcocog_val"], "model=scripted-mask")
    seen = lm.adapter.seen
    assert {r.region_mode for r in seen} == {"mask"} and all(len(r.regions) == 1 for r in seen)
    assert seen[0].text == "Provide a short description of the region <region>."
    _, lm = evaluate(tmp_path, ["vipbench_refcocog_val"], "model=scripted")
    assert {r.region_mode for r in lm.adapter.seen} == {"overlay"} and lm.adapter.seen[0].overlays


def test_the_model_answers_another_lmms_eval_task_as_vipbench_would(tmp_path):
    """A task that is not vipbench's (its own docs and hooks, as any lmms-eval task): the adapter reads the
    task's one image and its text, and answers what it answers to the same image and question in vipbench."""
    needs_lmms()
    image = fx.save_image(tmp_path / "cat.png", size=(64, 48), color=(200, 40, 40))
    (tmp_path / "docs.jsonl").write_text(json.dumps({"image": str(image), "question": "What colour is it?"}) + "\n")
    (tmp_path / "utils.py").write_text(
        "from PIL import Image\n\n\ndef visual(doc):\n    return [Image.open(doc['image'])]\n\n\n"
        "def text(doc, kwargs=None):\n    return doc['question']\n\n\n"
        "def results(doc, resps):\n    return {'answered': float(bool(resps[0]))}\n"
    )
    (tmp_path / "plain.yaml").write_text(
        "task: plain_colour\ndataset_path: json\ndataset_kwargs: {data_files: {test: docs.jsonl}}\ntest_split: test\n"
        "output_type: generate_until\ndoc_to_visual: !function utils.visual\ndoc_to_text: !function utils.text\n"
        "doc_to_target: question\nprocess_results: !function utils.results\n"
        "generation_kwargs: {max_new_tokens: 6, temperature: 0, top_p: 0, until: []}\n"
        "metric_list: [{metric: answered, aggregation: mean, higher_is_better: true}]\n"
    )
    result, lm = evaluate(tmp_path, ["plain_colour"], "model=vip-llava-tiny")
    (sample,) = result["samples"]["plain_colour"]
    from vipbench.models.base import GenerationSettings
    from vipbench.types import Request, Sample

    request = Request("plain", Sample("0", image, "What colour is it?", ()), "What colour is it?", image, "overlay")
    direct = lm.adapter.generate([request], GenerationSettings(max_new_tokens=6))[0]
    assert sample["filtered_resps"][0] == getattr(direct, "text", direct) != ""


def test_the_model_refuses_what_it_cannot_do():
    needs_lmms()
    from lmms_eval.models import get_model

    from vipbench.errors import VipbenchError

    cls = get_model("vipbench")
    with pytest.raises(VipbenchError, match="model=NAME"):
        cls.create_from_arg_string("")
    with pytest.raises(VipbenchError, match="has no argument .dtype."):
        cls.create_from_arg_string("model=oracle,dtype=float16")  # oracle takes no dtype
    with pytest.raises(NotImplementedError, match="no log-likelihoods"):
        cls.create_from_arg_string("model=oracle").loglikelihood([])


# ------------------------------------------------------------------ lmms-eval's own metrics, same answers

# Answers a model might give. lmms-eval's POPE reads only an exact "yes"/"no" (lower-cased, stripped), and so does
# vipbench for a model of no family (LLaVA-family models are read by LLaVA's eval_pope.py rule instead).
POPE_ANSWERS = {
    "1": "Yes, there is a dog.",  # label yes: neither yes nor no
    "2": "no",  # label no: TN
    "3": "No.",  # label yes: neither ("no." is not "no")
    "4": "Yes",  # label no: FP
    "5": "yes",  # label yes: TP
    "6": "There is no kite.",  # label no: neither
}


def _pope_utils():
    from lmms_eval.tasks.pope import utils

    return utils


def test_pope_lmms_evals_metric_and_vipbench_s_on_the_answers_of_one_lmms_eval_run(tmp_path, data):
    needs_lmms()
    utils = _pope_utils()
    export_tasks(tmp_path, "pope-random", data_dirs={"pope": data["pope"]})
    use_script(POPE_ANSWERS)
    result, _ = evaluate(tmp_path, ["vipbench_pope_random"], "model=scripted")
    ours = result["results"]["vipbench_pope_random"]
    samples = result["samples"]["vipbench_pope_random"]
    # lmms-eval's POPE hooks on the same responses (its docs name the label "answer" and the id "question_id").
    theirs = [
        utils.pope_process_results({"question_id": s["doc"]["sample_id"], "answer": s["target"]}, s["filtered_resps"])
        for s in samples
    ]
    items = [t["pope_f1_score"] for t in theirs]
    lmms = {
        "accuracy": utils.pope_aggregate_accuracy(items),
        "precision": utils.pope_aggregate_precision(items),
        "recall": utils.pope_aggregate_recall(items),
        "f1": utils.pope_aggregate_f1_score(items),
        "yes_ratio": utils.pope_aggregate_yes_ratio(items),
    }
    # lmms-eval reads "Yes"/"yes" (4 FP, 5 TP) and "no" (2 TN); 1, 3 and 6 are neither, so wrong for accuracy and
    # absent from precision (1 TP / 2 said yes) and recall (TP 1, FN 0: an answer that is not "no" is no FN).
    assert lmms == pytest.approx({"accuracy": 2 / 6, "precision": 1 / 2, "recall": 1.0, "f1": 2 / 3, "yes_ratio": 0.5})
    # A model of no family (the scripted one) is read by lmms-eval's own rule, exact yes/no, as vipbench's POPE
    # protocol says: the same accuracy, precision, recall and F1, on 0-100 to 1 decimal as scores.json. Only the
    # yes-ratio differs: vipbench's counts the answers read as yes (1 and 4: 33.3), lmms-eval's counts the labels
    # (so it is 50 on any balanced split, whatever the model says).
    assert {k: ours[f"{k},none"] for k in lmms} == {
        "accuracy": 33.3,
        "precision": 50.0,
        "recall": 100.0,
        "f1": 66.7,
        "yes_ratio": 33.3,
    }
    assert ours["unparseable,none"] == 50.0  # 1, 3 and 6 are neither an exact yes nor an exact no
    # With answers that are exactly "yes"/"no" every number but the yes-ratio agrees too.
    exact = {"1": "yes", "2": "no", "3": "no", "4": "yes", "5": "yes", "6": "no"}
    use_script(exact)
    result, _ = evaluate(tmp_path, ["vipbench_pope_random"], "model=scripted")
    ours = result["results"]["vipbench_pope_random"]
    items = [
        utils.pope_process_results({"question_id": s["doc"]["sample_id"], "answer": s["target"]}, s["filtered_resps"])[
            "pope_f1_score"
        ]
        for s in result["samples"]["vipbench_pope_random"]
    ]
    for name, fn in [
        ("accuracy", utils.pope_aggregate_accuracy),
        ("precision", utils.pope_aggregate_precision),
        ("recall", utils.pope_aggregate_recall),
        ("f1", utils.pope_aggregate_f1_score),
    ]:
        assert ours[f"{name},none"] == round(100 * fn(items), 1), name
    # 3 answered yes of 6: the same 50 by both counts here, since these answers say yes exactly where the labels do
    # but for 3 ("no" to a yes) and 4 ("yes" to a no).
    assert ours["yes_ratio,none"] == 50.0 == 100 * utils.pope_aggregate_yes_ratio(items)


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer and METEOR need Java")
def test_refcocog_lmms_evals_caption_metrics_equal_vipbench_s_on_the_same_answers(tmp_path, data):
    """lmms-eval's RefCOCOg aggregation (pycocoevalcap through COCO objects and its PTB tokenizer) and vipbench's
    caption scorer (pycocoevalcap on PTB-tokenized text) agree on every metric; vipbench reports × 100 to 1
    decimal, as the papers do."""
    needs_lmms()
    pytest.importorskip("pycocoevalcap")
    from lmms_eval.tasks.refcocog import utils

    export_tasks(tmp_path, "refcocog-val", data_dirs={"refcocog": data["refcocog"]})
    use_script({"val-r1": "a man on a horse", "val-r2": "a dog in snow", "val-r3": "the red car"})
    result, _ = evaluate(tmp_path, ["vipbench_refcocog_val"], "model=scripted")
    ours = result["results"]["vipbench_refcocog_val"]
    items = [
        {
            "answer": list(sample_from_json(s["doc"]["sample"]).references),  # every caption, as lmms-eval's docs
            "pred": s["filtered_resps"][0],
            "ann_id": s["doc"]["sample_id"],
        }
        for s in result["samples"]["vipbench_refcocog_val"]
    ]
    for name, theirs in [("cider", "CIDEr"), ("bleu_1", "Bleu_1"), ("bleu_4", "Bleu_4"), ("rouge_l", "ROUGE_L")]:
        assert ours[f"{name},none"] == round(100 * utils.refcoco_aggregation_result(items, theirs), 1), name
    assert ours["cider,none"] > 0 and ours["meteor,none"] is not None


# ------------------------------------------------------------------------------------------ judge tasks

JUDGE_ANSWERS = {  # graded by tests/judge_server.py's rule; the same as test_judge.py's
    "v1_0": "3/4",
    "v1_1": "a dog",
    "v1_2": "-1",
    "v1_3": "the cup is left of the plate",
    "v1_4": "rien",
    "v1_5": "stop",
    "v1_6": "London",
    "v1_7": "12",
}


def test_a_judge_task_is_graded_by_its_vipbench_judge_inside_lmms_eval(tmp_path, data):
    """ViP-Bench in lmms-eval: the aggregation grades every answer with the task's judge protocol at the
    endpoint the export names, through vipbench's cached client, and gives vipbench judge's numbers."""
    needs_lmms()
    folder = tmp_path / "export"
    with JudgeServer() as server:
        export_tasks(
            folder,
            "vip-bench-bbox",
            data_dirs={"vip-bench": data["vip-bench"]},
            judge_runs=2,
            judge_base_url=server.url,
        )
        use_script(JUDGE_ANSWERS)
        result, _ = evaluate(folder, ["vipbench_vip_bench_bbox"], "model=scripted")
        asked = server.requests
        unit, _ = _judged_vipbench_run(tmp_path, data["vip-bench"], server)
    ours = result["results"]["vipbench_vip_bench_bbox"]
    assert asked == 16  # 8 answers × 2 runs
    assert ours["mean,none"] == unit["total"]["mean"] == 56.2  # (1 + 0 + .5 + 1 + 0 + 1 + 0 + 1) / 8 × 100
    assert ours["capability/ocr,none"] == unit["breakdowns"]["capability"]["ocr"]["mean"] == 66.7


def _judged_vipbench_run(tmp: Path, data: Path, server: JudgeServer) -> tuple[dict, dict]:
    store = run(
        RunSpec(model="scripted", tasks=["vip-bench-bbox"], data_dirs={"vip-bench": str(data)}),
        results_dir=tmp,
        run_id="judged",
        warn=lambda m: None,
    )
    assert main(["judge", "judged", "--results", str(tmp), "--base-url", server.url, "--runs", "2"]) == 0
    return json.loads(store.scores_path.read_text())["units"]["vip-bench-bbox"], {}
