"""Find a task's data: a local folder in the official layout, or a download from the Hugging Face Hub.

Also the small readers every loader needs, each of which names the file (and line) it failed on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from vipbench.errors import DataError
from vipbench.taskconfig import DatasetConfig


def resolve_data_root(dataset: DatasetConfig, data_dirs: Mapping[str, Path]) -> tuple[Path | None, str]:
    """Return (root folder, provenance string). Generated tasks get (None, "generated")."""
    if dataset.generated:
        return None, "generated"
    if dataset.key in data_dirs:
        root = Path(data_dirs[dataset.key]).expanduser()
        if not root.is_dir():
            raise DataError(f"data folder for {dataset.key} not found: {root}")
        return root.resolve(), f"local:{root.resolve()}"
    if dataset.hf_id is None:
        raise DataError(f"the {dataset.key} dataset cannot be downloaded; pass --data-dir {dataset.key}=PATH")
    return _download(dataset)


def _download(dataset: DatasetConfig) -> tuple[Path, str]:
    from huggingface_hub import snapshot_download

    from vipbench.hub import dataset_cached, local_only

    assert dataset.hf_id is not None
    hint = f"download it yourself and pass --data-dir {dataset.key}=PATH"
    offline = local_only(
        f"the {dataset.key} dataset {dataset.hf_id!r}", dataset_cached(dataset.hf_id, dataset.revision), hint
    )
    try:
        path = Path(
            snapshot_download(
                repo_id=dataset.hf_id, repo_type="dataset", revision=dataset.revision, local_files_only=offline
            )
        )
    except Exception as exc:  # the hub raises many types: gated, not found, interrupted
        raise DataError(
            f"could not download the {dataset.key} dataset {dataset.hf_id!r} from the Hugging Face Hub "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); {hint}"
        ) from None
    return path, f"hf:{dataset.hf_id}@{path.name}"


def require_file(root: Path, relative: str) -> Path:
    path = root / relative
    if not path.is_file():
        raise DataError(f"missing file in the dataset layout: {path}")
    return path


def inside(root: Path, relative: str, what: str) -> Path:
    """Join a path read from a data file onto ``root``, refusing anything that escapes it."""
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise DataError(f"{what} escapes the dataset folder {root}: {relative!r}")
    return candidate


def read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    except FileNotFoundError:
        raise DataError(f"missing file: {path}") from None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line."""
    try:
        fh = path.open(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"missing file: {path}") from None
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: malformed JSON line ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, obj


def field(obj: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise DataError(f"{where}: missing field {key!r}") from None


def load_parquet_split(root: Path, split: str, config: str | None = None):
    """One split of a Hugging Face parquet dataset, from a snapshot of its repo or a local copy of the same
    files, through ``datasets.load_dataset`` (which reads the repo card's ``configs``). Images stay encoded bytes:
    ``image_file`` writes each to disk once."""
    import datasets

    from vipbench.resources import cache_dir

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    where = f"{root} (config {config!r}, split {split!r})" if config else f"{root} (split {split!r})"
    try:
        ds = datasets.load_dataset(str(root), name=config, split=split, cache_dir=str(cache_dir() / "hf-datasets"))
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for a folder that is not the dataset
        raise DataError(f"cannot read {where}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    if "image" in ds.features:
        ds = ds.cast_column("image", datasets.Image(decode=False))
    return ds


def image_file(value: Mapping[str, Any], dataset: str, where: str) -> Path:
    """An image stored in a parquet row (``{"bytes", "path"}``) as a file in vipbench's cache, written once per
    content, so models, judges and the leaderboard can open it by path."""
    from vipbench.resources import cache_dir

    data = value.get("bytes") if isinstance(value, Mapping) else None
    if not data:
        raise DataError(f"{where}: the row has no image bytes")
    digest = hashlib.sha256(data).hexdigest()[:32]
    suffix = Path(str(value.get("path") or "")).suffix.lower() or ".jpg"
    path = cache_dir() / "images" / dataset / digest[:2] / f"{digest}{suffix}"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, path)
    return path


def first_file(root: Path, candidates: Iterable[str], what: str) -> Path:
    """The first of ``candidates`` (paths relative to ``root``) that exists; else an error listing them all."""
    tried = list(candidates)
    for relative in tried:
        if (root / relative).is_file():
            return root / relative
    raise DataError(f"no {what} in {root}: looked for {', '.join(tried)}")


def xywh_to_xyxy(box: Iterable[float]) -> tuple[float, float, float, float]:
    """COCO's [x, y, width, height] → pixel [x1, y1, x2, y2]."""
    x, y, w, h = (float(v) for v in box)
    return (x, y, x + w, y + h)


def flat_polygon(values: Iterable[float]) -> tuple[tuple[float, float], ...]:
    """COCO's flat [x1, y1, x2, y2, ...] polygon → points."""
    flat = [float(v) for v in values]
    return tuple(zip(flat[0::2], flat[1::2]))


def read_json_list(path: Path, what: str = "questions") -> list[Any]:
    """A JSON file holding a list (the ViP-LLaVA evaluation files)."""
    rows = read_json(path)
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a list of {what}")
    return rows


def find_image(root: Path, relative: str, where: str) -> Path:
    """An image named by a data file, in ``root`` or its ``images/`` folder, never outside them."""
    for folder in (root, root / "images"):
        path = inside(folder, relative, f"{where}: image")
        if path.is_file():
            return path
    raise DataError(f"{where}: image not found: {relative} (in {root} or {root / 'images'})")
