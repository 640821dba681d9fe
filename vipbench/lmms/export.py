"""``vipbench export-lmms``: vipbench tasks as an lmms-eval task folder.

For each task the folder gets ``<name>.yaml`` (an lmms-eval task config), ``<name>.jsonl`` (its docs: every
sample, loaded now through the task's own vipbench loader, so the data is read and checked once, at export),
and the shared ``utils.py`` (hooks that call back into vipbench) and ``vipbench.json`` (what was exported: each
task's data source, hashes and the scoring spec ``vipbench run`` would record). lmms-eval reads the docs with
its own ``json`` dataset builder; ``--include_path DIR`` is all it needs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from vipbench.errors import VipbenchError
from vipbench.records import ScorerSpec, stable_hash
from vipbench.store import write_atomic

RECORD = "vipbench.json"
HOOKS = "utils.py"
#: Between a breakdown key and its value in a number's name.
BREAKDOWN_SEP = "/"
#: The prefix of every exported task's name.
PREFIX = "vipbench"


class ExportedTask(BaseModel):
    lmms_task: str
    task: str
    version: int
    """The task YAML's version."""
    region_mode: str
    source: str
    """``generated``, ``local:<folder>`` or ``hf:<repo>@<commit>``, as a run's manifest says."""
    samples: int
    dataset_hash: str
    prompt_hash: str
    """The same fingerprints as ``vipbench run`` records for the task in this region mode."""
    scoring: ScorerSpec
    numbers: list[str]
    """The scorer's numbers, headline first, then each breakdown value's headline (``question_type/color``):
    one lmms-eval metric each."""


class ExportRecord(BaseModel):
    vipbench_version: str
    include_paths: list[str] = Field(default_factory=list)
    judge_base_url: str | None = None
    """The OpenAI-compatible endpoint judge-scored tasks are graded at (None: OpenAI)."""
    tasks: dict[str, ExportedTask] = Field(default_factory=dict)


def lmms_task_name(task: str) -> str:
    """lmms-eval's snake_case, prefixed so that an exported task never shadows one of lmms-eval's own
    (``pope-random`` → ``vipbench_pope_random``, beside lmms-eval's ``pope_random``)."""
    return f"{PREFIX}_{task.replace('-', '_')}"


#: Every exported task carries this tag, so ``lmms-eval --tasks vipbench_all`` runs them all, as vipbench's ``all``.
#: (A bare ``vipbench`` would not do: lmms-eval reads ``--tasks X`` as a folder of YAML files when ``./X`` is one,
#: as the package folder is in a vipbench checkout.)
TAG = lmms_task_name("all")


def read_record(folder: Path) -> ExportRecord:
    path = folder / RECORD
    if not path.is_file():
        raise VipbenchError(
            f"{folder} holds no vipbench export ({RECORD} is missing); write it with vipbench export-lmms"
        )
    return ExportRecord.model_validate_json(path.read_text(encoding="utf-8"))


def export_tasks(
    folder: Path,
    tasks: str,
    *,
    data_dirs: Mapping[str, Path] | None = None,
    include_paths: Sequence[Path] = (),
    region_mode: str | None = None,
    limit: int | None = None,
    judge_model: str | None = None,
    judge_runs: int | None = None,
    judge_base_url: str | None = None,
) -> ExportRecord:
    """Write ``tasks`` (task and group names, as ``vipbench run --tasks``) into ``folder``; tasks exported there
    before are kept. Every sample is loaded and rendered now, so bad data fails here, in one line."""
    from vipbench import __version__
    from vipbench.data import resolve_data_roots
    from vipbench.lmms.docs import make_doc
    from vipbench.records import request_hash, sample_hash
    from vipbench.scoring.spec import scoring_spec
    from vipbench.tasks import TaskIndex

    includes = [str(Path(p).expanduser().resolve()) for p in include_paths]
    index = TaskIndex([Path(p) for p in includes])
    tasks_by_name = {name: index.task(name) for name in index.resolve(tasks)}
    dirs = {k: Path(v) for k, v in (data_dirs or {}).items()}
    roots = resolve_data_roots({n: t.config.dataset for n, t in tasks_by_name.items()}, dirs)  # all missing at once
    folder.mkdir(parents=True, exist_ok=True)
    record = read_record(folder) if (folder / RECORD).is_file() else ExportRecord(vipbench_version=__version__)
    record.vipbench_version, record.judge_base_url = __version__, judge_base_url
    record.include_paths = list(dict.fromkeys([*record.include_paths, *includes]))
    for name, task in tasks_by_name.items():
        mode = _region_mode(task, region_mode)
        root, source = roots[task.config.dataset.key]
        samples = task.load_samples(root)[:limit]
        if not samples:
            raise VipbenchError(f"task {name} has no samples to export")
        requests = [task.build_request(s, mode) for s in samples]
        lmms = lmms_task_name(name)
        lines = [json.dumps(make_doc(name, mode, s, r), ensure_ascii=False) for s, r in zip(samples, requests)]
        write_atomic(folder / f"{lmms}.jsonl", "\n".join(lines) + "\n")
        spec = _with_judge(scoring_spec(task.config), judge_model, judge_runs)
        exported = ExportedTask(
            lmms_task=lmms,
            task=name,
            version=task.config.version,
            region_mode=mode,
            source=source,
            samples=len(samples),
            dataset_hash=stable_hash([sample_hash(s) for s in samples]),
            prompt_hash=stable_hash([request_hash(r) for r in requests]),
            scoring=spec,
            numbers=[*_numbers(spec), *_breakdown_numbers(spec, samples)],
        )
        record.tasks[lmms] = exported
        groups = [g for g, members in index.groups.items() if name in members]
        write_atomic(folder / f"{lmms}.yaml", task_yaml(exported, task.config.generation, groups))
    write_atomic(folder / HOOKS, hooks_module(record))
    write_atomic(folder / RECORD, record.model_dump_json(indent=2) + "\n")
    return record


