"""``vipbench example-data`` writes every on-disk layout the README documents, each of which ``vipbench run`` loads
and the oracle scores 100 on; ``vipbench judge-server`` is a stub judge that ``vipbench judge`` grades against, its
grades labelled as not a real judge's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vipbench.cli import main
from vipbench.examples import LAYOUTS, Layout
from vipbench.judge_server import REPORTED_MODEL, StubJudgeServer, reply, review_scores
from vipbench.tasks import TaskIndex

INDEX = TaskIndex()
JUDGED = {"vip-bench", "llava-bench-wild", "llava-bench-coco"}
CAPTIONS = {"refcocog"}


def tasks_of(dataset: str) -> list[str]:
    return sorted(name for name, config in INDEX.configs.items() if config.dataset.key == dataset)


def units(results: Path, run_id: str) -> dict:
    return json.loads((results / run_id / "scores.json").read_text())["units"]


@pytest.fixture(scope="module")
def stub_judge():
    with StubJudgeServer(port=0) as server:
        yield server


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: f"{lay.dataset}:{lay.name}")
def test_each_example_loads_and_the_oracle_scores_100(tmp_path, capsys, layout: Layout, stub_judge):
    if layout.dataset in CAPTIONS:
        pytest.importorskip("pycocoevalcap", reason="the caption scorer needs the [captions] extra")
        if shutil.which("java") is None:
            pytest.skip("the caption scorer's PTB tokenizer needs Java")
    folder, results = tmp_path / "data", tmp_path / "results"
    assert main(["example-data", layout.dataset, str(folder), "--layout", layout.name]) == 0
    out = capsys.readouterr().out
    assert f"--data-dir {layout.dataset}={folder}" in out  # the command it prints names the folder
    tasks = ",".join(tasks_of(layout.dataset))
    run = ["run", "--model", "oracle", "--tasks", tasks, "--data-dir", f"{layout.dataset}={folder}"]
    assert main([*run, "--results", str(results), "--run-id", "o"]) == 0
    if layout.dataset in JUDGED:
        assert main(["judge", "o", "--results", str(results), "--base-url", stub_judge.url, "--runs", "1"]) == 0
    scored = units(results, "o")
    assert set(scored) == set(tasks_of(layout.dataset))
    for unit in scored.values():
        assert unit["n"] > 0 and unit["failed"] == 0
        if unit["scored_by"]["scorer"] == "caption":  # CIDEr is unbounded; every n-gram metric is 100
            assert {k: v["mean"] for k, v in unit["secondary"].items()} == dict.fromkeys(unit["secondary"], 100.0)
        else:
            assert unit["total"]["mean"] == 100.0, (unit["unit"], unit["total"])
        if layout.dataset in JUDGED:
            assert unit["scored_by"]["reported_models"] == [REPORTED_MODEL]


def test_example_data_takes_a_task_name_and_lists_its_layouts(tmp_path, capsys):
    assert main(["example-data", "pope-random", str(tmp_path / "p"), "--layout", "rucaibox"]) == 0
    assert "--tasks pope --data-dir pope=" in capsys.readouterr().out  # the group of every task reading it
    assert (tmp_path / "p" / "output" / "coco" / "coco_pope_random.json").is_file()
    assert main(["example-data", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == len(LAYOUTS) and listed[0].split()[:2] == ["vip-bench", "official"]


def test_example_data_refuses_a_folder_with_files_and_unknown_names(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("a user's file")
    assert main(["example-data", "pope", str(tmp_path)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]
    assert main(["example-data", "popee", str(tmp_path / "x")]) == 2
    assert "Did you mean 'pope'" in capsys.readouterr().err
    assert main(["example-data", "pope", str(tmp_path / "x"), "--layout", "rucaibx"]) == 2
    assert "Did you mean 'rucaibox'" in capsys.readouterr().err


def test_the_judge_server_command_starts_and_vipbench_judge_grades_against_it(tmp_path, capsys):
    data, results = tmp_path / "vb", tmp_path / "results"
    assert main(["example-data", "vip-bench", str(data)]) == 0
    assert (
        main(
            ["run", "--model", "oracle", "--tasks", "vip-bench-bbox", "--data-dir", str(data)]
            + ["--results", str(results), "--run-id", "o"]
        )
        == 0
    )
    command = [sys.executable, "-m", "vipbench", "judge-server", "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1"), url
        assert "NOT a real judge" in server.stdout.readline()
        assert main(["judge", "o", "--results", str(results), "--base-url", url, "--runs", "1"]) == 0
    finally:
        server.terminate()
        server.wait(timeout=10)
    unit = units(results, "o")["vip-bench-bbox"]
    assert unit["total"]["mean"] == 100.0 and unit["scored_by"]["reported_models"] == [REPORTED_MODEL]
    grades = [json.loads(line) for line in (results / "o" / "judgements.jsonl").read_text().splitlines()]
    assert grades and {g["reported_model"] for g in grades} == {REPORTED_MODEL}
    assert "not a real judge" in capsys.readouterr().out  # the table says who graded


def test_the_stub_judge_rules():
    def ask(content):
        return reply({"model": "gpt-4-0613", "messages": [{"role": "user", "content": content}]})

    def grade(content):
        status, body = ask(content)
        assert status == 200
        return body["choices"][0]["message"]["content"]

    assert grade("Question | Ground truth | Prediction |\nWhat? | cat <OR> dog | a dog | ") == "1.0"  # the last row
    assert grade("What? | cat | a bird | ") == "0.0"
    status, body = ask("What? | -1 <AND> -5 | it is -1 | ")
    assert status == 200 and body["choices"][0]["message"]["content"] == "0.5"
    assert body["model"] == REPORTED_MODEL  # whatever model was asked for
    assert review_scores("A red car.", "A red car.") == (10.0, 10.0)
    assert review_scores("A red car parked.", "") == (10.0, 1.0)
    status, body = ask([{"type": "text", "text": "What is this?"}])
    assert status == 400 and "text judge prompts only" in body["error"]["message"]
    assert ask("Tell me a joke.")[0] == 400
