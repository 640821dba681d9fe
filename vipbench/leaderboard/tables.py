"""The overview: one table per task (and per score over several tasks), the prompt-style tables, and a table of
splits per dataset whose tasks are its splits (RefCOCO REC val, testA, testB: the headline of each).

Nothing is averaged across runs: each (run, scored unit) is one row, labelled with its run id, and a table whose
rows were graded by different judges or templates, or on different data, says so above the table and on each row.
Partial runs, ``--limit`` smoke runs and checkpoints fine-tuned on the task are listed apart, never ranked. A row
off the official protocol stays ranked (offline, every judged run uses vipbench's judge wording: a table of only
those must still rank) but carries a ``deviates: ...`` tag with every deviation, and a table mixing protocols
says so above it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vipbench.leaderboard.regions_out import SPLIT_SCORERS
from vipbench.leaderboard.summary import RunEntry
from vipbench.leaderboard.views import judge_info, short, stat_view
from vipbench.results import group_deviations, limit_text, unit_deviations
from vipbench.scoring.record import GroupScores, UnitScores

# What must agree for two rows of one table to be compared as equals, and how a row is labelled when not.
# Prompts are compared only between rows on the same dataset: other data already means other prompts.
_COMPARABLE = (
    ("judge model", lambda r: r["judge"]["model"] or f"metric {r['judge']['name']} v{r['judge']['version']}"),
    ("judge template", lambda r: short(r["judge"]["template_hash"]) if r["judge"]["template_hash"] else "–"),
    ("dataset", lambda r: short(r["dataset_hash"])),
    ("prompts", lambda r: short(r["prompt_hash"])),
    ("region mode", lambda r: r["region_mode"] or "–"),
)


def _mark_differences(rows: list[dict[str, Any]]) -> list[str]:
    """Label the rows of one table that were not produced like the others; return the table's warning.

    For each property that varies, the rows whose value differs from the most common one are tagged with it
    (every row, when no value is most common). Rows are never merged, whatever differs.
    """
    differences = []
    for label, get in _COMPARABLE:
        if label == "prompts":
            groups: dict[str, list[dict[str, Any]]] = {}
            for r in rows:
                groups.setdefault(r["dataset_hash"], []).append(r)
            subsets = list(groups.values())
        else:
            subsets = [rows]
        varied: list[str] = []
        for subset in subsets:
            counts: dict[str, int] = {}
            for r in subset:
                counts[get(r)] = counts.get(get(r), 0) + 1
            if len(counts) < 2:
                continue
            varied += [v for v in counts if v not in varied]
            top = max(counts.values())
            common = [v for v, c in counts.items() if c == top]
            for r in subset:
                if len(common) > 1 or get(r) != common[0]:
                    r["tags"].append({"kind": "differs", "text": f"{label}: {get(r)}"})
        if varied:
            differences.append(f"{label} ({', '.join(varied)})")
    if not differences:
        return []
    listed = ", ".join(differences[:-1]) + (" and " if len(differences) > 1 else "") + differences[-1]
    return [
        f"These rows differ in {listed}. Each run is its own row, never averaged with another; "
        "compare rows that differ with care (tags mark the odd ones out)."
    ]


def protocol_tags(deviations: list[str], recorded: bool) -> list[dict[str, str]]:
    """``deviates: ...`` with every deviation, or ``protocol not recorded`` for scores made before vipbench
    recorded protocols; nothing for the official protocol."""
    if deviations:
        return [{"kind": "deviates", "text": "deviates: " + "; ".join(deviations)}]
    return [] if recorded else [{"kind": "differs", "text": "protocol not recorded"}]


def _protocol_warning(rows: list[dict[str, Any]]) -> list[str]:
    """Said above a table where ranked rows deviate from the official protocol, so no one reads them as the
    paper's numbers, nor compares them with the official rows as equals."""
    deviating = [r for r in rows if r["deviations"]]
    if not deviating:
        return []
    mixed = len({"; ".join(r["deviations"]) for r in rows}) > 1
    return [
        f"{len(deviating)} of {len(rows)} rows deviate from the official protocol (tagged deviates): their numbers "
        "are not comparable with the paper's" + (", nor with rows run by another protocol." if mixed else ".")
    ]


