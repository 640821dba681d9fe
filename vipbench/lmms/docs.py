"""One vipbench sample as one lmms-eval doc, and back.

An exported doc carries the whole ``Sample`` (as JSON text, so that the Arrow schema of the docs file is plain
strings whatever a loader puts in ``metadata``), the vipbench task it belongs to and the region mode it was
exported in. Whoever reads it (the hooks, the vipbench model wrapper) rebuilds the exact ``Request`` that
``vipbench run`` would give the model, through the task's own ``build_request``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from vipbench.errors import VipbenchError
from vipbench.types import Region, Request, Sample

#: The doc field that marks an lmms-eval doc as an exported vipbench sample.
TASK_FIELD = "vipbench_task"


def sample_to_json(sample: Sample) -> str:
    def region(r: Region) -> dict[str, Any]:
        return {
            "box": list(r.box),
            "polygons": [[list(p) for p in polygon] for polygon in r.polygons],
            "point": list(r.point) if r.point is not None else None,
            "label": r.label,
        }

    data = {
        "id": sample.id,
        "image": str(sample.image) if sample.image else None,
        "question": sample.question,
        "references": list(sample.references),
        "regions": [region(r) for r in sample.regions],
        "template": sample.template,
        "source_image": str(sample.source_image) if sample.source_image else None,
        "metadata": dict(sample.metadata),
    }
    try:
        return json.dumps(data, ensure_ascii=False)
    except TypeError as exc:
        raise VipbenchError(f"sample {sample.id}: its metadata cannot be written as JSON ({exc})") from None


def sample_from_json(text: str) -> Sample:
    data = json.loads(text)
    regions = tuple(
        Region(
            box=tuple(r["box"]),
            polygons=tuple(tuple(tuple(p) for p in polygon) for polygon in r["polygons"]),
            point=tuple(r["point"]) if r["point"] is not None else None,
            label=r["label"],
        )
        for r in data["regions"]
    )
    return Sample(
        id=data["id"],
        image=Path(data["image"]) if data["image"] else None,
        question=data["question"],
        references=tuple(data["references"]),
        regions=regions,
        template=data["template"],
        source_image=Path(data["source_image"]) if data["source_image"] else None,
        metadata=data["metadata"],
    )


def make_doc(task: str, region_mode: str, sample: Sample, request: Request) -> dict[str, str]:
    """One line of an exported docs file. ``question`` and ``answer`` are for people reading lmms-eval's logs."""
    return {
        TASK_FIELD: task,
        "region_mode": region_mode,
        "sample_id": sample.id,
        "question": request.text,
        "answer": sample.references[0] if sample.references else "",
        "sample": sample_to_json(sample),
    }


def is_vipbench_doc(doc: Mapping[str, Any]) -> bool:
    return TASK_FIELD in doc and "sample" in doc


@lru_cache(maxsize=8)
def task_index(include_paths: tuple[str, ...]):
    from vipbench.tasks import TaskIndex

    return TaskIndex([Path(p) for p in include_paths])


@lru_cache(maxsize=65536)
def _request(task: str, region_mode: str, sample_json: str, include_paths: tuple[str, ...]) -> Request:
    return task_index(include_paths).task(task).build_request(sample_from_json(sample_json), region_mode)


def doc_request(doc: Mapping[str, Any], include_paths: Sequence[str] = (), region_mode: str | None = None) -> Request:
    """The request ``vipbench run`` builds for this doc's sample, in the doc's region mode or ``region_mode``."""
    return _request(doc[TASK_FIELD], region_mode or doc["region_mode"], doc["sample"], tuple(include_paths))


def vipbench_task(doc: Mapping[str, Any], include_paths: Sequence[str] = ()):
    """The vipbench ``Task`` a doc belongs to."""
    return task_index(tuple(include_paths)).task(doc[TASK_FIELD])
