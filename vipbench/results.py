"""Results for notebooks and scripts: the runs of a results folder, and their scores as pandas DataFrames.

    >>> from vipbench.results import load_scores
    >>> scores = load_scores("results")
    >>> done = scores[(scores.table == "total") & ~scores.smoke & ~scores.partial & scores.official]
    >>> done.pivot_table(index="model", columns="unit", values="mean")

Everything is read from the run folders (manifest.json, predictions.jsonl, scores.json); nothing is graded or
generated. ``vipbench runs`` prints the same summaries. A run folder with a file that cannot be read is skipped
with one warning line that names it and says how to repair it, so one bad run never hides the others.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

from pydantic import ValidationError

from vipbench.errors import VipbenchError, first_problem
from vipbench.records import Manifest
from vipbench.scoring.record import GroupScores, RunScores, UnitScores, score_rows
from vipbench.site_layout import site_key
from vipbench.store import RunStore, list_runs, run_status

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")


class BrokenRun(VipbenchError):
    """A run folder holding a file vipbench cannot read. Its message is one line: the file, what is wrong with
    it, and how to repair it. Listings and the leaderboard skip such a run with that line as a warning."""

    def __init__(self, store: RunStore, file: str, problem: str, repair: str):
        self.run_id, self.file, self.problem, self.repair = store.run_id, file, problem, repair
        super().__init__(f"{store.path / file}: {problem}; {repair}")


def warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run_command(store: RunStore, verb: str) -> str:
    """``vipbench VERB RUN``, with ``--results`` when the run is not in the default results folder."""
    words = ["vipbench", verb, store.run_id]
    if store.path.parent != Path(os.environ.get("VIPBENCH_RESULTS", "results")):
        words += ["--results", str(store.path.parent)]
    return " ".join(words)


def _judge_command(store: RunStore, manifest: Manifest | None) -> str:
    """The ``vipbench judge`` command that rewrites the run's scores.json, with the judge model and endpoint the
    run was last judged with (so the grades in judgements.jsonl and the cache are reused, not asked again): as
    the units of the broken scores.json record them while it still reads as JSON, else as a manifest written
    before scores.json recorded them (its ``judges``)."""
    words = [run_command(store, "judge")]
    recorded = _recorded_judges(store) or list((manifest.judges if manifest else {}).values()) or _last_judgement(store)
    models = {j.get("judge_model") for j in recorded} - {None}
    urls = {j.get("base_url") for j in recorded} - {None}
    runs = {j.get("runs") for j in recorded} - {None}
    if len(models) == 1 and manifest and models != {p.scoring.judge.model for p in _judged(manifest)}:
        words += ["--judge", models.pop()]
    if len(urls) == 1:
        words += ["--base-url", urls.pop()]
    if len(runs) == 1 and manifest and runs != {p.scoring.judge.runs for p in _judged(manifest)}:
        words += ["--runs", str(runs.pop())]
    return " ".join(words)


def _last_judgement(store: RunStore) -> list[dict[str, Any]]:
    """The judge model, endpoint and number of runs of the run's last judge grading in judgements.jsonl (which
    every grading appends to), when nothing else records them."""
    grades = []
    try:
        with store.judgements_path.open("rb") as lines:
            grades = [json.loads(line) for line in lines if b'"judge:' in line]
    except (OSError, ValueError):
        return []
    if not grades:
        return []
    last = grades[-1]
    same = [
        g
        for g in grades
        if (g.get("judge_model"), g.get("base_url")) == (last.get("judge_model"), last.get("base_url"))
    ]
    runs = 1 + max(int(g.get("run") or 0) for g in same)
    return [{"judge_model": last.get("judge_model"), "base_url": last.get("base_url"), "runs": runs}]


def _recorded_judges(store: RunStore) -> list[dict[str, Any]]:
    """The ``scored_by`` of each judge-scored unit in scores.json, read as plain JSON (the file may not validate)."""
    try:
        units = json.loads(store.scores_path.read_bytes()).get("units")
    except (OSError, ValueError, AttributeError):
        return []
    by = [unit.get("scored_by") for unit in units.values() if isinstance(unit, dict)] if isinstance(units, dict) else []
    return [b for b in by if isinstance(b, dict) and str(b.get("grader", "")).startswith("judge:")]


def _judged(manifest: Manifest):
    return [p for p in manifest.tasks.values() if p.scoring.judge is not None]


def read_manifest(store: RunStore) -> Manifest:
    """A run's manifest.json; raises BrokenRun (what is wrong, what can be done) when it cannot be read."""
    try:
        return Manifest.model_validate_json(store.manifest_path.read_bytes())
    except FileNotFoundError:
        raise VipbenchError(f"{store.path} is not a vipbench run (no manifest.json)") from None
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or exc})"
    except ValidationError as exc:
        problem = f"invalid manifest ({first_problem(exc)})"
    copy = store.path.parent / "leaderboard" / "runs" / site_key(store.run_id) / "manifest.json"
    if _readable_manifest(copy):
        repair = f"the leaderboard kept a copy: cp {copy} {store.manifest_path}"
    else:
        repair = (
            "it records how the run was made, so without it the run cannot be listed, judged or resumed: restore it "
            f"from a backup, or move the folder out of {store.path.parent} and make the run again with vipbench run"
        )
    raise BrokenRun(store, "manifest.json", problem, repair)


