"""vipbench's scoring held to upstream's own code (tests/upstream/*.json, produced by running the upstream scripts on
vipbench's example datasets): per item the parse and the right/wrong, and the scores, under the official rules."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vipbench.chat.cache import ReplyCache
from vipbench.chat.client import ChatClient
from vipbench.records import PredictionRecord
from vipbench.scoring.base import GradedItem
from vipbench.scoring.judge.parsers import llava_score_pair, mmvet_first_token
from vipbench.scoring.judge.protocol import Judge, grade
from vipbench.scoring.metrics import choice_letter, exact_match, protocol_args, yes_no
from vipbench.scoring.scorers import Binary, Relative
from vipbench.scoring.spec import judge_spec

UPSTREAM = Path(__file__).parent / "upstream"
VIP = json.loads((UPSTREAM / "vip_llava_77079b1.json").read_text())
LLAVA = json.loads((UPSTREAM / "llava_c121f04.json").read_text())
OSPREY = json.loads((UPSTREAM / "osprey_deb0e57.json").read_text())
LMMS = json.loads((UPSTREAM / "lmms_eval_75571cf.json").read_text())
# The references of the fixtures' items, in the order upstream scored them (tests/upstream/README.md).
GOLD = {"v7w": ["C", "A"], "pointqa": ["3", "two"], "vcr_qa": ["B", "A"], "vcr_qar": ["A", "A"]}


def record(prediction: str, references: list[str], **metadata) -> PredictionRecord:
    return PredictionRecord(
        task="t", sample_id="s", region_mode="overlay", prediction=prediction, prompt="q", references=references,
        metadata=metadata, image="i", doc_hash="", prompt_hash="", target_hash="", seconds=0.0,
    )  # fmt: skip


def test_the_gold_answers_are_upstreams():
    """The first scripted run answers every item right: its outputs are the gold answers."""
    for task, gold in GOLD.items():
        first = VIP[task]["scoring"][0]
        assert first["right"] == [True] * len(gold) and [o.strip().lower() for o in first["outputs"]] == [
            g.lower() for g in gold
        ]


@pytest.mark.parametrize("task", list(GOLD))
def test_multiple_choice_and_pointqa_headline_is_upstreams_exact_match(task):
    metric = exact_match if task == "pointqa" else choice_letter
    args = {"headline": "exact"} if task == "pointqa" else {}
    for case in VIP[task]["scoring"]:
        grades = [metric(record(o, [g], options=4), **args) for o, g in zip(case["outputs"], GOLD[task])]
        assert [g["score"] == 10.0 for g in grades] == case["right"], case
        assert sum(g["score"] for g in grades) / 10 / len(grades) == pytest.approx(case["accuracy"])


def test_vipbench_reading_of_multiple_choice_is_an_opt_in_that_differs():
    outputs = VIP["v7w"]["scoring"][2]["outputs"]  # "C.", "(A)": upstream scores both wrong
    args = protocol_args("choice_letter", {}, "vipbench", "llava")
    assert args == {"headline": "letter"} and protocol_args("choice_letter", {}, "official", "llava") == {}
    assert [choice_letter(record(o, [g]), **args)["score"] for o, g in zip(outputs, GOLD["v7w"])] == [10.0, 10.0]
    assert [choice_letter(record(o, [g]))["score"] for o, g in zip(outputs, GOLD["v7w"])] == [0.0, 0.0]


def _binary(items: list[tuple[str | None, str]]) -> dict:
    graded = [GradedItem(record("", [label]), {"answer": a, "label": label}) for a, label in items]
    return Binary().score(graded)


@pytest.mark.parametrize("source", ["llava", "vip-llava"])
def test_pope_llava_rule_parses_and_scores_as_eval_pope(source):
    pope = (LLAVA if source == "llava" else VIP)["pope"]
    assert protocol_args("yes_no", {"rule": "family"}, "official", "llava") == {"rule": "llava"}
    for setting, expected in pope["scores"].items():
        items = [i for i in pope["items"] if i["setting"] == setting]
        answers = [yes_no(record(i["output"], [i["label"]]), rule="llava")["answer"] for i in items]
        assert answers == [i["parsed"] for i in items]  # "" and "I cannot tell" are yes, "NO" is yes
        numbers = _binary(list(zip(answers, [i["label"] for i in items])))
        for name in ("accuracy", "precision", "recall", "f1", "yes_ratio"):
            assert numbers[name] == pytest.approx(100 * expected[name]), (setting, name)


def test_pope_osprey_rule_parses_and_scores_as_its_evaluate_py():
    assert protocol_args("yes_no", {"rule": "family"}, "official", "osprey") == {"rule": "osprey"}
    for setting, data in OSPREY["pope"]["settings"].items():
        items = data["items"]
        answers = [yes_no(record(i["output"], [i["label"]]), rule="osprey")["answer"] for i in items]
        assert answers == [i["parsed"] for i in items], setting
        numbers = _binary(list(zip(answers, [i["label"] for i in items])))
        for name in ("accuracy", "precision", "recall", "f1", "yes_ratio"):
            assert numbers[name] == pytest.approx(100 * data["scores"][name]), (setting, name)


def test_pope_lmms_eval_rule_for_families_without_a_script():
    for family in ("omg-llava", None):
        assert protocol_args("yes_no", {"rule": "family"}, "official", family) == {"rule": "lmms-eval"}
    # PerceptionGPT has a POPE dataset of its own, answered "The answer is yes ." (test_upstream_inputs_native.py)
    assert protocol_args("yes_no", {"rule": "family"}, "official", "perceptiongpt") == {"rule": "shikra"}
    for setting, data in LMMS["pope"]["settings"].items():
        grades = [yes_no(record(i["output"], [i["answer"]]), rule="lmms-eval") for i in data["items"]]
        assert [g["score"] / 10 for g in grades] == [i["score"] for i in data["items"]], setting
        numbers = _binary([(g["answer"], g["label"]) for g in grades])
        assert numbers["accuracy"] == pytest.approx(100 * data["scores"]["accuracy"])
        assert numbers["f1"] == pytest.approx(100 * data["scores"]["f1_score"]), setting
        for name in ("precision", "recall"):  # lmms-eval says 0 where they are undefined; vipbench "–"
            assert (numbers[name] or 0.0) == pytest.approx(100 * data["scores"][name]), (setting, name)


def test_pope_all_no_setting_where_upstream_crashes_is_scored():
    case = LLAVA["pope"]["all_no_setting"]
    assert case["error"].startswith("ZeroDivisionError")
    labels = [i["label"] for i in LLAVA["pope"]["items"] if i["setting"] == "random"]
    answers = [yes_no(record(o, [g]), rule="llava")["answer"] for o, g in zip(case["outputs"], labels)]
    numbers = _binary(list(zip(answers, labels)))
    assert numbers["precision"] is None and numbers["recall"] == 0.0 and numbers["f1"] == 0.0
    assert numbers["yes_ratio"] == 0.0 and numbers["accuracy"] == pytest.approx(100 * labels.count("no") / 6)


def test_vip_bench_reply_reading_is_the_official_graders():
    for case in VIP["vip_bench_grade_parsing"]["cases"]:
        parsed = mmvet_first_token(case["reply"], 1.0)
        assert (parsed is not None) == case["accepted"], case
        if parsed is not None and case["score"] != "nan":
            assert parsed["score"] / 10 == case["score"]


def test_llava_bench_review_reading_is_parse_score():
    for case in LLAVA["review_score_parsing"]["cases"]:
        parsed = llava_score_pair(case["reply"], 10.0)
        assert ([parsed["first"], parsed["second"]] if parsed else [-1, -1]) == case["tuple"], case


class _Scripted:
    """A loopback OpenAI-compatible endpoint answering each chat request with the next scripted reply."""

    def __init__(self, replies: list[str]):
        self.replies, self.bodies = list(replies), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(body)
                reply = outer.replies.pop(0) if outer.replies else "0.7"
                data = json.dumps({
                    "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": reply}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


def _grade_with(replies: list[str], tmp_path: Path, rules: str = "official"):
    server = _Scripted(replies)
    judge = Judge(judge_spec("vip-bench-mmvet", None, 1, rules=rules), server.url)
    client = ChatClient(ReplyCache(tmp_path / "cache.sqlite"), base_url=server.url, max_retries=0)
    item = record("A cat.", ["cat"])
    try:
        made = asyncio.run(grade(judge, client, item, 0, "k"))
    finally:
        server.httpd.shutdown()
    return made, server.bodies


def test_vip_bench_judge_calls_and_failure_rule_are_the_official_graders(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    items = {i["id"]: i for i in VIP["vip_bench_bbox"]["judge"]["items"]}
    for n, item in enumerate(items.values()):
        replies = [c["reply"] for c in item["calls"]]
        made, bodies = _grade_with(replies, tmp_path / str(n))
        assert [b["temperature"] for b in bodies] == [c["temperature"] for c in item["calls"]], item["id"]
        assert [b["max_tokens"] for b in bodies] == [3] * len(bodies)
        if made.status == "ok":
            assert made.values["score"] / 10 == pytest.approx(item["score"]), item["id"]
        else:  # v1_4 (always "abc") and v1_7 ("abc" x5 then "1.0", never read): 6 calls, 0.0 upstream
            assert item["score"] == 0.0 and len(bodies) == 6 and made.failure == "unparseable", item["id"]
    assert [len(i["calls"]) for i in items.values()].count(6) == 2


def test_a_nan_grade_is_not_reasked_and_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    made, bodies = _grade_with(["nan"], tmp_path)
    assert len(bodies) == 1 and made.status == "failed" and made.failure == "not-finite"
    made, bodies = _grade_with(["abc"] * 5 + ["1.0"], tmp_path / "v", rules="vipbench")
    assert len(bodies) == 6 and made.status == "ok" and made.values["score"] == 10.0  # vipbench reads the 6th
    assert not math.isnan(made.values["score"])


@pytest.mark.parametrize("subset", ["llava_bench_wild", "llava_bench_coco"])
def test_llava_bench_relative_score_with_minus_ones_averaged_in_is_summarize_gpt_reviews(subset):
    """The official failure rule: an unreadable review is [-1, -1] (what ``failed_as`` holds), averaged in."""
    review = LLAVA[subset]["review"]
    judge = Judge(judge_spec("llava-bench-review", None, 1), None)
    failed_as = judge.values(dict(judge.spec.failed))
    rows = []
    for item in review["items"]:
        parsed = llava_score_pair(item["reply"], 10.0)
        values = judge.values(parsed) if parsed else failed_as
        assert [values["reference"], values["model"]] == item["tuple"]
        rows.append((item["rule"], GradedItem(record("", ["r"]), values)))
    for category, expected in review["summary"].items():
        items = [i for rule, i in rows if category == "all" or rule == category]
        numbers = Relative().score(items)
        assert round(numbers["relative"], 1) == expected["relative"], category
        assert round(numbers["reference"], 1) == expected["reference_x10"]
        assert round(numbers["model"], 1) == expected["model_x10"]
