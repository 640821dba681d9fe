"""``vipbench leaderboard build``: every scored run in results/ → one static website.

The site is plain files: ``index.html`` (the overview tables rendered here, with jinja2 autoescaping), ``app.js``
and ``style.css`` from the built-in ``leaderboard/`` folder, the downsized images under ``img/``, one
``data/<run>/<unit>.js`` file of samples per scored unit (loaded on demand with ``<script src>``, which works
from file:// where fetch does not), and a copy of each run's manifest and scores under ``runs/``. Nothing is
fetched from a network, and a Content-Security-Policy in the page forbids it.

Model outputs and dataset text are untrusted. The templates autoescape; the JSON embedded in the page and in
the sample files has ``<``, ``>``, ``&``, U+2028 and U+2029 written as ``\\uXXXX`` so that no string can end its
``<script>`` element; and app.js writes text only through ``textContent`` / ``createTextNode``.

Nothing is averaged across runs: each (run, scored unit) is one row, labelled with its run id, and a table
whose rows were graded by different judges or templates, or on different data, says so above the table and on
each row. Rebuilding reads only the run folders: no judge is called and no model is loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from vipbench.errors import VipbenchError
from vipbench.progress import progress_bar
from vipbench.records import Judgement, Manifest, PredictionRecord
from vipbench.results import (
    BrokenRun,
    each_run,
    limit_text,
    read_manifest,
    read_scores,
    run_command,
    task_limits,
    warn_stderr,
)
from vipbench.scoring.aggregate import metadata_values
from vipbench.scoring.scores import GroupScores, RunScores, Stat, UnitScores, fmt
from vipbench.store import RunStore, read_jsonl_records, run_status

M = TypeVar("M", bound=BaseModel)

MARKER = ".vipbench-leaderboard"
"""Written into every built site; a non-empty output folder without it is never written into or cleaned."""
IMAGE_MAX_SIDE = 768
JPEG_QUALITY = 85
OWN_DIRS = ("img", "data", "runs", "assets")
"""The folders of a built site whose stale files a rebuild removes."""


# ------------------------------------------------------------------------------------------------ reading


@dataclass
class LoadedRun:
    """One run folder, read and validated."""

    store: RunStore
    manifest: Manifest
    scores: RunScores | None
    """None when the run has not been judged yet."""
    predictions: list[PredictionRecord] = field(default_factory=list)
    judgements: list[Judgement] = field(default_factory=list)
    status: str = "complete"
    """The run's real status (a killed run reads ``interrupted``, not the ``running`` its manifest kept)."""
    limits: dict[str, str] = field(default_factory=dict)
    """The tasks a ``--limit`` smoke run cut short, as ``5/400``: such rows are listed apart, never ranked."""

    @property
    def run_id(self) -> str:
        return self.store.run_id


def collect_runs(results_dir: Path, warn: Callable[[str], None] | None = warn_stderr) -> list[LoadedRun]:
    """Every run in ``results_dir``, oldest first, with its scores, predictions and judgements. A run with a
    file that cannot be read is skipped with one ``warn`` line that names it and says how to repair it."""
    return each_run(results_dir, load_run, warn)[0]


def load_run(store: RunStore) -> LoadedRun:
    """One run folder; raises BrokenRun (the file, the problem, the repair) when one of its files is malformed."""
    manifest = read_manifest(store)
    scores = read_scores(store, manifest)
    predictions, judgements = [], []
    if scores:
        resume, judge = run_command(store, "run"), run_command(store, "judge")
        again = f"delete that line, then {resume.replace(' run ', ' run --resume ', 1)} makes it again"
        predictions = _read_lines(store, store.predictions_path, PredictionRecord, f"{again} and {judge} grades it")
        judgements = _read_lines(
            store, store.judgements_path, Judgement, f"delete that line, then {judge} grades it again (free if cached)"
        )
    status = run_status(store, manifest)
    return LoadedRun(store, manifest, scores, predictions, judgements, status, task_limits(manifest))


def _read_lines(store: RunStore, path: Path, model: type[M], repair: str) -> list[M]:
    try:
        return read_jsonl_records(path, model, repair=False)
    except VipbenchError as exc:
        raise BrokenRun(store, path.name, str(exc).removeprefix(f"{path}: "), repair) from None


# ------------------------------------------------------------------------------------------- escaping