def _readable_manifest(path: Path) -> bool:
    try:
        Manifest.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return False
    return True


def read_scores(store: RunStore, manifest: Manifest | None = None) -> RunScores | None:
    """A run's scores.json, or None when it has not been scored. Raises BrokenRun, naming the ``vipbench judge``
    command that rewrites it, when it cannot be read (truncated, not JSON, not a scores file)."""
    if not store.scores_path.exists():
        return None
    try:
        return RunScores.model_validate_json(store.scores_path.read_bytes())
    except ValidationError as exc:
        problem = f"invalid scores file: {first_problem(exc)}"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or exc})"
    repair = f"{_judge_command(store, manifest)} rewrites it from the run's grades"
    raise BrokenRun(store, "scores.json", problem, repair)


def each_run(
    results_dir: str | Path, read: Callable[[RunStore], T], warn: Callable[[str], None] | None = warn_stderr
) -> tuple[list[T], list[BrokenRun]]:
    """``read(store)`` for every run in ``results_dir``, oldest first. A run that raises BrokenRun (a manifest or
    scores file that cannot be read) is skipped with one warning line, and returned apart."""
    results_dir = Path(results_dir)
    stores = list_runs(results_dir)
    listed = {s.path for s in stores}
    if results_dir.is_dir():  # list_runs passes over a manifest that is not JSON: it is broken, not absent
        stores += [RunStore(p) for p in sorted(results_dir.iterdir()) if _unlisted_run(p, listed)]
    read_ok, broken = [], []
    for store in stores:
        try:
            read_ok.append(read(store))
        except BrokenRun as exc:
            broken.append(exc)
            if warn is not None:
                warn(f"skipped run {exc.run_id}: {exc}")
    return read_ok, broken


def _unlisted_run(path: Path, listed: set[Path]) -> bool:
    return path not in listed and (path / "manifest.json").is_file()


# ------------------------------------------------------------------------------------------------ smoke runs


def task_limits(manifest: Manifest) -> dict[str, str]:
    """The tasks a ``--limit`` smoke run cut short, each as ``5/400`` (samples run of the task's full size), or
    ``5`` when the manifest predates the full size and the task had at least that many samples."""
    limit = manifest.spec.limit
    if limit is None:
        return {}
    cut = {}
    for task, provenance in manifest.tasks.items():
        full = provenance.full_samples
        if full is None and provenance.samples >= limit:
            cut[task] = str(provenance.samples)
        elif full is not None and full > provenance.samples:
            cut[task] = f"{provenance.samples}/{full}"
    return cut


def limit_share(limits: dict[str, str], tasks: Iterable[str] | None = None) -> str | None:
    """``5/400`` for the given tasks (all when None; ``5/400, 5/303`` when they differ), or None when none of them
    was cut short."""
    shares = [share for task, share in limits.items() if tasks is None or task in tasks]
    return ", ".join(dict.fromkeys(shares)) if shares else None


def limit_text(limits: dict[str, str], tasks: Iterable[str] | None = None) -> str | None:
    """``limit 5/400``, as tables and tags show a smoke run, or None."""
    share = limit_share(limits, tasks)
    return f"limit {share}" if share else None


# -------------------------------------------------------------------------------------------------- protocol


def unit_deviations(unit: UnitScores) -> list[str]:
    """Every way a unit's numbers depart from the official protocol: its generation settings (from the manifest)
    and its scoring (a metric's reading, the judge's rules, the failure rule). None: the paper's protocol."""
    return [*unit.deviations, *unit.scored_by.deviations]


def group_deviations(scores: RunScores, group: GroupScores) -> list[str]:
    """A score over several tasks deviates where any of its tasks' units does (each named by its unit)."""
    units = [u for u in scores.units.values() if u.task in group.tasks and u.prompt_style == group.prompt_style]
    return [f"{u.unit}: {d}" for u in units for d in unit_deviations(u)]