def _row(run: RunEntry, unit: UnitScores) -> dict[str, Any]:
    """One (run, unit) row. A partial result (its run incomplete when scored, or fewer predictions than planned),
    a ``--limit`` smoke run and a checkpoint fine-tuned on the task are flagged, and the tables list them apart,
    never ranked among complete zero-shot runs of the whole task. A unit off the official protocol is tagged with
    its deviations."""
    assert run.scores is not None
    tags = []
    partial = run.scores.partial or unit.partial
    finetuned = unit.task in run.scores.finetuned_on
    limit = limit_text(run.limits, [unit.task])
    if partial:
        tags.append({"kind": "warn", "text": f"partial: {unit.n}/{unit.planned} ({run.scores.status})"})
    elif run.status != "complete":
        tags.append({"kind": "warn", "text": f"run {run.status}"})
    if limit:
        tags.append({"kind": "warn", "text": limit})
    if finetuned:
        tags.append({"kind": "warn", "text": f"fine-tuned on {unit.task}"})
    if run.weights:  # an adapter's word on its weights ("architecture only: ...")
        tags.append({"kind": "warn", "text": run.weights})
    if unit.failed:
        tags.append({"kind": "warn", "text": f"{unit.failed}/{unit.expected_grades} grades failed"})
    deviations = unit_deviations(unit)
    tags += protocol_tags(deviations, unit.protocol is not None)
    return {
        "run": run.run_id,
        "model": run.scores.model,
        "unit": unit.unit,
        "total": stat_view(unit.total),
        "judge": judge_info(unit),
        "n": unit.n,
        "failed": unit.failed,
        "expected": unit.expected_grades,
        "dataset_hash": unit.dataset_hash,
        "prompt_hash": unit.prompt_hash,
        "region_mode": unit.region_mode,
        "limit": limit,
        "protocol": unit.protocol,
        "deviations": deviations,
        "apart": bool(partial or finetuned or limit),
        "tags": tags,
    }


def _columns(units: Sequence[UnitScores], key: str) -> list[dict[str, str]]:
    """A breakdown's columns in the order of the data (the first unit's order, then any new values)."""
    columns: dict[str, str] = {}
    for unit in units:
        for value, stat in unit.breakdowns.get(key, {}).items():
            columns.setdefault(value, stat.label or value)
    return [{"key": k, "label": v} for k, v in columns.items()]


def _sort_rows(rows: list[dict[str, Any]]) -> None:
    rows.sort(
        key=lambda r: (
            r["total"] is None or r["total"]["mean"] is None,
            -(r["total"] or {}).get("mean", 0) if r["total"] and r["total"]["mean"] is not None else 0,
            r["model"],
            r["run"],
        )
    )


def _mark_best(cells: Iterable[dict[str, Any] | None]) -> None:
    """Flag the highest mean of a column (ties all flagged) when there is something to compare it with."""
    present = [c for c in cells if c and c["mean"] is not None]
    if len({c["mean"] for c in present}) < 2:
        return
    top = max(c["mean"] for c in present)
    for c in present:
        c["best"] = c["mean"] == top