def _region_mode(task, requested: str | None) -> str:
    modes = task.config.region_modes
    if requested is None:
        return modes[0]
    if requested not in modes:
        raise VipbenchError(f"task {task.name} cannot give regions as {requested!r}; it supports {', '.join(modes)}")
    return requested


def _with_judge(spec: ScorerSpec, model: str | None, runs: int | None) -> ScorerSpec:
    if spec.judge is None:
        if model or runs:
            raise VipbenchError(f"--judge and --runs apply to judge-scored tasks; {spec.grader} scores this one")
        return spec
    updates: dict[str, Any] = {k: v for k, v in (("model", model), ("runs", runs)) if v}
    return spec.model_copy(update={"judge": spec.judge.model_copy(update=updates)})


def _numbers(spec: ScorerSpec) -> list[str]:
    """The names of the numbers the task's scorer reports (it reports them all, as None, on no items)."""
    from vipbench.scoring.base import build_scorer

    scorer = build_scorer(spec.name, spec.args)
    names = list(scorer.score([]))
    return [scorer.headline, *(n for n in names if n != scorer.headline)]


def _breakdown_numbers(spec: ScorerSpec, samples) -> list[str]:
    """``key/value`` for every value of every breakdown key in the exported samples, as vipbench's tables."""
    from vipbench.scoring.aggregate import metadata_values

    values = {
        key: dict.fromkeys(v for s in samples for v in metadata_values(s.metadata, key)) for key in spec.breakdowns
    }
    return [f"{key}{BREAKDOWN_SEP}{value}" for key, found in values.items() for value in found]


#: Numbers where lower is better; every other number a scorer reports is better higher.
_LOWER_IS_BETTER = {"unparseable"}


def task_yaml(exported: ExportedTask, generation: Mapping[str, Any], groups: Sequence[str]) -> str:
    """An lmms-eval task config. Values are written as JSON, which YAML reads as it is."""
    from vipbench import __version__

    j = json.dumps
    # vipbench adapters never stop at a string; an lmms-eval model given no ``until`` would stop at "\n\n".
    generation_kwargs = {"until": [], **generation}
    if generation.get("temperature") == 0:
        generation_kwargs["do_sample"] = False
    tags = [TAG, *(lmms_task_name(g) for g in groups if g != "all")]
    lines = [
        f"# vipbench task {exported.task} ({exported.samples} samples, data {exported.source}, regions as "
        f"{exported.region_mode}),",
        f"# written by `vipbench export-lmms` (vipbench {__version__}). The hooks in utils.py call back into vipbench.",
        f"task: {j(exported.lmms_task)}",
        f"tag: {j(tags)}",
        "dataset_path: json",
        f"dataset_kwargs: {j({'data_files': {'test': exported.lmms_task + '.jsonl'}})}",
        "test_split: test",
        "output_type: generate_until",
        "doc_to_visual: !function utils.doc_to_visual",
        "doc_to_text: !function utils.doc_to_text",
        "doc_to_target: !function utils.doc_to_target",
        "process_results: !function utils.process_results",
        f"generation_kwargs: {j(generation_kwargs)}",
        "metric_list:",
    ]
    for number in exported.numbers:
        lines += [
            f"  - metric: {j(number)}",
            f"    aggregation: !function utils.{aggregator_name(number)}",
            f"    higher_is_better: {j(number not in _LOWER_IS_BETTER)}",
        ]
    metadata = {"version": exported.version, "vipbench_task": exported.task, "vipbench_scorer": exported.scoring.name}
    lines.append(f"metadata: {j(metadata)}")
    return "\n".join(lines) + "\n"


def aggregator_name(number: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in number)
    return f"aggregate_{cleaned}"


def hooks_module(record: ExportRecord) -> str:
    numbers = sorted({n for t in record.tasks.values() for n in t.numbers})
    aggregators = "\n".join(f"{aggregator_name(n)} = _tasks.aggregator({n!r})" for n in numbers)
    return f'''"""lmms-eval hooks for the vipbench tasks in this folder, written by `vipbench export-lmms`.

They call back into vipbench (installed in the same environment): each doc is rendered into the request that
`vipbench run` gives a model, and the answers are graded and scored by the task's own vipbench metric (or judge)
and scorer, on vipbench's 0-100 scale. Export again rather than editing this file.
"""

from pathlib import Path

from vipbench.lmms.hooks import exported

_tasks = exported(Path(__file__).resolve().parent)

doc_to_visual = _tasks.hook("doc_to_visual")
doc_to_text = _tasks.hook("doc_to_text")
doc_to_target = _tasks.hook("doc_to_target")
process_results = _tasks.hook("process_results")

{aggregators}
'''
