"""A run off the official protocol is labelled so wherever its numbers are read: ``vipbench runs`` (table, csv,
json), ``runs show``, the pandas API, the score table and the leaderboard; an official run reads ``official``."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from markupsafe import escape

from vipbench.cli import main
from vipbench.examples import find_layout, write_example
from vipbench.results import load_runs, load_scores

VIPBENCH_DEVIATIONS = [
    "temperature=0.0 (official: 0.2)",
    "colours: in pool order, always 'the' (official: drawn as the family's script draws them)",
]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """The same model on Visual7W twice: by its family's own script, and with ``--protocol vipbench``."""
    root = tmp_path_factory.mktemp("deviations")
    data = write_example(find_layout("v7w", "vip-llava"), root / "v7w")
    results = root / "results"
    base = ["run", "--model", "vip-llava-tiny", "--tasks", "v7w", "--data-dir", f"v7w={data}"]
    base += ["--results", str(results)]
    assert main([*base, "--run-id", "official-run"]) == 0
    assert main([*base, "--run-id", "vipbench-run", "--protocol", "vipbench"]) == 0
    return results


def runs_output(results: Path, capsys, *args: str) -> str:
    capsys.readouterr()
    assert main(["runs", *args, "--results", str(results)]) == 0
    return capsys.readouterr().out


def test_the_runs_table_tags_each_runs_protocol(results, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    table = runs_output(results, capsys)
    assert all(len(line) <= 80 for line in table.splitlines())
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0]:
            run = cells[0]
        if cells:
            rows.setdefault(run, []).append(cells[2])
    rows = {run: [c for c in cells if c] for run, cells in rows.items()}
    deviating = rows["vipbench-run"]
    assert " ".join(deviating) == f"complete, deviates ({len(VIPBENCH_DEVIATIONS) + 1})"  # + the letter headline
    assert " ".join(rows["official-run"]) == "complete, official"


def test_csv_and_json_carry_every_deviation(results, capsys):
    rows = {r["run"]: r for r in csv.DictReader(io.StringIO(runs_output(results, capsys, "--format", "csv")))}
    assert rows["official-run"]["deviations"] == "" and rows["official-run"]["status"] == "complete, official"
    listed = rows["vipbench-run"]["deviations"].split("; v7w: ")
    assert listed[:2] == [f"v7w: {VIPBENCH_DEVIATIONS[0]}", VIPBENCH_DEVIATIONS[1]]
    assert listed[2].startswith("choice_letter headline='letter'")  # the lenient parser as the headline
    summaries = {s["run_id"]: s for s in json.loads(runs_output(results, capsys, "--format", "json"))}
    official, deviating = summaries["official-run"], summaries["vipbench-run"]
    assert (official["protocol"], official["official"], official["deviations"]) == ("official", True, {})
    assert (deviating["protocol"], deviating["official"]) == ("vipbench", False)
    assert deviating["deviations"]["v7w"][:2] == VIPBENCH_DEVIATIONS and len(deviating["deviations"]["v7w"]) == 3