def _legend(rows: list[dict[str, Any]]) -> None:
    """A row's name in charts: the model, plus the run id where one model has several rows."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["model"]] = counts.get(r["model"], 0) + 1
    for r in rows:
        r["name"] = r["model"] if counts[r["model"]] == 1 else f"{r['model']} ({r['run']})"


@dataclass
class TaskInfo:
    """What the installed task YAML says of each task and group (best effort: a run of a task that is not
    installed here still builds)."""

    group: dict[str, str] = field(default_factory=dict)
    """task (or scored group) → the heading it is listed under: its first group."""
    description: dict[str, str] = field(default_factory=dict)
    split: dict[str, str] = field(default_factory=dict)
    """task → the dataset split it reads (``testA``), where its YAML names one."""

    @classmethod
    def installed(cls) -> TaskInfo:
        try:
            from vipbench.tasks import ALL, TaskIndex

            index = TaskIndex()
        except Exception:  # noqa: BLE001 - the site builds without task metadata
            return cls()
        info = cls(description={name: c.description for name, c in index.configs.items()})
        for name, config in index.configs.items():
            split = config.dataset.options.get("split")
            if isinstance(split, str):
                info.split[name] = split
        for group, members in sorted(index.groups.items()):
            for task in members if group != ALL else ():
                info.group.setdefault(task, group)
        for name, config in index.group_configs.items():
            info.description[name] = config.description
            info.group[name] = info.group.get(_canonical_task(config.tasks[0]), name)
        return info


def _canonical_task(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _split_and_rank(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Ranked rows (sorted, best marked) and those listed apart (partial, smoke, fine-tuned, deviating)."""
    ranked = [r for r in rows if not r["apart"]]
    apart = [r for r in rows if r["apart"]]
    for subset in (ranked, apart):
        _sort_rows(subset)
        _legend(subset)
    _mark_best(r["total"] for r in ranked)
    return ranked, apart


def _mark_columns(rows: list[dict[str, Any]], breakdowns: list[dict[str, Any]], secondary: list[str]) -> None:
    for b in breakdowns:
        for column in b["columns"]:
            _mark_best(r["cells"][b["key"]].get(column["key"]) for r in rows)
    for key in secondary:
        _mark_best(r["secondary"][key] for r in rows)


def _secondary_columns(scored: Sequence[UnitScores | GroupScores], names: list[str]) -> list[dict[str, str]]:
    return [{"key": k, "label": next(u.secondary[k].label or k for u in scored if k in u.secondary)} for k in names]


def _task_table(task: str, entries: list[tuple[RunEntry, UnitScores]], info: TaskInfo) -> dict[str, Any]:
    units = [u for _, u in entries]
    keys = list(dict.fromkeys(k for u in units for k in u.breakdowns))
    breakdowns = [{"key": k, "columns": _columns(units, k)} for k in keys]
    combos = list(dict.fromkeys(c for u in units for c in u.combinations))
    secondary = list(dict.fromkeys(k for u in units for k in u.secondary))
    rows = []
    for run, unit in entries:
        row = _row(run, unit)
        row["cells"] = {k: {v: stat_view(s) for v, s in unit.breakdowns.get(k, {}).items()} for k in keys}
        row["secondary"] = {k: stat_view(unit.secondary.get(k)) for k in secondary}
        row["combinations"] = {c: stat_view(unit.combinations.get(c)) for c in combos}
        rows.append(row)
    ranked, apart = _split_and_rank(rows)
    _mark_columns(ranked, breakdowns, secondary)
    return {
        "task": task,
        "scores_group": False,
        "group": info.group.get(task, task),
        "description": info.description.get(task, ""),
        "breakdowns": breakdowns,
        "headline": units[0].total.label or units[0].headline,
        "secondary": _secondary_columns(units, secondary),
        "combinations": combos,
        "rows": ranked,
        "apart_rows": apart,
        "warnings": _mark_differences(ranked) + _protocol_warning(ranked),
    }


