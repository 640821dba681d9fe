"""``vipbench run``: planned tasks → model → predictions.jsonl, resumable at any point.

A run is one process, or several that torchrun started (``vipbench.distributed``): each generates its share of the
pending requests, and rank 0 keeps the books (the manifest, the heartbeat, the merge). One process is simply rank 0
of 1, so the code below has one path for both.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

from vipbench.batching import BatchSize, BatchSizeOption, batches
from vipbench.distributed import SINGLE, World
from vipbench.errors import VipbenchError
from vipbench.models import create_model
from vipbench.models.base import ModelAdapter
from vipbench.planning import PlannedTask, group_specs, plan, same_questions
from vipbench.progress import progress_bar
from vipbench.provenance import environment
from vipbench.records import (
    GroupSpec,
    Manifest,
    PredictionRecord,
    RunSpec,
    TaskProvenance,
    prediction_record,
    sha256_text,
)
from vipbench.store import Heartbeat, RunStore, now, read_jsonl_records, run_status, write_json
from vipbench.tasks import TaskIndex
from vipbench.types import Request


def run(
    spec: RunSpec | None,
    *,
    results_dir: Path,
    resume: str | None = None,
    run_id: str | None = None,
    overrides: dict[str, Any] | None = None,
    include_paths: Sequence[Path] = (),
    index: TaskIndex | None = None,
    batch_size: BatchSizeOption | None = None,
    device: str | None = None,
    command: Sequence[str] = (),
    console=None,
    warn: Callable[[str], None] = print,
    world: World = SINGLE,
) -> RunStore:
    """Plan (data and prompts), load the model, then create or reopen the run folder and generate. Under torchrun
    every process does so, each with its ``world`` (``vipbench.distributed.current()``), and generates its share.
    ``index`` is the tasks as the caller already read them (else read from ``include_paths``)."""
    store = None
    if resume is not None:
        store, spec = resume_run(results_dir, resume, overrides or {})
        if _nothing_left(store):
            warn(f"run {store.run_id} is complete: nothing is left to generate")
            return store
    assert spec is not None
    index = index or TaskIndex(include_paths)
    clock = time.perf_counter()
    planned = plan(spec, index, warn=warn)
    timings = {"plan_s": time.perf_counter() - clock}
    clock = time.perf_counter()
    model = _load_model(spec, device, world)
    timings["load_s"] = time.perf_counter() - clock
    store = _run_folder(store, results_dir, run_id or new_run_id(spec.model), world)
    try:
        execute(
            store,
            spec,
            planned,
            model,
            batch_size or model.batch_size or model.default_batch_size,
            command=list(command),
            resumed=resume is not None,
            groups=group_specs(index, spec.tasks),
            console=console,
            timings=timings,
            warn=warn,
            world=world,
        )
    finally:
        _say(model.report(), console)
    return store


def _nothing_left(store: RunStore) -> bool:
    manifest = store.manifest()
    return manifest.status == "complete" and len(store.predictions()) >= manifest.planned


def _load_model(spec: RunSpec, device: str | None, world: World) -> ModelAdapter:
    """The model, on this process's device; rank 0 loads first, so whatever it downloads or builds the others then
    read whole."""
    with world.leader_first():
        device = world.device(device)
        return create_model(spec.model, **spec.model_options, **({"device": device} if device else {}))


def _say(line: str | None, console) -> None:
    if line:
        (console.print if console is not None else print)(line)


def new_run_id(model: str) -> str:
    """A time stamp and the model's name, with what a run id cannot hold (``openai:org/model``) as ``-``."""
    name = re.sub(r"[^A-Za-z0-9._@+-]+", "-", model).strip("-") or "model"
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}_{name}"


def _run_folder(resumed: RunStore | None, results_dir: Path, run_id: str, world: World) -> RunStore:
    """The resumed run's folder, once every process has checked it (before rank 0 marks it running); or the new
    run's, created and named by rank 0."""
    if resumed is not None:
        world.barrier()
        return resumed
    run_id = world.share(run_id)
    store = RunStore.create(results_dir, run_id) if world.leader else RunStore(results_dir / run_id)
    world.barrier()
    return store


