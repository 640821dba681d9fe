"""The sample browser's data: one ``data/<run>/<unit>.js`` file per scored unit, loaded on demand.

A ``<script src>`` file rather than JSON, because it loads from file:// where fetch does not. Each sample carries
its question, references, prediction, picture and the grades scores.json used, looked up by their grade keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vipbench.leaderboard.escaping import script_json
from vipbench.leaderboard.files import write_text
from vipbench.leaderboard.images import ImageWriter
from vipbench.leaderboard.loading import LoadedRun, current_judgements
from vipbench.leaderboard.regions_out import region_answer
from vipbench.leaderboard.views import judge_info, stat_view
from vipbench.records import Judgement, PredictionRecord
from vipbench.results import limit_text, protocol_label, unit_deviations
from vipbench.scoring.aggregate import metadata_values
from vipbench.scoring.record import UnitScores
from vipbench.site_layout import site_key, unique_key


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


def _picture(record: PredictionRecord, images: ImageWriter, answer: dict[str, Any] | None = None) -> str | None:
    """The picture a reader sees: the model's own image with its prompts, or the regions it was given drawn; and
    the truth beside the region it answered with (REC, RES)."""
    if record.overlays or not record.regions:
        return images.plan(record.image, record.overlays, answer)
    from vipbench.prompting.outlines import region_outlines

    outlines = region_outlines([r.to_region() for r in record.regions], record.region_mode)
    return images.plan(record.image, [o.to_dict() for o in outlines], answer)


def unit_samples(
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
        values = next((g["values"] for g in grades if g["status"] == "ok"), None)
        drawn, answer = region_answer(record, unit.scored_by.scorer, values)
        sample = {
            "id": record.sample_id,
            "question": record.question,
            "references": record.references,
            "prediction": record.prediction,
            "image": _picture(record, images, drawn),
            "groups": {k: metadata_values(record.metadata, k) for k in keys},
            "score": round(sum(ok) / len(ok), 2) if ok else None,
            "failed": sum(1 for g in grades if g["status"] != "ok"),
            "grades": grades,
        }
        if answer is not None:  # a REC or RES sample: the IoU of the region the model answered with
            sample["answer"] = answer
        samples.append(sample)
    return samples


def write_unit_samples(
    run: LoadedRun, key: str, out_dir: Path, images: ImageWriter, written: set[Path], console=None
) -> list[dict[str, Any]]:
    """One script per scored unit holding its samples (loaded by the browser on demand); the units' index rows.
    The run's pictures are made first, so that a sample whose image does not decode is written with a note."""
    assert run.scores is not None
    judgements = current_judgements(run)
    by_unit: dict[str, list[PredictionRecord]] = {}
    for record in run.predictions:
        by_unit.setdefault(record.unit, []).append(record)
    unit_keys: set[str] = set()
    units = []
    for unit in run.scores.units.values():
        name = unique_key(site_key(unit.unit), unit_keys)
        unit_keys.add(name.lower())
        ukey = f"{key}/{name}"
        units.append((unit, ukey, unit_samples(unit, by_unit.get(unit.unit, []), judgements, images)))
    images.render(console)
    rows = []
    for unit, ukey, samples in units:
        for sample in samples:
            images.settle(sample)
        payload = {"run": run.run_id, "unit": unit.unit, "samples": samples}
        text = f"vipbenchSamples({script_json(ukey)},{script_json(payload)});\n"
        write_text(out_dir / "data" / f"{ukey}.js", text, written)
        rows.append(_unit_row(run, unit, ukey, len(samples)))
    return rows


def _unit_row(run: LoadedRun, unit: UnitScores, ukey: str, n: int) -> dict[str, Any]:
    """What the page knows of a unit before its sample file loads: enough to list, filter and compare it."""
    assert run.scores is not None
    return {
        "key": ukey,
        "src": f"data/{ukey}.js",
        "run": run.run_id,
        "model": run.scores.model,
        "unit": unit.unit,
        "task": unit.task,
        "style": unit.prompt_style,
        "n": n,
        "limit": limit_text(run.limits, [unit.task]),
        "judge": judge_info(unit),
        "breakdowns": [
            {"key": k, "values": [{"value": v, "label": s.label or v, "n": s.n} for v, s in table.items()]}
            for k, table in unit.breakdowns.items()
        ],
        "dataset_hash": unit.dataset_hash,
        "total": stat_view(unit.total),
        "protocol": protocol_label(unit_deviations(unit), unit.protocol is not None),
        "deviations": unit_deviations(unit),
    }