def _group_table(name: str, entries: list[tuple[RunEntry, GroupScores]], info: TaskInfo) -> dict[str, Any]:
    """A score over several tasks of a run (POPE's mean F1, VCR's Q→AR), one row per run."""
    groups = [g for _, g in entries]
    secondary = list(dict.fromkeys(k for g in groups for k in g.secondary))
    rows = []
    for run, group in entries:
        assert run.scores is not None
        finetuned = [t for t in group.tasks if t in run.scores.finetuned_on]
        limit = limit_text(run.limits, group.tasks)
        tags = [{"kind": "warn", "text": f"partial ({run.scores.status})"}] if run.scores.partial else []
        tags += [{"kind": "warn", "text": limit}] if limit else []
        tags += [{"kind": "warn", "text": f"fine-tuned on {', '.join(finetuned)}"}] if finetuned else []
        deviations = group_deviations(run.scores, group)
        members = [u for u in run.scores.units.values() if u.task in group.tasks]
        tags += protocol_tags(deviations, bool(members) and all(u.protocol is not None for u in members))
        rows.append(
            {
                "run": run.run_id,
                "model": run.scores.model,
                "unit": name,
                "total": stat_view(group.total),
                "cells": {},
                "secondary": {k: stat_view(group.secondary.get(k)) for k in secondary},
                "judge": {"kind": "group", "name": f"{group.scorer} of {', '.join(group.tasks)}", "model": None},
                "n": group.total.n,
                "limit": limit,
                "deviations": deviations,
                "apart": bool(run.scores.partial or limit or finetuned),
                "tags": tags,
            }
        )
    ranked, apart = _split_and_rank(rows)
    _mark_columns(ranked, [], secondary)
    base = name.partition("@")[0]
    return {
        "task": name,
        "scores_group": True,
        "group": info.group.get(base, base),
        "description": info.description.get(base, ""),
        "breakdowns": [],
        "headline": groups[0].total.label or groups[0].headline,
        "secondary": _secondary_columns(groups, secondary),
        "combinations": [],
        "rows": ranked,
        "apart_rows": apart,
        "warnings": _protocol_warning(ranked),
    }


def _style_table(task: str, entries: list[tuple[RunEntry, UnitScores]], info: TaskInfo) -> dict[str, Any]:
    by_run: dict[str, dict[str, Any]] = {}
    styles: list[str] = []
    for run, unit in entries:
        assert unit.prompt_style is not None
        for s in [*run.prompt_styles, unit.prompt_style]:
            if s not in styles and any(u.prompt_style == s for _, u in entries):
                styles.append(s)
        row = by_run.get(run.run_id)
        if row is None:
            row = {**_row(run, unit), "total": None, "cells": {}, "units": {}}
            by_run[run.run_id] = row
        row["cells"][unit.prompt_style] = stat_view(unit.total)
        row["units"][unit.prompt_style] = unit.unit
        if unit.failed:
            row["tags"].append({"kind": "warn", "text": f"{unit.prompt_style}: {unit.failed} grades failed"})
    rows = list(by_run.values())
    for row in rows:  # the best and the worst shape, to read robustness at a glance
        present = [c["mean"] for c in row["cells"].values() if c and c["mean"] is not None]
        row["spread"] = round(max(present) - min(present), 1) if len(present) > 1 else None
    rows.sort(key=lambda r: (r["model"], r["run"]))
    _legend(rows)
    for style in styles:  # a partial, smoke or fine-tuned row is shown (tagged) but never marked best
        _mark_best(r["cells"].get(style) for r in rows if not r["apart"])
    return {
        "task": task,
        "styles": styles,
        "rows": rows,
        "warnings": _mark_differences(rows) + _protocol_warning(rows),
        "description": info.description.get(task, ""),
    }


_SPLIT_ORDER = ("val", "validation", "test", "testa", "testb")


def _split_key(label: str) -> tuple[int, str]:
    low = label.lower()
    return (_SPLIT_ORDER.index(low) if low in _SPLIT_ORDER else len(_SPLIT_ORDER), low)


