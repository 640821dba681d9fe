"""Task YAML → the scoring spec a run records, and the differences between two specs.

``vipbench run`` writes each task's spec into the manifest: the scorer, the metric or the judge (its model, its
whole template, its parser), the breakdowns and their labels. ``vipbench judge`` grades from that record, so a
run made with ``--include-path`` or a plugin judge is graded without them, and editing a task's YAML after a
run changes nothing until ``--rescore-with-current-task`` asks for it (``graded_specs``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vipbench.errors import VipbenchError
from vipbench.records import GroupSpec, JudgeSpec, Manifest, MetricSpec, ScorerSpec, TemplateSpec
from vipbench.scoring.base import PARSERS, build_scorer, check_metric_args, load_versioned
from vipbench.scoring.judge.config import load_judge
from vipbench.scoring.judge.template import load_template
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
) -> dict[str, ScorerSpec]:
    """Each task's spec as the run recorded it (or, with ``rescore_with_current_task``, as its YAML says now),
    with the command line's overrides. A task whose YAML changed since the run is reported in one line."""
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
    template = load_template(overrides.template) if overrides.template else None
    resolved = {}
    for task, spec in specs.items():
        provenance = manifest.tasks[task]
        spec = _with_protocol(spec, provenance.protocol, provenance.family, overrides.rules)
        resolved[task] = _with_overrides(spec, overrides, template)
    return resolved


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
    if used.judge and used.judge.rules != "official":
        found.append(
            f"judge rules={used.judge.rules or 'vipbench (recorded before official rules)'} (official: official)"
        )
    return found


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


def _with_overrides(spec: ScorerSpec, overrides: JudgeOverrides, template: TemplateSpec | None) -> ScorerSpec:
    if spec.judge is None:
        return spec
    updates: dict[str, Any] = {}
    if overrides.model:
        updates["model"] = overrides.model
    if overrides.runs:
        updates["runs"] = overrides.runs
    if template:
        updates["template"] = template
    return spec.model_copy(update={"judge": spec.judge.model_copy(update=updates)})
