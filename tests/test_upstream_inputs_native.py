"""The model input of the native families is upstream's: OMG-LLaVA's region-caption tool and PerceptionGPT's test
datasets, run on the example datasets by tests/upstream/make_reference.py (omg_llava_1ae2e7d.json,
perceptiongpt_fd8e3eb.json), against what omg-llava-tiny and perceptiongpt-tiny read under the default protocol.

PerceptionGPT draws each question from a template file (upstream prose, never in this repository): the data names
the template drawn per item (its index in the file, with vipbench's per-sample seed given to upstream's dataset)
and the prompt around it. Here a made-up file with as many templates stands in for it, pinned and cached as a
download would leave it, so the test shows vipbench draws the same template, fills it as upstream does and puts it
in upstream's conversation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from test_upstream_inputs import data_dirs, inputs, models, planned  # noqa: F401 - the shared fixtures

from vipbench.errors import VipbenchError
from vipbench.protocols import TEMPLATE_FILES, TEMPLATES_ENV
from vipbench.records import prediction_record
from vipbench.scoring.metrics import choice_letter, exact_match, protocol_args

pytest.importorskip("torch")

UPSTREAM = Path(__file__).parent / "upstream"
OMG = json.loads((UPSTREAM / "omg_llava_1ae2e7d.json").read_text(encoding="utf-8"))
PGPT = json.loads((UPSTREAM / "perceptiongpt_fd8e3eb.json").read_text(encoding="utf-8"))
LMMS = json.loads((UPSTREAM / "lmms_eval_75571cf.json").read_text(encoding="utf-8"))
#: How many templates upstream's files hold: the made-up files have as many, so a seed draws the same index.
COUNTS = {f"perceptiongpt-{n.lower()}": PGPT["template_files"][f"{n}.json"]["templates"] for n in ("VQA", "REG")}


def made_up(name: str, i: int) -> str:
    """Made-up template ``i`` of a file, with the placeholders upstream's has (the image inside the question)."""
    if name == "perceptiongpt-vqa":
        return f"MADE-UP {i}: in <image> answer '<question>' ({i})"
    return f"MADE-UP {i}: region <objs> of <image>, described ({i})"


@pytest.fixture
def template_files(monkeypatch, tmp_path):
    """The made-up files pinned by their sha256 and in the cache, as a download leaves them; official templates."""
    monkeypatch.delenv(TEMPLATES_ENV, raising=False)
    for name, count in COUNTS.items():
        data = json.dumps([made_up(name, i) for i in range(count)]).encode()
        pin = dataclasses.replace(TEMPLATE_FILES[name], sha256=hashlib.sha256(data).hexdigest())
        monkeypatch.setitem(TEMPLATE_FILES, name, pin)
        pin.cache_path().parent.mkdir(parents=True, exist_ok=True)
        pin.cache_path().write_bytes(data)


def upstream_text(record: dict, name: str) -> str:
    """Upstream's prompt for one item with the made-up template of the index upstream drew, filled as it filled
    its own."""
    question = made_up(name, record["template_index"])
    for placeholder, value in record["filled"].items():
        question = question.replace(placeholder, value)
    return record["prompt_around"].format(question=question)


def shown_image_as_placeholder(adapter, got: dict[str, str]) -> dict[str, str]:
    return {k: v.replace(adapter.image_text, "<image>") for k, v in got.items()}


# --------------------------------------------------------------------------------------------------------------
# OMG-LLaVA
# --------------------------------------------------------------------------------------------------------------


def test_omg_llava_refcocog_input_is_the_region_caption_tool(data_dirs, models):  # noqa: F811
    item = planned("omg-llava-tiny", "refcocog-val", data_dirs)
    upstream = OMG["refcocog"]
    got = inputs(models("omg-llava-tiny"), item)
    assert list(got.values()) == [i["prompt"] for i in upstream["items"]]
    assert [list(r.sample.references) for r in item.requests] == [[i["reference"]] for i in upstream["items"]]
    assert {"max_new_tokens": item.generation.max_new_tokens, "do_sample": item.generation.sampling} == {
        k: upstream["decoding"][k] for k in ("max_new_tokens", "do_sample")
    }
    assert item.provenance.deviations == [] and "region_cap_mask_omg_seg_llava.py" in item.provenance.follows


