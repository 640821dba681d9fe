"""A killed run is never judged or ranked as if it were finished: its status tells the truth, judging it needs
--allow-partial, and the leaderboard lists it apart (checked in headless Chromium)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser import CHROMIUM, launch

from vipbench.cli import main
from vipbench.leaderboard import build_site
from vipbench.store import RunStore, run_status

pytest.importorskip("torch")


def start_slow_synth_run(results: Path, run_id: str, wait_for: int) -> subprocess.Popen:
    """The tiny ViP-LLaVA on 40 vip-synth items at ~0.5 s a sample; returns once ``wait_for`` are written."""
    args = ["run", "--model", "vip-llava-tiny", "--tasks", "vip-synth", "--limit", "40", "--max-new-tokens", "256"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "vipbench", *args, "--results", str(results), "--run-id", run_id],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    predictions = results / run_id / "predictions.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if predictions.exists() and predictions.read_bytes().count(b"\n") >= wait_for:
            return proc
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"the run did not start: {proc.stderr.read() if proc.stderr else ''}")


def vipbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vipbench", *args], capture_output=True, text=True, env=os.environ.copy(), timeout=300
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("partial") / "results"
    proc = start_slow_synth_run(results, "killed", wait_for=5)
    try:
        store = RunStore(results / "killed")
        assert run_status(store, store.manifest()) == "running"
        judged = vipbench("judge", "killed", "--results", str(results))
        assert judged.returncode == 2 and "run killed is still running (" in judged.stderr
        assert "/40 predictions so far); wait for it to finish, or pass --allow-partial" in judged.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert main(["run", "--model", "oracle", "--tasks", "vip-synth", "--results", str(results)]) == 0  # all 400
    return results


def test_a_killed_run_reads_interrupted_and_is_not_judged_without_allow_partial(results, capsys):
    store = RunStore(results / "killed")
    manifest = store.manifest()
    assert manifest.status == "running"  # SIGKILL left no chance to write anything else
    assert run_status(store, manifest) == "interrupted"  # its pid is gone
    done = len(store.predictions())
    assert 5 <= done < 40
    proc = vipbench("judge", "killed", "--results", str(results))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"error: run killed has {done}/40 predictions (interrupted); finish it with vipbench run --resume killed, "
        "or pass --allow-partial to score what is there"
    )
    assert not (results / "killed" / "scores.json").exists()
    assert main(["runs", "--results", str(results), "--format", "json"]) == 0
    listed = {r["run_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["killed"]["status"] == "interrupted" and listed["killed"]["predictions"] == done
    assert listed["killed"]["planned"] == 40 and listed["killed"]["scores"] == {}


def test_allow_partial_scores_it_marked_partial_with_its_n(results):
    done = len(RunStore(results / "killed").predictions())
    proc = vipbench("judge", "killed", "--results", str(results), "--allow-partial")
    assert proc.returncode == 0, proc.stderr
    assert f"vip-synth · partial {done}/40" in proc.stdout and "partial: run killed is interrupted" in proc.stdout
    scores = json.loads((results / "killed" / "scores.json").read_text())
    assert (scores["status"], scores["predictions"], scores["planned"]) == ("interrupted", done, 40)
    unit = scores["units"]["vip-synth"]
    assert (unit["n"], unit["planned"]) == (done, 40)
    import csv

    total = next(csv.DictReader((results / "killed" / "scores.csv").open()))
    assert (total["table"], total["n"]) == ("total", str(done))


def test_the_leaderboard_lists_a_partial_run_apart_never_ranked(results):
    vipbench("judge", "killed", "--results", str(results), "--allow-partial")
    index = build_site(results)
    html = index.read_text()
    assert "Not ranked: partial runs, smoke runs and fine-tuned checkpoints" in html
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.goto(index.as_uri())
        ranked = page.locator("table.scores[data-table='t0'] tbody tr")
        apart = page.locator("table.scores.apart tbody tr")
        assert ranked.count() == 1 and "oracle" in ranked.first.inner_text()
        assert apart.count() == 1 and "vip-llava-tiny" in apart.first.inner_text()
        assert "partial:" in apart.first.inner_text() and "/40 (interrupted)" in apart.first.inner_text()
        assert "limit 40/400" in apart.first.inner_text()  # also a --limit run
        assert page.is_visible("text=Not ranked: partial runs, smoke runs and fine-tuned checkpoints")
        browser.close()