def test_runs_show_lists_the_script_followed_and_every_deviation(results, capsys):
    capsys.readouterr()
    assert main(["runs", "show", "vipbench-run", "--results", str(results)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    script = "WisconsinAIVision/ViP-LLaVA@77079b1 scripts/eval/v7w.sh"
    assert f"protocol vipbench, llava family: follows {script}" in out and "deviates (3)" in out
    for deviation in VIPBENCH_DEVIATIONS:
        assert f"deviates: {deviation}" in out
    assert "deviates: choice_letter headline='letter'" in out and "(v7w scoring)" in out
    assert "deviates from the official protocol: temperature=0.0" in out  # the score table's caption too
    assert main(["runs", "show", "official-run", "--results", str(results)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"protocol official, llava family: follows {script}" in out and "deviates" not in out
    assert f"{script} (llava/eval/model_vqa_loader_vip.py) · official" in out


def test_the_pandas_api_has_protocol_columns(results):
    runs = load_runs(results).set_index("run_id")
    assert runs.loc["official-run", "official"] and runs.loc["official-run", "deviations"] == ""
    assert not runs.loc["vipbench-run", "official"] and runs.loc["vipbench-run", "protocol"] == "vipbench"
    assert runs.loc["vipbench-run", "deviations"].startswith(f"v7w: {VIPBENCH_DEVIATIONS[0]}; v7w: ")
    scores = load_scores(results)
    total = scores[scores.table == "total"].set_index("run_id")
    assert total.loc["official-run", "official"] and total.loc["official-run", "protocol"] == "official"
    assert not total.loc["vipbench-run", "official"]
    assert total.loc["vipbench-run", "deviations"].startswith("; ".join(VIPBENCH_DEVIATIONS))
    assert set(scores[scores.official].run_id) == {"official-run"}


def test_the_leaderboard_tags_every_deviating_row(results, tmp_path):
    from vipbench.leaderboard import build_site

    index = build_site(results, tmp_path / "site", warn=lambda m: None)
    html = index.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="vipbench-data" type="application/json">(.*?)</script>', html, re.S)[1])
    (table,) = [t for t in data["tables"] if t["task"] == "v7w"]
    rows = {r["run"]: r for r in table["rows"] + table["apart_rows"]}
    assert {r["run"] for r in table["rows"]} == {"official-run", "vipbench-run"}  # ranked, but flagged
    (tag,) = [t for t in rows["vipbench-run"]["tags"] if t["kind"] == "deviates"]
    assert tag["text"].startswith("deviates: " + "; ".join(VIPBENCH_DEVIATIONS) + "; choice_letter headline=")
    assert rows["official-run"]["deviations"] == []
    assert [t["kind"] for t in rows["official-run"]["tags"]] == ["differs"]  # prompts: its colours are drawn
    (warning,) = [w for w in table["warnings"] if "official protocol" in w]
    assert warning.startswith("1 of 2 rows deviate from the official protocol") and "nor with rows run by" in warning
    assert f'<span class="tag tag-deviates">{escape(tag["text"])}</span>' in html  # on the row, in the page
    assert "A row tagged <em>deviates</em> was made or scored other than" in html
    units = {u["run"]: u for u in data["units"]}  # the sample browser's header names the protocol
    assert (units["official-run"]["protocol"], units["official-run"]["deviations"]) == ("official", [])
    assert units["vipbench-run"]["protocol"] == "deviates (3)"
    assert units["vipbench-run"]["deviations"][:2] == VIPBENCH_DEVIATIONS
    runs = {r["id"]: r for r in data["runs"]}  # the Runs tab
    assert (runs["official-run"]["protocol"], runs["vipbench-run"]["protocol"]) == ("official", "deviates (3)")
    assert runs["vipbench-run"]["deviations"][0] == f"v7w: {VIPBENCH_DEVIATIONS[0]}"
    assert '<span class="tag tag-protocol">official</span>' in html


def test_the_sample_browser_header_names_the_protocol(results, tmp_path):
    """In a real browser (headless Chromium): the sample browser says which protocol made the numbers shown."""
    import shutil

    from browser import CHROMIUM, launch

    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed (apt install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    from vipbench.leaderboard import build_site

    index = build_site(results, tmp_path / "site", warn=lambda m: None)
    html = index.read_text(encoding="utf-8")
    data = json.loads(re.search(r'<script id="vipbench-data" type="application/json">(.*?)</script>', html, re.S)[1])
    keys = {u["run"]: u["key"] for u in data["units"]}
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        headers = {}
        for run, key in keys.items():
            page.goto(f"{index.as_uri()}#samples?unit={key}")
            page.wait_for_selector("#sample-summary .protocol-note")
            headers[run] = page.text_content("#sample-summary")
            options = page.eval_on_selector_all("#sample-unit option", "os => os.map(o => o.textContent)")
        browser.close()
    assert "official protocol" in headers["official-run"] and "deviates" not in headers["official-run"]
    assert f"deviates: {VIPBENCH_DEVIATIONS[0]}; {VIPBENCH_DEVIATIONS[1]}" in headers["vipbench-run"]
    assert any("vipbench-run (deviates (3))" in o for o in options)  # the run menu flags it too


def test_check_names_a_scoring_deviation_too(results, tmp_path, capsys):
    """``vipbench check`` refuses to compare a run with a baseline made by another protocol, whether the difference
    is in generation or only in scoring (here the same run with vipbench's failure rule written into its scores)."""
    from vipbench.regression import mismatches
    from vipbench.scoring.record import RunScores

    official = RunScores.model_validate_json((results / "official-run" / "scores.json").read_text())
    unit = official.units["v7w"]
    by = unit.scored_by.model_copy(update={"deviations": ["failed grades left out (official: 0)"]})
    rescored = official.model_copy(update={"units": {"v7w": unit.model_copy(update={"scored_by": by})}})
    assert mismatches(official, official) == []
    assert mismatches(official, rescored) == [
        "v7w: deviations differs (baseline none, this run failed grades left out (official: 0))"
    ]
    capsys.readouterr()
    assert main(["check", "vipbench-run", "--baseline", "official-run", "--results", str(results)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "v7w: protocol differs (baseline official, this run vipbench)" in err
    assert f"v7w: deviations differs (baseline none, this run {VIPBENCH_DEVIATIONS[0]}; " in err
    assert "choice_letter headline='letter'" in err  # the scoring deviation is named with the others
