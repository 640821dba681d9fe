"""What vipbench prints fits the terminal: at 80 columns (and narrower), and in a pipe, no score table loses a
column or a border, and a listing's long line wraps under its own indent, never back to column 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import fixture_region_tasks as fx
import pytest
from judge_server import JudgeServer
from scripted import use_script

from vipbench.cli import main

# LLaVA-Bench's table: the relative score, the reference's and the model's means, and the three categories.
LLAVA_BENCH_COLUMNS = ("Relative score", "reference", "model", "Conversation", "Detail", "Complex reasoning")
# The scripted answers carry the judge's score; the references get 8 (tests/judge_server.py).
LLAVA_BENCH_NUMBERS = ("91.7", "80.0", "73.3", "87.5", "100.0")
BOX_EDGES = {"┏": "┓", "┃": "┃", "┡": "┩", "│": "│", "├": "┤", "└": "┘"}


@pytest.fixture(scope="module")
def judged(tmp_path_factory) -> Path:
    """A LLaVA-Bench (In-the-Wild) run, judged by the loopback server: the results folder, run ``r``."""
    wild = fx.write_llava_bench_wild(tmp_path_factory.mktemp("llava-bench") / "wild")
    results = tmp_path_factory.mktemp("results")
    use_script({str(q): f"The model's answer [[review:{s}]]" for q, s in {0: 6, 1: 4, 2: 9, 3: 8, 4: 10, 5: 7}.items()})
    args = ["run", "--model", "scripted", "--tasks", "llava-bench-wild", "--data-dir", str(wild), "--run-id", "r"]
    assert main([*args, "--results", str(results)]) == 0
    return results


def assert_whole_tables(out: str, width: int) -> None:
    """Each table line fits in ``width`` and ends with the border it starts with (a table rich had to crop loses its
    right border and, narrower, whole columns, without a word); the indented lines under a table fit too."""
    lines = [line.rstrip() for line in out.splitlines()]
    table = [line for line in lines if line[:1] in BOX_EDGES]
    assert table, out
    for line in table:
        assert len(line) <= width and line.endswith(BOX_EDGES[line[0]]), f"cropped table line:\n{line}"
    under, below = [], False
    for line in lines:
        below = line.startswith("└") or (below and line.startswith("  "))
        under += [line] if below and line.startswith("  ") else []
    assert under and all(len(line) <= width for line in under), [x for x in under if len(x) > width]


def assert_every_llava_bench_column(out: str) -> None:
    """Each score's name and number is a cell of the table."""
    cells = {cell.strip() for line in out.splitlines() if line[:1] in "┃│" for cell in re.split("[┃│]", line)}
    for name in (*LLAVA_BENCH_COLUMNS, *LLAVA_BENCH_NUMBERS):
        assert name in cells, f"{name!r} missing from\n{out}"


@pytest.mark.parametrize("columns", [80, 60])
def test_the_llava_bench_table_after_judging_keeps_every_column(judged, columns, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", str(columns))
    capsys.readouterr()
    with JudgeServer() as server:
        args = ["judge", "r", "--results", str(judged), "--base-url", server.url, "--backoff", "0.01"]
        assert main(args) == 0
    out = capsys.readouterr().out
    assert_whole_tables(out, columns)
    assert_every_llava_bench_column(out)


def test_the_llava_bench_table_in_a_pipe(judged):
    """``vipbench runs show`` piped (rich then renders 80 columns): the same whole table."""
    with JudgeServer() as server:
        assert main(["judge", "r", "--results", str(judged), "--base-url", server.url, "--backoff", "0.01"]) == 0
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.run(
        [sys.executable, "-m", "vipbench", "runs", "show", "r", "--results", str(judged)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert_whole_tables(proc.stdout, 80)
    assert_every_llava_bench_column(proc.stdout)


def test_a_table_that_fits_stays_side_by_side(judged, monkeypatch, capsys):
    """Wide enough, the scores stay one column each (the layout the rest of the README shows)."""
    monkeypatch.setenv("COLUMNS", "120")
    with JudgeServer() as server:
        assert main(["judge", "r", "--results", str(judged), "--base-url", server.url, "--backoff", "0.01"]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if "Relative score" in line)
    assert all(name in header for name in LLAVA_BENCH_COLUMNS), header


@pytest.mark.parametrize("command", ["tasks", "models"])
@pytest.mark.parametrize("columns", [80, 50])
def test_listings_wrap_under_their_indent(command, columns, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main([command]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= columns for line in lines), [x for x in lines if len(x) > columns]
    # An entry's first line names it; a description is indented by 4; anything else is a continuation, by 2 or 4.
    heads = [line for line in lines if line and not line.startswith(" ")]
    assert heads and all(re.match(r"(group )?\S+( ·|:)", line) for line in heads), (
        "a line starts at column 0 that names no entry:\n"
        + "\n".join(x for x in heads if not re.match(r"(group )?\S+( ·|:)", x))
    )
    wrapped = [line for line in lines if line.startswith("  ") and not line.startswith("    ")]
    assert wrapped, "nothing wrapped at this width: the test would prove nothing"


def test_a_listing_in_a_pipe_wraps_at_80_columns():
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.run(
        [sys.executable, "-m", "vipbench", "models"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), [x for x in lines if len(x) > 80]
    assert any(line.startswith("  ") and not line.startswith("    ") for line in lines), proc.stdout  # a continuation
