"""`vipbench judge` against a real OpenAI-compatible server on 127.0.0.1, through the real openai client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import upstream_standins
from judge_server import JudgeServer
from scripted import use_script

from vipbench.cli import main
from vipbench.records import RunSpec
from vipbench.runner import run
from vipbench.scoring.record import RunScores
from vipbench.scoring.report import unit_caption

# Graded by the server's rule (see judge_server.py); capabilities from fixture_data.ITEMS.
ANSWERS = {
    "v1_0": "3/4",  # ocr, math       → 1.0 (an <OR> alternative)
    "v1_1": "a dog",  # rec             → 0.0
    "v1_2": "-1",  # rec, know       → 0.5 (one of two <AND> parts)
    "v1_3": "the cup is left of the plate",  # rel             → 1.0
    "v1_4": "rien",  # lang, rec       → 0.0
    "v1_5": "stop",  # ocr             → 1.0
    "v1_6": "London",  # rec, ocr, know  → 0.0
    "v1_7": "12",  # math            → 1.0
}
FAST = ["--backoff", "0.01"]


def make_run(results: Path, data: Path, answers: dict[str, str], run_id: str = "r") -> Path:
    use_script(answers)
    spec = RunSpec(model="scripted", tasks=["vip-bench-bbox"], data_dirs={"vip-bench": str(data)})
    return run(spec, results_dir=results, run_id=run_id, warn=lambda m: None).path


def judge(server: JudgeServer, results: Path, *extra: str, run_id: str = "r") -> int:
    return main(["judge", run_id, "--results", str(results), "--base-url", server.url, *FAST, *extra])


def scores(run_dir: Path) -> dict:
    return json.loads((run_dir / "scores.json").read_text())["units"]["vip-bench-bbox"]


def judgements(run_dir: Path, name: str = "judgements.jsonl") -> list[dict]:
    return [json.loads(line) for line in (run_dir / name).read_text().splitlines()]


@pytest.fixture()
def server():
    with JudgeServer() as s:
        yield s


def test_scores_match_the_hand_computed_protocol(tmp_path, vip_bench_dir, server, capsys):
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    assert judge(server, tmp_path, "--runs", "3") == 0
    unit = scores(run_dir)
    # All = Σ scores / N × 100 = (1 + 0 + .5 + 1 + 0 + 1 + 0 + 1) / 8 × 100 = 56.25
    assert abs(unit["total"]["mean"] - 56.25) <= 0.05 and unit["total"]["std"] == 0.0
    assert len(unit["total"]["runs"]) == 3
    caps = {k: (v["label"], v["n"], v["mean"]) for k, v in unit["breakdowns"]["capability"].items()}
    assert caps == {
        "rec": ("Rec", 4, 12.5),  # (0 + .5 + 0 + 0) / 4
        "ocr": ("OCR", 3, 66.7),  # (1 + 1 + 0) / 3
        "know": ("Know", 2, 25.0),  # (.5 + 0) / 2
        "math": ("Math", 2, 100.0),
        "lang": ("Lang", 1, 0.0),
        "rel": ("Rel", 1, 100.0),
    }
    assert list(caps)[:2] == ["rec", "ocr"]  # columns by frequency, as the official grader
    combos = unit["combinations"]
    assert combos["math_ocr"]["mean"] == 100.0 and combos["know_ocr_rec"]["mean"] == 0.0  # sorted names
    assert unit["failed"] == 0 and unit["expected_grades"] == 24
    assert unit["scored_by"]["judge_model"] == "gpt-4-0613"  # the paper's judge by default
    assert unit["scored_by"]["reported_models"] == ["gpt-4-0613-loopback"]
    rows = judgements(run_dir)
    assert len(rows) == 24 and {r["status"] for r in rows} == {"ok"}
    assert {r["reported_model"] for r in rows} == {"gpt-4-0613-loopback"}
    import csv

    rows = list(csv.DictReader((run_dir / "scores.csv").open()))
    ocr = next(r for r in rows if (r["unit"], r["table"], r["column"]) == ("vip-bench-bbox", "capability", "ocr"))
    assert (ocr["label"], ocr["n"], ocr["mean"], ocr["std"], ocr["runs"]) == (
        "OCR",
        "3",
        "66.7",
        "0.0",
        "66.7 66.7 66.7",
    )
    report = capsys.readouterr().out  # the rich table
    assert "All" in report and "OCR" in report and "66.7" in report and "gpt-4-0613-loopback" in report
    # The request the judge saw: the split's question, spaced <AND>/<OR>, and the prediction, ending in " | ".
    content = next(b["messages"][-1]["content"] for b in server.bodies if "3/4" in b["messages"][-1]["content"])
    assert content.endswith(
        "What is the value of x in the equation within the red rectangle? | 0.75 <OR> x=0.75 <OR> 3/4 | 3/4 | "
    )
    assert all(b["temperature"] == 0.0 and b["max_tokens"] == 3 for b in server.bodies)


def test_rejudging_is_free_and_only_new_work_is_paid_for(tmp_path, vip_bench_dir, server):
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    assert judge(server, tmp_path, "--runs", "3") == 0
    assert server.requests == 24
    first = scores(run_dir)

    server.reset_count()
    assert judge(server, tmp_path, "--runs", "3") == 0
    assert server.requests == 0 and scores(run_dir)["total"] == first["total"]

    (run_dir / "judgements.jsonl").unlink()  # only the reply cache is left: still no request
    assert judge(server, tmp_path, "--runs", "3") == 0
    assert server.requests == 0 and scores(run_dir)["total"] == first["total"]

    assert judge(server, tmp_path, "--runs", "5") == 0
    assert server.requests == 16  # runs 3 and 4 of 8 items are new

    server.reset_count()
    assert judge(server, tmp_path, "--runs", "5", "--judge", "gpt-4o-2024-08-06") == 0
    assert server.requests == 40  # a new judge grades everything again
    assert scores(run_dir)["scored_by"]["judge_model"] == "gpt-4o-2024-08-06"


def test_transient_faults_are_retried_and_still_graded(tmp_path, vip_bench_dir):
    answers = {
        **ANSWERS,
        "v1_0": "3/4 [[429:2]]",
        "v1_1": "a dog [[500:2]]",
        "v1_3": "the cup is left of the plate [[hang:1]]",
        "v1_5": "stop [[empty:1]]",
        "v1_7": "12 [[garbage:2]]",
    }
    run_dir = make_run(tmp_path, vip_bench_dir, answers)
    with JudgeServer(retry_after=0.4, hang_seconds=3.0) as server:
        started = time.monotonic()
        assert judge(server, tmp_path, "--runs", "1", "--timeout", "1") == 0
        elapsed = time.monotonic() - started
        # 8 first asks + 2 (429) + 2 (500) + 1 (timeout) + 1 (empty) + 2 (garbage re-asks)
        assert server.requests == 16
    assert elapsed >= 0.8  # two Retry-After waits of 0.4 s were honoured
    unit = scores(run_dir)
    assert unit["failed"] == 0 and abs(unit["total"]["mean"] - 56.25) <= 0.05
    garbage = next(j for j in judgements(run_dir) if j["sample_id"] == "v1_7")
    assert garbage["attempts"] == 3 and garbage["values"]["score"] == 10.0
    assert garbage["replies"][:2] == ["Sure! I would rate it highly"] * 2


def test_failed_grades_are_reported_never_scored(tmp_path, vip_bench_dir, server, capsys):
    answers = {**ANSWERS, "v1_1": "a dog [[garbage]]", "v1_6": "London [[400]]"}
    run_dir = make_run(tmp_path, vip_bench_dir, answers)
    assert judge(server, tmp_path, "--runs", "2") == 1  # non-zero without --allow-failures
    assert "4 grade(s) failed" in capsys.readouterr().err
    unit = scores(run_dir)
    assert unit["failed"] == 4 and unit["expected_grades"] == 16
    # The unparseable v1_1 counts as 0.0 (the official rule, kept in the mean); the rejected request of v1_6 is
    # no grade and is left out: 4.5 / 7.
    assert unit["total"]["mean"] == round(4.5 / 7 * 100, 1) and unit["zeroed"] == 2
    assert unit["scored_by"]["failed_as"] == {"score": 0.0} and unit["scored_by"]["rules"] == "official"
    assert "4 grades failed[/], 2 counted as 0 (official); 2 not answered, left out" in unit_caption(
        RunScores.model_validate_json((run_dir / "scores.json").read_text()).units["vip-bench-bbox"]
    )
    failed = [j for j in judgements(run_dir) if j["status"] == "failed"]
    assert len(failed) == 4 and all(j["values"] == {} for j in failed)
    garbage = next(j for j in failed if j["sample_id"] == "v1_1")
    assert garbage["attempts"] == 6 and "no parseable score" in garbage["error"]
    assert "BadRequestError 400" in next(j for j in failed if j["sample_id"] == "v1_6")["error"]
    temperatures = [b["temperature"] for b in server.bodies if "[[garbage]]" in b["messages"][-1]["content"]]
    assert sorted(temperatures) == sorted([0.0, 0.0, 0.5, 1.0, 1.5, 2.0] * 2)  # re-asks, each hotter

    server.reset_count()
    assert judge(server, tmp_path, "--runs", "2", "--allow-failures") == 0
    assert server.requests == 2  # failed grades are retried (the 400s); cached garbage replays from disk


def test_std_over_judge_runs(tmp_path, vip_bench_dir, server, capsys):
    run_dir = make_run(tmp_path, vip_bench_dir, {**ANSWERS, "v1_1": "a dog [[flip]]"})
    assert judge(server, tmp_path, "--runs", "5") == 0
    report = capsys.readouterr().out  # rendered 80 columns wide, as in a small terminal: nothing cut off
    assert "…" not in report and "63.8" in report and "± 6.1" in report
    total = scores(run_dir)["total"]
    # v1_1 gets 1.0, 0.0, 1.0, 0.0, 1.0 over its five requests: three runs at 56.25 + 12.5, two at 56.25.
    assert sorted(total["runs"]) == [56.2, 56.2, 68.8, 68.8, 68.8]
    assert total["mean"] == 63.8 and total["std"] == 6.1


def test_api_key_is_sent_but_never_written(tmp_path, vip_bench_dir, monkeypatch):
    secret = "sk-test-DO-NOT-LEAK-4242"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer(api_key=secret) as server:
        assert judge(server, tmp_path, "--runs", "1") == 0
        assert server.authorization == {f"Bearer {secret}"}
    cache_root = Path(os.environ["VIPBENCH_CACHE"])
    for path in [*run_dir.rglob("*"), *cache_root.rglob("*judge*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_refused_key_stops_the_judge_with_one_error(tmp_path, vip_bench_dir, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer(api_key="right") as server:
        assert judge(server, tmp_path, "--runs", "5") == 2
        assert server.requests <= 8  # it stopped instead of failing 40 grades
    err = capsys.readouterr().err
    assert f"error: the judge endpoint {server.url} refused the API key (401)" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "base_url, cause",
    [
        ("http://127.0.0.1:{port}/v1", "ConnectionRefusedError"),  # nothing listens there
        ("http://judge.invalid/v1", "gaierror"),  # a name that does not resolve
        ("https://127.0.0.1:{tls_port}/v1", "SSLError"),  # TLS spoken to a plain-HTTP server
    ],
)
def test_a_dead_endpoint_stops_the_judge_in_seconds_and_keeps_what_was_graded(
    tmp_path, vip_bench_dir, server, capsys, base_url, cause
):
    import socket

    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    assert judge(server, tmp_path, "--runs", "1") == 0  # one run graded while the endpoint was up
    graded = len(judgements(run_dir))
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = base_url.format(port=port, tls_port=server.url.split(":")[2].split("/")[0])
    started = time.monotonic()
    code = main(["judge", "r", "--results", str(tmp_path), "--base-url", url, "--runs", "2"])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 10, elapsed
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"error: cannot reach the judge endpoint {url}: ") and cause in lines[0]
    assert len(judgements(run_dir)) == graded  # nothing lost, nothing recorded as a failed grade


def test_no_api_key_for_openai_is_one_clear_error(tmp_path, vip_bench_dir, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    make_run(tmp_path, vip_bench_dir, ANSWERS)
    assert main(["judge", "r", "--results", str(tmp_path), "--runs", "1"]) == 2
    err = capsys.readouterr().err
    assert "error: the judge needs an API key: set OPENAI_API_KEY" in err and "Traceback" not in err
    assert (
        not (tmp_path / "r" / "judgements.jsonl").exists()
        or "failed" not in (tmp_path / "r" / "judgements.jsonl").read_text()
    )


def test_official_grader_script_as_template(tmp_path, vip_bench_dir, server):
    official = tmp_path / "vip-bench_evaluator.py"
    official.write_text(
        'import openai\nnum_run = 1\nprompt = """OFFICIAL FEW-SHOT PROMPT\n\nQuestion | Ground truth'
        ' | Prediction | Correctness\n--- | --- | --- | ---\n"""\nprint(prompt)\n'
        "def reask(line, pred):\n"
        "    return prompt + '\\n' + ' | '.join([line['question'], pred, '']) + "
        '"\\nOFFICIAL RE-ASK: the correctness (digit): "\n'
    )
    run_dir = make_run(tmp_path, vip_bench_dir, {**ANSWERS, "v1_1": "a dog [[garbage:1]]"})
    assert judge(server, tmp_path, "--runs", "1", "--judge-template", str(official)) == 0
    content = server.bodies[0]["messages"][-1]["content"]
    assert content.startswith("OFFICIAL FEW-SHOT PROMPT\n\nQuestion | Ground truth")
    assert content.endswith(" | ") and len(server.bodies[0]["messages"]) == 1
    assert scores(run_dir)["scored_by"]["template"] == str(official)
    assert abs(scores(run_dir)["total"]["mean"] - 56.25) <= 0.05
    # An unparseable reply is asked again as the official script does (its line 203): with the metadata's
    # <obj> question instead of the split's text, and the script's own re-ask line.
    asks = [b["messages"][-1]["content"] for b in server.bodies if "a dog" in b["messages"][-1]["content"]]
    assert len(asks) == 2
    assert asks[0].endswith("\nWhat animal is within the red rectangle? | cat | a dog [[garbage:1]] | ")
    assert asks[1].endswith(
        "\nWhat animal is <obj>? | cat | a dog [[garbage:1]] | \nOFFICIAL RE-ASK: the correctness (digit): "
    )


