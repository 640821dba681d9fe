"""Task YAML → the scoring spec a run records, and the differences between two specs.

``vipbench run`` writes each task's spec into the manifest: the scorer, the metric or the judge (its model, its
whole template, its parser), the breakdowns and their labels. ``vipbench judge`` grades from that record, so a
run made with ``--include-path`` or a plugin judge is graded without them, and editing a task's YAML after a
run changes nothing until ``--rescore-with-current-task`` asks for it (``graded_specs``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vipbench.errors import VipbenchError
from vipbench.records import GroupSpec, JudgeSpec, Manifest, MetricSpec, ScorerSpec
from vipbench.scoring.base import PARSERS, build_scorer, check_metric_args, load_versioned
from vipbench.scoring.judge.config import load_judge
from vipbench.scoring.judge.template import load_template
from vipbench.scoring.judge.upstream import PINNED, UpstreamFile, kind_of, matches, official_file
from vipbench.scoring.metrics import protocol_args
from vipbench.scoring.options import JudgeOverrides
from vipbench.taskconfig import GroupConfig, TaskConfig


def scoring_spec(config: TaskConfig) -> ScorerSpec:
    """Resolve every name in a task's ``scorer:`` block; an unknown name or argument fails here, before a run."""
    sc = config.scorer
    scorer = build_scorer(sc.name, sc.args)
    metric = None
    if sc.metric:
        found = check_metric_args(sc.metric, sc.metric_args)
        metric = MetricSpec(name=sc.metric, version=found.version, args=dict(sc.metric_args))
    return ScorerSpec(
        name=sc.name,
        version=scorer.version,
        args=dict(sc.args),
        metric=metric,
        judge=judge_spec(sc.judge, sc.judge_model, sc.runs) if sc.judge else None,
        breakdowns=list(config.breakdowns),
        combinations=config.combinations,
        labels=dict(config.labels),
    )


def judge_spec(
    name: str, model: str | None, runs: int, template: Path | None = None, rules: str = "official"
) -> JudgeSpec:
    config = load_judge(name).rules(rules)
    parser = load_versioned(PARSERS, config.parser)
    return JudgeSpec(
        rules=rules,
        failed=config.failed,
        name=config.judge,
        version=config.version,
        model=model or config.model,
        runs=runs,
        parser=config.parser,
        parser_version=parser.version,
        scale=config.scale,
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        reask=config.reask,
        system=config.system,
        assistants=config.assistants,
        template=load_template(template or config.template),
    )


def group_spec(config: GroupConfig) -> GroupSpec:
    assert config.scorer is not None
    scorer = build_scorer(config.scorer, config.args, group=True)
    return GroupSpec(
        group=config.group,
        tasks=list(config.tasks),
        scorer=config.scorer,
        version=scorer.version,
        args=dict(config.args),
    )


def differences(recorded: ScorerSpec, current: ScorerSpec) -> list[str]:
    """What a reader would call a change of a task's scoring, by field; versions of code are not YAML changes."""
    changed = [
        name
        for name in ("name", "args", "breakdowns", "combinations", "labels")
        if getattr(recorded, name) != getattr(current, name)
    ]
    if (recorded.metric and recorded.metric.model_dump(exclude={"version"})) != (
        current.metric and current.metric.model_dump(exclude={"version"})
    ):
        changed.append("metric")
    if (recorded.judge is None) != (current.judge is None):
        changed.append("judge")
    elif recorded.judge and current.judge:
        changed += [
            f"judge {name}"
            for name in ("name", "version", "model", "runs", "parser", "scale", "temperature", "max_tokens", "reask")
            if getattr(recorded.judge, name) != getattr(current.judge, name)
        ]
        if recorded.judge.template.sha256 != current.judge.template.sha256:
            changed.append("judge template")
    return changed


