"""Assembling scores.json from a plan and its grades: each unit's rows of grade values (a failed grade counted
as its rule says), its scorer's numbers, breakdowns, position bias, what scored it, and the groups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from vipbench.chat.pricing import Price, price_for, usage_cost
from vipbench.records import Judgement, Manifest, ScorerSpec, Usage, sha256_text, unit_name
from vipbench.scoring.aggregate import Row, Summary, stat, summarise, summarise_group
from vipbench.scoring.base import build_scorer
from vipbench.scoring.record import GroupScores, RunScores, SampleGrades, ScoredBy, UnitScores
from vipbench.scoring.spec import scoring_deviations

if TYPE_CHECKING:
    from vipbench.scoring.plan import Plan, UnitPlan


#: Failures a failure rule counts: the judge answered, but no usable grade (a request that failed is retried).
COUNTED_FAILURES = ("unparseable", "not-finite")


def failed_values(unit: UnitPlan, failed_grade: str) -> dict[str, Any] | None:
    """What an unparseable grade of this unit counts as: its judge's rule (``rule``: the official ViP-Bench
    0.0, LLaVA-Bench's [-1, -1] as the review's two scores), 0 (``zero``), or nothing (``exclude``)."""
    if unit.judge is None or failed_grade == "exclude":
        return None
    if failed_grade == "zero":
        return {"score": 0.0}
    failed = unit.judge.spec.failed
    return None if failed is None else unit.judge.values(dict(failed))


def grade_values(judgement: Judgement | None, counted: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """A grade's values for the scorer: None when it is missing or failed, unless an unparseable judge grade
    counts as ``counted`` (``failed_values``)."""
    if judgement is None:
        return None
    if judgement.status == "ok":
        return judgement.values
    return dict(counted) if counted is not None and judgement.failure in COUNTED_FAILURES else None


def unit_rows(unit: UnitPlan, grades: Mapping[str, Judgement], failed_grade: str = "exclude") -> list[Row]:
    """Each record of the unit with its grade values in each judge run, looked up by the plan's grade keys."""
    counted = failed_values(unit, failed_grade)
    return [
        (record, [grade_values(grades.get(k), counted) for k in keys]) for record, keys in zip(unit.records, unit.keys)
    ]


def summarise_unit(
    unit: UnitPlan, grades: Mapping[str, Judgement], failed_grade: str = "exclude"
) -> tuple[list[Row], Summary]:
    """The unit's rows, and its scorer's numbers over them."""
    rows = unit_rows(unit, grades, failed_grade)
    spec = unit.spec
    scorer = build_scorer(spec.name, spec.args)
    return rows, summarise(scorer, rows, spec.runs, spec.breakdowns, spec.combinations, spec.labels)


def assemble(
    run_id: str,
    manifest: Manifest,
    plan: Plan,
    grades: Mapping[str, Judgement],
    *,
    status: str,
    predictions: int,
    failed_grade: Literal["rule", "exclude", "zero"] = "rule",
    base_url: str | None = None,
    prices: Mapping[str, Price] | None = None,
) -> RunScores:
    """A run's scores from its plan and its grades (by grade key): every planned unit, its groups, and with
    ``--swap-check`` the judge's position bias. ``prices`` give each unit's judge cost."""
    scores = RunScores(
        run_id=run_id,
        model=manifest.spec.model,
        status=status,
        predictions=predictions,
        planned=manifest.planned,
        finetuned_on=manifest.spec.finetuned_on,
        units={},
    )
    summaries: dict[str, tuple[list[Row], Summary]] = {}
    for name, unit in plan.units.items():
        rows, summary = summaries[name] = summarise_unit(unit, grades, failed_grade)
        provenance = manifest.tasks[unit.records[0].task]
        by = _scored_by(unit, grades, failed_grade, base_url, provenance.scoring, getattr(provenance, "family", None))
        scores.units[name] = _unit_scores(name, unit, summary, by, grades, manifest, prices or {})
        scores.units[name].samples = _sample_grades(rows, unit)
        if name in plan.swapped:
            swapped = summarise_unit(plan.swapped[name], grades, failed_grade)[1]
            _add_position_bias(scores.units[name], summary, swapped)
    scores.groups = _group_scores(manifest, summaries, {u: p.spec.runs for u, p in plan.units.items()})
    return scores


def _sample_grades(rows: list[Row], unit: UnitPlan) -> list[SampleGrades]:
    spec = unit.spec
    keys = [*spec.breakdowns, *([spec.combinations] if spec.combinations else [])]
    return [
        SampleGrades(
            id=record.sample_id,
            prediction=sha256_text(record.prediction)[:12],
            meta={k: record.metadata[k] for k in keys if k in record.metadata},
            values=list(values),
            keys=grade_keys,
        )
        for (record, values), grade_keys in zip(rows, unit.keys)
    ]


