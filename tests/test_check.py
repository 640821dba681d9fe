"""``vipbench check``: a drop fails only when it is beyond the tolerance and beyond chance (paired bootstrap over the
samples), incomparable runs are refused, a committed scores.json is a baseline, and two judges' agreement."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest
from judge_server import JudgeServer
from scripted import use_script
from test_judge import ANSWERS, make_run

from vipbench.cli import main
from vipbench.records import RunSpec
from vipbench.runner import run

QUIET = {"warn": lambda message: None}


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> dict[str, str]:
    """vip-synth's right answers, as the oracle gives them."""
    results = tmp_path_factory.mktemp("oracle")
    store = run(RunSpec(model="oracle", tasks=["vip-synth"]), results_dir=results, run_id="oracle", **QUIET)
    return {p.sample_id: p.prediction for p in store.predictions()}


def scripted_run(results: Path, run_id: str, answers: dict[str, str], wrong: int = 0, limit: int | None = None, **spec):
    """vip-synth answered right, except the first ``wrong`` samples."""
    ids = list(answers)
    use_script({i: ("no idea" if k < wrong else answers[i]) for k, i in enumerate(ids)})
    store = run(
        RunSpec(model="scripted", tasks=["vip-synth"], limit=limit, **spec), results_dir=results, run_id=run_id, **QUIET
    )
    assert main(["judge", run_id, "--results", str(results)]) == 0  # exact match: no judge call
    return store.path


def check(results: Path, *args: str) -> int:
    return main(["check", *args, "--results", str(results)])


def total_row(capsys) -> str:
    out = capsys.readouterr().out
    return next(line for line in out.splitlines() if line.strip().startswith("All "))


def test_a_significant_drop_beyond_the_tolerance_fails(tmp_path, answers, capsys):
    scripted_run(tmp_path, "base", answers)
    scripted_run(tmp_path, "worse", answers, wrong=20)  # 20 of 400 wrong: 5 points
    assert check(tmp_path, "base", "--baseline", "base") == 0
    capsys.readouterr()
    assert check(tmp_path, "worse", "--baseline", "base") == 1
    row = total_row(capsys)
    assert "100.0" in row and "95.0" in row and "-5.0" in row and "regression" in row
    # A 6-point tolerance lets the overall 5 points through, but not the 10 points lost on four prompt types.
    assert check(tmp_path, "worse", "--baseline", "base", "--tolerance", "6") == 1
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "within tolerance" in rows["All"] and "regression" in rows["Ellipse"] and "ok" in rows["Arrow"]
    assert check(tmp_path, "worse", "--baseline", "base", "--tolerance", "11") == 0


def test_the_same_drop_on_few_samples_is_not_significant(tmp_path, answers, capsys):
    scripted_run(tmp_path, "base", answers, limit=20)
    scripted_run(tmp_path, "worse", answers, wrong=1, limit=20)  # 1 of 20 wrong: also 5 points
    assert check(tmp_path, "worse", "--baseline", "base") == 0
    row = total_row(capsys)
    assert "-5.0" in row and "not significant" in row


def test_a_baseline_with_no_task_in_common_fails_closed(tmp_path, answers, capsys):
    base = scripted_run(tmp_path, "base", answers, limit=40)
    scores = json.loads((base / "scores.json").read_text())
    scores["units"] = {"other-task": {**scores["units"]["vip-synth"], "unit": "other-task"}}
    other = tmp_path / "other-scores.json"
    other.write_text(json.dumps(scores))
    scripted_run(tmp_path, "now", answers, limit=40)
    capsys.readouterr()
    assert check(tmp_path, "now", "--baseline", str(other)) == 3  # not "no regression", exit 0
    out = capsys.readouterr().out
    assert "not compared: other-task, vip-synth" in out and "nothing was compared" in out
    assert "no regression" not in out


def test_one_sample_in_common_gets_no_verdict(tmp_path, answers, capsys):
    scripted_run(tmp_path, "base", answers, limit=1)
    scripted_run(tmp_path, "worse", answers, wrong=1, limit=1)  # a 100-point drop on one sample
    capsys.readouterr()
    assert check(tmp_path, "worse", "--baseline", "base") == 3
    row = total_row(capsys)
    assert "-100.0" in row and "too few samples (n=1" in row and "regression" not in row
    assert "[-100.0, -100.0]" not in row
    assert check(tmp_path, "worse", "--baseline", "base", "--min-samples", "1") == 1  # asked for, it is one