def graded_specs(
    manifest: Manifest,
    overrides: JudgeOverrides,
    warn: Callable[[str], None],
    rescore_with_current_task: bool = False,
    include_paths: Sequence[Path] = (),
    fetch: bool = True,
) -> dict[str, ScorerSpec]:
    """Each task's spec as the run recorded it (or, with ``rescore_with_current_task``, as its YAML says now),
    with the command line's overrides and each judge's prompt resolved (``_with_prompts``; ``fetch`` off: no
    download, for a scoring that asks no judge). A task whose YAML changed since the run is reported in one line."""
    specs = {task: provenance.scoring for task, provenance in manifest.tasks.items()}
    for task, current in _current_specs(specs, rescore_with_current_task, include_paths).items():
        changed = differences(specs[task], current)
        if not changed:
            continue
        if rescore_with_current_task:
            specs[task] = current
            warn(f"scoring {task} with its current task YAML ({', '.join(changed)} changed since the run)")
        else:
            warn(
                f"the scoring of {task} changed since run {manifest.run_id} ({', '.join(changed)}); grading with the "
                "run's own record (--rescore-with-current-task uses the current one)"
            )
    resolved = {}
    for task, spec in specs.items():
        provenance = manifest.tasks[task]
        spec = _with_protocol(spec, provenance.protocol, provenance.family, overrides.rules)
        resolved[task] = _with_overrides(spec, overrides)
    return _with_prompts(resolved, overrides, fetch)


def _with_protocol(spec: ScorerSpec, protocol: str | None, family: str | None, rules: str | None = None) -> ScorerSpec:
    """The spec as the run's protocol reads it: a metric's family rule resolved (POPE's answer rule) and, under
    ``--protocol vipbench``, vipbench's reading (``metrics.protocol_args``); a judge under its rules (``rules``,
    else the protocol's). A recorded judge keeps its model, template and runs; only its rules are swapped."""
    updates: dict[str, Any] = {}
    if spec.metric:
        args = protocol_args(spec.metric.name, spec.metric.args, protocol, family)
        updates["metric"] = spec.metric.model_copy(update={"args": args})
    if spec.judge:
        wanted = rules or ("vipbench" if protocol == "vipbench" else None)
        if wanted and wanted != spec.judge.rules:
            config = load_judge(spec.judge.name).rules(wanted)
            updates["judge"] = spec.judge.model_copy(
                update={
                    "rules": wanted,
                    "parser": config.parser,
                    "parser_version": load_versioned(PARSERS, config.parser).version,
                    "reask": config.reask,
                    "failed": config.failed,
                }
            )
    return spec.model_copy(update=updates) if updates else spec


def scoring_deviations(recorded: ScorerSpec, used: ScorerSpec, family: str | None) -> list[str]:
    """How the spec a unit was scored with departs from the official protocol's (``name=used (official: x)``)."""
    found = []
    if recorded.metric and used.metric:
        official = protocol_args(recorded.metric.name, recorded.metric.args, "official", family)
        found += [
            f"{used.metric.name} {k}={used.metric.args.get(k)!r} (official: {official.get(k)!r})"
            for k in sorted(set(official) | set(used.metric.args))
            if official.get(k) != used.metric.args.get(k)
        ]
    if used.judge and (pin := _upstream(used.judge.name)) and used.judge.template.source != pin.label:
        found.append(f"judge prompt={_prompt_name(used.judge)} (official: {pin.label})")
    if used.judge and used.judge.rules != "official":
        found.append(
            f"judge rules={used.judge.rules or 'vipbench (recorded before official rules)'} (official: official)"
        )
    return found


def _prompt_name(judge: JudgeSpec) -> str:
    """``vipbench`` for vipbench's own wording (the judge YAML's template), else the file the prompt came from."""
    own = load_judge(judge.name).template
    return "vipbench" if Path(judge.template.source).name == own.name else judge.template.source


def _current_specs(
    recorded: Mapping[str, ScorerSpec], rescore: bool, include_paths: Sequence[Path]
) -> dict[str, ScorerSpec]:
    """The specs the tasks' current YAML gives. Only a rescore needs them: otherwise a task that is not installed
    here, or whose YAML no longer loads, is simply graded from its record."""
    from vipbench.tasks import TaskIndex

    def refuse(exc: VipbenchError) -> None:
        if rescore:
            raise VipbenchError(f"cannot rescore with the current task YAML: {exc}") from None

    try:
        index = TaskIndex(include_paths)
    except VipbenchError as exc:
        refuse(exc)
        return {}
    current = {}
    for task in recorded:
        try:
            current[task] = scoring_spec(index.task(task).config)
        except VipbenchError as exc:
            refuse(exc)
    return current