def protocol_label(deviations: Iterable[str], recorded: bool = True) -> str:
    """How a table names a score's protocol: ``official``, ``deviates (N)``, or ``protocol not recorded`` for
    scores made before vipbench recorded protocols (never called official: nothing says they were)."""
    count = len(list(deviations))
    if count:
        return f"deviates ({count})"
    return "official" if recorded else "protocol not recorded"


# ----------------------------------------------------------------------------------------------- summaries


@dataclass
class RunSummary:
    """One run at a glance: what ``vipbench runs`` lists."""

    run_id: str
    model: str
    tasks: list[str]
    status: str
    """The real status: a run killed outright reads ``interrupted``."""
    predictions: int
    planned: int
    created: str
    graders: list[str]
    """What graded it: the judge model as its API reported it (``@host`` for an endpoint other than OpenAI's), or
    the metric; what its tasks name when it is not scored yet."""
    limit: str | None = None
    """A ``--limit`` smoke run: ``5/400`` (samples run of each cut task's full size); None for a full run."""
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per scored unit: the headline's name and label, mean, std, n, whether it is partial, and its limit."""
    scored_partial: bool = False
    """Scored with ``--allow-partial`` before the run was complete."""
    protocol: str | None = None
    """The protocol the run was made with (``official``, ``vipbench``); None for a run made before vipbench
    recorded protocols."""
    deviations: dict[str, list[str]] = field(default_factory=dict)
    """Per scored unit (per task while the run is not scored), every setting that departs from the official
    protocol, in generation and in scoring; only units that deviate are listed."""
    official: bool = False
    """Recorded, and no unit deviates: its numbers follow the model family's own scripts."""

    @property
    def protocol_label(self) -> str:
        """``official``, ``deviates (N)`` (N deviations over all units) or ``protocol not recorded``."""
        return protocol_label([d for found in self.deviations.values() for d in found], self.protocol is not None)

    @property
    def scored(self) -> bool:
        return bool(self.scores)

    @property
    def smoke(self) -> bool:
        """Made with ``--limit`` on part of a task: never a result to rank."""
        return self.limit is not None


def summarize_run(store: RunStore) -> RunSummary:
    """A run at a glance; raises BrokenRun when its manifest or scores cannot be read."""
    manifest = read_manifest(store)
    return summary_of(store, manifest, read_scores(store, manifest))


def summary_of(store: RunStore, manifest: Manifest, scores: RunScores | None) -> RunSummary:
    limits = task_limits(manifest)
    summary = RunSummary(
        run_id=store.run_id,
        model=manifest.spec.model,
        tasks=list(manifest.tasks),
        status=run_status(store, manifest),
        predictions=_count_lines(store.predictions_path),
        planned=manifest.planned,
        created=manifest.created,
        graders=_graders(manifest, scores),
        limit=limit_share(limits),
    )
    _protocol(summary, manifest, scores)
    if scores is not None:
        summary.scored_partial = scores.partial
        for name, unit in scores.units.items():
            summary.scores[name] = {
                "headline": unit.headline,
                "label": unit.total.label or unit.headline,
                "mean": unit.total.mean,
                "std": unit.total.std,
                "runs": len(unit.total.runs),
                "n": unit.n,
                "planned": unit.planned,
                "partial": scores.partial or unit.partial,
                "finetuned": unit.task in scores.finetuned_on,
                "limit": limit_share(limits, [unit.task]),
            }
    return summary


def _protocol(summary: RunSummary, manifest: Manifest, scores: RunScores | None) -> None:
    """The run's protocol and its deviations: each scored unit's (generation and scoring), and the manifest's for
    a task not scored yet."""
    recorded = [p.protocol for p in manifest.tasks.values() if p.protocol is not None]
    summary.protocol = manifest.spec.protocol if recorded else None
    found = {name: unit_deviations(unit) for name, unit in (scores.units.items() if scores else [])}
    scored = {unit.task for unit in scores.units.values()} if scores else set()
    found.update({task: list(p.deviations) for task, p in manifest.tasks.items() if task not in scored})
    summary.deviations = {name: list(d) for name, d in found.items() if d}
    summary.official = summary.protocol is not None and not summary.deviations


def deviation_text(deviations: dict[str, list[str]]) -> str:
    """``unit: deviation; unit: deviation``: the full list in one cell (csv, pandas)."""
    return "; ".join(f"{name}: {d}" for name, found in deviations.items() for d in found)