def test_omg_llava_caption_cleaning_and_stop_word_are_the_tools():
    from vipbench.models.omg_llava import STOP, clean_caption

    cases = OMG["refcocog"]["items"]
    assert [clean_caption(c["output"]) for c in cases] == [c["caption"] for c in cases]
    assert OMG["refcocog"]["decoding"]["stop_words"] == [STOP]


def test_omg_llava_pope_is_lmms_evals_question_in_its_own_template(data_dirs, models):  # noqa: F811
    """No POPE script of OMG-LLaVA's: lmms-eval's question, in xtuner's internlm2_chat instruction as OMG-LLaVA's
    tools fill it (``<image>\\n`` + the text), greedy, 128 tokens."""
    instruction = OMG["prompt_template"]["internlm2_chat"]["INSTRUCTION"]
    for setting in ("random", "popular", "adversarial"):
        item = planned("omg-llava-tiny", f"pope-{setting}", data_dirs)
        got = inputs(models("omg-llava-tiny"), item)
        lmms = LMMS["pope"]["settings"][setting]["items"]
        expected = {str(i["question_id"]): instruction.format(input="<image>\n" + i["prompt"]) for i in lmms}
        assert got == expected
        assert (item.generation.max_new_tokens, item.generation.sampling) == (128, False)
        assert "lmms-eval@75571cf" in item.provenance.follows and item.provenance.deviations == []


@pytest.mark.parametrize("task,tokens", [("llava-bench-wild", 4096), ("llava-bench-coco", 1024)])
@pytest.mark.parametrize("model", ["omg-llava-tiny", "perceptiongpt-tiny"])
def test_llava_bench_follows_lmms_eval_generation_kwargs(model, task, tokens, data_dirs):  # noqa: F811
    item = planned(model, task, data_dirs)
    assert (item.generation.max_new_tokens, item.generation.temperature) == (tokens, 0.0)
    assert "lmms-eval@75571cf" in item.provenance.follows and item.provenance.deviations == []


@pytest.mark.parametrize(
    "model,task",
    [
        *[("omg-llava-tiny", t) for t in ("vip-bench-bbox", "vcr-qa", "v7w", "pointqa-twice")],
        *[("perceptiongpt-tiny", t) for t in ("vip-bench-bbox", "v7w")],
    ],
)
def test_no_script_anywhere_runs_the_tasks_own_settings_and_says_why(model, task, data_dirs):  # noqa: F811
    item = planned(model, task, data_dirs)
    own = planned(model, task, data_dirs, protocol="vipbench")
    assert item.generation == own.generation and item.provenance.deviations == []
    assert item.provenance.follows.startswith("none") and "the task's own settings" in item.provenance.protocol_note


# --------------------------------------------------------------------------------------------------------------
# PerceptionGPT
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["random", "popular", "adversarial"])
def test_perceptiongpt_pope_input_is_its_pope_dataset(setting, template_files, data_dirs, models):  # noqa: F811
    item = planned("perceptiongpt-tiny", f"pope-{setting}", data_dirs)
    adapter = models("perceptiongpt-tiny")
    got = shown_image_as_placeholder(adapter, inputs(adapter, item))
    upstream = PGPT["pope"]["settings"][setting]["items"]
    assert got == {str(i["question_id"]): upstream_text(i, "perceptiongpt-vqa") for i in upstream}
    assert [r.sample.references for r in item.requests] == [(i["target"].split()[3],) for i in upstream]
    assert (item.generation.max_new_tokens, item.generation.sampling) == (PGPT["decoding"]["max_new_tokens"], False)
    assert item.provenance.deviations == [] and "DEFAULT_TEST_POPE_VARIANT.py" in item.provenance.follows