def test_too_little_of_the_baseline_compared_fails_unless_allowed(tmp_path, answers, capsys):
    scripted_run(tmp_path, "base", answers)  # 400 samples
    scripted_run(tmp_path, "smoke", answers, limit=40)  # 10 % of them (another dataset hash: a mismatch, allowed)
    capsys.readouterr()
    smoke = ("smoke", "--baseline", "base", "--allow-mismatch")
    assert check(tmp_path, *smoke, "--format", "json") == 3
    report = json.loads(capsys.readouterr().out)
    assert (report["compared_samples"], report["baseline_samples"], report["coverage"]) == (40, 400, 0.1)
    assert "only 40 of the baseline's 400 samples were compared" in report["too_little_compared"]
    assert check(tmp_path, *smoke, "--min-coverage", "0.1") == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        check(tmp_path, *smoke, "--min-coverage", "1.5")
    assert "--min-coverage: must be between 0 and 1" in capsys.readouterr().err


def test_the_interval_is_a_paired_bootstrap_of_the_difference(tmp_path, answers, capsys):
    scripted_run(tmp_path, "base", answers)
    scripted_run(tmp_path, "worse", answers, wrong=20)
    capsys.readouterr()
    assert check(tmp_path, "worse", "--baseline", "base", "--format", "json") == 1
    report = json.loads(capsys.readouterr().out)
    total = next(d for d in report["differences"] if d["number"] == "All")
    # 20 flipped of 400: the drop is 100 × Binomial(400, 1/20) / 400 per draw, sd = 100 × sqrt(0.05 × 0.95 / 400).
    sd = 100 * (0.05 * 0.95 / 400) ** 0.5
    assert total["n"] == 400 and total["low"] < -5 < total["high"] < 0
    assert abs((total["high"] - total["low"]) / (2 * 1.96) - sd) < 0.25 * sd
    by_type = [d for d in report["differences"] if d["number"] not in ("All",)]
    assert by_type and all(d["n"] == 400 for d in by_type)  # every capability-like number is checked too


def test_runs_made_differently_are_refused_unless_allowed(tmp_path, answers, capsys):
    scripted_run(tmp_path, "base", answers, limit=40)
    scripted_run(tmp_path, "coords", answers, limit=40, region_mode="coords")
    assert check(tmp_path, "coords", "--baseline", "base") == 2
    err = capsys.readouterr().err
    assert "vip-synth: prompt hash differs (baseline " in err and "--allow-mismatch" in err
    assert check(tmp_path, "coords", "--baseline", "base", "--allow-mismatch") == 0
    assert "not comparable (allowed): vip-synth: prompt hash differs" in capsys.readouterr().out


def test_a_committed_scores_json_is_a_baseline(tmp_path, answers, capsys):
    base = scripted_run(tmp_path, "base", answers)
    committed = tmp_path / "repo" / "baselines" / "vip-synth.json"
    committed.parent.mkdir(parents=True)
    shutil.copy(base / "scores.json", committed)
    shutil.rmtree(base)  # nothing of the run is left but its scores
    scripted_run(tmp_path, "worse", answers, wrong=20)
    assert check(tmp_path, "worse", "--baseline", str(committed)) == 1
    assert "regression" in total_row(capsys)
    assert check(tmp_path, "worse", "--baseline", str(tmp_path / "missing.json")) == 2
    assert "error: unknown run" in capsys.readouterr().err


def test_two_judges_agreement_on_the_same_predictions(tmp_path, vip_bench_dir, capsys):
    first = make_run(tmp_path, vip_bench_dir, {**ANSWERS, "v1_1": "a dog [[flip]]"})
    second = tmp_path / "copy"
    shutil.copytree(first, second)
    with JudgeServer() as server:
        for folder, judge in ((first, "gpt-4-0613"), (second, "local-judge")):
            args = ["judge", str(folder), "--base-url", server.url, "--judge", judge, "--runs", "5"]
            assert main([*args, "--results", str(tmp_path)]) == 0
    capsys.readouterr()
    assert check(tmp_path, str(second), "--baseline", str(first), "--agreement", "--format", "json") == 0
    rows = {a["number"]: a for a in json.loads(capsys.readouterr().out)["agreements"]}
    # Per sample (mean of 5 runs, 0-100): the server grades both alike, except v1_1's [[flip]], which alternates
    # 1, 0, 1, 0, 1 for the first judge (60) and 0, 1, 0, 1, 0 for the second (40).
    first_scores = [100, 60, 50, 100, 0, 100, 0, 100]
    second_scores = [100, 40, 50, 100, 0, 100, 0, 100]
    assert rows["All"]["n"] == 8 and rows["All"]["mean_abs_difference"] == 2.5
    assert rows["All"]["correlation"] == round(statistics.correlation(first_scores, second_scores), 3)
    assert rows["Rec"]["mean_abs_difference"] == 5.0  # v1_1 is one of the 4 recognition items
