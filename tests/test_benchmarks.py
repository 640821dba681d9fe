"""The benchmarks stay runnable: each has a quick mode that CI runs (their targets are checked where they are
measured, not here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_gpu_generate_smoke_runs_on_the_cpu(tmp_path):
    pytest.importorskip("torch")
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu_generate.py"), "--smoke", "--samples", "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith("batch ")]
    assert len(rows) == 3 and all("samples/s" in row and "vipbench/raw" in row for row in rows)
    assert "greedy answers identical between batch 1 and the default batch: 4/4" in proc.stdout


def test_leaderboard_scale_quick_prints_its_ratios(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "leaderboard_scale.py"), "--quick", "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines() if line.split()[:1] in (["1"], ["2"], ["5"], ["10"])]
    assert [row[0] for row in rows] == ["1", "2", "5", "10"]
    assert all(row[2] == "s" and row[4] == "MB" and row[-1].endswith("%") for row in rows), rows
    assert re.search(r"^peak RSS, 10 runs / 2 runs: \d+\.\d\dx \(target <= 2x: (met|MISSED)\)$", proc.stdout, re.M)
    assert re.search(r"^adding one run and rebuilding, at 10 runs: at most \d+% of a full build", proc.stdout, re.M)
    sites = sorted(p.name for p in tmp_path.iterdir())
    assert "runs" in sites and len(list((tmp_path / "runs").iterdir())) == 11
