"""Results for notebooks and scripts: the runs of a results folder, and their scores as pandas DataFrames.

    >>> from vipbench.results import load_scores
    >>> scores = load_scores("results")
    >>> scores[scores.table == "total"].pivot_table(index="model", columns="unit", values="mean")

Everything is read from the run folders (manifest.json, predictions.jsonl, scores.json); nothing is graded or
generated. ``vipbench runs`` prints the same summaries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from vipbench.errors import VipbenchError, first_problem
from vipbench.scoring.scores import RunScores, score_rows
from vipbench.store import RunStore, list_runs, run_status

if TYPE_CHECKING:
    import pandas as pd


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
    """The judge models (or metric names) that graded it, or that its tasks name when it is not scored yet."""
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per scored unit: the headline's name and label, mean, std, n and whether it is partial."""
    scored_partial: bool = False
    """Scored with ``--allow-partial`` before the run was complete."""

    @property
    def scored(self) -> bool:
        return bool(self.scores)


def read_scores(store: RunStore) -> RunScores | None:
    """A run's scores.json, or None when it has not been scored."""
    if not store.scores_path.exists():
        return None
    try:
        return RunScores.model_validate_json(store.scores_path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise VipbenchError(f"{store.scores_path}: invalid scores file: {first_problem(exc)}") from None
    except UnicodeDecodeError:
        raise VipbenchError(f"{store.scores_path}: invalid scores file: not UTF-8 text") from None


def summarize_run(store: RunStore) -> RunSummary:
    manifest = store.manifest()
    scores = read_scores(store)
    summary = RunSummary(
        run_id=store.run_id,
        model=manifest.spec.model,
        tasks=list(manifest.tasks),
        status=run_status(store, manifest),
        predictions=_count_lines(store.predictions_path),
        planned=manifest.planned,
        created=manifest.created,
        graders=_graders(manifest, scores),
    )
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
            }
    return summary


def _graders(manifest, scores: RunScores | None) -> list[str]:
    if scores is not None:
        found = [u.scored_by.judge_model or u.scored_by.grader for u in scores.units.values()]
    else:
        found = [p.scoring.judge.model if p.scoring.judge else p.scoring.grader for p in manifest.tasks.values()]
    return list(dict.fromkeys(g.removeprefix("metric:") for g in found))


def _count_lines(path: Path) -> int:
    """Whole lines in an append-only JSONL file (a last line torn by a kill does not count), without parsing."""
    if not path.exists():
        return 0
    count = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            count += block.count(b"\n")
    return count


def run_summaries(results_dir: str | Path) -> list[RunSummary]:
    """Every run in ``results_dir``, oldest first."""
    return [summarize_run(store) for store in list_runs(Path(results_dir))]


def load_runs(results_dir: str | Path) -> pd.DataFrame:
    """One row per run: id, model, tasks, status, predictions of planned, graders, created."""
    import pandas as pd

    rows = []
    for s in run_summaries(results_dir):
        row = asdict(s)
        row.pop("scores")
        row["tasks"], row["graders"] = ",".join(s.tasks), ",".join(s.graders)
        rows.append(row)
    return pd.DataFrame(rows, columns=[f for f in RunSummary.__dataclass_fields__ if f != "scores"])


def load_scores(results_dir: str | Path) -> pd.DataFrame:
    """Every number of every scored run, one row each: run × unit (task, or task@prompt-style) × table × column.

    ``table`` is ``total`` for each unit's headline (``column`` names it: ``mean`` is ViP-Bench's All),
    ``secondary`` for the scorer's other numbers, a breakdown key (``capability``) for its values, or
    ``combination``. Each row carries the mean, std and n, the grader and judge model, and the run's model,
    status, whether the numbers are partial or from a checkpoint fine-tuned on the task, and the task's dataset
    hash.
    """
    import pandas as pd

    rows = []
    for store in list_runs(Path(results_dir)):
        scores = read_scores(store)
        if scores is None:
            continue
        manifest = store.manifest()
        status = run_status(store, manifest)
        for row in score_rows(scores):
            unit, group = scores.units.get(row["unit"]), scores.groups.get(row["unit"])
            tasks = group.tasks if group else [row["task"]]
            provenance = manifest.tasks.get(row["task"])
            row.update(
                status=status,
                partial=scores.partial or (unit.partial if unit else False),
                finetuned=any(t in scores.finetuned_on for t in tasks),
                dataset_hash=provenance.dataset_hash if provenance else None,
            )
            rows.append(row)
    return pd.DataFrame(rows)
