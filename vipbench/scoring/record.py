"""scores.json (per unit: its numbers and each sample's grades, one ``RunScores``) and scores.csv (a row per number).
``vipbench.scoring.assemble`` builds them from a plan and its grades; this module only holds and writes them, so
what reads scores.json (the leaderboard, ``vipbench runs``, ``vipbench check``) loads no grading code.

scores.json is the grade record: per sample, the grade key and the values of each grade the numbers used. Whatever
reads a run's grades (``vipbench check``, the leaderboard's sample browser) reads them from here and never
chooses again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vipbench.scoring.aggregate import Stat


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