def _split_table(group: str, tasks: dict[str, list[tuple[RunEntry, UnitScores]]], info: TaskInfo) -> dict[str, Any]:
    """One dataset's splits side by side (RefCOCO val, testA, testB): a row per run, a column per split holding
    that split's headline, with the scorer's second number beneath it. Nothing is averaged across splits."""
    labels = {t: info.split.get(t) or t.removeprefix(f"{group}-") for t in tasks}
    order = sorted(tasks, key=lambda t: _split_key(labels[t]))
    units = [u for t in order for _, u in tasks[t]]
    second = SPLIT_SCORERS.get(units[0].scored_by.scorer, "")
    second_label = next((u.secondary[second].label or second for u in units if second in u.secondary), None)
    rows: dict[str, dict[str, Any]] = {}
    for task in order:
        for run, unit in tasks[task]:
            assert run.scores is not None
            row = rows.setdefault(
                run.run_id,
                {"run": run.run_id, "model": run.scores.model, "cells": {}, "second": {}, "tags": [], "apart": False},
            )
            full = _row(run, unit)
            row["cells"][task] = stat_view(unit.total)
            row["second"][task] = stat_view(unit.secondary.get(second)) if second_label else None
            row["apart"] = row["apart"] or full["apart"]
            for tag in full["tags"]:
                tag = {**tag, "text": f"{labels[task]}: {tag['text']}"} if tag["kind"] == "warn" else tag
                if tag not in row["tags"]:
                    row["tags"].append(tag)
    ranked = sorted((r for r in rows.values() if not r["apart"]), key=lambda r: (r["model"], r["run"]))
    apart = sorted((r for r in rows.values() if r["apart"]), key=lambda r: (r["model"], r["run"]))
    for task in order:
        _mark_best(r["cells"].get(task) for r in ranked)
    return {
        "group": group,
        "description": info.description.get(group, ""),
        "headline": units[0].total.label or units[0].headline,
        "second": second_label,
        "columns": [{"task": t, "label": labels[t]} for t in order],
        "rows": ranked + apart,
    }


def _split_tables(plain: dict[str, list[tuple[RunEntry, UnitScores]]], info: TaskInfo) -> dict[str, dict[str, Any]]:
    """Heading → the table of its splits, for the groups whose tasks are splits of one dataset scored alike
    (REC's Acc@0.5, RES's cIoU) and of which runs scored two or more."""
    by_group: dict[tuple[str, str], dict[str, list[tuple[RunEntry, UnitScores]]]] = {}
    for task, entries in plain.items():
        scorer = entries[0][1].scored_by.scorer
        if scorer in SPLIT_SCORERS and task in info.group:
            by_group.setdefault((info.group[task], scorer), {})[task] = entries
    return {group: _split_table(group, tasks, info) for (group, _), tasks in by_group.items() if len(tasks) > 1}


def build_model(runs: Sequence[RunEntry]) -> dict[str, Any]:
    """The site's data: overview tables (one per task, and one per score over several tasks), prompt-style
    tables, and the scored units."""
    info = TaskInfo.installed()
    plain: dict[str, list[tuple[RunEntry, UnitScores]]] = {}
    styled: dict[str, list[tuple[RunEntry, UnitScores]]] = {}
    grouped: dict[str, list[tuple[RunEntry, GroupScores]]] = {}
    for run in runs:
        if not (run.scores and run.scores.units):
            continue
        for unit in run.scores.units.values():
            (styled if unit.prompt_style else plain).setdefault(unit.task, []).append((run, unit))
        for name, group in run.scores.groups.items():
            grouped.setdefault(name, []).append((run, group))
    tables = [_task_table(task, entries, info) for task, entries in sorted(plain.items())]
    tables += [_group_table(name, entries, info) for name, entries in sorted(grouped.items())]
    for i, table in enumerate(tables):
        table["id"] = f"t{i}"
    styles = [_style_table(task, entries, info) for task, entries in sorted(styled.items())]
    for i, table in enumerate(styles):
        table["id"] = f"s{i}"
    headings: dict[str, list[dict[str, Any]]] = {}
    for table in sorted(tables, key=lambda t: (t["group"], t["scores_group"], t["task"])):
        headings.setdefault(table["group"], []).append(table)
    splits = _split_tables(plain, info)
    for i, table in enumerate(splits.values()):
        table["id"] = f"r{i}"
    return {
        "groups": [
            {"name": name, "tables": members, "splits": [splits[name]] if name in splits else []}
            for name, members in headings.items()
        ],
        "tables": tables,
        "styles": styles,
    }
