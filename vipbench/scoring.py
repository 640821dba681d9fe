"""Per-item grades (0–10) → the numbers a paper reports.

As the official ViP-Bench grader: each run's All = Σ item scores / N × 100 on the 0–1 scale (here 0–10,
so × 10); a breakdown value's score = the mean over the items whose (list-valued) metadata contains it;
the reported value is the mean over runs, with the population std over runs, to 1 decimal. Items whose
grade failed are left out of every mean and counted in ``failed``, which the report always shows.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

DECIMALS = 1


class Stat(BaseModel):
    mean: float | None
    std: float | None
    runs: list[float | None]
    n: int
    """Items in this group (graded or not)."""
    label: str | None = None


class UnitScores(BaseModel):
    unit: str
    task: str
    prompt_style: str | None = None
    region_mode: str
    scorer: dict[str, Any]
    """What graded it: kind, name, judge model, reported models, template hash, runs, endpoint."""
    dataset_hash: str
    prompt_hash: str
    n: int
    expected_grades: int
    failed: int
    total: Stat
    breakdowns: dict[str, dict[str, Stat]] = Field(default_factory=dict)
    combinations: dict[str, Stat] = Field(default_factory=dict)
    usage: dict[str, Any] = Field(default_factory=dict)


class RunScores(BaseModel):
    run_id: str
    model: str
    units: dict[str, UnitScores]


def metadata_values(meta: Mapping[str, Any], key: str) -> list[str]:
    """A breakdown key's values for one item, without repeats: a list-valued key (capabilities) gives several."""
    value = meta.get(key)
    if value is None:
        return []
    values = value if isinstance(value, (list, tuple)) else [value]
    return list(dict.fromkeys(str(v) for v in values))


def _stat(per_run_items: list[list[float]], n: int, label: str | None = None) -> Stat:
    """``per_run_items[r]`` holds the graded scores (0–10) of run r."""
    runs = [round(statistics.fmean(s) * 10, 4) if s else None for s in per_run_items]
    present = [r for r in runs if r is not None]
    mean = round(statistics.fmean(present), DECIMALS) if present else None
    std = round(statistics.pstdev(present), DECIMALS) if present else None
    return Stat(mean=mean, std=std, runs=[None if r is None else round(r, DECIMALS) for r in runs], n=n, label=label)


def summarize(
    items: Sequence[tuple[Mapping[str, Any], Sequence[float | None]]],
    runs: int,
    breakdowns: Sequence[str] = (),
    combinations: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> tuple[Stat, dict[str, dict[str, Stat]], dict[str, Stat]]:
    """``items`` = (metadata, score per run or None if that grade failed). Returns total, breakdowns, combinations."""
    labels = labels or {}

    def group_stat(members: list[Sequence[float | None]], label: str | None = None) -> Stat:
        per_run = [[s[r] for s in members if s[r] is not None] for r in range(runs)]
        return _stat(per_run, len(members), label)  # type: ignore[arg-type]

    total = group_stat([scores for _, scores in items])
    tables: dict[str, dict[str, Stat]] = {}
    for key in breakdowns:
        groups: dict[str, list[Sequence[float | None]]] = {}
        for meta, scores in items:
            for value in metadata_values(meta, key):
                groups.setdefault(value, []).append(scores)
        ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))  # by frequency, as the official
        tables[key] = {value: group_stat(members, labels.get(value, value)) for value, members in ordered}
    combos: dict[str, Stat] = {}
    if combinations:
        groups = {}
        for meta, scores in items:
            name = "_".join(sorted(set(metadata_values(meta, combinations))))  # sorted: stable across runs
            groups.setdefault(name, []).append(scores)
        for name, members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            combos[name] = group_stat(members)
    return total, tables, combos


def fmt(stat: Stat | None) -> str:
    if stat is None or stat.mean is None:
        return "–"
    return f"{stat.mean:.1f} ± {stat.std:.1f}" if len(stat.runs) > 1 else f"{stat.mean:.1f}"


def scores_csv(scores: RunScores) -> str:
    """One row per (unit, table, column): easy to load into a spreadsheet or pandas."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "run_id",
            "model",
            "unit",
            "table",
            "column",
            "label",
            "n",
            "mean",
            "std",
            "runs",
            "failed",
            "judge_model",
            "reported_models",
        ]
    )
    for unit in scores.units.values():
        rows = [("total", "All", unit.total)]
        rows += [(key, value, stat) for key, table in unit.breakdowns.items() for value, stat in table.items()]
        rows += [("combination", name, stat) for name, stat in unit.combinations.items()]
        for table, column, stat in rows:
            writer.writerow(
                [
                    scores.run_id,
                    scores.model,
                    unit.unit,
                    table,
                    column,
                    stat.label or column,
                    stat.n,
                    stat.mean,
                    stat.std,
                    " ".join("" if r is None else str(r) for r in stat.runs),
                    unit.failed,
                    unit.scorer.get("judge_model", ""),
                    " ".join(unit.scorer.get("reported_models", [])),
                ]
            )
    return out.getvalue()
