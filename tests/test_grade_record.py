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


def _planned(results: Path, base_url: str, existing: dict, judge_calls: bool = True):
    """The plan of run r's grades, as ``vipbench judge --swap-check`` at ``base_url`` makes it."""
    from vipbench.scoring.options import JudgeOverrides
    from vipbench.scoring.plan import plan_run
    from vipbench.scoring.spec import graded_specs
    from vipbench.store import RunStore

    store = RunStore.open(results, "r")
    specs = graded_specs(store.manifest(), JudgeOverrides(), warn=print)
    return store, plan_run(store.predictions(), specs, existing, base_url, swap_check=True, judge_calls=judge_calls)


def test_the_plan_of_a_judged_run_names_the_keys_scores_json_used_and_needs_nothing(swap_checked):
    from vipbench.records import Judgement
    from vipbench.store import read_jsonl_records

    unit = json.loads((swap_checked / "r" / "scores.json").read_text())["units"]["llava-bench-wild"]
    made = {j.grade_key: j for j in read_jsonl_records(swap_checked / "r" / "judgements.jsonl", Judgement)}
    base_url = unit["scored_by"]["base_url"]
    _, plan = _planned(swap_checked, base_url, made)
    assert plan.jobs == [] and plan.waiting == []
    assert plan.units["llava-bench-wild"].keys == [s["keys"] for s in unit["samples"]]
    swapped = [k for row in plan.swapped["llava-bench-wild"].keys for k in row]
    assert (
        len(swapped) == 6 and set(swapped) <= set(made) and not set(swapped) & {s["keys"][0] for s in unit["samples"]}
    )
    # Another endpoint is another grader: everything is still to grade, and without judge calls the unit waits.
    _, elsewhere = _planned(swap_checked, "http://127.0.0.1:9/v1", made)
    assert len(elsewhere.jobs) == 12 and not {j.key for j in elsewhere.jobs} & set(made)
    _, waiting = _planned(swap_checked, "http://127.0.0.1:9/v1", made, judge_calls=False)
    assert waiting.jobs == [] and waiting.waiting == ["llava-bench-wild"] and waiting.units == {}


def test_the_service_grades_a_plan_into_its_sink_and_the_record_gives_the_cli_s_numbers(swap_checked, tmp_path):
    """plan → service → record outside the CLI: each grade goes to the sink once, is returned under its planned
    key, and the scores assembled from them equal scores.json's."""
    from vipbench.scoring.assemble import assemble
    from vipbench.scoring.options import JudgeEndpoint
    from vipbench.scoring.service import grade_jobs

    with JudgeServer(first_bonus=1.0) as server:
        store, plan = _planned(swap_checked, server.url, {})
        sunk: list = []
        endpoint = JudgeEndpoint(base_url=server.url, cache_path=tmp_path / "cache.sqlite")
        graded = grade_jobs(plan.jobs, sunk.extend, endpoint)
        assert server.requests == 12
    assert sorted(j.grade_key for j in sunk) == sorted(graded.grades) == sorted(j.key for j in plan.jobs)
    assert all(j.status == "ok" for j in sunk)
    scores = assemble("r", store.manifest(), plan, graded.grades, status="complete", predictions=6, base_url=server.url)
    ours, cli = scores.units["llava-bench-wild"], json.loads((swap_checked / "r" / "scores.json").read_text())
    theirs = cli["units"]["llava-bench-wild"]
    assert ours.total.model_dump() == theirs["total"]
    assert {k: v.model_dump() for k, v in ours.secondary.items()} == theirs["secondary"]
    assert [s.values for s in ours.samples] == [s["values"] for s in theirs["samples"]]
