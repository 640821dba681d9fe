"""``vipbench runs`` and the pandas results API, on the demo's runs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from vipbench.cli import main
from vipbench.results import load_runs, load_scores

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("api") / "results"
    assert main(["demo", "--results", str(results), "--limit", "40"]) == 0
    return results


def test_load_scores_equals_scores_json_for_the_demo_runs(results):
    frame = load_scores(results)
    assert set(frame.run_id) == {"demo-oracle", "demo-blind", "demo-vip-llava-tiny"}
    checked = 0
    for run_id in frame.run_id.unique():
        scores = json.loads((results / run_id / "scores.json").read_text())
        unit = scores["units"]["vip-synth"]
        rows = frame[(frame.run_id == run_id) & (frame.unit == "vip-synth")]
        total = rows[rows.table == "total"].iloc[0]
        assert (total.column, total["mean"], total["std"], total.n) == ("mean", unit["total"]["mean"], 0.0, 40)
        for key, table in unit["breakdowns"].items():
            for value, stat in table.items():
                row = rows[(rows.table == key) & (rows.column == value)].iloc[0]
                assert (row["mean"], row.n, row.label) == (stat["mean"], stat["n"], stat["label"])
                checked += 1
        assert set(rows.status) == {"complete"} and not rows.partial.any()
        assert rows.smoke.all() and set(rows.limit) == {"40/400"}  # the demo's --limit 40 of vip-synth's 400
        assert set(rows.dataset_hash) == {
            json.loads((results / run_id / "manifest.json").read_text())["tasks"]["vip-synth"]["dataset_hash"]
        }
        assert set(rows.grader) == {"metric:exact_match"} and set(rows.model) == {scores["model"]}
    assert checked == 3 * (5 + 8)  # question types and shapes of each run
    pivot = frame[frame.table == "total"].pivot_table(index="model", columns="unit", values="mean")
    assert pivot.loc["oracle", "vip-synth"] == 100.0


def test_load_runs_one_row_per_run(results):
    runs = load_runs(results)
    assert sorted(runs.run_id) == ["demo-blind", "demo-oracle", "demo-vip-llava-tiny"]
    assert set(runs.status) == {"complete"} and set(runs.predictions) == {40} and set(runs.planned) == {40}
    assert set(runs.limit) == {"40/400"} and runs.smoke.all()


def test_vipbench_runs_in_every_format(results, capsys):
    assert main(["runs", "--results", str(results), "--format", "json"]) == 0
    listed = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert (
        listed["demo-blind"]["scores"]["vip-synth"]["label"] == "All" and listed["demo-blind"]["status"] == "complete"
    )
    assert listed["demo-oracle"]["scores"]["vip-synth"]["mean"] == 100.0
    assert listed["demo-oracle"]["limit"] == "40/400"
    assert main(["runs", "--results", str(results), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    by_run = {r["run"]: r for r in rows}
    assert sorted(by_run) == ["demo-blind", "demo-oracle", "demo-vip-llava-tiny"]
    assert (
        by_run["demo-oracle"]["n/N"] == "40/40" and by_run["demo-oracle"]["tasks and scores"] == "vip-synth All 100.0"
    )
    assert by_run["demo-oracle"]["status"] == "complete, limit 40/400, official"  # its protocol, last
    assert {r["deviations"] for r in rows} == {""} and all(r["official"] for r in listed.values())
    assert main(["runs", "--results", str(results), "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out.splitlines()
    assert markdown[0] == "| run | model | status | n/N | judge | tasks and scores |" and len(markdown) == 5
    assert main(["runs", "--results", str(results)]) == 0
    table = capsys.readouterr().out
    assert "demo-oracle" in table and "complete" in table and "…" not in table


def test_vipbench_runs_show(results, capsys):
    assert main(["runs", "show", "demo-oracle", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "run demo-oracle · model oracle · complete · limit 40/400 (a --limit smoke run, not a result) · "
        "40/40 predictions"
    )
    assert "vip-synth · generated · 40 samples (limit 40/400), 40 requests" in out
    assert "command: vipbench demo" in out and "exact_match → mean" in out and "100.0" in out
    assert main(["runs", "show", "nope", "--results", str(results)]) == 2
    assert "unknown run 'nope'" in capsys.readouterr().err
