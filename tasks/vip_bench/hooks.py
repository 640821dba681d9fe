"""ViP-Bench in its official layout (HF ``mucai/ViP-Bench``)::

{bbox,human}/questions.jsonl     question_id, image, text (phrased for the drawn prompt)
{bbox,human}/images/             images with the prompt already drawn
vip-bench-meta-data.json         "v1_<id>": question (with <obj>), answer (<AND>/<OR>), capability [...]
source_image/                    clean images + LabelMe JSON (shapes: label, points, shape_type)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from vipbench.data import field, inside, read_json, read_jsonl, require_file
from vipbench.errors import DataError
from vipbench.records import PredictionRecord
from vipbench.taskconfig import TaskConfig
from vipbench.types import Region, Sample

META_FILE = "vip-bench-meta-data.json"


def load_samples(root: Path, config: TaskConfig) -> list[Sample]:
    split = config.dataset.options["split"]
    meta_path = require_file(root, META_FILE)
    meta = read_json(meta_path)
    if not isinstance(meta, dict):
        raise DataError(f"{meta_path}: expected an object keyed v1_<question_id>")
    questions_path = require_file(root, f"{split}/questions.jsonl")
    image_dir = root / split / "images"
    samples = []
    for lineno, line in read_jsonl(questions_path):
        where = f"{questions_path}:{lineno}"
        key = f"v1_{field(line, 'question_id', where)}"
        entry = meta.get(key)
        if not isinstance(entry, dict):
            raise DataError(f"{where}: {key} has no entry in {meta_path}")
        image = inside(image_dir, str(field(line, "image", where)), f"{where}: image path")
        if not image.is_file():
            raise DataError(f"{where}: image not found: {image}")
        capabilities = field(entry, "capability", f"{meta_path} [{key}]")
        if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
            raise DataError(f"{meta_path} [{key}]: capability must be a list of strings")
        source_image, regions = _source_annotation(root, entry, key)
        samples.append(
            Sample(
                id=key,
                image=image,
                question=str(field(line, "text", where)),
                references=(str(field(entry, "answer", f"{meta_path} [{key}]")),),
                regions=regions,
                template=entry.get("question"),
                source_image=source_image,
                metadata={"capability": capabilities, "split": split, "question_id": line["question_id"]},
            )
        )
    if not samples:
        raise DataError(f"{questions_path} holds no questions")
    return samples


def _source_annotation(root: Path, entry: dict, key: str) -> tuple[Path | None, tuple[Region, ...]]:
    """The clean image and its LabelMe regions, when ``source_image/`` has them (else no regions)."""
    name = entry.get("image_source")
    if not name:
        return None, ()
    source_dir = root / "source_image"
    image = inside(source_dir, str(name), f"{META_FILE} [{key}]: image_source")
    annotation = image.with_suffix(".json")
    if not image.is_file() or not annotation.is_file():
        return None, ()
    return image, parse_labelme(annotation)


def parse_labelme(path: Path) -> tuple[Region, ...]:
    """LabelMe shapes → one Region per label; several shapes with one label merge into one region."""
    data = read_json(path)
    shapes = data.get("shapes") if isinstance(data, dict) else None
    if not isinstance(shapes, list):
        raise DataError(f"{path}: expected a LabelMe file with a 'shapes' list")
    by_label: dict[str, Region] = {}
    for i, shape in enumerate(shapes):
        where = f"{path}: shapes[{i}]"
        label = str(field(shape, "label", where))
        points = [(float(x), float(y)) for x, y in field(shape, "points", where)]
        kind = shape.get("shape_type", "polygon")
        if kind == "rectangle" and len(points) == 2:
            (x1, y1), (x2, y2) = points
            region = Region(box=(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), label=label)
        elif kind == "polygon" and len(points) >= 3:
            region = Region.from_polygon(tuple(points), label)
        elif kind == "point" and len(points) == 1:
            ((x, y),) = points
            region = Region(box=(x, y, x, y), point=(x, y), label=label)
        else:
            raise DataError(f"{where}: unsupported shape_type {kind!r} with {len(points)} point(s)")
        by_label[label] = _merge(by_label[label], region) if label in by_label else region
    return tuple(by_label.values())


def _merge(a: Region, b: Region) -> Region:
    box = (min(a.box[0], b.box[0]), min(a.box[1], b.box[1]), max(a.box[2], b.box[2]), max(a.box[3], b.box[3]))
    return Region(box=box, polygons=a.outline() + b.outline(), label=a.label)


def export_upload(predictions: Iterable[PredictionRecord]) -> dict[str, str]:
    """The official upload format (scripts/convert_vipbench_for_eval.py): {"v1_<question_id>": answer}."""
    return {p.sample_id: p.prediction for p in predictions}