_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SCRIPT_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")


def script_json(obj: Any) -> str:
    """JSON that is safe inside a ``<script>`` element or a .js file: no string in it can close the element,
    open a comment, or end a JavaScript line. ASCII only, so the file's encoding never matters."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return _SCRIPT_UNSAFE_RE.sub(lambda m: _SCRIPT_UNSAFE[m.group(0)], text)


def site_key(text: str) -> str:
    """A run's or unit's name as the site's folders spell it (``runs/<key>/manifest.json``)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"
    return slug[:80]


def _unique(name: str, taken: set[str]) -> str:
    candidate, k = name, 2
    while candidate.lower() in taken:
        candidate, k = f"{name}-{k}", k + 1
    taken.add(candidate.lower())
    return candidate


# ------------------------------------------------------------------------------------------- the model


def _short(value: str | None, n: int = 8) -> str:
    return (value or "")[:n] or "–"


def _stat(stat: Stat | None) -> dict[str, Any] | None:
    if stat is None:
        return None
    return {"mean": stat.mean, "std": stat.std, "runs": stat.runs, "n": stat.n, "text": fmt(stat)}


def _judge_info(unit: UnitScores) -> dict[str, Any]:
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


# What must agree for two rows of one table to be compared as equals, and how a row is labelled when not.
# Prompts are compared only between rows on the same dataset: other data already means other prompts.
_COMPARABLE = (
    ("judge model", lambda r: r["judge"]["model"] or f"metric {r['judge']['name']} v{r['judge']['version']}"),
    ("judge template", lambda r: _short(r["judge"]["template_hash"]) if r["judge"]["template_hash"] else "–"),
    ("dataset", lambda r: _short(r["dataset_hash"])),
    ("prompts", lambda r: _short(r["prompt_hash"])),
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


def _row(run: LoadedRun, unit: UnitScores) -> dict[str, Any]:
    """One (run, unit) row. A partial result (its run incomplete when scored, or fewer predictions than planned),
    a ``--limit`` smoke run and a checkpoint fine-tuned on the task are flagged, and the tables list them apart,
    never ranked among complete zero-shot runs of the whole task."""
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
    if run.manifest.model.get("weights"):  # an adapter's word on its weights ("architecture only: ...")
        tags.append({"kind": "warn", "text": str(run.manifest.model["weights"])})
    if unit.failed:
        tags.append({"kind": "warn", "text": f"{unit.failed}/{unit.expected_grades} grades failed"})
    return {
        "run": run.run_id,
        "model": run.scores.model if run.scores else run.manifest.spec.model,
        "unit": unit.unit,
        "total": _stat(unit.total),
        "judge": _judge_info(unit),
        "n": unit.n,
        "failed": unit.failed,
        "expected": unit.expected_grades,
        "dataset_hash": unit.dataset_hash,
        "prompt_hash": unit.prompt_hash,
        "region_mode": unit.region_mode,
        "limit": limit,
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

    @classmethod
    def installed(cls) -> TaskInfo:
        try:
            from vipbench.tasks import ALL, TaskIndex

            index = TaskIndex()
        except Exception:  # noqa: BLE001 - the site builds without task metadata
            return cls()
        info = cls(description={name: c.description for name, c in index.configs.items()})
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
    """Ranked rows (sorted, best marked) and those listed apart (partial, fine-tuned)."""
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


def _task_table(task: str, entries: list[tuple[LoadedRun, UnitScores]], info: TaskInfo) -> dict[str, Any]:
    units = [u for _, u in entries]
    keys = list(dict.fromkeys(k for u in units for k in u.breakdowns))
    breakdowns = [{"key": k, "columns": _columns(units, k)} for k in keys]
    combos = list(dict.fromkeys(c for u in units for c in u.combinations))
    secondary = list(dict.fromkeys(k for u in units for k in u.secondary))
    rows = []
    for run, unit in entries:
        row = _row(run, unit)
        row["cells"] = {k: {v: _stat(s) for v, s in unit.breakdowns.get(k, {}).items()} for k in keys}
        row["secondary"] = {k: _stat(unit.secondary.get(k)) for k in secondary}
        row["combinations"] = {c: _stat(unit.combinations.get(c)) for c in combos}
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
        "warnings": _mark_differences(ranked),
    }


def _group_table(name: str, entries: list[tuple[LoadedRun, GroupScores]], info: TaskInfo) -> dict[str, Any]:
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
        rows.append(
            {
                "run": run.run_id,
                "model": run.scores.model,
                "unit": name,
                "total": _stat(group.total),
                "cells": {},
                "secondary": {k: _stat(group.secondary.get(k)) for k in secondary},
                "judge": {"kind": "group", "name": f"{group.scorer} of {', '.join(group.tasks)}", "model": None},
                "n": group.total.n,
                "limit": limit,
                "apart": bool(tags),
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
        "warnings": [],
    }


def _style_table(task: str, entries: list[tuple[LoadedRun, UnitScores]], info: TaskInfo) -> dict[str, Any]:
    by_run: dict[str, dict[str, Any]] = {}
    styles: list[str] = []
    for run, unit in entries:
        assert unit.prompt_style is not None
        for s in [*run.manifest.spec.prompt_styles, unit.prompt_style]:
            if s not in styles and any(u.prompt_style == s for _, u in entries):
                styles.append(s)
        row = by_run.get(run.run_id)
        if row is None:
            row = {**_row(run, unit), "total": None, "cells": {}, "units": {}}
            by_run[run.run_id] = row
        row["cells"][unit.prompt_style] = _stat(unit.total)
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
        "warnings": _mark_differences(rows),
        "description": info.description.get(task, ""),
    }


def build_model(runs: Sequence[LoadedRun]) -> dict[str, Any]:
    """The site's data: overview tables (one per task, and one per score over several tasks), prompt-style
    tables, and the scored units."""
    info = TaskInfo.installed()
    plain: dict[str, list[tuple[LoadedRun, UnitScores]]] = {}
    styled: dict[str, list[tuple[LoadedRun, UnitScores]]] = {}
    grouped: dict[str, list[tuple[LoadedRun, GroupScores]]] = {}
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
    return {
        "groups": [{"name": name, "tables": members} for name, members in headings.items()],
        "tables": tables,
        "styles": styles,
    }


# -------------------------------------------------------------------------------------------- samples


def _current_judgements(run: LoadedRun) -> dict[tuple[str, str, int], Judgement]:
    """The grades behind the run's scores.json, for each (unit, sample, judge run): the judgements.jsonl line
    whose grade key scores.json recorded for that sample. Nothing is chosen here (a --swap-check run's swapped
    grades share grader, model and template with the grades that count, and only the key tells them apart)."""
    assert run.scores is not None
    by_key = {j.grade_key: j for j in run.judgements}
    chosen: dict[tuple[str, str, int], Judgement] = {}
    for unit in run.scores.units.values():
        for sample in unit.samples:
            for r, key in enumerate(sample.keys):
                if key in by_key:
                    chosen[(unit.unit, sample.id, r)] = by_key[key]
    return chosen


class ImageWriter:
    """Renders each distinct (image file, overlays) once into ``img/`` as a downsized JPEG.

    Files are named by a hash of the source bytes and the overlays, so a rebuild reuses what is there and
    the same picture seen by ten models is stored once.
    """

    def __init__(self, out_dir: Path):
        self.dir = out_dir / "img"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._digests: dict[str, str | None] = {}
        self.jobs: dict[str, tuple[Path, list[dict[str, Any]]]] = {}
        self.written: set[Path] = set()
        self.missing: list[str] = []
        """Source images that could not be read or decoded: their samples show a note instead."""
        self.failed: dict[str, str] = {}
        """Site path → why its picture could not be made (the source file does not decode)."""

    def _digest(self, path: str) -> str | None:
        if path not in self._digests:
            try:
                self._digests[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                self._digests[path] = None
                self.missing.append(path)
        return self._digests[path]

    def plan(self, image: str, overlays: list[dict[str, Any]]) -> str | None:
        """The site-relative path the image will have, or None if the source file is unreadable."""
        digest = self._digest(image)
        if digest is None:
            return None
        key = hashlib.sha256(f"{digest}|{IMAGE_MAX_SIDE}|{json.dumps(overlays, sort_keys=True)}".encode()).hexdigest()[
            :24
        ]
        name = f"{key}.jpg"
        if f"img/{name}" in self.failed:
            return f"img/{name}"
        self.written.add(self.dir / name)
        if not (self.dir / name).exists():
            self.jobs[name] = (Path(image), overlays)
        return f"img/{name}"

    def settle(self, sample: dict[str, Any]) -> None:
        """After ``render``: a sample whose picture could not be made shows none, with a note saying why."""
        why = self.failed.get(sample["image"] or "")
        if why is not None:
            sample["image"], sample["image_note"] = None, why

    def render(self, console=None) -> None:
        """Make the planned pictures. One whose source does not decode is left out (``failed``), never fatal."""
        jobs = list(self.jobs.items())
        self.jobs.clear()
        if not jobs:
            return

        def one(job: tuple[str, tuple[Path, list[dict[str, Any]]]]) -> None:
            name, (source, overlays) = job
            try:
                _render_image(source, overlays, self.dir / name)
            except (VipbenchError, OSError, ValueError) as exc:
                self.failed[f"img/{name}"] = f"image not shown: {exc}"
                self.written.discard(self.dir / name)
                if str(source) not in self.missing:
                    self.missing.append(str(source))

        workers = max(1, min(8, os.cpu_count() or 1))
        with ThreadPoolExecutor(workers) as pool:
            if len(jobs) < 50:
                list(pool.map(one, jobs))
                return
            with progress_bar(console) as progress:
                bar = progress.add_task("leaderboard images", total=len(jobs), detail="")
                for _ in pool.map(one, jobs):
                    progress.advance(bar)


def _render_image(source: Path, overlays: list[dict[str, Any]], target: Path) -> None:
    """The downsized JPEG of one source image with its overlays drawn, written atomically."""
    from vipbench.imaging import load_rgb

    image = load_rgb(source)
    if overlays:
        from vipbench.prompting import draw_overlays
        from vipbench.types import Overlay

        image = draw_overlays(image, [Overlay.from_dict(o) for o in overlays])
    image.thumbnail((IMAGE_MAX_SIDE, IMAGE_MAX_SIDE))
    tmp = target.with_name(f".{target.name}.tmp")
    image.save(tmp, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    os.replace(tmp, target)


def region_outlines(record: PredictionRecord) -> list[dict[str, Any]]:
    """The regions a mask-, box- or point-mode model was given, drawn as outlines for a reader to see."""
    from vipbench.prompting import COLORS
    from vipbench.types import Overlay

    palette = list(COLORS)
    shape = {"point": "point", "mask": "mask contour"}.get(record.region_mode, "rectangle")
    return [
        Overlay(r.to_region(), shape, palette[i % len(palette)], seed=i, alpha=255).to_dict()
        for i, r in enumerate(record.regions)
    ]


def _grade_view(run: int, j: Judgement | None) -> dict[str, Any]:
    if j is None:
        return {"run": run, "status": "missing", "score": None, "values": {}, "replies": [], "error": "not graded"}
    return {
        "run": run,
        "status": j.status,
        "score": None if j.score is None else round(j.score * 10, 2),
        "values": {k: v for k, v in j.values.items() if k != "score"},
        "replies": j.replies,
        "error": j.error,
        "reported": j.reported_model,
    }


def unit_samples(
    run: LoadedRun,
    unit: UnitScores,
    records: list[PredictionRecord],
    judgements: dict[tuple[str, str, int], Judgement],
    images: ImageWriter,
) -> list[dict[str, Any]]:
    """One unit's samples as the browser shows them. Scores are on the overview's 0–100 scale: a grade's
    ``score`` × 10, and a sample's the mean over judge runs."""
    runs = unit.scored_by.runs
    keys = list(unit.breakdowns)
    samples = []
    for record in records:
        grades = [_grade_view(r, judgements.get((record.unit, record.sample_id, r))) for r in range(runs)]
        ok = [g["score"] for g in grades if g["status"] == "ok" and g["score"] is not None]
        samples.append(
            {
                "id": record.sample_id,
                "question": record.question,
                "references": record.references,
                "prediction": record.prediction,
                "image": images.plan(record.image, record.overlays or region_outlines(record)),
                "groups": {k: metadata_values(record.metadata, k) for k in keys},
                "score": round(sum(ok) / len(ok), 2) if ok else None,
                "failed": sum(1 for g in grades if g["status"] != "ok"),
                "grades": grades,
            }
        )
    return samples


# ---------------------------------------------------------------------------------------------- writing


def _prepare_out_dir(out_dir: Path, results_dir: Path) -> None:
    if out_dir.resolve() == results_dir.resolve():
        raise VipbenchError(
            f"the leaderboard cannot be written into the results folder itself ({out_dir}); "
            "choose a subfolder such as results/leaderboard"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise VipbenchError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise VipbenchError(
            f"{out_dir} is not empty and holds no vipbench leaderboard; choose an empty or new folder with --out"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text(
        "built by vipbench leaderboard build; rebuilds replace img/ data/ runs/ assets/\n", encoding="utf-8"
    )


def _write(path: Path, text: str, written: set[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    written.add(path)


def _clean_stale(out_dir: Path, written: set[Path]) -> None:
    keep = {p.resolve() for p in written}
    for name in OWN_DIRS:
        folder = out_dir / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_file() and path.resolve() not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def _run_info(run: LoadedRun, key: str, files: dict[str, str]) -> dict[str, Any]:
    m = run.manifest
    git = m.environment.get("git") or {}
    judges = []
    if run.scores:
        for unit in run.scores.units.values():
            info = _judge_info(unit)
            text = f"{info['model']} ×{info['runs']}" if info["kind"] == "judge" else f"metric {info['name']}"
            if text not in judges:
                judges.append(text)
    return {
        "id": run.run_id,
        "key": key,
        "model": run.scores.model if run.scores else m.spec.model,
        "created": m.created,
        "status": run.status,
        "tasks": list(m.tasks),
        "scored": bool(run.scores),
        "units": list(run.scores.units) if run.scores else [],
        "judges": judges,
        "prompt_styles": m.spec.prompt_styles,
        "limit": limit_text(run.limits),
        "vipbench": m.environment.get("vipbench", ""),
        "git": (str(git.get("commit") or "")[:10] + (" (dirty)" if git.get("dirty") else "")) if git else "",
        "command": " ".join(m.command),
        "files": files,
    }


def build_site(
    results_dir: Path, out_dir: Path | None = None, *, console=None, warn: Callable[[str], None] = warn_stderr
) -> Path:
    """Build the static leaderboard of every scored run in ``results_dir``; return the path of index.html.

    ``out_dir`` defaults to ``<results_dir>/leaderboard``. A rebuild reuses images already rendered there and
    removes the files of runs that are gone. A run with a file that cannot be read is skipped with one ``warn``
    line (its copies from the last build are kept), and a picture that does not decode is replaced by a note.
    """
    results_dir = Path(results_dir)
    out_dir = Path(out_dir) if out_dir is not None else results_dir / "leaderboard"
    runs, broken = _scored_runs(results_dir, warn)
    _prepare_out_dir(out_dir, results_dir)
    site = build_model(runs)

    written: set[Path] = set()
    keys: set[str] = set()
    images = ImageWriter(out_dir)
    run_infos, units_index = [], []
    for run in runs:
        key = _unique(site_key(run.run_id), keys)
        run_infos.append(_run_info(run, key, _copy_run_files(run, key, out_dir, written)))
        if run.scores and run.scores.units:
            units_index += _write_unit_samples(run, key, out_dir, images, written, console)
    written |= images.written
    for exc in broken:  # a broken run's copies from the last build stay: its manifest's copy may repair it
        if site_key(exc.run_id).lower() not in keys:
            written |= {p for p in (out_dir / "runs" / site_key(exc.run_id)).glob("*") if p.is_file()}
    if images.failed:
        example = next(iter(images.failed.values()))
        warn(f"{len(images.failed)} picture(s) could not be made, so their samples show a note instead ({example})")

    index = out_dir / "index.html"
    skipped = [{"run": exc.run_id, "problem": str(exc)} for exc in broken]
    _write(index, _render_index(site, run_infos, units_index, images, skipped, out_dir, written), written)
    _clean_stale(out_dir, written)
    return index


def _scored_runs(results_dir: Path, warn: Callable[[str], None]) -> tuple[list[LoadedRun], list[BrokenRun]]:
    """The readable runs and the broken ones (each named in one warning line), when there is something to build."""
    if not results_dir.is_dir():
        raise VipbenchError(f"results folder not found: {results_dir}")
    runs, broken = each_run(results_dir, load_run, warn=None)
    if broken and not runs:
        more = f" (and {len(broken) - 1} more broken run(s))" if len(broken) > 1 else ""
        raise VipbenchError(f"no run in {results_dir} can be read: {broken[0]}{more}")
    for exc in broken:
        warn(f"skipped run {exc.run_id}: {exc}")
    if not runs:
        raise VipbenchError(f"no runs in {results_dir}: make one with vipbench run, then grade it with vipbench judge")
    if not any(r.scores and r.scores.units for r in runs):
        raise VipbenchError(
            f"no scored runs in {results_dir} ({len(runs)} run(s) without scores.json): "
            "grade them with vipbench judge first"
        )
    return runs, broken


def _copy_run_files(run: LoadedRun, key: str, out_dir: Path, written: set[Path]) -> dict[str, str]:
    """The run's manifest and scores, copied beside the site for download; their site paths by kind."""
    files: dict[str, str] = {}
    for name, source in (
        ("manifest", run.store.manifest_path),
        ("scores", run.store.scores_path),
        ("csv", run.store.scores_csv_path),
    ):
        if source.is_file():
            target = out_dir / "runs" / key / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            written.add(target)
            files[name] = f"runs/{key}/{source.name}"
    return files


def _write_unit_samples(
    run: LoadedRun, key: str, out_dir: Path, images: ImageWriter, written: set[Path], console=None
) -> list[dict[str, Any]]:
    """One script per scored unit holding its samples (loaded by the browser on demand); the units' index rows.
    The run's pictures are made first, so that a sample whose image does not decode is written with a note."""
    assert run.scores is not None
    judgements = _current_judgements(run)
    by_unit: dict[str, list[PredictionRecord]] = {}
    for record in run.predictions:
        by_unit.setdefault(record.unit, []).append(record)
    unit_keys: set[str] = set()
    units = []
    for unit in run.scores.units.values():
        ukey = f"{key}/{_unique(site_key(unit.unit), unit_keys)}"
        units.append((unit, ukey, unit_samples(run, unit, by_unit.get(unit.unit, []), judgements, images)))
    images.render(console)
    rows = []
    for unit, ukey, samples in units:
        for sample in samples:
            images.settle(sample)
        payload = {"run": run.run_id, "unit": unit.unit, "samples": samples}
        _write(
            out_dir / "data" / f"{ukey}.js", f"vipbenchSamples({script_json(ukey)},{script_json(payload)});\n", written
        )
        rows.append(
            {
                "key": ukey,
                "src": f"data/{ukey}.js",
                "run": run.run_id,
                "model": run.scores.model,
                "unit": unit.unit,
                "task": unit.task,
                "style": unit.prompt_style,
                "n": len(samples),
                "limit": limit_text(run.limits, [unit.task]),
                "judge": _judge_info(unit),
                "breakdowns": [
                    {"key": k, "values": [{"value": v, "label": s.label or v, "n": s.n} for v, s in table.items()]}
                    for k, table in unit.breakdowns.items()
                ],
                "dataset_hash": unit.dataset_hash,
                "total": _stat(unit.total),
            }
        )
    return rows


def _render_index(
    site: dict[str, Any],
    run_infos: list[dict[str, Any]],
    units_index: list[dict[str, Any]],
    images: ImageWriter,
    skipped: list[dict[str, str]],
    out_dir: Path,
    written: set[Path],
) -> str:
    """index.html, with the site's assets copied beside it."""
    import jinja2
    from markupsafe import Markup

    from vipbench import __version__
    from vipbench.resources import builtin_dir

    template_dir = builtin_dir("leaderboard")
    for asset in ("app.js", "style.css"):
        target = out_dir / "assets" / asset
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template_dir / asset, target)
        written.add(target)
    data = {
        **site,
        "runs": run_infos,
        "units": units_index,
        "missing_images": images.missing[:20],
        "missing_image_count": len(images.missing),
        "skipped": skipped,
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["script_json"] = lambda obj: Markup(script_json(obj))
    env.filters["short"] = _short
    built = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return env.get_template("index.html.j2").render(
        site=site,
        runs=run_infos,
        data=data,
        built=built,
        version=__version__,
        scored=sum(1 for r in run_infos if r["scored"]),
        missing=images.missing,
        skipped=skipped,
        run_keys={r["id"]: r["key"] for r in run_infos},
        run_files={r["id"]: r["files"] for r in run_infos},
        unit_keys={(u["run"], u["unit"]): u["key"] for u in units_index},
    )
