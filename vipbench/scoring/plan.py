"""Which grades a run still needs: per scored unit, the grade key of each (record, judge run), and the grades not
made yet as metric and judge jobs.

A grade key is decided here and only here; the grading service makes the grades, scores.json keeps the keys it
used, and whatever shows a sample's grades looks them up by those keys. Pure: it decides from the predictions,
their specs and the grades already made, and grades nothing, reads and writes no file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vipbench.records import Judgement, JudgeSpec, PredictionRecord, ScorerSpec, stable_hash
from vipbench.scoring.base import METRICS, Versioned, load_versioned
from vipbench.scoring.judge.protocol import Judge


def grade_key(grader: Mapping[str, Any], record: PredictionRecord, run: int) -> str:
    """What decides one grade: the grader (name, version, arguments or judge settings), the run index, and the
    prediction with everything the grader may read of its sample."""
    return stable_hash(
        {
            **grader,
            "run": run,
            "task": record.task,
            "sample": record.sample_id,
            "style": record.prompt_style,
            "prediction": record.prediction,
            "references": record.references,
            "doc": record.doc_hash,
        }
    )


@dataclass(frozen=True)
class MetricJob:
    """One metric grade to make."""

    record: PredictionRecord
    key: str
    name: str
    metric: Versioned
    args: Mapping[str, Any]

    @property
    def grader(self) -> str:
        return f"metric:{self.name}"


@dataclass(frozen=True)
class JudgeJob:
    """One judge grade to make: a record, in one judge run."""

    record: PredictionRecord
    run: int
    key: str
    judge: Judge


Job = MetricJob | JudgeJob


@dataclass
class UnitPlan:
    """One scored unit: its spec, its records, the grade key of each (record, judge run), and the grades of those
    keys still to make."""

    spec: ScorerSpec
    records: list[PredictionRecord]
    keys: list[list[str]]
    grader_version: int
    judge: Judge | None = None
    jobs: list[Job] = field(default_factory=list)


@dataclass
class Plan:
    units: dict[str, UnitPlan] = field(default_factory=dict)
    swapped: dict[str, UnitPlan] = field(default_factory=dict)
    """Per pairwise-judged unit, its grades with the two answers shown the other way round (``--swap-check``)."""
    waiting: list[str] = field(default_factory=list)
    """Judge-scored units that need judge calls, when none may be made: left for ``vipbench judge``."""
    notes: list[str] = field(default_factory=list)
    """What the caller should tell the user (a metric whose version changed since the run)."""

    @property
    def jobs(self) -> list[Job]:
        """Every grade still to make, unit by unit (a unit's swapped grades right after its own)."""
        return [job for unit in self._planned() for job in unit.jobs]

    def _planned(self) -> Iterator[UnitPlan]:
        for name, unit in self.units.items():
            yield unit
            if name in self.swapped:
                yield self.swapped[name]


def plan_run(
    predictions: Sequence[PredictionRecord],
    specs: Mapping[str, ScorerSpec],
    existing: Mapping[str, Judgement],
    base_url: str | None = None,
    swap_check: bool = False,
    judge_calls: bool = True,
) -> Plan:
    """The grades a run needs, unit by unit, given the grades ``existing`` (by grade key) already made.

    A judge unit missing grades is left ``waiting`` when ``judge_calls`` is False (the end of ``vipbench run``)."""
    plan = Plan()
    for unit, records in _by_unit(predictions).items():
        spec = specs[records[0].task]
        if spec.metric is not None:
            planned = plan_unit(spec, records, existing)
            if planned.grader_version != spec.metric.version:
                plan.notes.append(
                    f"metric {spec.metric.name} is version {planned.grader_version} now (the run recorded "
                    f"{spec.metric.version}): {records[0].task} is graded again"
                )
            plan.units[unit] = planned
            continue
        assert spec.judge is not None
        planned = plan_unit(spec, records, existing, base_url)
        swapped = None
        if swap_check and spec.judge.assistants:
            judge = spec.judge.model_copy(update={"swapped": True})
            swapped = plan_unit(spec, records, existing, base_url, judge)
        if not judge_calls and (planned.jobs or (swapped and swapped.jobs)):
            plan.waiting.append(unit)
            continue
        plan.units[unit] = planned
        if swapped is not None:
            plan.swapped[unit] = swapped
    return plan


def plan_unit(
    spec: ScorerSpec,
    records: list[PredictionRecord],
    existing: Mapping[str, Judgement],
    base_url: str | None = None,
    judge: JudgeSpec | None = None,
) -> UnitPlan:
    """One unit's grade keys and jobs, graded by its metric or by its judge (``judge``, or the spec's own) asked
    at ``base_url``. A metric grade is made once per key; a judge grade again until it is ``ok``."""
    if spec.metric is not None:
        metric = load_versioned(METRICS, spec.metric.name)
        grader = {"grader": f"metric:{spec.metric.name}", "version": metric.version, "args": spec.metric.args}
        keys = [[grade_key(grader, record, 0)] for record in records]
        jobs: list[Job] = [
            MetricJob(record, key, spec.metric.name, metric, spec.metric.args)
            for record, (key,) in zip(records, keys)
            if key not in existing
        ]
        return UnitPlan(spec, records, keys, metric.version, jobs=jobs)
    judge_spec = judge or spec.judge
    assert judge_spec is not None
    asked = Judge(judge_spec, base_url)
    grader = asked.key()
    keys = [[grade_key(grader, record, run) for run in range(judge_spec.runs)] for record in records]
    jobs = [
        JudgeJob(record, run, key, asked)
        for record, row in zip(records, keys)
        for run, key in enumerate(row)
        if key not in existing or existing[key].status != "ok"
    ]
    return UnitPlan(spec, records, keys, judge_spec.version, asked, jobs)


def _by_unit(predictions: Sequence[PredictionRecord]) -> dict[str, list[PredictionRecord]]:
    by_unit: dict[str, list[PredictionRecord]] = {}
    for record in predictions:
        by_unit.setdefault(record.unit, []).append(record)
    return by_unit