def test_failed_grades_left_out_is_a_named_deviation(tmp_path, vip_bench_dir, server, monkeypatch):
    upstream_standins.install(monkeypatch, tmp_path / "upstream")  # the official prompt: no deviation of its own
    answers = {**ANSWERS, "v1_1": "a dog [[garbage]]", "v1_6": "London [[400]]"}
    run_dir = make_run(tmp_path, vip_bench_dir, answers)
    assert judge(server, tmp_path, "--runs", "1", "--allow-failures", "--failed-grade", "exclude") == 0
    unit = scores(run_dir)
    assert unit["total"]["mean"] == 75.0 and unit["zeroed"] == 0  # 4.5 / 6 graded: both failures left out
    assert unit["scored_by"]["deviations"] == ["failed grades left out (official: counted as 0)"]
    assert judge(server, tmp_path, "--runs", "1", "--allow-failures", "--judge-rules", "vipbench") == 0
    unit = scores(run_dir)
    assert unit["total"]["mean"] == 75.0 and unit["scored_by"]["rules"] == "vipbench"
    assert unit["scored_by"]["deviations"] == ["judge rules=vipbench (official: official)"]
    assert judge(server, tmp_path, "--runs", "1", "--allow-failures") == 0
    unit = scores(run_dir)
    # The unparseable grade of v1_1 counts as 0 (4.5 / 7); the rejected request of v1_6 is still no grade.
    assert unit["total"]["mean"] == round(4.5 / 7 * 100, 1) and unit["failed"] == 2 and unit["zeroed"] == 1
    assert unit["scored_by"]["failed_grade"] == "rule" and unit["scored_by"]["deviations"] == []


