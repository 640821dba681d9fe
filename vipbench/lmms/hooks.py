"""What an exported folder's ``utils.py`` calls: lmms-eval's task hooks, answered by vipbench.

- ``doc_to_visual`` / ``doc_to_text``: the image and text of the request ``vipbench run`` builds for the doc's
  sample (regions drawn, or given as coordinates, in the region mode the task was exported in).
- ``process_results``: the answer as a vipbench prediction record, graded by the task's metric on the spot.
- ``aggregator(number)``: the task's vipbench scorer over every graded item (computed once per task and set of
  answers, whichever number lmms-eval asks for first), on vipbench's 0–100 scale, to 1 decimal, as scores.json.
  Judge-scored tasks are graded here, by the task's own judge protocol through vipbench's cached judge client.

One ``ExportedTasks`` per folder lives in this module, so lmms-eval's habit of importing ``utils.py`` afresh for
every ``!function`` shares one cache, and the vipbench model wrapper finds the task of a doc it is given.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vipbench.lmms.docs import TASK_FIELD, doc_request
from vipbench.lmms.export import BREAKDOWN_SEP, ExportedTask, lmms_task_name, read_record
from vipbench.models.base import Generation, OutputRegion
from vipbench.prompting import request_image
from vipbench.records import Judgement, PredictionRecord, ScorerSpec, prediction_record, stable_hash
from vipbench.scoring.aggregate import Row, Summary
from vipbench.types import Request

if TYPE_CHECKING:
    from vipbench.scoring.plan import UnitPlan

_REGIONS: dict[tuple[str, str], list[OutputRegion]] = {}
"""(lmms-eval task, sample id) → the regions the vipbench model produced with that answer: lmms-eval
hands ``process_results`` the text alone, and REC/RES grade the decoded box or mask."""

_FOLDERS: dict[Path, ExportedTasks] = {}
_BY_TASK: dict[str, ExportedTasks] = {}
"""lmms-eval task name → the export that defines it, for the vipbench model wrapper."""


def remember_regions(lmms_task: str, sample_id: str, regions: Sequence[OutputRegion]) -> None:
    """Called by the vipbench lmms-eval model for each answer that came with regions."""
    if regions:
        _REGIONS[(lmms_task, sample_id)] = list(regions)


def exported(folder: Path) -> ExportedTasks:
    """The hooks of ``folder``; its tasks are (again) the ones lmms-eval's task names refer to in this process."""
    folder = Path(folder).resolve()
    if folder not in _FOLDERS:
        _FOLDERS[folder] = ExportedTasks(folder)
    tasks = _FOLDERS[folder]
    _BY_TASK.update(dict.fromkeys(tasks.record.tasks, tasks))
    return tasks


def export_of(lmms_task: str) -> ExportedTasks | None:
    """The export an lmms-eval task of this process came from, or None for any other lmms-eval task."""
    return _BY_TASK.get(lmms_task)


