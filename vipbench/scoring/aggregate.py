"""A scorer's numbers over judge runs, breakdowns and capability combinations.

As the official ViP-Bench grader: the scorer runs once per judge run; each number is reported as the mean over
runs with the population std over runs, to 1 decimal. A breakdown value's number is the scorer's headline over
the items whose (list-valued) metadata contains that value; a combination groups items by their exact,
sorted set of values. A failed grade is left out of every number and counted by the caller.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from vipbench.records import PredictionRecord
from vipbench.scoring.base import GradedItem, MemberScores, Numbers

DECIMALS = 1

Row = tuple[PredictionRecord, Sequence[Mapping[str, Any] | None]]
"""A prediction and its grade values in each judge run (None where that grade failed)."""


class Stat(BaseModel):
    """One number, as the mean over judge runs with the population std over runs, to 1 decimal (as scores.json
    keeps it)."""

    model_config = ConfigDict(extra="forbid")

    mean: float | None
    std: float | None
    runs: list[float | None]
    n: int
    """Items in this group (graded or not)."""
    label: str | None = None


def metadata_values(meta: Mapping[str, Any], key: str) -> list[str]:
    """A breakdown key's values for one item, without repeats: a list-valued key (capabilities) gives several."""
    value = meta.get(key)
    if value is None:
        return []
    values = value if isinstance(value, (list, tuple)) else [value]
    return list(dict.fromkeys(str(v) for v in values))


def stat(per_run: Sequence[float | None], n: int, label: str | None = None) -> Stat:
    runs = [None if r is None else round(r, 4) for r in per_run]
    present = [r for r in runs if r is not None]
    mean = round(statistics.fmean(present), DECIMALS) if present else None
    std = round(statistics.pstdev(present), DECIMALS) if present else None
    return Stat(mean=mean, std=std, runs=[None if r is None else round(r, DECIMALS) for r in runs], n=n, label=label)


def graded(rows: Sequence[Row], run: int) -> list[GradedItem]:
    return [GradedItem(record, values[run]) for record, values in rows if values[run] is not None]  # type: ignore[arg-type]


@dataclass
class Summary:
    """A unit's numbers; ``per_run`` keeps each judge run's raw numbers for group scorers."""

    headline: str
    total: Stat
    secondary: dict[str, Stat] = field(default_factory=dict)
    breakdowns: dict[str, dict[str, Stat]] = field(default_factory=dict)
    combinations: dict[str, Stat] = field(default_factory=dict)
    per_run: list[Numbers] = field(default_factory=list)


def _by_frequency(groups: dict[str, list[Row]]) -> list[tuple[str, list[Row]]]:
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))  # as the official grader's columns


def summarise(
    scorer: Any,
    rows: Sequence[Row],
    runs: int,
    breakdowns: Sequence[str] = (),
    combinations: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> Summary:
    labels = labels or {}
    names: Mapping[str, str] = getattr(scorer, "labels", {})
    per_run = [scorer.score(graded(rows, r)) for r in range(runs)]
    numbers = {name: stat([p.get(name) for p in per_run], len(rows), names.get(name)) for name in per_run[0]}

    def headline_of(members: list[Row], label: str | None = None) -> Stat:
        return stat([scorer.score(graded(members, r)).get(scorer.headline) for r in range(runs)], len(members), label)

    tables: dict[str, dict[str, Stat]] = {}
    for key in breakdowns:
        groups = _group(rows, lambda meta, key=key: metadata_values(meta, key))
        tables[key] = {value: headline_of(members, labels.get(value, value)) for value, members in groups}
    combos: dict[str, Stat] = {}
    if combinations:
        groups = _group(rows, lambda meta: ["_".join(sorted(set(metadata_values(meta, combinations))))])
        combos = {name: headline_of(members) for name, members in groups}
    total = numbers.pop(scorer.headline)
    return Summary(scorer.headline, total, numbers, tables, combos, per_run)


def _group(rows: Sequence[Row], keys: Callable[[Mapping[str, Any]], list[str]]) -> list[tuple[str, list[Row]]]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        for value in keys(row[0].metadata):
            groups.setdefault(value, []).append(row)
    return _by_frequency(groups)


def common_samples(ids: Sequence[set[str]]) -> int:
    """A group's n when it joins its members' samples by id (VCR's Q→AR): the samples every member has."""
    return len(set.intersection(*ids)) if ids else 0


def summarise_group(
    scorer: Any, members: Mapping[str, tuple[Sequence[Row], Summary]], runs: int
) -> tuple[Stat, dict[str, Stat]]:
    """A group scorer's numbers over judge runs; ``members`` maps each task to its rows and its own summary."""
    per_run = [
        scorer.score_group(
            {task: MemberScores(graded(rows, r), summary.per_run[r]) for task, (rows, summary) in members.items()}
        )
        for r in range(runs)
    ]
    ids = [{record.sample_id for record, _ in rows} for rows, _ in members.values()]
    n = getattr(scorer, "sample_count", common_samples)(ids)
    names: Mapping[str, str] = getattr(scorer, "labels", {})
    numbers = {name: stat([p.get(name) for p in per_run], n, names.get(name)) for name in per_run[0]}
    return numbers.pop(scorer.headline), numbers
