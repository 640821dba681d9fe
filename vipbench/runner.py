"""``vipbench run``: tasks → requests → model → predictions.jsonl, resumable at any point."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vipbench import distributed
from vipbench.batching import BatchSize, BatchSizeOption, batches
from vipbench.data import resolve_data_roots
from vipbench.distributed import World
from vipbench.errors import VipbenchError
from vipbench.imaging import image_size
from vipbench.models import MODELS, create_model
from vipbench.models.base import Generation, GenerationSettings, ModelAdapter
from vipbench.progress import progress_bar
from vipbench.prompting.render import rendering_parameters
from vipbench.provenance import environment
from vipbench.records import (
    GroupSpec,
    Manifest,
    PredictionRecord,
    RegionRecord,
    RunSpec,
    TaskProvenance,
    sha256_text,
    stable_hash,
    unit_name,
)
from vipbench.scoring.spec import group_spec, scoring_spec
from vipbench.store import Heartbeat, RunStore, now, run_status, write_json
from vipbench.tasks import Task, TaskIndex
from vipbench.types import Request, Sample


@dataclass
class PlannedTask:
    task: Task
    requests: list[Request]
    generation: GenerationSettings
    provenance: TaskProvenance


def sample_hash(sample: Sample) -> str:
    return stable_hash(
        {
            "id": sample.id,
            "question": sample.question,
            "template": sample.template,
            "references": sample.references,
            "regions": [r.__dict__ for r in sample.regions],
            "image": sample.image.name if sample.image else None,
            "source_image": sample.source_image.name if sample.source_image else None,
            "metadata": sample.metadata,
        }
    )


def target_hash(sample: Sample) -> str:
    return stable_hash(list(sample.references))


def images_hash(samples: Sequence[Sample]) -> str:
    """The content of every image the samples use, each file read once."""
    digests: dict[Path, str] = {}
    for s in samples:
        for path in (s.image, s.source_image):
            if path is not None and path not in digests and path.is_file():
                digests[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return stable_hash([[s.id, digests.get(s.image), digests.get(s.source_image)] for s in samples])


def request_hash(request: Request) -> str:
    return sha256_text(request.text + json.dumps([o.to_dict() for o in request.overlays], sort_keys=True))


def choose_region_mode(task: Task, adapter_cls: type[ModelAdapter], requested: str | None) -> str:
    supported = [m for m in adapter_cls.region_modes if m in task.config.region_modes]
    if requested:
        if requested not in supported:
            raise VipbenchError(
                f"region mode {requested!r} is not supported by both the model "
                f"({', '.join(adapter_cls.region_modes)}) and task {task.name} "
                f"({', '.join(task.config.region_modes)})"
            )
        return requested
    if not supported:
        raise VipbenchError(
            f"the model reads regions as {', '.join(adapter_cls.region_modes)} but task {task.name} "
            f"gives them as {', '.join(task.config.region_modes)}"
        )
    return supported[0]


def plan(spec: RunSpec, index: TaskIndex, warn=print) -> list[PlannedTask]:
    """Load every task's data and build every request before any model is loaded, so bad data fails fast."""
    adapter_cls = MODELS.entry(spec.model).load()
    data_dirs = {k: Path(v) for k, v in spec.data_dirs.items()}
    planned = []
    tasks = [index.task(name) for name in spec.tasks]
    roots = resolve_data_roots({t.name: t.config.dataset for t in tasks}, data_dirs)  # every missing one at once
    for task in tasks:
        root, source = roots[task.config.dataset.key]
        every = task.load_samples(root)
        samples = every[: spec.limit]
        mode = choose_region_mode(task, adapter_cls, spec.region_mode)
        styles: list[str | None] = [None]
        if spec.prompt_styles:
            if task.config.prompt_styles:
                styles = list(spec.prompt_styles)
            else:
                warn(f"task {task.name} draws its own prompts; --prompt-style does not apply to it")
        requests = [task.build_request(s, mode, style) for style in styles for s in samples]
        asked = len(_same_questions(requests))
        if asked < len(requests):
            warn(
                f"task {task.name}: {len(requests) - asked} of {len(requests)} requests are identical to earlier ones "
                f"(same image, regions and text in {mode} mode); each question is asked once and its answer recorded "
                "for every sample that asked it"
            )
        generation = adapter_cls.generation_defaults.merged(task.config.generation).merged(spec.generation)
        overlays = [o for r in requests for o in r.overlays]
        provenance = TaskProvenance(
            version=task.config.version,
            source=source,
            samples=len(samples),
            full_samples=len(every),
            dataset_hash=stable_hash([sample_hash(s) for s in samples]),
            prompt_hash=stable_hash([request_hash(r) for r in requests]),
            image_hash=images_hash(samples),
            target_hash=stable_hash([target_hash(s) for s in samples]),
            task_hash=stable_hash([[r.sample.id, request_hash(r), target_hash(r.sample)] for r in requests]),
            rendering=rendering_parameters(overlays) if overlays else None,
            requests=dict(Counter(unit_name(r.task, r.prompt_style) for r in requests)),
            asked=asked,
            generation=generation.to_dict(),
            scoring=scoring_spec(task.config),
        )
        planned.append(PlannedTask(task, requests, generation, provenance))
    return planned


