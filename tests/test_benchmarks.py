"""The benchmarks stay runnable: each has a quick mode that CI runs (their targets are checked where they are
measured, not here)."""

from __future__ import annotations

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
