"""Find a task's data: a local folder in the official layout, or a download from the Hugging Face Hub.

Also the small readers every loader needs, each of which names the file (and line) it failed on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
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
