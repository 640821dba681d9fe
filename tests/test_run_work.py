"""The work one ``vipbench run`` repeats: how many times it parses each task YAML and reads predictions.jsonl back,
counted by the module that asked (the run's side: the CLI and the runner; the scoring at the end apart)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

import vipbench.runner
import vipbench.store
from vipbench.cli import main
from vipbench.resources import builtin_dir
from vipbench.store import RunStore

RUN = ["run", "--model", "oracle", "--tasks", "vip-synth", "--limit", "5"]
_PLUMBING = ("vipbench.taskconfig", "vipbench.tasks", "vipbench.store")


def asker() -> str:
    """The first vipbench module up the stack that is not the YAML or run-folder plumbing itself."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("vipbench.") and module not in _PLUMBING:
            return "scoring" if module.startswith("vipbench.scoring") else "run"
        frame = frame.f_back
    return "?"


@pytest.fixture
def work(monkeypatch) -> dict[str, Counter]:
    """Counters filled as the run goes: YAML files parsed and prediction files read, by (file name, asker)."""
    counts = {"yaml": Counter(), "predictions": Counter()}
    load, read = yaml.load, vipbench.store.read_jsonl_records

    def counting_load(stream, *args, **kwargs):
        counts["yaml"][Path(stream.name).name, asker()] += 1
        return load(stream, *args, **kwargs)

    def counting_read(path: Path, *args, **kwargs):
        if path.exists():  # a file that is not there yet is not read
            counts["predictions"][path.name, asker()] += 1
        return read(path, *args, **kwargs)

    monkeypatch.setattr(yaml, "load", counting_load)
    monkeypatch.setattr(vipbench.store, "read_jsonl_records", counting_read)
    monkeypatch.setattr(vipbench.runner, "read_jsonl_records", counting_read)
    return counts


def by(counts: Counter, who: str) -> dict[str, int]:
    return {name: n for (name, asked), n in counts.items() if asked == who}


def tasks_only(counts: dict[str, int]) -> dict[str, int]:
    """The task and group files, without the shared bases they include (``_default.yaml``)."""
    return {name: n for name, n in counts.items() if not name.startswith("_")}


def task_files() -> list[str]:
    return sorted(p.name for p in builtin_dir("tasks").rglob("*.yaml") if not p.name.startswith("_"))


def test_a_new_run_parses_each_task_yaml_once_and_reads_no_prediction_back(tmp_path, work):
    assert main([*RUN, "--run-id", "r", "--results", str(tmp_path)]) == 0
    assert tasks_only(by(work["yaml"], "run")) == dict.fromkeys(task_files(), 1)  # one TaskIndex
    bases = sum(n for name, n in by(work["yaml"], "run").items() if name.startswith("_"))
    assert bases <= len(task_files())  # a shared base (_default.yaml) is read with each task that includes it
    assert all(n <= 1 for n in tasks_only(by(work["yaml"], "scoring")).values())  # its check of the current YAML
    # The runner merges and exports what it made: predictions.jsonl is read only by the scoring, once.
    assert by(work["predictions"], "run") == {}
    assert by(work["predictions"], "scoring") == {"predictions.jsonl": 1}
    assert len(RunStore(tmp_path / "r").predictions()) == 5


def test_a_resumed_run_reads_predictions_once_to_know_what_is_done(tmp_path, work):
    assert main([*RUN, "--run-id", "r", "--results", str(tmp_path)]) == 0
    store = RunStore(tmp_path / "r")
    store.write_predictions(store.predictions()[:2])  # as a kill leaves it
    manifest = store.manifest()
    manifest.status = "interrupted"
    store.write_manifest(manifest)
    work["yaml"].clear()
    work["predictions"].clear()
    assert main(["run", "--resume", "r", "--results", str(tmp_path)]) == 0
    assert tasks_only(by(work["yaml"], "run")) == dict.fromkeys(task_files(), 1)
    assert by(work["predictions"], "run") == {"predictions.jsonl": 1}
    assert len(store.predictions()) == 5