def test_box_and_mask_regions_are_recorded_and_read_naturally_by_the_judge(tmp_path, vip_bench_dir, server):
    import numpy as np

    from vipbench.rle import decode
    from vipbench.tasks import TaskIndex

    use_script(ANSWERS)
    for mode in ("box", "mask"):
        spec = RunSpec(
            model="scripted", tasks=["vip-bench-bbox"], region_mode=mode, data_dirs={"vip-bench": str(vip_bench_dir)}
        )
        run(spec, results_dir=tmp_path, run_id=mode, warn=lambda m: None)
        records = {r["sample_id"]: r for r in judgements(tmp_path / mode, "predictions.jsonl")}
        first = records["v1_0"]
        assert first["prompt"] == "What is the value of x in the equation <region>?"
        assert first["regions"][0]["box"] == [64.0, 96.0, 256.0, 288.0]
        two = records["v1_3"]["regions"]
        assert [r["label"] for r in two] == ["obj1", "obj2"] and len(two[1]["polygons"][0]) >= 3
        if mode == "mask":
            sample = TaskIndex().task("vip-bench-bbox").load_samples(vip_bench_dir)[3]
            region = next(r for r in sample.regions if r.label == "obj2")
            mask = decode(two[1]["mask"])
            expected = np.asarray(region.mask(mask.shape[::-1])) > 0
            assert mask.shape[0] > 0 and (mask == expected).all()
        else:
            assert two[1]["mask"] is None
    server.reset_count()
    assert judge(server, tmp_path, "--runs", "1", run_id="box") == 0
    asked = [b["messages"][-1]["content"] for b in server.bodies]
    assert any("What is the value of x in the equation the region [64, 96, 256, 288]? |" in c for c in asked)
    assert not any("<region>" in c for c in asked)