def _with_overrides(spec: ScorerSpec, overrides: JudgeOverrides) -> ScorerSpec:
    if spec.judge is None:
        return spec
    updates: dict[str, Any] = {}
    if overrides.model:
        updates["model"] = overrides.model
    if overrides.runs:
        updates["runs"] = overrides.runs
    return spec.model_copy(update={"judge": spec.judge.model_copy(update=updates)})


def _upstream(judge: str) -> UpstreamFile | None:
    """The pinned upstream file of a judge's official prompt; None for a judge with its own (or not installed)."""
    try:
        return load_judge(judge).upstream
    except VipbenchError:
        return None


def _with_prompts(specs: dict[str, ScorerSpec], overrides: JudgeOverrides, fetch: bool) -> dict[str, ScorerSpec]:
    """Each judge's prompt: a ``--judge-template`` meant for the task, else upstream's file (the official prompt:
    cached, or downloaded when ``fetch``), else (``--judge-prompt vipbench``, or a judge with no upstream file)
    the template the run recorded. A file of the wrong kind for a task named, or one no task reads, is an error."""
    loaded = {path: load_template(path) for _, path in overrides.templates}  # a missing or bad file: an error now
    used: set[int] = set()
    resolved = dict(specs)
    for task, spec in specs.items():
        if spec.judge is None:
            continue
        pin = _upstream(spec.judge.name)
        given = _given_template(task, pin, overrides.templates, used)
        path = given or (official_file(pin, download=fetch) if pin and overrides.prompt == "official" else None)
        if path is None:
            continue
        template = loaded[path] if path in loaded else loaded.setdefault(path, load_template(path))
        source = pin.label if pin and matches(pin, path) else str(path)
        template = template.model_copy(update={"source": source})
        resolved[task] = spec.model_copy(update={"judge": spec.judge.model_copy(update={"template": template})})
    if any(spec.judge for spec in specs.values()):
        for n, (pattern, path) in enumerate(overrides.templates):
            if n not in used:
                what = f"no judged task matches {pattern!r}" if pattern else _no_reader(path)
                raise VipbenchError(f"--judge-template {f'{pattern}=' if pattern else ''}{path}: {what}")
    return resolved


def _given_template(
    task: str, pin: UpstreamFile | None, given: Sequence[tuple[str | None, Path]], used: set[int]
) -> Path | None:
    """The ``--judge-template`` for a task: one naming it (``TASK=PATH``, a glob) first, else an unnamed one of
    the kind its judge reads (a .jinja: any judge)."""
    named = [(n, path) for n, (pattern, path) in enumerate(given) if pattern and fnmatch.fnmatchcase(task, pattern)]
    for n, path in named:
        kind = kind_of(path)
        if pin and kind != "jinja" and kind != pin.kind:
            raise VipbenchError(
                f"--judge-template {given[n][0]}={path}: {_KINDS[kind]}, but {task}'s judge reads {_KINDS[pin.kind]} "
                f"(upstream's {pin.path})"
            )
        used.add(n)
        return path
    for n, (pattern, path) in enumerate(given):
        kind = kind_of(path)
        if pattern is None and (kind == "jinja" or (pin and kind == pin.kind)):
            used.add(n)
            return path
    return None


_KINDS = {"evaluator": "a grader script (.py)", "rules": "a rule file (.json)", "jinja": "a jinja2 template"}


def _no_reader(path: Path) -> str:
    kind = kind_of(path)
    readers = [f"{pin.path} ({pin.repo})" for pin in PINNED.values() if pin.kind == kind]
    return f"{_KINDS[kind]}, and no judged task of this run reads one" + (
        f" (its judge would read {readers[0]})" if readers else ""
    )