def _same_questions(requests: Sequence[Request]) -> list[list[Request]]:
    """Requests grouped by what the model reads, in order of first appearance: each group is asked once and its
    answer recorded for every sample in it, so every sample is scored. Samples that differ only in how their
    regions are drawn (vip-synth's 8 shapes) become identical in modes that draw nothing (coords, mask, box,
    point); POPE repeats a question on the same image under another id."""
    groups: dict[tuple, list[Request]] = {}
    for r in requests:
        groups.setdefault((request_hash(r), r.image_path, r.regions, r.prompt_style), []).append(r)
    return list(groups.values())


def group_specs(index: TaskIndex, tasks: Sequence[str]) -> dict[str, GroupSpec]:
    """The scored groups whose every member task is in the run."""
    return {
        name: group_spec(group)
        for name, group in index.group_configs.items()
        if group.scorer and all(t in tasks for t in group.tasks)
    }


def prediction_record(request: Request, answer: str | Generation, seconds: float = 0.0) -> PredictionRecord:
    """The predictions.jsonl line for one answer (also what the lmms-eval hooks grade)."""
    sample = request.sample
    generation = answer if isinstance(answer, Generation) else Generation(answer)
    size = image_size(request.image_path) if request.region_mode == "mask" and request.regions else None
    return PredictionRecord(
        task=request.task,
        sample_id=sample.id,
        prompt_style=request.prompt_style,
        region_mode=request.region_mode,
        prediction=generation.text,
        prompt=request.text,
        model_input=generation.model_input,
        input_ids_hash=generation.input_ids_hash,
        model_metadata=dict(generation.metadata),
        template=sample.template,
        references=list(sample.references),
        metadata=dict(sample.metadata),
        image=str(request.image_path),
        overlays=[o.to_dict() for o in request.overlays],
        regions=[RegionRecord.given(r, request.region_mode, size) for r in request.regions],
        doc_hash=sample_hash(sample),
        prompt_hash=request_hash(request),
        target_hash=target_hash(sample),
        seconds=round(seconds, 4),
    )


def _new_store(results_dir: Path, run_id: str, world: World | None) -> RunStore:
    """The new run's folder; in a data-parallel run, rank 0's, named by rank 0."""
    if world is None:
        return RunStore.create(results_dir, run_id)
    run_id = world.share(run_id)
    if world.leader:
        RunStore.create(results_dir, run_id)
    world.barrier()
    return RunStore(results_dir / run_id)


def new_run_id(model: str) -> str:
    """A time stamp and the model's name, with what a run id cannot hold (``openai:org/model``) as ``-``."""
    name = re.sub(r"[^A-Za-z0-9._@+-]+", "-", model).strip("-") or "model"
    return f"{datetime.now().strftime('%Y%m%d-%H%M%S')}_{name}"


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
    command: list[str],
    resumed: bool,
    groups: dict[str, GroupSpec] | None = None,
    console=None,
    timings: dict[str, float] | None = None,
    warn=print,
    world: World | None = None,
) -> None:
    """Generate every missing prediction, then write the exports and mark the run complete. In a data-parallel
    run (``world``) each process generates its share into its own shard, and rank 0 keeps the books."""
    leader = world is None or world.leader
    manifest = _start_manifest(store, spec, planned, model, command, resumed, groups, world)
    if leader:
        store.write_manifest(manifest)
    done = {r.key for r in store.predictions(repair=True)}
    if world:
        world.barrier()  # every process knows what is done before any writes more
    share = slice(world.rank, None, world.size) if world else slice(None)
    pending = {p.task.name: _unanswered(p.requests, done)[share] for p in planned}
    size, timings = BatchSize.start(batch_size), dict(timings or {})
    started = time.perf_counter()
    try:
        _generate(store, spec, planned, model, pending, size, console, warn, world)
    except BaseException as exc:
        if leader:
            manifest.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            manifest.batch, manifest.timings = size.record(), {**timings, "generate_s": time.perf_counter() - started}
            store.write_manifest(manifest)
        raise
    timings["generate_s"] = time.perf_counter() - started
    if world:
        world.barrier()  # every shard is complete
    if leader:
        finishing = time.perf_counter()
        store.write_predictions(_in_planned_order(store.predictions(), planned))
        write_exports(store, planned)
        timings["write_s"] = time.perf_counter() - finishing
        manifest.status = "complete"
        manifest.batch, manifest.timings = size.record(), {k: round(v, 3) for k, v in timings.items()}
        store.write_manifest(manifest)
    if world:
        world.barrier()  # rank 0 has merged