def resume_run(results_dir: Path, resume: str, overrides: dict[str, Any]) -> tuple[RunStore, RunSpec]:
    """A resumed run takes its spec from its manifest; any option given again on the command line must agree,
    since all of a run's predictions must come from one setup."""
    store = RunStore.open(results_dir, resume)
    manifest = store.manifest()
    if run_status(store, manifest) == "running":
        raise VipbenchError(
            f"run {store.run_id} is still running (pid {manifest.pid} on {manifest.host}); wait for it, or stop it "
            "before resuming"
        )
    stored = manifest.spec
    clashes = [
        f"{k} (run has {getattr(stored, k)!r}, command gives {v!r})"
        for k, v in overrides.items()
        if v is not None and getattr(stored, k) != v
    ]
    if clashes:
        raise VipbenchError(f"cannot resume {store.run_id} with different settings: {'; '.join(clashes)}")
    return store, stored


def execute(
    store: RunStore,
    spec: RunSpec,
    planned: list[PlannedTask],
    model: ModelAdapter,
    batch_size: BatchSizeOption,
    *,
    command: list[str],
    resumed: bool,
    groups: dict[str, GroupSpec] | None = None,
    console=None,
    timings: dict[str, float] | None = None,
    warn: Callable[[str], None] = print,
    world: World = SINGLE,
) -> None:
    """Generate every missing prediction, then merge them in the tasks' order, write the exports and mark the run
    complete. Each process generates its share (every ``world.size``-th pending request); rank 0 keeps the books."""
    manifest = _start_manifest(store, spec, planned, model, command, resumed, groups, world)
    if world.leader:
        store.write_manifest(manifest)
    known = store.predictions(repair=True)
    world.barrier()  # every process knows what is done before any writes more
    done = {r.key for r in known}
    pending = {p.task.name: _unanswered(p.requests, done)[world.rank :: world.size] for p in planned}
    size, timings = BatchSize.start(batch_size), dict(timings or {})
    with _recorded(store, manifest, size, timings, world):
        made = _generate(store, spec, planned, model, pending, size, console, warn, world)
    world.barrier()  # every shard is complete
    if world.leader:
        clock = time.perf_counter()
        records = _in_planned_order(_merged(store, known, made, world), planned)
        store.write_predictions(records)
        write_exports(store, planned, records)
        timings["write_s"] = time.perf_counter() - clock
        _close_manifest(store, manifest, "complete", size, timings)
    world.barrier()  # rank 0 has merged


@contextmanager
def _recorded(
    store: RunStore, manifest: Manifest, size: BatchSize, timings: dict[str, float], world: World
) -> Iterator[None]:
    """Time the generation into ``timings``; should it stop (Ctrl-C, an error), rank 0 records how in the manifest."""
    started = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        if world.leader:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            timings["generate_s"] = time.perf_counter() - started
            _close_manifest(store, manifest, status, size, timings)
        raise
    timings["generate_s"] = time.perf_counter() - started


def _close_manifest(store: RunStore, manifest: Manifest, status: str, size: BatchSize, timings: dict) -> None:
    manifest.status = status
    manifest.batch, manifest.timings = size.record(), {k: round(v, 3) for k, v in timings.items()}
    store.write_manifest(manifest)


def _start_manifest(
    store: RunStore,
    spec: RunSpec,
    planned: list[PlannedTask],
    model: ModelAdapter,
    command: list[str],
    resumed: bool,
    groups: dict[str, GroupSpec] | None,
    world: World,
) -> Manifest:
    """The manifest of the run as it starts (again): a resumed run keeps the tasks and scoring it began with, and
    refuses data or prompts that changed since."""
    previous = store.manifest() if resumed else None
    tasks = {p.task.name: p.provenance for p in planned}
    if previous:
        changed = [t for t in tasks if _changed(previous.tasks.get(t), tasks[t])]
        if changed:
            raise VipbenchError(
                f"the data or prompts of {', '.join(changed)} changed since run {store.run_id} started; start a new run"
            )
        tasks, groups = previous.tasks, previous.groups  # the run keeps the scoring it started with
    return Manifest(
        run_id=store.run_id,
        created=previous.created if previous else now(),
        updated=now(),
        status="running",
        pid=os.getpid(),
        host=socket.gethostname(),
        command=command,
        spec=spec,
        model=describe_model(model),
        tasks=tasks,
        groups=groups or {},
        environment=environment(),
        processes=world.size,
    )


def describe_model(model: ModelAdapter) -> dict[str, Any]:
    """The adapter's own description, with its conversation template and the template's hash."""
    template = model.chat_template()
    extra = {"chat_template": template, "chat_template_hash": sha256_text(template)} if template else {}
    return {**model.describe(), **extra}


