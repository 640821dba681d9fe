"""One grade record: scores.json keeps, per sample, the grade key of every grade it used, and the leaderboard's
sample browser shows exactly those grades. A --swap-check run grades every review twice with the same grader,
model and template (the swapped order only differs in its key), so anything that chose grades again would show
the wrong ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fixture_region_tasks as fx
import pytest
from browser import CHROMIUM, launch
from judge_server import JudgeServer
from scripted import use_script

from vipbench.cli import main
from vipbench.leaderboard import build_site

# The loopback judge scores the model's answer by its [[review:N]] marker, and adds 1 to whichever answer it reads
# first: shown (reference first) the model gets N; swapped it gets N + 1 (at most 10).
MODEL_SCORES = {0: 6, 1: 4, 2: 9, 3: 8, 4: 10, 5: 7}


@pytest.fixture(scope="module")
def swap_checked(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("swap")
    wild = fx.write_llava_bench_wild(results.parent / "wild")
    use_script({str(q): f"The model's answer [[review:{s}]]" for q, s in MODEL_SCORES.items()})
    args = ["run", "--model", "scripted", "--tasks", "llava-bench-wild", "--data-dir", str(wild), "--run-id", "r"]
    assert main([*args, "--results", str(results)]) == 0
    with JudgeServer(first_bonus=1.0) as server:
        judge = ["judge", "r", "--results", str(results), "--base-url", server.url, "--swap-check"]
        assert main(judge) == 0
    return results


def used_grades(results: Path) -> dict[str, list[float]]:
    """Each sample's grades as scores.json scored them, on the browser's 0–100 scale."""
    unit = json.loads((results / "r" / "scores.json").read_text())["units"]["llava-bench-wild"]
    return {s["id"]: [round(v["score"] * 10, 1) for v in s["values"] if v] for s in unit["samples"]}


def test_scores_json_keeps_the_key_of_every_grade_it_used(swap_checked):
    unit = json.loads((swap_checked / "r" / "scores.json").read_text())["units"]["llava-bench-wild"]
    judgements = {}
    for line in (swap_checked / "r" / "judgements.jsonl").read_text().splitlines():
        j = json.loads(line)
        judgements[j["grade_key"]] = j
    assert len(judgements) == 12  # every review, shown and swapped
    for sample in unit["samples"]:
        assert len(sample["keys"]) == 1
        line = judgements[sample["keys"][0]]
        assert line["sample_id"] == sample["id"] and (line["values"] or None) == sample["values"][0]
    assert used_grades(swap_checked) == {str(q): [10.0 * s] for q, s in MODEL_SCORES.items() if q != 4} | {"4": [100.0]}


@pytest.mark.browser
@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is not installed (apt install chromium)")
def test_the_browser_shows_the_grade_scores_json_used(swap_checked, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    index = build_site(swap_checked, tmp_path / "site")
    used = used_grades(swap_checked)
    shown: dict[str, list[float]] = {}
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        for sample in used:
            page.goto(f"{index.as_uri()}#samples?unit=r--llava-bench-wild&sample={sample}")
            page.wait_for_selector(f'#sample-list .sample-item[data-sample="{sample}"].selected')
            cells = page.eval_on_selector_all("#sample-detail .grades td.num", "xs => xs.map(x => x.textContent)")
            shown[sample] = [float(c) for c in cells]
        browser.close()
    assert shown == used
