"""Planning a run: every task's data loaded and every request built before any model is loaded, so bad data fails
fast, with what the manifest records of each task (its fingerprints, generation settings and scoring)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from vipbench.data import resolve_data_roots
from vipbench.errors import VipbenchError
from vipbench.models import MODELS
from vipbench.models.base import GenerationSettings, ModelAdapter
from vipbench.prompting.draws import DrawSettings
from vipbench.prompting.render import rendering_parameters
from vipbench.protocols import INPUT_OPTIONS, VIPBENCH, Protocol, apply_to_samples, deviations, template_deviations
from vipbench.records import (
    GroupSpec,
    RunSpec,
    TaskProvenance,
    images_hash,
    request_hash,
    sample_hash,
    stable_hash,
    target_hash,
    unit_name,
)
from vipbench.scoring.spec import group_spec, scoring_spec
from vipbench.tasks import Task, TaskIndex
from vipbench.types import Request, Sample


@dataclass
class PlannedTask:
    task: Task
    requests: list[Request]
    generation: GenerationSettings
    provenance: TaskProvenance


def plan(spec: RunSpec, index: TaskIndex, warn: Callable[[str], None] = print) -> list[PlannedTask]:
    """Every task's requests, in the order the tasks and their samples are listed."""
    adapter_cls = MODELS.entry(spec.model).load()
    tasks = [index.task(name) for name in spec.tasks]
    data_dirs = {k: Path(v) for k, v in spec.data_dirs.items()}
    roots = resolve_data_roots({t.name: t.config.dataset for t in tasks}, data_dirs)  # every missing one at once
    return [_plan_task(task, *roots[task.config.dataset.key], adapter_cls, spec, warn) for task in tasks]


def _plan_task(
    task: Task, root: Path | None, source: str, adapter_cls: type[ModelAdapter], spec: RunSpec, warn
) -> PlannedTask:
    every = task.load_samples(root)
    generation, protocol = task_protocol(task, adapter_cls, spec)
    mode = choose_region_mode(task, adapter_cls, spec.region_mode)
    if protocol.config and protocol.config.marker and mode != "overlay":
        # The script points at the region with a marker on the pixels and a question that names none: in another
        # mode the region would reach the model nowhere, so the task's own question runs, labelled.
        own = f"region mode {mode}: the task's own question (official: {protocol.config.marker.shape} drawn, overlay)"
        protocol = replace(protocol, config=None, deviations=(*protocol.deviations, own))
    samples = apply_to_samples(protocol.config, every[: spec.limit], generation.seed, task.name)
    protocol = replace(protocol, deviations=(*protocol.deviations, *template_deviations(protocol.config)))
    draws = prompt_draws(spec, generation)
    styles = _prompt_styles(task, spec, warn)
    requests = [task.build_request(s, mode, style, draws) for style in styles for s in samples]
    asked = len(same_questions(requests))
    if asked < len(requests):
        warn(
            f"task {task.name}: {len(requests) - asked} of {len(requests)} requests are identical to earlier ones "
            f"(same image, regions and text in {mode} mode); each question is asked once and its answer recorded "
            "for every sample that asked it"
        )
    if draws.colour_rule != "upstream" and protocol.config and any(r.overlays for r in requests):
        colours = "colours: in pool order, always 'the' (official: drawn as the family's script draws them)"
        protocol = replace(protocol, deviations=(*protocol.deviations, colours))
    provenance = _provenance(task, source, samples, len(every), requests, asked, generation, protocol, draws)
    return PlannedTask(task, requests, generation, provenance)


def prompt_draws(spec: RunSpec, generation: GenerationSettings) -> DrawSettings:
    """How overlay colours and "the" are drawn: as upstream, seeded by the run's seed; vipbench's deterministic pool
    order under ``--protocol vipbench``."""
    return DrawSettings(colour_rule="pool" if spec.protocol == VIPBENCH else "upstream", seed=generation.seed)


def task_protocol(task: Task, adapter_cls: type[ModelAdapter], spec: RunSpec) -> tuple[GenerationSettings, Protocol]:
    """The settings the task runs with and the protocol they follow.

    Official: the adapter's defaults, then what the model family's own script does on this task (the task YAML's
    ``protocols.<family>``); a model without a family, or a family without an entry, runs with the task's own
    ``generation:`` block. ``--protocol vipbench`` puts that block over the official settings. Command-line
    overrides come last. Every setting that then differs from the official one is a deviation; the sampling seed
    is not (upstream seeds nothing)."""
    family = adapter_cls.family
    config = task.config.protocols.get(family) if family else None
    base = adapter_cls.generation_defaults
    official = base.merged(config.generation) if config else base.merged(task.config.generation)
    chosen = official.merged(task.config.generation) if spec.protocol == VIPBENCH and config else official
    options = {k: v for k, v in spec.model_options.items() if k in INPUT_OPTIONS}
    used = chosen.merged(spec.generation).merged(options)
    ignored = {"seed"}
    deviated = deviations(
        {k: v for k, v in official.to_dict().items() if k not in ignored},
        {k: v for k, v in used.to_dict().items() if k not in ignored},
    )
    protocol = Protocol(
        name=spec.protocol,
        family=family,
        follows=config.follows if config else None,
        why=config.why if config else "no script of the model's family for this task: the task's own settings",
        config=config,
        deviations=deviated,
    )
    return used, protocol


def choose_region_mode(task: Task, adapter_cls: type[ModelAdapter], requested: str | None) -> str:
    """The mode asked for, or the first the model and the task both support."""
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


def _prompt_styles(task: Task, spec: RunSpec, warn) -> list[str | None]:
    """The shapes to redraw the regions in (``--prompt-style``), or None: the sample's own drawing."""
    if not spec.prompt_styles:
        return [None]
    if not task.config.prompt_styles:
        warn(f"task {task.name} draws its own prompts; --prompt-style does not apply to it")
        return [None]
    return list(spec.prompt_styles)


def _provenance(
    task: Task,
    source: str,
    samples: Sequence[Sample],
    full_samples: int,
    requests: Sequence[Request],
    asked: int,
    generation: GenerationSettings,
    protocol: Protocol,
    draws: DrawSettings,
) -> TaskProvenance:
    """What the manifest records of a task: its data and prompts' fingerprints, and how it is generated and
    scored."""
    overlays = [o for r in requests for o in r.overlays]
    return TaskProvenance(
        version=task.config.version,
        source=source,
        samples=len(samples),
        full_samples=full_samples,
        dataset_hash=stable_hash([sample_hash(s) for s in samples]),
        prompt_hash=stable_hash([request_hash(r) for r in requests]),
        image_hash=images_hash(samples),
        target_hash=stable_hash([target_hash(s) for s in samples]),
        task_hash=stable_hash([[r.sample.id, request_hash(r), target_hash(r.sample)] for r in requests]),
        input_region=task.config.input_region,
        rendering=rendering_parameters(overlays, draws) if overlays else None,
        requests=dict(Counter(unit_name(r.task, r.prompt_style) for r in requests)),
        asked=asked,
        generation=generation.to_dict(),
        protocol=protocol.name,
        family=protocol.family,
        follows=protocol.follows,
        protocol_note=protocol.why or None,
        deviations=list(protocol.deviations),
        scoring=scoring_spec(task.config),
    )


def same_questions(requests: Sequence[Request]) -> list[list[Request]]:
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