def _add_position_bias(unit: UnitScores, shown: Summary, swapped: Summary) -> None:
    """The headline with the answers swapped, and the difference: above 0, the judge favours whichever answer it
    reads first (it scores the model higher when the model is shown first)."""
    name, label = unit.headline, unit.total.label or unit.headline
    first = [(s.get(name), n.get(name)) for s, n in zip(swapped.per_run, shown.per_run)]
    unit.secondary[f"{name}_swapped"] = stat([s for s, _ in first], unit.n, f"{label}, answers swapped")
    bias = [None if s is None or n is None else s - n for s, n in first]
    unit.secondary["position_bias"] = stat(bias, unit.n, "Position bias (swapped − shown)")


def _unit_scores(
    name: str,
    unit: UnitPlan,
    summary: Summary,
    scored_by: ScoredBy,
    grades: Mapping[str, Judgement],
    manifest: Manifest,
    prices: Mapping[str, Price],
) -> UnitScores:
    first = unit.records[0]
    made = [grades.get(k) for row in unit.keys for k in row]
    failed = [j for j in made if j is None or j.status != "ok"]
    usage = sum((j.usage for j in made if j is not None), Usage())
    price = price_for(unit.judge.spec.model, prices) if unit.judge else None
    provenance = manifest.tasks[first.task]
    return UnitScores(
        unit=name,
        task=first.task,
        prompt_style=first.prompt_style,
        region_mode=first.region_mode,
        scored_by=scored_by,
        dataset_hash=provenance.dataset_hash,
        prompt_hash=provenance.prompt_hash,
        protocol=provenance.protocol,
        deviations=list(provenance.deviations),
        n=len(unit.records),
        planned=provenance.requests.get(name, len(unit.records)),
        expected_grades=len(made),
        failed=len(failed),
        zeroed=sum(1 for j in failed if grade_values(j, scored_by.failed_as) is not None),
        headline=summary.headline,
        total=summary.total,
        secondary=summary.secondary,
        breakdowns=summary.breakdowns,
        combinations=summary.combinations,
        usage={**usage.model_dump(), "cost_usd": usage_cost(usage, price)},
    )


def _scored_by(
    unit: UnitPlan,
    grades: Mapping[str, Judgement],
    failed_grade: Literal["rule", "exclude", "zero"],
    base_url: str | None,
    recorded: ScorerSpec | None = None,
    family: str | None = None,
) -> ScoredBy:
    by = ScoredBy(
        scorer=unit.spec.name,
        scorer_version=unit.spec.version,
        grader=unit.spec.grader,
        grader_version=unit.grader_version,
        runs=unit.spec.runs,
        failed_grade=failed_grade,
        scorer_args=unit.spec.args,
    )
    if unit.spec.metric:
        by.args = unit.spec.metric.args
    if recorded is not None:
        by.deviations = scoring_deviations(recorded, unit.spec, family)
    if unit.judge:
        judge = unit.judge.spec
        by.rules, by.failed_as = judge.rules, failed_values(unit, failed_grade)
        official = (
            unit.judge.values(dict(judge.failed)) if judge.failed is not None and judge.rules == "official" else None
        )
        if official is not None and by.failed_as != official:
            by.deviations.append(f"failed grades {_counted(by.failed_as)} (official: {_counted(official)})")
        by.judge_model, by.base_url = judge.model, base_url
        by.template, by.template_hash = judge.template.source, judge.template.sha256
        made = (grades.get(k) for row in unit.keys for k in row)
        by.reported_models = sorted({j.reported_model for j in made if j is not None and j.reported_model})
    return by


def _counted(values: Mapping[str, Any] | None) -> str:
    """How failed grades count, in words: "left out", "counted as 0", "counted as reference=-10, model=-10"."""
    if values is None:
        return "left out"
    if set(values) == {"score"}:
        return f"counted as {values['score']:g}"
    return "counted as " + ", ".join(f"{k}={v:g}" for k, v in values.items() if k != "score")


def _group_scores(
    manifest: Manifest, summaries: Mapping[str, tuple[list[Row], Summary]], runs: Mapping[str, int]
) -> dict[str, GroupScores]:
    """Each recorded group's score, once per prompt style that every member task was scored in."""
    groups: dict[str, GroupScores] = {}
    styles = list(dict.fromkeys(rows[0][0].prompt_style for rows, _ in summaries.values() if rows))
    for spec in manifest.groups.values():
        scorer = build_scorer(spec.scorer, spec.args, group=True)
        for style in styles:
            units = {task: unit_name(task, style) for task in spec.tasks}
            if not all(u in summaries for u in units.values()):
                continue
            members = {task: summaries[u] for task, u in units.items()}
            total, secondary = summarise_group(scorer, members, min(runs[u] for u in units.values()))
            groups[unit_name(spec.group, style)] = GroupScores(
                group=spec.group,
                prompt_style=style,
                tasks=spec.tasks,
                scorer=spec.scorer,
                scorer_version=scorer.version,
                headline=scorer.headline,
                total=total,
                secondary=secondary,
            )
    return groups
