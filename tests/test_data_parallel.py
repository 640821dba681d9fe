"""Data-parallel runs under torchrun, on the CPU with the gloo backend: two processes share the samples, each
writes its own shard, rank 0 merges, and the result is the single-process run's; a killed run resumes per shard."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vipbench.store import RunStore

pytest.importorskip("torch")

RUN = ["run", "--model", "vip-llava-tiny", "--tasks", "vip-synth", "--limit", "16"]


def torchrun(results: Path, *args: str, processes: int = 2, wait: bool = True) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    proc = subprocess.Popen(
        [*command, "-m", "vipbench", *args, "--results", str(results)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        start_new_session=True,  # so the whole group (launcher and workers) can be killed at once
    )
    if wait:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    return proc


def single(results: Path, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vipbench", *args, "--results", str(results)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def same_records(a: RunStore, b: RunStore) -> list[tuple]:
    rows = [
        [(p.sample_id, p.prediction, p.model_input, p.input_ids_hash, p.prompt_hash) for p in s.predictions()]
        for s in (a, b)
    ]
    assert rows[0] == rows[1]  # the same predictions, in the same (the task's) order
    return rows[0]


def test_two_processes_give_the_single_process_run(tmp_path):
    torchrun(tmp_path, *RUN, "--max-new-tokens", "4", "--run-id", "dp")
    single(tmp_path, *RUN, "--max-new-tokens", "4", "--run-id", "one")
    dp, one = RunStore(tmp_path / "dp"), RunStore(tmp_path / "one")
    assert len(same_records(dp, one)) == 16
    assert dp.shards() == []  # merged
    manifest = dp.manifest()
    assert manifest.status == "complete" and manifest.processes == 2
    assert (tmp_path / "dp" / "scores.json").exists()  # rank 0 scored it, once


def test_a_killed_data_parallel_run_resumes_per_shard(tmp_path):
    slow = [*RUN, "--max-new-tokens", "128"]  # ~0.3 s a sample: time to kill it half way
    proc = torchrun(tmp_path, *slow, "--run-id", "dp", wait=False)
    store = RunStore(tmp_path / "dp")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        shards = store.shards() if store.path.exists() else []
        if sum(path.read_bytes().count(b"\n") for path in shards) >= 4:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, 9)
    proc.wait()
    done = len(store.predictions())
    assert 4 <= done < 16 and store.shards()  # shards of a run cut short

    torchrun(tmp_path, "run", "--resume", "dp", processes=2)
    single(tmp_path, *slow, "--run-id", "one")
    assert len(same_records(store, RunStore(tmp_path / "one"))) == 16  # every sample once, as one process makes it
    assert store.manifest().status == "complete" and store.shards() == []