def _changed(previous: TaskProvenance | None, current: TaskProvenance) -> bool:
    """Whether a task's data or prompts differ from what a run recorded. The scoring is not compared (a run keeps
    the scoring it started with), nor are fingerprints the run was made without (an older vipbench's)."""
    if previous is None:
        return True
    recorded = previous.model_dump(exclude={"scoring"}, exclude_none=True)
    now_ = current.model_dump(exclude={"scoring"})
    return any(now_.get(name) != value for name, value in recorded.items())


def _unanswered(requests: Sequence[Request], done: set) -> list[list[Request]]:
    """The groups of identical requests (``same_questions``) with a sample still to record, each reduced to the
    samples still to record: its first is asked, the answer is recorded for all of them."""
    groups = ([r for r in group if r.key not in done] for group in same_questions(requests))
    return [group for group in groups if group]


class _Rate:
    """The progress bar's samples per second and batch size."""

    def __init__(self, progress, bar, size: BatchSize):
        self.progress, self.bar, self.size = progress, bar, size
        self.done, self.started = 0, time.perf_counter()

    def advance(self, n: int) -> None:
        self.done += n
        rate = self.done / max(time.perf_counter() - self.started, 1e-9)
        detail = f"{rate:.2f} samples/s" + (f" · batch {self.size.current}" if self.size.current > 1 else "")
        self.progress.update(self.bar, advance=n, detail=detail)


def _generate(
    store: RunStore,
    spec: RunSpec,
    planned: list[PlannedTask],
    model: ModelAdapter,
    pending: dict[str, list[list[Request]]],
    size: BatchSize,
    console,
    warn: Callable[[str], None],
    world: World,
) -> list[PredictionRecord]:
    """Generate the pending requests task by task, appending each batch's predictions (to this process's shard)
    as soon as it is done; return them."""
    made: list[PredictionRecord] = []
    with Heartbeat(store) if world.leader else nullcontext(), progress_bar(console, shown=world.leader) as progress:
        rate = _Rate(progress, progress.add_task(spec.model, total=sum(map(len, pending.values())), detail=""), size)
        for item in planned:
            model.begin_task(item.task.name, item.requests)
            progress.update(rate.bar, description=f"{spec.model} · {item.task.name}")
            for asked, records in _answered(model, item, pending[item.task.name], size, warn):
                store.append_predictions(records, rank=world.shard)
                made += records
                rate.advance(asked)
    return made


def _answered(
    model: ModelAdapter, item: PlannedTask, groups: list[list[Request]], size: BatchSize, warn: Callable[[str], None]
) -> Iterator[tuple[int, list[PredictionRecord]]]:
    """Each batch as the number of requests it asked and the records of every sample that asked them."""
    samples = {group[0].key: group for group in groups}
    for batch, answers, seconds in batches(model, [g[0] for g in groups], item.generation, size, warn):
        if len(answers) != len(batch):
            raise VipbenchError(f"model returned {len(answers)} answers for {len(batch)} requests")
        yield (
            len(batch),
            [
                prediction_record(r, a, seconds / len(batch))
                for asked, a in zip(batch, answers)
                for r in samples[asked.key]
            ],
        )


def _merged(
    store: RunStore, known: list[PredictionRecord], made: list[PredictionRecord], world: World
) -> list[PredictionRecord]:
    """Every prediction of the run, each sample once, without reading back what this process holds: what was there
    when it started (``known``), what it made, and what the other processes appended to their shards."""
    records = {r.key: r for r in known}
    others = (
        r for rank in world.others() for r in read_jsonl_records(store.shard_path(rank), PredictionRecord, repair=False)
    )
    for record in (*made, *others):
        records.setdefault(record.key, record)
    return list(records.values())


def _in_planned_order(records: list[PredictionRecord], planned: list[PlannedTask]) -> list[PredictionRecord]:
    """Predictions as the tasks list their samples (they are generated longest prompt first)."""
    order = {r.key: i for i, r in enumerate(r for item in planned for r in item.requests)}
    return sorted(records, key=lambda record: order.get(record.key, len(order)))


def write_exports(store: RunStore, planned: list[PlannedTask], records: Sequence[PredictionRecord]) -> None:
    """Each task's official upload format, one file per scored unit (``exports/vip-bench-bbox.json``)."""
    for item in planned:
        if item.task.config.export is None:
            continue
        units: dict[str, list[PredictionRecord]] = {}
        for r in records:
            if r.task == item.task.name:
                units.setdefault(r.unit, []).append(r)
        store.exports_dir.mkdir(exist_ok=True)
        for unit, unit_records in units.items():
            path = store.exports_dir / f"{unit}.json"
            write_json(path, item.task.config.export(unit_records))