def _start_manifest(
    store: RunStore,
    spec: RunSpec,
    planned: list[PlannedTask],
    model: ModelAdapter,
    command: list[str],
    resumed: bool,
    groups: dict[str, GroupSpec] | None,
    world: World | None,
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
        processes=world.size if world else 1,
    )


def _unanswered(requests: Sequence[Request], done: set) -> list[list[Request]]:
    """The groups of identical requests (``_same_questions``) with a sample still to record, each reduced to the
    samples still to record: its first is asked, the answer is recorded for all of them."""
    groups = ([r for r in group if r.key not in done] for group in _same_questions(requests))
    return [group for group in groups if group]


def _generate(
    store: RunStore,
    spec: RunSpec,
    planned: list[PlannedTask],
    model: ModelAdapter,
    pending: dict[str, list[list[Request]]],
    size: BatchSize,
    console,
    warn,
    world: World | None,
) -> None:
    """Generate the pending requests task by task, appending each batch's predictions as soon as it is done."""
    leader = world is None or world.leader
    done, started = 0, time.perf_counter()
    with Heartbeat(store) if leader else nullcontext(), progress_bar(console, shown=leader) as progress:
        bar = progress.add_task(spec.model, total=sum(map(len, pending.values())), detail="")
        for item in planned:
            model.begin_task(item.task.name, item.requests)
            progress.update(bar, description=f"{spec.model} · {item.task.name}")
            groups = pending[item.task.name]
            samples = {group[0].key: group for group in groups}
            for batch, answers, seconds in batches(model, [g[0] for g in groups], item.generation, size, warn):
                if len(answers) != len(batch):
                    raise VipbenchError(f"model returned {len(answers)} answers for {len(batch)} requests")
                records = (
                    prediction_record(r, a, seconds / len(batch))
                    for asked, a in zip(batch, answers)
                    for r in samples[asked.key]
                )
                store.append_predictions(records, rank=world.rank if world else None)
                done += len(batch)
                rate = done / max(time.perf_counter() - started, 1e-9)
                detail = f"{rate:.2f} samples/s" + (f" · batch {size.current}" if size.current > 1 else "")
                progress.update(bar, advance=len(batch), detail=detail)


def _in_planned_order(records: list[PredictionRecord], planned: list[PlannedTask]) -> list[PredictionRecord]:
    """Predictions as the tasks list their samples (they are generated longest prompt first)."""
    order = {r.key: i for i, r in enumerate(r for item in planned for r in item.requests)}
    return sorted(records, key=lambda record: order.get(record.key, len(order)))


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


def write_exports(store: RunStore, planned: list[PlannedTask]) -> None:
    """Each task's official upload format, one file per scored unit (``exports/vip-bench-bbox.json``)."""
    records = store.predictions()
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


def run(
    spec: RunSpec | None,
    *,
    results_dir: Path,
    resume: str | None = None,
    run_id: str | None = None,
    overrides: dict[str, Any] | None = None,
    include_paths: Sequence[Path] = (),
    batch_size: BatchSizeOption | None = None,
    device: str | None = None,
    command: Sequence[str] = (),
    console=None,
    warn=print,
) -> RunStore:
    """Plan (data and prompts), load the model, then create or reopen the run folder and generate. Under
    torchrun, every process does so and generates its share (vipbench.distributed)."""
    world = distributed.current()
    if world:
        device = world.device(device)
    store = None
    if resume is not None:
        store, spec = resume_run(results_dir, resume, overrides or {})
        manifest = store.manifest()
        if manifest.status == "complete" and len(store.predictions()) >= manifest.planned:
            warn(f"run {store.run_id} is complete: nothing is left to generate")
            return store
    assert spec is not None
    index = TaskIndex(include_paths)
    clock = time.perf_counter()
    planned = plan(spec, index, warn=warn)
    timings = {"plan_s": time.perf_counter() - clock}
    clock = time.perf_counter()
    if world and not world.leader:
        world.barrier()  # rank 0 loads first: whatever it downloads or builds, the others then read whole
    model = create_model(spec.model, **spec.model_options, **({"device": device} if device else {}))
    if world and world.leader:
        world.barrier()
    timings["load_s"] = time.perf_counter() - clock
    if store is None:
        store = _new_store(results_dir, run_id or new_run_id(spec.model), world)
    elif world:
        world.barrier()  # every process has checked the run it resumes before rank 0 marks it running
    size = batch_size or model.batch_size or model.default_batch_size
    groups = group_specs(index, spec.tasks)
    try:
        execute(
            store,
            spec,
            planned,
            model,
            size,
            list(command),
            resume is not None,
            groups,
            console=console,
            timings=timings,
            warn=warn,
            world=world,
        )
    finally:
        line = model.report()
        if line:
            (console.print if console is not None else print)(line)
    return store