def grader_name(unit: UnitScores) -> str:
    """Who graded a unit: the metric, or the judge model as its API reported it (the model asked for when the
    API said nothing), with the endpoint's host when it is not OpenAI's own API."""
    by = unit.scored_by
    if not by.is_judge:
        return by.grader.removeprefix("metric:")
    name = ", ".join(by.reported_models) or by.judge_model or by.grader.removeprefix("judge:")
    host = urlparse(by.base_url).netloc if by.base_url else ""
    return f"{name}@{host}" if host and host != "api.openai.com" else name


def _graders(manifest: Manifest, scores: RunScores | None) -> list[str]:
    if scores is not None:
        found = [grader_name(u) for u in scores.units.values()]
    else:
        found = [
            p.scoring.judge.model if p.scoring.judge else p.scoring.grader.removeprefix("metric:")
            for p in manifest.tasks.values()
        ]
    return list(dict.fromkeys(found))


def _count_lines(path: Path) -> int:
    """Whole lines in an append-only JSONL file (a last line torn by a kill does not count), without parsing."""
    if not path.exists():
        return 0
    count = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            count += block.count(b"\n")
    return count


def run_summaries(results_dir: str | Path, warn: Callable[[str], None] | None = warn_stderr) -> list[RunSummary]:
    """Every readable run in ``results_dir``, oldest first; a broken one is skipped with one ``warn`` line."""
    return each_run(results_dir, summarize_run, warn)[0]


def load_runs(results_dir: str | Path, warn: Callable[[str], None] | None = warn_stderr) -> pd.DataFrame:
    """One row per run: id, model, tasks, status, predictions of planned, graders, created, ``limit`` and
    ``smoke`` for a ``--limit`` run, and its ``protocol``, ``deviations`` (``unit: deviation; ...``, empty when
    none) and ``official`` (recorded, and nothing deviates). A run that cannot be read is skipped with a warning
    line."""
    import pandas as pd

    rows = []
    for s in run_summaries(results_dir, warn):
        row = asdict(s)
        row.pop("scores")
        row["tasks"], row["graders"], row["smoke"] = ",".join(s.tasks), ",".join(s.graders), s.smoke
        row["deviations"] = deviation_text(s.deviations)
        rows.append(row)
    columns = [f for f in RunSummary.__dataclass_fields__ if f != "scores"] + ["smoke"]
    return pd.DataFrame(rows, columns=columns)


def load_scores(results_dir: str | Path, warn: Callable[[str], None] | None = warn_stderr) -> pd.DataFrame:
    """Every number of every scored run, one row each: run × unit (task, or task@prompt-style) × table × column.

    ``table`` is ``total`` for each unit's headline (``column`` names it: ``mean`` is ViP-Bench's All),
    ``secondary`` for the scorer's other numbers, a breakdown key (``capability``) for its values, or
    ``combination``. Each row carries the mean, std and n, the grader and judge model, and the run's model,
    status, whether the numbers are partial, from a ``--limit`` smoke run (``smoke``, and ``limit`` as
    ``5/400``) or from a checkpoint fine-tuned on the task, and the task's dataset hash. Keep partial and smoke
    rows out of any comparison: ``scores[~scores.smoke & ~scores.partial]``. A run that cannot be read is
    skipped with a warning line.
    """
    import pandas as pd

    def read(store: RunStore) -> list[dict[str, Any]]:
        manifest = read_manifest(store)
        scores = read_scores(store, manifest)
        return [] if scores is None else _score_rows(store, manifest, scores)

    runs, _ = each_run(results_dir, read, warn)
    return pd.DataFrame([row for rows in runs for row in rows])


def _score_rows(store: RunStore, manifest: Manifest, scores: RunScores) -> list[dict[str, Any]]:
    status, limits = run_status(store, manifest), task_limits(manifest)
    rows = []
    for row in score_rows(scores):
        unit, group = scores.units.get(row["unit"]), scores.groups.get(row["unit"])
        tasks = group.tasks if group else [row["task"]]
        provenance = manifest.tasks.get(row["task"])
        limit = limit_share(limits, tasks)
        deviations = unit_deviations(unit) if unit else group_deviations(scores, group) if group else []
        members = [unit] if unit else [u for u in scores.units.values() if u.task in tasks]
        recorded = bool(members) and all(u.protocol is not None for u in members)
        row.update(
            status=status,
            partial=scores.partial or (unit.partial if unit else False),
            smoke=limit is not None,
            limit=limit,
            finetuned=any(t in scores.finetuned_on for t in tasks),
            dataset_hash=provenance.dataset_hash if provenance else None,
            protocol=unit.protocol if unit else members[0].protocol if recorded else None,
            deviations="; ".join(deviations),
            official=recorded and not deviations,
        )
        rows.append(row)
    return rows
