"""How a number and a grader look in the site's data: shared by the tables, the sample files and the run list."""

from __future__ import annotations

from typing import Any

from vipbench.scoring.record import Stat, UnitScores, fmt


def short(value: str | None, n: int = 8) -> str:
    return (value or "")[:n] or "–"


def stat_view(stat: Stat | None) -> dict[str, Any] | None:
    if stat is None:
        return None
    return {"mean": stat.mean, "std": stat.std, "runs": stat.runs, "n": stat.n, "text": fmt(stat)}


def judge_info(unit: UnitScores) -> dict[str, Any]:
    by = unit.scored_by
    kind, _, name = by.grader.partition(":")
    return {
        "kind": kind,
        "name": name,
        "model": by.judge_model,
        "reported": by.reported_models,
        "runs": by.runs,
        "template_hash": by.template_hash or "",
        "template": by.template or "",
        "version": by.grader_version,
    }
