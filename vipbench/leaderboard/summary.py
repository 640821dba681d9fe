"""What the site keeps of a run once its samples are written: the overview's numbers, the Runs tab's line and the
sample browser's list of units. Small (no sample in it), so every run's entry can stay in memory and an unchanged
run's entry is read back from the build state instead of from its predictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vipbench.leaderboard.loading import LoadedRun
from vipbench.leaderboard.views import judge_info
from vipbench.results import limit_text, protocol_label, unit_deviations
from vipbench.scoring.record import RunScores


@dataclass
class RunEntry:
    """One run as the overview, the Runs tab and the sample browser's unit list see it."""

    run_id: str
    key: str
    """The run's folder name in the site (``runs/<key>/``, ``data/<key>/``)."""
    folder: str
    """The run folder it was read from."""
    status: str
    """The run's real status (a killed run reads ``interrupted``, not the ``running`` its manifest kept)."""
    limits: dict[str, str] = field(default_factory=dict)
    """The tasks a ``--limit`` smoke run cut short, as ``5/400``: such rows are listed apart, never ranked."""
    weights: str | None = None
    """The adapter's word on its weights ("architecture only: ..."), shown as a tag on each row."""
    prompt_styles: list[str] = field(default_factory=list)
    scores: RunScores | None = None
    """scores.json without its per-sample grades; None when the run has not been scored."""
    info: dict[str, Any] = field(default_factory=dict)
    """The Runs tab's line (``run_info``); its ``files`` are filled in when the run's files are copied."""
    units: list[dict[str, Any]] = field(default_factory=list)
    """The sample browser's line per scored unit, each naming its data file."""

    @property
    def scored(self) -> bool:
        return bool(self.scores and self.scores.units)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "key": self.key,
            "folder": self.folder,
            "status": self.status,
            "limits": self.limits,
            "weights": self.weights,
            "prompt_styles": self.prompt_styles,
            "scores": self.scores.model_dump(mode="json") if self.scores else None,
            "info": self.info,
            "units": self.units,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunEntry:
        scores = RunScores.model_validate(data["scores"]) if data["scores"] is not None else None
        return cls(**{**data, "scores": scores})


def summarize(run: LoadedRun, key: str, units: list[dict[str, Any]]) -> RunEntry:
    """The run's entry; ``units`` are the sample browser's lines its sample files were written with."""
    weights = run.manifest.model.get("weights")
    scores = None
    if run.scores is not None:
        bare = {name: unit.model_copy(update={"samples": []}) for name, unit in run.scores.units.items()}
        scores = run.scores.model_copy(update={"units": bare})
    return RunEntry(
        run_id=run.run_id,
        key=key,
        folder=str(run.store.path),
        status=run.status,
        limits=run.limits,
        weights=str(weights) if weights else None,
        prompt_styles=list(run.manifest.spec.prompt_styles),
        scores=scores,
        info=run_info(run, key),
        units=units,
    )


def run_info(run: LoadedRun, key: str) -> dict[str, Any]:
    """A run as the Runs tab lists it: its model, status, tasks, graders and provenance."""
    m = run.manifest
    git = m.environment.get("git") or {}
    judges = []
    deviations = [f"{task}: {d}" for task, p in m.tasks.items() for d in p.deviations]  # until it is scored
    recorded = all(p.protocol is not None for p in m.tasks.values())
    if run.scores:
        deviations = [f"{u.unit}: {d}" for u in run.scores.units.values() for d in unit_deviations(u)]
        recorded = all(u.protocol is not None for u in run.scores.units.values())
        for unit in run.scores.units.values():
            info = judge_info(unit)
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
        "protocol": protocol_label(deviations, recorded),
        "deviations": deviations,
        "vipbench": m.environment.get("vipbench", ""),
        "git": (str(git.get("commit") or "")[:10] + (" (dirty)" if git.get("dirty") else "")) if git else "",
        "command": " ".join(m.command),
        "files": {},
    }
