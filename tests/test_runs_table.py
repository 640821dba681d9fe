"""``vipbench runs`` as a terminal table: at 80 columns and in a pipe run names wrap whole (at ``-``/``_``) and
no column is dropped; the judge column names what answered; and a reader that closes the pipe early
(``vipbench runs --format json | head``) ends every command quietly."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from judge_server import JudgeServer
from scripted import use_script

from vipbench.cli import main
from vipbench.records import RunSpec
from vipbench.runner import run

NAMES = ["demo-vip-llava-tiny", "20260102-123456_vip-llava-7b", "a-run-with-a-rather-long-name_made-on-tuesday-night"]
HEADERS = ["run", "model", "status", "n/N", "judge", "tasks and scores"]


def vipbench(*args: str, columns: int = 80, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "vipbench", *args], stderr=subprocess.PIPE, text=True, env=env, timeout=120, **kwargs
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("runs-table") / "results"
    for name in NAMES:
        args = ["run", "--model", "oracle", "--tasks", "vip-synth", "--limit", "2", "--run-id", name]
        assert main([*args, "--results", str(results)]) == 0
    return results


def first_column(table: str) -> list[str]:
    """The run column's text, line by line, of a rich table drawn with box characters."""
    return [line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│")]


def test_names_wrap_whole_at_80_columns_and_no_column_is_dropped(results):
    proc = vipbench("runs", "--results", str(results))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    header = {word for line in lines if line.startswith("┃") for word in line.strip("┃").replace("┃", " ").split()}
    assert header == {"run", "model", "status", "n/N", "judge", "tasks", "and", "scores"}  # every column is there
    assert "…" not in proc.stdout  # every name fits once wrapped at - and _
    fragments = [f for f in first_column(proc.stdout) if f]
    for name in listed(results):  # each as consecutive fragments that break only after - or _
        pieces = []
        while "".join(pieces) != name:
            assert len("".join(pieces)) < len(name), (name, pieces)
            pieces.append(fragments.pop(0))
        assert all(p.endswith(("-", "_")) for p in pieces[:-1]), pieces
        assert len(pieces) > 1 or len(name) < 20  # the long names did have to wrap
    assert not fragments
    for row in lines:
        if row.startswith("│") and "complete" in row:
            assert "complete" in row and "2/2" in row and "exact_match" in row  # status, n/N and judge are there


def test_csv_and_json_keep_the_full_names(results):
    proc = vipbench("runs", "--results", str(results), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert sorted(r["run"] for r in rows) == sorted(NAMES) and list(rows[0]) == [*HEADERS, "deviations"]
    assert {(r["status"], r["deviations"]) for r in rows} == {("complete, limit 2/400, official", "")}
    assert listed(results) == [r["run"] for r in rows]


def listed(results: Path) -> list[str]:
    """The runs in the order every format lists them, with their full names (from the json format)."""
    proc = vipbench("runs", "--results", str(results), "--format", "json")
    return [r["run_id"] for r in json.loads(proc.stdout)]


def test_a_name_too_long_for_its_column_is_shortened_with_an_ellipsis():
    from vipbench.cli.runs import Wrapped

    cell = Wrapped("demo-vip-llava-tiny")
    assert cell.lines(12) == ["demo-vip-", "llava-tiny"]
    assert cell.lines(30) == ["demo-vip-llava-tiny"]
    assert Wrapped("supercalifragilistic").lines(8) == ["superca…"]
    assert Wrapped("gpt-4-0613-loopback@127.0.0.1:8000").lines(20) == ["gpt-4-0613-loopback", "@127.0.0.1:8000"]
    assert Wrapped("complete, limit 5/400").lines(12) == ["complete,", "limit 5/400"]


def test_the_judge_column_names_what_answered(tmp_path, vip_bench_dir):
    use_script({"v1_0": "3/4", "v1_1": "a cat"})
    spec = RunSpec(model="scripted", tasks=["vip-bench-bbox"], data_dirs={"vip-bench": str(vip_bench_dir)})
    run(spec, results_dir=tmp_path, run_id="judged", warn=lambda m: None)
    args = ["runs", "--results", str(tmp_path), "--format", "json"]
    graders = lambda: json.loads(subprocess_out(args))[0]["graders"]  # noqa: E731
    assert graders() == ["gpt-4-0613"]  # not judged yet: the judge its task names
    with JudgeServer() as server:
        judge = ["judge", "judged", "--results", str(tmp_path), "--base-url", server.url, "--runs", "1"]
        assert main([*judge, "--backoff", "0.01"]) == 0
        host = server.url.split("//")[1].split("/")[0]
    assert graders() == [f"gpt-4-0613-loopback@{host}"]  # the model the API reported, and where it answered
    proc = vipbench("runs", "--results", str(tmp_path))
    judge_column = "".join(line.split("│")[5].strip() for line in proc.stdout.splitlines() if line.startswith("│"))
    assert judge_column == f"gpt-4-0613-loopback@{host}"  # wrapped whole, at - and before @


def subprocess_out(args: list[str]) -> str:
    proc = vipbench(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["runs", "--format", "json"],
        ["runs"],
        ["runs", "--format", "csv"],
        ["runs", "--format", "markdown"],
        ["runs", "show", "demo-vip-llava-tiny"],
        ["tasks"],
        ["models"],
        ["--help"],
    ],
    ids=lambda a: " ".join(a),
)
def test_a_closed_pipe_ends_quietly(results, args):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written: every write meets EPIPE
    try:
        extra = ["--results", str(results)] if args[0] == "runs" else []
        proc = vipbench(*args, *extra, stdout=write)
    finally:
        os.close(write)
    assert proc.stderr == "" and proc.returncode in (0, 141)


def test_head_closing_the_pipe_prints_no_error(results):
    command = f"{sys.executable} -m vipbench runs --format json --results {results} | head -c 10"
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert proc.stdout == "[\n  {\n    " and proc.stderr == ""