def test_cost_limit_refuses_before_spending(tmp_path, vip_bench_dir, server, capsys):
    make_run(tmp_path, vip_bench_dir, ANSWERS)
    # A local endpoint serving "gpt-4-0613" is not billed at OpenAI's price: it has none until --prices gives one.
    assert judge(server, tmp_path, "--runs", "5", "--cost-limit", "0.01") == 2
    assert "--cost-limit needs a price for 'gpt-4-0613'; give one with --prices FILE" in capsys.readouterr().err
    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-4-0613: {input: 30, output: 60}\n")
    assert judge(server, tmp_path, "--runs", "5", "--cost-limit", "0.01", "--prices", str(prices)) == 2
    assert server.requests == 0
    assert "over --cost-limit $0.01; nothing was sent" in capsys.readouterr().err
    assert judge(server, tmp_path, "--runs", "5", "--cost-limit", "100", "--prices", str(prices)) == 0
    assert server.requests == 40
    assert "$0." in capsys.readouterr().out  # the spend, priced from the user's table


def test_a_local_endpoint_has_no_price_unless_given(tmp_path, vip_bench_dir, server, capsys):
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    assert judge(server, tmp_path, "--runs", "1") == 0
    assert "cost unknown (no price for this model; see --prices)" in capsys.readouterr().out
    assert scores(run_dir)["usage"]["cost_usd"] is None


