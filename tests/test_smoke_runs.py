"""Smoke runs are not results: a ``--limit`` run is marked ``limit 5/400`` everywhere (``vipbench runs``, ``runs
show``, the pandas API, the leaderboard), listed apart and never ranked, and the README's pandas example leaves it
out. Made from the oracle and blind baselines on vip-synth (400 items), full and ``--limit 5``."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from vipbench.cli import main
from vipbench.leaderboard import build_site
from vipbench.results import load_runs, load_scores

README = Path(__file__).resolve().parents[1] / "README.md"
RUNS = {"oracle-full": ("oracle", None), "oracle-smoke": ("oracle", 5), "blind-full": ("blind", None)}
RUNS["blind-smoke"] = ("blind", 5)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("smoke") / "results"
    for run_id, (model, limit) in RUNS.items():
        args = ["run", "--model", model, "--tasks", "vip-synth", "--run-id", run_id, "--results", str(results)]
        assert main(args + (["--limit", str(limit)] if limit else [])) == 0
    return results


def test_the_manifest_records_the_full_size_of_a_limited_task(results):
    task = json.loads((results / "oracle-smoke" / "manifest.json").read_text())["tasks"]["vip-synth"]
    assert (task["samples"], task["full_samples"]) == (5, 400)
    task = json.loads((results / "oracle-full" / "manifest.json").read_text())["tasks"]["vip-synth"]
    assert (task["samples"], task["full_samples"]) == (400, 400)


def test_vipbench_runs_shows_limit_n_of_the_full_size(results, capsys):
    assert main(["runs", "--results", str(results), "--format", "csv"]) == 0
    status = {r["run"]: r["status"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert status == {
        "oracle-full": "complete, official",
        "oracle-smoke": "complete, limit 5/400, official",
        "blind-full": "complete, official",
        "blind-smoke": "complete, limit 5/400, official",
    }
    assert main(["runs", "--results", str(results), "--format", "json"]) == 0
    listed = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["oracle-smoke"]["limit"] == "5/400" and listed["oracle-full"]["limit"] is None
    assert listed["oracle-smoke"]["scores"]["vip-synth"]["limit"] == "5/400"
    assert main(["runs", "--results", str(results)]) == 0
    table = capsys.readouterr().out
    assert table.count("limit 5/400") == 2
    assert main(["runs", "show", "oracle-smoke", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "complete · limit 5/400 (a --limit smoke run, not a result) · 5/5 predictions" in out
    assert "vip-synth · generated · 5 samples (limit 5/400), 5 requests" in out


def test_load_scores_and_load_runs_have_the_column(results):
    scores = load_scores(results)
    totals = scores[scores.table == "total"].set_index("run_id")
    smoke = {"oracle-full": False, "oracle-smoke": True, "blind-full": False, "blind-smoke": True}
    assert totals.smoke.to_dict() == smoke
    assert totals.limit["oracle-smoke"] == "5/400" and totals.limit.isna()["oracle-full"]
    runs = load_runs(results).set_index("run_id")
    assert runs.smoke.to_dict() == totals.smoke.to_dict()
    assert runs.limit["blind-smoke"] == "5/400" and runs.limit.isna()["blind-full"]


def test_the_readme_example_leaves_smoke_runs_out(results):
    section = README.read_text(encoding="utf-8").split("## Seeing your runs", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    lines = code.replace('load_scores("results")', f"load_scores({str(results)!r})").splitlines()
    namespace: dict = {}
    exec("\n".join(lines[:-1]), namespace)  # noqa: S102 - the README's own example
    pivot = eval(lines[-1], namespace)  # noqa: S307
    totals = load_scores(results).query("table == 'total'").set_index("run_id")["mean"]
    assert totals["blind-smoke"] != totals["blind-full"]  # averaged in, the smoke run would move blind's number
    assert pivot.loc["blind", "vip-synth"] == totals["blind-full"]
    assert pivot.loc["oracle", "vip-synth"] == totals["oracle-full"] == 100.0


def test_the_leaderboard_lists_smoke_runs_apart_never_ranked(results):
    index = build_site(results)
    html = index.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="vipbench-data" type="application/json">(.*?)</script>', html, re.S)[1])
    (table,) = data["tables"]
    assert [r["run"] for r in table["rows"]] == ["oracle-full", "blind-full"]  # n=5 is never on top of a tie
    assert sorted(r["run"] for r in table["apart_rows"]) == ["blind-smoke", "oracle-smoke"]
    assert all([t["text"] for t in r["tags"]] == ["limit 5/400"] for r in table["apart_rows"])
    assert all(r["total"].get("best") is None for r in table["apart_rows"])
    ranked = re.search(rf'<table class="scores sortable" data-table="{table["id"]}">(.*?)</table>', html, re.S)[1]
    assert "oracle-full" in ranked and "smoke" not in ranked
    apart = re.search(rf'data-table="{table["id"]}-apart">(.*?)</table>', html, re.S)[1]
    assert apart.count("limit 5/400") == 2 and "Not ranked: partial runs, smoke runs and fine-tuned" in html
    assert {r["id"]: r["limit"] for r in data["runs"]}["blind-smoke"] == "limit 5/400"
    assert {u["run"]: u["limit"] for u in data["units"]} == {
        "oracle-full": None,
        "oracle-smoke": "limit 5/400",
        "blind-full": None,
        "blind-smoke": "limit 5/400",
    }


def test_a_limit_beyond_the_task_is_a_full_run_and_an_older_manifest_says_limit_n(results, tmp_path, capsys):
    args = ["run", "--model", "oracle", "--tasks", "vip-synth", "--limit", "1000", "--results", str(tmp_path)]
    assert main([*args, "--run-id", "all"]) == 0
    assert main([*args[:5], "--limit", "5", "--results", str(tmp_path), "--run-id", "older"]) == 0
    manifest = json.loads((tmp_path / "older" / "manifest.json").read_text())
    del manifest["tasks"]["vip-synth"]["full_samples"]  # as a run made before the full size was recorded
    (tmp_path / "older" / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["runs", "--results", str(tmp_path), "--format", "csv"]) == 0
    status = {r["run"]: r["status"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert status == {"all": "complete, official", "older": "complete, limit 5, official"}