class ExportedTasks:
    """The hooks of one exported folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.record = read_record(folder)
        self._summaries: dict[str, Summary] = {}
        self._lock = threading.Lock()

    def task(self, doc: Mapping[str, Any]) -> ExportedTask:
        return self.record.tasks[lmms_task_name(doc[TASK_FIELD])]

    def request(self, doc: Mapping[str, Any], region_mode: str | None = None) -> Request:
        return doc_request(doc, self.record.include_paths, region_mode)

    # ------------------------------------------------------------------------------------- lmms-eval's hooks

    def doc_to_visual(self, doc: Mapping[str, Any]) -> list[Any]:
        return [request_image(self.request(doc))]

    def doc_to_text(self, doc: Mapping[str, Any], lmms_eval_specific_kwargs: Mapping[str, Any] | None = None) -> str:
        return self.request(doc).text

    def doc_to_target(self, doc: Mapping[str, Any], target_kwargs: Mapping[str, Any] | None = None) -> str:
        return doc["answer"]

    def process_results(self, doc: Mapping[str, Any], results: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The same item under every number of the task: the scorer needs all of them at once."""
        exported = self.task(doc)
        prediction = results[0] if results else ""
        values = None
        if exported.scoring.metric is not None:
            request = self.request(doc)
            regions = _REGIONS.pop((exported.lmms_task, request.sample.id), [])
            answer = Generation(prediction, regions=regions)  # another lmms-eval model's answer is text only
            values = grade_with_metric(exported.scoring, prediction_record(request, answer))
        item = {
            TASK_FIELD: doc[TASK_FIELD],
            "region_mode": doc["region_mode"],
            "sample": doc["sample"],
            "prediction": prediction,
            "values": values,
        }
        return {number: item for number in exported.numbers}

    def hook(self, name: str) -> Callable[..., Any]:
        """One of the hooks above as a plain function: lmms-eval deep-copies a task's config, hooks included,
        and a function is copied as itself where a bound method would copy this object and its caches."""
        method = getattr(self, name)

        def hook(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        hook.__name__ = hook.__qualname__ = name
        return hook

    def aggregator(self, number: str) -> Callable[[list[dict[str, Any]]], float | None]:
        key, _, value = number.partition(BREAKDOWN_SEP)

        def aggregate(items: list[dict[str, Any]]) -> float | None:
            summary = self.summary(items)
            if value:
                stat = summary.breakdowns.get(key, {}).get(value)
            else:
                stat = summary.total if number == summary.headline else summary.secondary.get(number)
            return None if stat is None else stat.mean

        aggregate.__name__ = f"aggregate_{number}"
        return aggregate

    # ------------------------------------------------------------------------------------------- scoring

    def summary(self, items: list[dict[str, Any]]) -> Summary:
        key = stable_hash([[i[TASK_FIELD], i["sample"], i["prediction"]] for i in items])
        with self._lock:
            if key not in self._summaries:
                self._summaries[key] = self._score(items)
            return self._summaries[key]

    def _score(self, items: list[dict[str, Any]]) -> Summary:
        from vipbench.scoring.aggregate import summarise
        from vipbench.scoring.assemble import summarise_unit
        from vipbench.scoring.base import build_scorer

        if not items:
            raise ValueError("no items to score")
        spec = self.task(items[0]).scoring
        records = [prediction_record(self.request(i), i["prediction"]) for i in items]
        if spec.judge is not None:
            return summarise_unit(*judge_unit(records, spec, self.record.judge_base_url))[1]
        rows: list[Row] = [(record, [item["values"]]) for record, item in zip(records, items)]
        scorer = build_scorer(spec.name, spec.args)
        return summarise(scorer, rows, spec.runs, spec.breakdowns, spec.combinations, spec.labels)


def grade_with_metric(spec: ScorerSpec, record: PredictionRecord) -> dict[str, Any] | None:
    """The metric's grade, planned and made by vipbench's own grading service; None when the metric raises on
    this item: left out of every number, as ``vipbench judge`` does."""
    from vipbench.scoring.assemble import grade_values
    from vipbench.scoring.plan import plan_unit
    from vipbench.scoring.service import grade_jobs

    assert spec.metric is not None
    (judgement,) = grade_jobs(plan_unit(spec, [record], {}).jobs).grades.values()
    if judgement.status != "ok":
        print(f"vipbench: metric {spec.metric.name} failed on {record.sample_id}: {judgement.error}", file=sys.stderr)
    return grade_values(judgement)


def judge_unit(
    records: Sequence[PredictionRecord], spec: ScorerSpec, base_url: str | None
) -> tuple[UnitPlan, dict[str, Judgement]]:
    """Every record graded ``runs`` times by the task's judge at ``base_url``: the unit's plan and its grades by
    grade key, made by vipbench's grading service through its judge client and reply cache
    (``$VIPBENCH_CACHE/judge-cache.sqlite``), so asking again costs nothing. A failed grade is reported here and
    left out of every number."""
    from rich.console import Console

    from vipbench.scoring.options import JudgeEndpoint
    from vipbench.scoring.plan import plan_unit
    from vipbench.scoring.service import grade_jobs

    assert spec.judge is not None
    unit = plan_unit(spec, list(records), {}, base_url)
    graded = grade_jobs(unit.jobs, endpoint=JudgeEndpoint(base_url=base_url), console=Console(stderr=True))
    failed = sum(j.status != "ok" for j in graded.grades.values())
    if failed:
        print(f"vipbench: {failed} of {len(unit.jobs)} judge grades failed; each is left out", file=sys.stderr)
    return unit, graded.grades