def test_a_broken_scores_json_names_the_judge_it_recorded_in_the_command_that_repairs_it(
    tmp_path, vip_bench_dir, server
):
    """``vipbench judge`` leaves manifest.json alone; the command that rewrites a broken scores.json takes the judge
    endpoint and runs from the units of that scores.json (while it reads as JSON), else from an old manifest's
    judges, else from the last judge grades in judgements.jsonl."""
    from vipbench.results import BrokenRun, read_manifest, read_scores
    from vipbench.store import RunStore

    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    store = RunStore.open(tmp_path, "r")
    assert judge(server, tmp_path, "--runs", "1", "--judge", "other-judge") == 0

    def repair() -> str:
        with pytest.raises(BrokenRun) as broken:
            read_scores(store, read_manifest(store))
        return str(broken.value).rpartition("; ")[2]

    plain = f"vipbench judge r --results {tmp_path}"
    data = json.loads((run_dir / "scores.json").read_text())
    del data["run_id"]  # still JSON, no longer a scores file
    (run_dir / "scores.json").write_text(json.dumps(data))
    recorded = f"{plain} --judge other-judge --base-url {server.url} --runs 1"
    assert repair() == f"{recorded} rewrites it from the run's grades"
    (run_dir / "scores.json").write_text('{"units": {')  # cut short: the last grades in judgements.jsonl say it
    assert repair() == f"{recorded} rewrites it from the run's grades"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["judges"] = {"vip-bench-bbox": {"judge_model": "old-judge", "base_url": "http://127.0.0.1:9/v1"}}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))  # as vipbench judge wrote it before
    assert repair() == f"{plain} --judge old-judge --base-url http://127.0.0.1:9/v1 rewrites it from the run's grades"


def test_concurrency_is_bounded(tmp_path, vip_bench_dir):
    make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer(latency=0.05) as server:
        assert judge(server, tmp_path, "--runs", "5", "--concurrency", "4") == 0
        assert 1 < server.max_in_flight <= 4


def test_kill_mid_judge_loses_nothing_and_grades_nothing_twice(tmp_path, vip_bench_dir):
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    rows = run_dir / "judgements.jsonl"
    with JudgeServer(latency=0.05) as server:
        args = [
            sys.executable,
            "-m",
            "vipbench",
            "judge",
            "r",
            "--results",
            str(tmp_path),
            "--base-url",
            server.url,
            "--runs",
            "5",
            "--concurrency",
            "2",
        ]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (rows.exists() and rows.read_bytes().count(b"\n") >= 6):
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done_at_kill = rows.read_bytes().count(b"\n")
        assert 6 <= done_at_kill < 40
        first_requests = server.requests
        assert judge(server, tmp_path, "--runs", "5") == 0
        # Only the grades not finished at the kill are asked again: at most the 2 in flight are repeated.
        assert 40 <= server.requests <= 40 + 2
        assert server.requests - first_requests <= 40 - done_at_kill + 2
    ok = [j["grade_key"] for j in judgements(run_dir) if j["status"] == "ok"]
    assert len(ok) == 40 and len(set(ok)) == 40