def test_perceptiongpt_refcocog_input_is_its_reg_dataset(template_files, data_dirs, models):  # noqa: F811
    item = planned("perceptiongpt-tiny", "refcocog-val", data_dirs)
    adapter = models("perceptiongpt-tiny")
    got = shown_image_as_placeholder(adapter, inputs(adapter, item))
    upstream = PGPT["refcocog"]["items"]
    assert list(got.values()) == [upstream_text(i, "perceptiongpt-reg") for i in upstream]
    assert [list(r.sample.references) for r in item.requests] == [[i["target"]] for i in upstream]
    assert [len(r.regions) for r in item.requests] == [1] * len(upstream)
    assert item.provenance.deviations == []


def test_perceptiongpt_template_draw_is_seeded_per_sample(template_files, data_dirs):  # noqa: F811
    """Another run seed draws other templates; the same seed the same ones (the seed is the run's)."""
    first = planned("perceptiongpt-tiny", "pope-random", data_dirs)
    again = planned("perceptiongpt-tiny", "pope-random", data_dirs)
    other = planned("perceptiongpt-tiny", "pope-random", data_dirs, generation={"seed": 1})
    texts = [[r.text for r in p.requests] for p in (first, again, other)]
    assert texts[0] == texts[1] and texts[0] != texts[2]


def test_perceptiongpt_pope_answers_are_read_as_shikras():
    """ "The answer is yes ." is its answer format: the family's POPE rule extracts it (one match, exact)."""
    from vipbench.scoring.metrics import POPE_RULES, yes_no

    assert POPE_RULES["perceptiongpt"] == "shikra"
    targets = [i["target"] for s in PGPT["pope"]["settings"].values() for i in s["items"]]

    def read(text: str, label: str = "yes") -> str | None:
        record = type("R", (), {"prediction": text, "references": (label,)})()
        return yes_no(record, rule="shikra")["answer"]

    assert [read(t) for t in targets] == [t.split()[3] for t in targets]
    assert [read(t) for t in ("yes", "The answer is Yes .", "The answer is yes . The answer is no .")] == [None] * 3


def request_objects(request) -> list[str]:
    return [r.label for r in request.regions]


@pytest.mark.parametrize("task", ["vcr-qa", "vcr-qar"])
def test_perceptiongpt_vcr_input_is_its_vcr_dataset(task, template_files, data_dirs, models):  # noqa: F811
    """VCRDataset qc-a (Q→A) and qac-r (QA→R): the drawn template around its option layout, one <loc> per object
    of each reference (";" between), the boxes in its order."""
    item = planned("perceptiongpt-tiny", task, data_dirs)
    adapter = models("perceptiongpt-tiny")
    got = shown_image_as_placeholder(adapter, inputs(adapter, item))
    upstream = PGPT["vcr"]["tasks"][task]["items"]
    assert got == {i["id"]: upstream_text(i, "perceptiongpt-vqa") for i in upstream}
    assert [request_objects(r) for r in item.requests] == [
        [f"obj{o}" for group in i["boxes_seq"] for o in group] for i in upstream
    ]
    assert [r.sample.references for r in item.requests] == [(i["target"].split("(")[1][0],) for i in upstream]
    assert (item.generation.max_new_tokens, item.generation.sampling) == (PGPT["decoding"]["max_new_tokens"], False)
    config = PGPT["vcr"]["tasks"][task]["config"]
    assert item.provenance.deviations == [] and config in item.provenance.follows


