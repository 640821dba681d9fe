"""LLaVA-Bench on the judge layer: the pairwise review against the loopback server (which answers known score
pairs), relative scores by hand, a failed review, the swap check, the official rule.json, one run graded by two
judges, and a leaderboard chart above 100."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fixture_region_tasks as fx
import pytest
from judge_server import JudgeServer
from scripted import use_script

from vipbench.cli import main
from vipbench.tasks import TaskIndex

# The model's answers carry the score the loopback judge gives them; GPT-4's references score 8.
MODEL_SCORES = {0: 6, 1: 4, 2: 9, 3: 8, 4: 10, 5: 7}  # conv 6, 8; detail 4, 10; complex 9, 7


@pytest.fixture(scope="module")
def wild(tmp_path_factory) -> Path:
    return fx.write_llava_bench_wild(tmp_path_factory.mktemp("llava-bench") / "wild")


def run_wild(results: Path, wild: Path, scores: dict[int, object], run_id: str = "r") -> Path:
    use_script({str(q): f"The model's answer [[review:{s}]]" for q, s in scores.items()})
    args = ["run", "--model", "scripted", "--tasks", "llava-bench-wild", "--data-dir", str(wild)]
    assert main([*args, "--results", str(results), "--run-id", run_id]) == 0
    return results / run_id


def judge(server: JudgeServer, results: Path, *extra: str, run_id: str = "r") -> int:
    return main(["judge", run_id, "--results", str(results), "--base-url", server.url, "--backoff", "0.01", *extra])


def unit_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "scores.json").read_text())["units"]["llava-bench-wild"]


def test_loading_both_subsets(wild, tmp_path):
    samples = TaskIndex().task("llava-bench-wild").load_samples(wild)
    assert [s.metadata["category"] for s in samples] == ["conv", "detail", "complex", "conv", "detail", "complex"]
    assert samples[0].references == ("GPT-4's answer to 0.",) and samples[0].metadata["context"] == "A photo (001.jpg)."
    assert samples[0].metadata["rule"] == "llava_bench_conv" and samples[0].question == "What is the name of this dish?"
    coco = TaskIndex().task("llava-bench-coco").load_samples(fx.write_llava_bench_coco(tmp_path / "coco"))
    assert coco[0].metadata["context"] == "A donut shop.\nDonuts in a glass case.\n\ndonut: [0.37, 0.584, 0.504, 0.709]"
    assert coco[0].metadata["rule"] == "conv" and coco[0].image.name == "COCO_val2014_000000296284.jpg"


def test_relative_scores_by_hand_and_the_review_the_judge_reads(wild, tmp_path):
    run_dir = run_wild(tmp_path, wild, MODEL_SCORES)
    with JudgeServer() as server:
        assert judge(server, tmp_path) == 0
        body = server.bodies[0]
    unit = unit_of(run_dir)
    # all: mean(model) = 44 / 6, mean(reference) = 8 → 91.7; the means × 10 beside it
    assert (unit["headline"], unit["total"]["label"], unit["total"]["mean"]) == ("relative", "Relative score", 91.7)
    assert unit["secondary"]["model"]["mean"] == 73.3 and unit["secondary"]["reference"]["mean"] == 80.0
    by = {k: (v["label"], v["mean"]) for k, v in unit["breakdowns"]["category"].items()}
    assert by == {"conv": ("Conversation", 87.5), "detail": ("Detail", 87.5), "complex": ("Complex reasoning", 100.0)}
    assert unit["scored_by"]["judge_model"] == "gpt-4-0314"
    assert body["model"] == "gpt-4-0314" and body["temperature"] == 0.2 and body["max_tokens"] == 1024
    system, user = body["messages"]
    assert system["role"] == "system"
    content = user["content"]
    assert content.startswith("[Context]\nA photo (001.jpg).\n\n[Question]\nWhat is the name of this dish?\n\n")
    assert "[Assistant 1]\nGPT-4's answer to 0.\n\n[End of Assistant 1]" in content  # the reference first
    assert "[Assistant 2]\nThe model's answer [[review:6]]\n\n[End of Assistant 2]" in content


def test_a_model_can_beat_the_reference_and_the_chart_shows_it(wild, tmp_path):
    run_wild(tmp_path, wild, dict.fromkeys(MODEL_SCORES, 10))
    with JudgeServer() as server:
        assert judge(server, tmp_path) == 0
    assert unit_of(tmp_path / "r")["total"]["mean"] == 125.0
    from browser import CHROMIUM, launch

    from vipbench.leaderboard import build_site

    index = build_site(tmp_path)
    if shutil.which(CHROMIUM) is None:
        pytest.skip("no Chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.goto(index.as_uri())
        page.wait_for_selector("svg.bars text.tick")
        ticks = page.eval_on_selector_all("svg.bars text.tick", "ts => ts.map(t => t.textContent)")
        heights = page.eval_on_selector_all("svg.bars rect.bar", "rs => rs.map(r => +r.getAttribute('height'))")
        browser.close()
    assert "125" in ticks and max(heights) > 0.95 * 190  # 125 is the top of the scale, not cut at 100


def test_an_unreadable_review_counts_as_minus_one_officially(wild, tmp_path, capsys):
    scores = {**MODEL_SCORES, 5: "garbage"}
    run_dir = run_wild(tmp_path, wild, scores)
    with JudgeServer() as server:
        assert judge(server, tmp_path, "--allow-failures") == 0
        assert server.requests == 6  # asked once, as eval_gpt_review_bench.py
    unit = unit_of(run_dir)
    assert unit["failed"] == 1 and unit["zeroed"] == 1
    assert unit["scored_by"]["failed_as"] == {"reference": -1.0, "model": -1.0, "score": -1.0}
    capsys.readouterr()


def test_a_review_without_two_scores_is_failed_and_left_out_under_vipbench_rules(wild, tmp_path, capsys):
    scores = {**MODEL_SCORES, 5: "garbage"}
    run_dir = run_wild(tmp_path, wild, scores)
    with JudgeServer() as server:
        assert judge(server, tmp_path, "--judge-rules", "vipbench") == 1
        assert server.requests == 6 + 2  # the unparseable review re-asked twice
    unit = unit_of(run_dir)
    assert unit["failed"] == 1
    assert unit["total"]["mean"] == round(37 / 5 / 8 * 100, 1)  # over the 5 graded: 92.5, not dragged by [-1, -1]
    failed = [json.loads(x) for x in (run_dir / "judgements.jsonl").read_text().splitlines() if '"failed"' in x]
    assert len(failed) == 1 and failed[0]["failure"] == "unparseable" and failed[0]["values"] == {}
    assert "1 grade(s) failed" in capsys.readouterr().err


def test_swap_check_reports_the_judges_position_bias(wild, tmp_path):
    run_dir = run_wild(tmp_path, wild, MODEL_SCORES)
    with JudgeServer(first_bonus=1.0) as server:  # a judge that favours the answer it reads first
        assert judge(server, tmp_path, "--swap-check") == 0
        assert server.requests == 12
        swapped = [
            b["messages"][1]["content"]
            for b in server.bodies
            if "[Assistant 1]\nThe model's" in b["messages"][1]["content"]
        ]
    assert len(swapped) == 6
    unit = unit_of(run_dir)
    # shown: the reference first gets 9, the model its N → 44 / 6 / 9 = 81.5%; swapped: the model first gets N + 1
    # (at most 10) → 49 / 6 / 8 = 102.1%; the bias is their difference, 20.6 points
    assert unit["total"]["mean"] == 81.5
    assert unit["secondary"]["relative_swapped"]["mean"] == 102.1
    assert unit["secondary"]["position_bias"]["mean"] == 20.6


def test_the_official_rule_json_as_template(wild, tmp_path):
    rules = {
        f"llava_bench_{c}": {"role": "Assistant", "prompt": f"OFFICIAL RULE {c}"} for c in ("conv", "detail", "complex")
    }
    (tmp_path / "rule.json").write_text(json.dumps(rules))
    run_wild(tmp_path, wild, MODEL_SCORES)
    with JudgeServer() as server:
        assert judge(server, tmp_path, "--judge-template", str(tmp_path / "rule.json")) == 0
        content = server.bodies[0]["messages"][1]["content"]
    assert content.endswith("[End of Assistant 2]\n\n[System]\nOFFICIAL RULE conv\n\n")
    assert unit_of(tmp_path / "r")["total"]["mean"] == 91.7


def test_one_judge_command_grades_each_task_with_its_own_judge(wild, tmp_path, vip_bench_dir):
    use_script({**{str(q): f"Answer [[review:{s}]]" for q, s in MODEL_SCORES.items()}, "v1_5": "stop"})
    args = ["run", "--model", "scripted", "--tasks", "llava-bench-wild,vip-bench-bbox", "--data-dir"]
    args += [f"llava-bench-wild={wild}", "--data-dir", f"vip-bench={vip_bench_dir}", "--results", str(tmp_path)]
    assert main([*args, "--run-id", "both"]) == 0
    with JudgeServer() as server:
        assert judge(server, tmp_path, run_id="both") == 0
        models = [b["model"] for b in server.bodies]
    assert models.count("gpt-4-0314") == 6 and models.count("gpt-4-0613") == 8 * 5
    units = json.loads((tmp_path / "both" / "scores.json").read_text())["units"]
    assert {u: v["scored_by"]["judge_model"] for u, v in units.items()} == {
        "llava-bench-wild": "gpt-4-0314",
        "vip-bench-bbox": "gpt-4-0613",
    }
