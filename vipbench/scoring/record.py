"""scores.json (per unit: its numbers and each sample's grades, one ``RunScores``) and scores.csv (a row per number),
and assembling them from a plan and its grades.

scores.json is the grade record: per sample, the grade key and the values of each grade the numbers used. Whatever
reads a run's grades (``vipbench check``, the leaderboard's sample browser) reads them from here and never
chooses again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vipbench.chat.pricing import Price, price_for, usage_cost
from vipbench.records import Judgement, Manifest, ScorerSpec, Usage, sha256_text, unit_name
from vipbench.scoring.aggregate import Row, Stat, Summary, stat, summarise, summarise_group
from vipbench.scoring.base import build_scorer
from vipbench.scoring.spec import scoring_deviations

if TYPE_CHECKING:
    from vipbench.scoring.plan import Plan, UnitPlan


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoredBy(_Model):
    """What produced a unit's numbers: enough to tell two runs' scores apart, and to rebuild the scorer."""

    scorer: str
    scorer_version: int
    grader: str
    """``metric:<name>`` or ``judge:<name>``."""
    grader_version: int
    runs: int
    args: dict[str, Any] = Field(default_factory=dict)
    """The metric's arguments."""
    scorer_args: dict[str, Any] = Field(default_factory=dict)
    """The scorer's arguments."""
    judge_model: str | None = None
    """The judge model asked for."""
    reported_models: list[str] = Field(default_factory=list)
    """The model strings the judge API answered with."""
    base_url: str | None = None
    template: str | None = None
    template_hash: str | None = None
    failed_grade: Literal["rule", "exclude", "zero"] = "exclude"
    """How a grade that stayed unparseable was counted: by its judge's rules, left out, or as 0."""
    rules: str | None = None
    """The judge's rules (``official``: the upstream grader's reading, re-asks and failure rule; ``vipbench``)."""
    failed_as: dict[str, float] | None = None
    """What each unparseable grade counted as (ViP-Bench's official {score: 0.0}); None: left out."""
    deviations: list[str] = Field(default_factory=list)
    """How the scoring departs from the official protocol's (a metric's reading, the judge's rules, the failure
    rule): a number with any is not the paper's protocol."""

    @property
    def is_judge(self) -> bool:
        return self.grader.startswith("judge:")


class SampleGrades(_Model):
    """One sample's grades, as the scorer read them: what ``vipbench check`` resamples, from a scores.json alone."""

    id: str
    prediction: str
    """A short hash of the prediction (two runs with the same ones were graded on the same answers)."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """The metadata the unit's breakdowns read (capabilities, category, ...)."""
    values: list[dict[str, Any] | None]
    """The grade values in each judge run; None where that grade failed."""
    keys: list[str] = Field(default_factory=list)
    """The grade key of each judge run's grade: the judgements.jsonl line the values came from. Whatever shows a
    sample's grades (the leaderboard's browser) looks them up by these keys and never chooses again."""


class UnitScores(_Model):
    unit: str
    task: str
    prompt_style: str | None = None
    region_mode: str
    scored_by: ScoredBy
    dataset_hash: str
    prompt_hash: str
    protocol: str | None = None
    """The generation protocol (``official``, ``vipbench``; None before it was recorded), from the manifest."""
    deviations: list[str] = Field(default_factory=list)
    """Settings that differ from the official protocol's: a score with any is not the paper's protocol."""
    n: int
    """Predictions scored."""
    planned: int
    """Predictions a complete run has for this unit; fewer means the numbers are partial."""
    expected_grades: int
    failed: int
    """Grades missing or failed after their retries: left out of every number (unless counted as 0, ``zeroed``)."""
    zeroed: int = 0
    """Failed judge grades counted in the numbers (``scored_by.failed_as``: ViP-Bench's official 0.0)."""
    headline: str
    """The name of the number in ``total``."""
    total: Stat
    secondary: dict[str, Stat] = Field(default_factory=dict)
    """The scorer's other numbers (precision, recall, ...)."""
    breakdowns: dict[str, dict[str, Stat]] = Field(default_factory=dict)
    """The headline number per value of each breakdown key."""
    combinations: dict[str, Stat] = Field(default_factory=dict)
    usage: dict[str, Any] = Field(default_factory=dict)
    samples: list[SampleGrades] = Field(default_factory=list)
    """Every sample's grades (empty in scores written before vipbench recorded them)."""

    @property
    def partial(self) -> bool:
        return self.n < self.planned


