"""Reading one run folder for the site: its manifest, scores, predictions and the grades scores.json used."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from vipbench.errors import VipbenchError
from vipbench.records import Judgement, Manifest, PredictionRecord
from vipbench.results import BrokenRun, read_manifest, read_scores, run_command, task_limits
from vipbench.scoring.record import RunScores
from vipbench.store import RunStore, read_jsonl_records, run_status

M = TypeVar("M", bound=BaseModel)


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


def current_judgements(run: LoadedRun) -> dict[tuple[str, str, int], Judgement]:
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
