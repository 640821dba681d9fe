"""`vipbench judge --batch`: OpenAI's Batch API on the loopback server, through the real openai client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from judge_server import JudgeServer, SilentServer
from test_judge import ANSWERS, FAST, make_run, scores

from vipbench.cli import main

RUNS = ["--runs", "5"]
GRADES = len(ANSWERS) * 5


def judge(server: JudgeServer, results: Path, *extra: str) -> int:
    """Judge run ``r`` in ``results`` with its own reply cache, so a live and a batch grading never share one."""
    cache = ["--cache", str(results / "cache.sqlite")]
    return main(["judge", "r", "--results", str(results), "--base-url", server.url, *FAST, *RUNS, *cache, *extra])


def judge_process(server: JudgeServer, results: Path, *extra: str) -> subprocess.Popen:
    args = ["judge", "r", "--results", str(results), "--base-url", server.url, *RUNS]
    args += ["--cache", str(results / "cache.sqlite"), *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "vipbench", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )


def kill_when_paused(server: JudgeServer, process: subprocess.Popen) -> None:
    """Kill the judge while the server holds the request it was told to pause at, then let the request go."""
    assert server.batch.paused.wait(60), "the judge never reached the step to pause at"
    process.kill()
    process.wait()
    server.batch.release.set()
    time.sleep(0.05)


def live_scores(tmp_path: Path, vip_bench_dir: Path, answers: dict[str, str], *extra: str) -> dict:
    """The scores of the same predictions graded live, by a server of their own."""
    live = tmp_path / "live"
    run_dir = make_run(live, vip_bench_dir, answers)
    with JudgeServer() as server:
        assert judge(server, live, *extra) == 0
        assert server.requests >= GRADES
    return scores(run_dir)


def same_scores(a: dict, b: dict) -> None:
    assert a["total"] == b["total"]
    assert a["breakdowns"] == b["breakdowns"] and a["combinations"] == b["combinations"]
    assert a["failed"] == b["failed"] == 0


def each_asked_once(server: JudgeServer) -> None:
    assert len(server.batch.answered) == GRADES and set(server.batch.answered.values()) == {1}


def test_a_batch_is_sent_then_collected_and_scores_as_the_live_judge(tmp_path, vip_bench_dir, capsys):
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-4-0613: {input: 30, output: 60}\n")
    live = live_scores(tmp_path, vip_bench_dir, ANSWERS, "--prices", str(prices))
    results = tmp_path / "batch"
    run_dir = make_run(results, vip_bench_dir, ANSWERS)
    with JudgeServer(batch_polls=3) as server:
        assert judge(server, results, "--batch", "--prices", str(prices)) == 0
        out = capsys.readouterr().out
        assert "batch batch_1 validating: 0/40 requests done" in out and "--batch again" in out
        assert server.requests == 0 and server.batch.uploads == 1 and server.batch.creates == 1
        assert not (run_dir / "scores.json").exists()  # nothing is scored while the batch runs
        state = json.loads((run_dir / "judge-batch.json").read_text())
        assert state["batch_id"] == "batch_1" and state["requests"] == GRADES

        assert main(["judge", "--batch-status", "--results", str(results), "--base-url", server.url]) == 0
        assert "r: batch batch_1 in_progress" in capsys.readouterr().out

        assert judge(server, results, "--batch", "--wait", "--poll", "0.01", "--prices", str(prices)) == 0
        out = capsys.readouterr().out
        assert "batch batch_1 completed: 40/40 replies collected at the batch rate" in out
        assert "0 HTTP requests (0 retries), 40 cache hits (40 of them from the Batch API, at half price)" in out
        assert server.requests == 0  # every grade came from the batch
        each_asked_once(server)
        assert server.batch.creates == 1 and not (run_dir / "judge-batch.json").exists()
        assert (run_dir / "judge-batch-batch_1.json").exists()
        unit = scores(run_dir)
        same_scores(unit, live)
        assert unit["usage"]["batch_prompt_tokens"] == 100 * GRADES and unit["usage"]["prompt_tokens"] == 0
        assert live["usage"]["cost_usd"] > 0
        assert unit["usage"]["cost_usd"] == pytest.approx(live["usage"]["cost_usd"] / 2)  # the batch rate: half

        assert judge(server, results, "--batch") == 0  # nothing left to send: graded from the cache
        assert server.batch.creates == 1 and server.requests == 0


def test_a_batch_that_partly_fails_sends_the_rest_live_and_never_counts_them_as_zero(tmp_path, vip_bench_dir, capsys):
    answers = {**ANSWERS, "v1_0": "3/4 [[500:1]]", "v1_5": "stop [[garbage:1]]"}
    live = live_scores(tmp_path, vip_bench_dir, answers)
    results = tmp_path / "batch"
    run_dir = make_run(results, vip_bench_dir, answers)
    with JudgeServer() as server:
        assert judge(server, results, "--batch", "--wait", "--poll", "0.01") == 0
        out = capsys.readouterr().out
        assert "38/40 replies collected" not in out  # the garbage reply is a reply: collected, then re-asked
        assert "39/40 replies collected at the batch rate; 1 not answered (HTTP 500 1) are asked live" in out
        # One live call for the request the batch failed, one live re-ask for the reply that did not parse.
        assert server.requests == 2
        each_asked_once(server)
        same_scores(scores(run_dir), live)


def test_a_batch_that_expires_has_its_unanswered_requests_asked_live(tmp_path, vip_bench_dir, capsys):
    live = live_scores(tmp_path, vip_bench_dir, ANSWERS)
    results = tmp_path / "batch"
    run_dir = make_run(results, vip_bench_dir, ANSWERS)
    with JudgeServer(batch_expire_after=15) as server:
        assert judge(server, results, "--batch", "--wait", "--poll", "0.01") == 0
        assert (
            "batch batch_1 expired: 15/40 replies collected at the batch rate; 25 not answered (batch_expired 25)"
            in (capsys.readouterr().out)
        )
        assert server.requests == 25 and sum(server.batch.answered.values()) == 15
        same_scores(scores(run_dir), live)


def test_killed_between_upload_and_create_nothing_is_sent_twice(tmp_path, vip_bench_dir):
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer(batch_pause_at="create") as server:
        kill_when_paused(server, judge_process(server, tmp_path, "--batch"))
        state = json.loads((run_dir / "judge-batch.json").read_text())
        assert state["input_file_id"] == "file-1" and state["batch_id"] is None and server.batch.creates == 0

        assert judge(server, tmp_path, "--batch", "--wait", "--poll", "0.01") == 0
        assert server.batch.uploads == 1 and server.batch.creates == 1 and server.requests == 0
        each_asked_once(server)
        assert scores(run_dir)["failed"] == 0


def test_killed_after_create_before_its_reply_the_batch_is_found_again(tmp_path, vip_bench_dir):
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer(batch_pause_at="created") as server:
        kill_when_paused(server, judge_process(server, tmp_path, "--batch"))
        assert server.batch.creates == 1
        assert json.loads((run_dir / "judge-batch.json").read_text())["batch_id"] is None  # the reply never came

        assert judge(server, tmp_path, "--batch", "--wait", "--poll", "0.01") == 0
        assert server.batch.uploads == 1 and server.batch.creates == 1  # found among the account's batches
        assert server.requests == 0
        each_asked_once(server)
        assert scores(run_dir)["failed"] == 0


def test_killed_between_create_and_download_nothing_is_lost(tmp_path, vip_bench_dir):
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer(batch_polls=1) as server:
        assert judge(server, tmp_path, "--batch") == 0  # created, and left running
        server.batch.pause_at = "content"
        kill_when_paused(server, judge_process(server, tmp_path, "--batch", "--wait", "--poll", "0.01"))
        assert json.loads((run_dir / "judge-batch.json").read_text())["status"] == "completed"
        assert not (run_dir / "scores.json").exists()

        assert judge(server, tmp_path, "--batch") == 0
        assert server.batch.creates == 1 and server.requests == 0
        each_asked_once(server)
        assert scores(run_dir)["failed"] == 0


def test_cost_limit_applies_to_a_batch_at_the_batch_rate(tmp_path, vip_bench_dir, capsys):
    make_run(tmp_path, vip_bench_dir, ANSWERS)
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-4-0613: {input: 30, output: 60}\n")
    with JudgeServer() as server:
        # The estimate for 40 grades (prompt tokens counted from the text, max_tokens as the reply): $0.50 live.
        limit = ["--cost-limit", "0.2", "--prices", str(prices)]
        assert judge(server, tmp_path, "--batch", *limit) == 2
        assert "about $0.25 at the batch rate, over --cost-limit $0.20; nothing was sent" in capsys.readouterr().err
        assert server.batch.uploads == 0
        limit = ["--cost-limit", "0.3", "--prices", str(prices)]
        assert judge(server, tmp_path, *limit) == 2  # live, $0.30 is not enough
        assert "about $0.50, over --cost-limit $0.30" in capsys.readouterr().err
        assert judge(server, tmp_path, "--batch", "--wait", "--poll", "0.01", *limit) == 0  # batched, it is
        assert server.batch.uploads == 1 and server.requests == 0


def test_an_endpoint_without_the_batch_api_is_one_clear_error(tmp_path, vip_bench_dir, capsys):
    make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer() as server:
        chat_only = server.url.removesuffix("/v1") + "/chat-only/v1"  # chat completions answer, the rest is 404
        args = ["judge", "r", "--results", str(tmp_path), "--base-url", chat_only, "--batch"]
        assert main(args) == 2
        assert f"the endpoint {chat_only} has no Batch API (404)" in capsys.readouterr().err
        assert main(args[:-1]) == 0  # graded live


def test_a_silent_batch_endpoint_fails_in_one_deadline(tmp_path, vip_bench_dir, capsys):
    """The Batch API's first request gets the live judge's deadline and no retry: one line, one deadline (it
    took 90 s with three tries of openai's default)."""
    make_run(tmp_path, vip_bench_dir, ANSWERS)
    with SilentServer() as silent:
        started = time.monotonic()
        args = ["judge", "r", "--results", str(tmp_path), "--base-url", silent.url, "--batch", "--timeout", "2"]
        assert main(args) == 2
        elapsed = time.monotonic() - started
        assert silent.connections == 1
    assert elapsed < 6, elapsed
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")] == [
        f"error: the Batch API at {silent.url} accepted the connection but sent nothing in 2 s; if it is still "
        "loading its model, or answers this slowly, raise --timeout"
    ]
    assert (tmp_path / "r" / "judge-batch.json").exists()  # the prepared batch waits for the next try


def test_wait_without_batch_is_one_clear_error(tmp_path, vip_bench_dir, capsys):
    make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer() as server:
        assert judge(server, tmp_path, "--wait") == 2
    assert "--wait waits for a batch: give it with --batch" in capsys.readouterr().err