class GroupScores(_Model):
    """A score over several tasks of the run (VCR's Q→AR)."""

    group: str
    prompt_style: str | None = None
    tasks: list[str]
    scorer: str
    scorer_version: int
    headline: str
    total: Stat
    secondary: dict[str, Stat] = Field(default_factory=dict)


class RunScores(_Model):
    run_id: str
    model: str
    status: str
    """The run's status when it was scored; anything but ``complete`` (with ``--allow-partial``) is partial."""
    predictions: int
    planned: int
    finetuned_on: list[str] = Field(default_factory=list)
    """Tasks the model was fine-tuned on: their numbers are not zero-shot."""
    units: dict[str, UnitScores]
    groups: dict[str, GroupScores] = Field(default_factory=dict)

    @property
    def partial(self) -> bool:
        return self.status != "complete" or self.predictions < self.planned

    @property
    def grades(self) -> tuple[int, int]:
        """(good grades, grades asked for) over every unit: how complete these scores are."""
        asked = sum(u.expected_grades for u in self.units.values())
        return asked - sum(u.failed for u in self.units.values()), asked


def fmt(stat: Stat | None) -> str:
    if stat is None or stat.mean is None:
        return "–"
    return f"{stat.mean:.1f} ± {stat.std:.1f}" if len(stat.runs) > 1 else f"{stat.mean:.1f}"


def score_rows(scores: RunScores) -> Iterator[dict[str, Any]]:
    """One row per number: each unit's headline (``table`` total), its other numbers (secondary), each breakdown
    value and capability combination, then each group score. What scores.csv and ``load_scores`` hold."""
    for unit in scores.units.values():
        tables = [("total", unit.headline, unit.total)]
        tables += [("secondary", name, number) for name, number in unit.secondary.items()]
        tables += [(key, value, stat) for key, table in unit.breakdowns.items() for value, stat in table.items()]
        tables += [("combination", name, stat) for name, stat in unit.combinations.items()]
        by = unit.scored_by
        where = {"unit": unit.unit, "task": unit.task, "prompt_style": unit.prompt_style}
        grader = {"failed": unit.failed, "grader": by.grader, "judge_model": by.judge_model}
        grader["reported_models"] = " ".join(by.reported_models)
        for table, column, number in tables:
            yield {"run_id": scores.run_id, "model": scores.model, **where, **_number(table, column, number), **grader}
    for name, group in scores.groups.items():
        where = {"unit": name, "task": group.group, "prompt_style": group.prompt_style}
        grader = {"failed": None, "grader": f"group:{group.scorer}", "judge_model": None, "reported_models": ""}
        tables = [("total", group.headline, group.total)]
        tables += [("secondary", key, stat) for key, stat in group.secondary.items()]
        for table, column, number in tables:
            yield {"run_id": scores.run_id, "model": scores.model, **where, **_number(table, column, number), **grader}


def _number(table: str, column: str, stat: Stat) -> dict[str, Any]:
    return {
        "table": table,
        "column": column,
        "label": stat.label or column,
        "n": stat.n,
        "mean": stat.mean,
        "std": stat.std,
        "runs": " ".join("" if r is None else str(r) for r in stat.runs),
    }


def scores_csv(scores: RunScores) -> str:
    """scores.csv: ``score_rows`` as CSV, easy to load into a spreadsheet."""
    out = io.StringIO()
    rows = list(score_rows(scores))
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["run_id"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# -------------------------------------------------------------------------------- assembling scores.json


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
