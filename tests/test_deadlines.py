"""Every endpoint has a deadline, and a failed grading never destroys good scores: the judge and API models against
a loopback socket that accepts connections and never answers, an endpoint that goes silent after answering, and
one that rejects every grade, through the real openai client."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

from judge_server import JudgeServer, SilentServer
from rich.console import Console
from test_judge import ANSWERS, judge, judgements, make_run, scores

from vipbench.cli import main
from vipbench.models import create_model
from vipbench.models.base import GenerationSettings
from vipbench.progress import progress_bar
from vipbench.scoring.grade import grade_run
from vipbench.scoring.options import GradingPolicy, JudgeEndpoint, JudgeOverrides
from vipbench.store import RunStore
from vipbench.tasks import TaskIndex

ONE_RUN = GradingPolicy(overrides=JudgeOverrides(runs=1))
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def frames(output: str) -> list[str]:
    """Every line a live progress display drew, without its terminal control codes."""
    return [line.rstrip() for line in _CONTROL.sub("\n", output).replace("\r", "\n").split("\n") if line.strip()]


def scored(tmp_path: Path, vip_bench_dir: Path) -> tuple[Path, bytes, bytes]:
    """A run graded once while its judge was up: its folder, scores.json and scores.csv."""
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer() as server:
        assert judge(server, tmp_path, "--runs", "1") == 0
    return run_dir, (run_dir / "scores.json").read_bytes(), (run_dir / "scores.csv").read_bytes()


def test_a_silent_judge_endpoint_fails_in_one_deadline_at_default_settings(tmp_path, vip_bench_dir, capsys):
    run_dir, good, good_csv = scored(tmp_path, vip_bench_dir)
    graded = judgements(run_dir)
    capsys.readouterr()
    with SilentServer() as silent:
        started = time.monotonic()
        code = main(["judge", "r", "--results", str(tmp_path), "--base-url", silent.url, "--runs", "2"])
        elapsed = time.monotonic() - started
        assert silent.connections >= 1  # it did accept
    err = capsys.readouterr().err
    assert code == 2 and 29 < elapsed < 60, elapsed  # one default deadline (30 s), not one per retry
    assert errors(err) == [
        f"error: the judge endpoint {silent.url} accepted the connection but sent nothing in 30 s; if it is still "
        "loading its model, or answers this slowly, raise --timeout"
    ]
    assert "Traceback" not in err
    assert (run_dir / "scores.json").read_bytes() == good and (run_dir / "scores.csv").read_bytes() == good_csv
    assert judgements(run_dir) == graded  # no grade recorded as failed


def test_a_silent_model_endpoint_stops_the_run_in_one_line(tmp_path, capsys):
    with SilentServer() as silent:
        model_args = f"base_url={silent.url},timeout=2,concurrency=4"
        args = ["run", "--model", "openai:my-vlm", "--model-args", model_args, "--tasks", "vip-synth"]
        args += ["--limit", "40", "--results", str(tmp_path), "--run-id", "api"]
        started = time.monotonic()
        code = main(args)
        elapsed = time.monotonic() - started
        # One deadline for the whole batch: the calls still waiting for a slot are stopped, not sent in turn.
        assert 1 <= silent.connections <= 4
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 20, elapsed  # 10 waves of 4 would take 20 s
    assert errors(err) == [
        f"error: the model endpoint {silent.url} accepted the connection but sent nothing in 2 s; if it is still "
        "loading its model, or answers this slowly, raise the timeout model argument (--model-args timeout=SECONDS)"
    ]
    assert "Traceback" not in err
    predictions = tmp_path / "api" / "predictions.jsonl"
    assert not predictions.exists() or not predictions.read_text()  # nothing answered, nothing recorded


def test_the_model_endpoint_deadline_is_30_seconds_unless_given():
    assert create_model("openai:my-vlm", base_url="http://127.0.0.1:9/v1").timeout == 30.0
    assert main(["run", "--model", "openai:x", "--model-args", "timeout=0", "--tasks", "vip-synth"]) == 2


def test_a_judge_run_whose_grades_all_fail_keeps_the_old_scores(tmp_path, vip_bench_dir, capsys):
    run_dir, good, good_csv = scored(tmp_path, vip_bench_dir)
    capsys.readouterr()
    with JudgeServer(reject_every=1) as rejecting:  # answers, but 400 to every grade
        assert judge(rejecting, tmp_path, "--runs", "2") == 1
        err = capsys.readouterr().err
        kept = [line for line in err.splitlines() if "scores.json" in line]
        assert kept == [
            "warning: kept run r's scores.json (8/8 grades): this grading got none of its 16 grades; vipbench judge r "
            "retries the failed ones"
        ]
        assert "16 grade(s) failed" in err
        assert (run_dir / "scores.json").read_bytes() == good and (run_dir / "scores.csv").read_bytes() == good_csv
        assert judge(rejecting, tmp_path, "--runs", "2", "--allow-failures") == 0  # never scores with no grade
        assert (run_dir / "scores.json").read_bytes() == good


def test_a_less_complete_grading_keeps_the_old_scores_unless_allowed(tmp_path, vip_bench_dir, capsys):
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer() as server:
        assert judge(server, tmp_path, "--runs", "2") == 0
    good = (run_dir / "scores.json").read_bytes()
    capsys.readouterr()
    with JudgeServer(reject_every=2) as flaky:  # every second request rejected: 8 of 16 grades
        assert judge(flaky, tmp_path, "--runs", "2") == 1
        err = capsys.readouterr().err
        assert (
            "warning: kept run r's scores.json (16/16 grades): this grading got only 8/16 grades; vipbench judge r "
            "retries the failed ones (--allow-failures writes these scores anyway)"
        ) in err
        assert (run_dir / "scores.json").read_bytes() == good
        assert judge(flaky, tmp_path, "--runs", "2", "--allow-failures") == 0  # 4 of the 8 retried fail again
    unit = scores(run_dir)
    assert unit["expected_grades"] == 16 and unit["failed"] == 4


def test_a_complete_grading_replaces_the_scores_and_a_broken_file_is_repaired(tmp_path, vip_bench_dir):
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer() as server:
        assert judge(server, tmp_path, "--runs", "2") == 0
        good = (run_dir / "scores.json").read_bytes()
        assert judge(server, tmp_path, "--runs", "1", "--judge", "other-judge") == 0  # fewer grades, all good
        assert scores(run_dir)["scored_by"]["judge_model"] == "other-judge"
        (run_dir / "scores.json").write_bytes(good[: len(good) // 2])  # cut short
        assert judge(server, tmp_path, "--runs", "2") == 0
    assert (run_dir / "scores.json").read_bytes() == good
    assert not list(run_dir.glob(".*.tmp"))  # no temp file left behind


def test_timeouts_after_the_endpoint_answered_are_retried_and_shown_as_they_happen(tmp_path, vip_bench_dir):
    make_run(tmp_path, vip_bench_dir, ANSWERS)
    store = RunStore.open(tmp_path, "r")
    output = io.StringIO()
    console = Console(file=output, width=80, force_terminal=True, color_system=None)
    with JudgeServer(hang_requests={2}, hang_seconds=4) as server:  # silent once, after it has answered
        endpoint = JudgeEndpoint(base_url=server.url, timeout=1, backoff_initial=1)
        outcome = grade_run(store, ONE_RUN, endpoint, console=console, warn=lambda m: None)
        assert server.requests == 9  # 8 grades, the silent one asked again
    drawn = frames(output.getvalue())
    # The timeout is on the bar while its grade waits for the retry, not only once everything is done.
    assert any(" 7/8 " in line and "1 timeout" in line for line in drawn), drawn
    assert "1 timeout · 1 retry" in drawn[-1] and " 8/8 " in drawn[-1]
    # 80 columns: the description and the counts whole, on one line each.
    assert all(line.startswith("judging ") and len(line) <= 80 for line in drawn), drawn
    assert outcome.failed == 0 and abs(scores(store.path)["total"]["mean"] - 56.25) <= 0.05
    assert (outcome.stats.timeouts, outcome.stats.retries) == (1, 1)


def test_the_bar_reports_what_was_really_in_flight(tmp_path, vip_bench_dir):
    make_run(tmp_path, vip_bench_dir, ANSWERS)
    output = io.StringIO()
    console = Console(file=output, width=120, force_terminal=True, color_system=None)
    with JudgeServer(latency=0.6) as server:  # slow enough for the bar to be drawn while they are in flight
        endpoint = JudgeEndpoint(base_url=server.url)
        grade_run(RunStore.open(tmp_path, "r"), ONE_RUN, endpoint, console=console, warn=lambda m: None)
    peaks = {int(n) for n in re.findall(r"(\d+) in flight", output.getvalue())}
    assert peaks and max(peaks) <= 7, peaks  # one grade alone, then the other 7: not the limit (16 or more)


def test_a_model_endpoint_that_goes_silent_after_answering_is_retried(tmp_path, vip_bench_dir, capsys):
    task = TaskIndex().task("vip-bench-bbox")
    requests = [task.build_request(s, "overlay", "arrow") for s in task.load_samples(vip_bench_dir)[:6]]
    output = io.StringIO()
    console = Console(file=output, width=80, force_terminal=True, color_system=None)
    with JudgeServer(vision_answers={}, hang_requests={3}, hang_seconds=4) as server:
        model = create_model("openai:my-vlm", base_url=server.url, timeout=1)
        with progress_bar(console) as progress:  # as vipbench run shows its batches
            progress.add_task("openai:my-vlm", total=len(requests), detail="")
            answers = model.generate(requests, GenerationSettings(max_new_tokens=16))
        assert server.requests == 7
    assert answers == ["I see an image."] * 6
    assert "my-vlm: 7 HTTP requests (1 retries, 1 timed out), 0 cached" in model.report()
    # On the bar while the batch waits for the retry (the bar itself moves only once the batch is back).
    assert any(" 0/6 " in line and "1 timeout" in line for line in frames(output.getvalue()))