def test_perceptiongpt_pointqa_input_is_its_point_qa_twice(template_files, data_dirs, models):  # noqa: F811
    """Point_QA_twice gq-b: the general question, the exemplar's <loc> right after it, in the drawn template."""
    item = planned("perceptiongpt-tiny", "pointqa-twice", data_dirs)
    adapter = models("perceptiongpt-tiny")
    got = shown_image_as_placeholder(adapter, inputs(adapter, item))
    upstream = PGPT["pointqa"]["items"]
    assert got == {i["id"]: upstream_text(i, "perceptiongpt-vqa") for i in upstream}
    assert [request_objects(r) for r in item.requests] == [["obj"]] * len(upstream)
    assert [r.sample.references for r in item.requests] == [(i["target"].split()[3],) for i in upstream]
    assert (item.generation.max_new_tokens, item.generation.sampling) == (PGPT["decoding"]["max_new_tokens"], False)
    assert item.provenance.deviations == [] and PGPT["pointqa"]["config"] in item.provenance.follows


@pytest.mark.parametrize("task", ["vcr-qa", "vcr-qar", "pointqa-twice"])
def test_perceptiongpt_vcr_pointqa_answers_are_graded_as_its_compute_metrics(task, template_files, data_dirs):  # noqa: F811
    """The official grade of each scripted reply is upstream's PointQAComputeMetrics on it, under the task's
    scoring with ``rule: family`` resolved for PerceptionGPT; other families keep ViP-LLaVA's exact match."""
    item = planned("perceptiongpt-tiny", task, data_dirs)
    scorer = item.task.config.scorer
    args = protocol_args(scorer.metric, scorer.metric_args, "official", "perceptiongpt")
    assert args["rule"] == "shikra"
    assert protocol_args(scorer.metric, scorer.metric_args, "official", "llava")["rule"] == "vip-llava"
    grade = {"choice_letter": choice_letter, "exact_match": exact_match}[scorer.metric]
    upstream = (PGPT["pointqa"] if task == "pointqa-twice" else PGPT["vcr"]["tasks"][task])["items"]
    by_id = {r.sample.id: r for r in item.requests}
    for case in upstream:
        records = [prediction_record(by_id[case["id"]], reply) for reply in case["scored"]["replies"]]
        assert [grade(r, **args)["exact"] == 10.0 for r in records] == case["scored"]["right"], case["id"]
        assert [grade(r, **args)["score"] for r in records] == [10.0 * x for x in case["scored"]["right"]]


def test_template_file_offline_is_one_line_saying_where_to_get_it(monkeypatch, data_dirs):  # noqa: F811
    monkeypatch.delenv(TEMPLATES_ENV, raising=False)
    monkeypatch.setenv("VIPBENCH_UPSTREAM_URL", "http://127.0.0.1:9")
    with pytest.raises(VipbenchError) as error:
        planned("perceptiongpt-tiny", "pope-random", data_dirs)
    message = str(error.value)
    assert "\n" not in message and "template/VQA.json" in message and TEMPLATES_ENV + "=vipbench" in message
    assert str(TEMPLATE_FILES["perceptiongpt-vqa"].cache_path()) in message


def test_without_the_template_file_a_fixed_question_is_a_deviation(monkeypatch, data_dirs):  # noqa: F811
    monkeypatch.setenv(TEMPLATES_ENV, "vipbench")
    item = planned("perceptiongpt-tiny", "pope-random", data_dirs)
    assert [r.text for r in item.requests][0] == "Is there a dog in the image?"  # the bare question, no suffix
    (deviation,) = item.provenance.deviations
    assert deviation.startswith("question=the task's own") and "template/VQA.json" in deviation


def test_a_layout_the_task_did_not_write_is_one_line(template_files, data_dirs):  # noqa: F811
    """A protocol asking for a question layout the task's loader does not write stops with one line."""
    from vipbench.protocols import ProtocolConfig, apply_to_samples

    sample = planned("perceptiongpt-tiny", "pope-random", data_dirs).requests[0].sample
    config = ProtocolConfig(follows="x", template_file="perceptiongpt-vqa", question_layout="shikra")
    with pytest.raises(VipbenchError) as error:
        apply_to_samples(config, [sample])
    assert "\n" not in str(error.value) and "'shikra' layout" in str(error.value)
