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

from vipbench.errors import DataError, VipbenchError
from vipbench.taskconfig import DatasetConfig, TaskConfig


class MissingData(DataError):
    """A dataset that is neither on disk nor downloadable now. The message says how to fix it; ``why`` is the cause
    alone, shared by the datasets that one error lists together."""

    def __init__(self, dataset: DatasetConfig, why: str, message: str):
        super().__init__(message)
        self.dataset, self.why = dataset, why

    @property
    def listed(self) -> str:
        hf_id = self.dataset.hf_id
        return self.dataset.key + (f" (or HF {hf_id})" if hf_id else "")


def resolve_data_root(dataset: DatasetConfig, data_dirs: Mapping[str, Path]) -> tuple[Path | None, str]:
    """Return (root folder, provenance string). Generated tasks get (None, "generated")."""
    if dataset.generated:
        return None, "generated"
    if dataset.key in data_dirs:
        root = Path(data_dirs[dataset.key]).expanduser()
        if not root.is_dir():
            why = f"--data-dir {dataset.key}={root} is not a folder"
            raise MissingData(dataset, why, f"data folder for {dataset.key} not found: {root}")
        return root.resolve(), f"local:{root.resolve()}"
    if dataset.hf_id is None:
        message = f"the {dataset.key} dataset cannot be downloaded; pass --data-dir {dataset.key}=PATH"
        raise MissingData(dataset, "no download exists", message)
    return _download(dataset)


def resolve_data_roots(
    datasets: Mapping[str, DatasetConfig], data_dirs: Mapping[str, Path]
) -> dict[str, tuple[Path | None, str]]:
    """Each dataset's (root, provenance), keyed by dataset key, for ``datasets`` keyed by task name. Every dataset
    that is missing is named in one error, so ``--tasks all`` takes one try, not one per dataset."""
    roots: dict[str, tuple[Path | None, str]] = {}
    missing: dict[str, MissingData] = {}
    for dataset in datasets.values():
        if dataset.key in roots or dataset.key in missing:
            continue
        try:
            roots[dataset.key] = resolve_data_root(dataset, data_dirs)
        except MissingData as exc:
            missing[dataset.key] = exc
    if len(missing) == 1:
        raise next(iter(missing.values()))
    if missing:
        by_cause: dict[str, list[str]] = {}
        for exc in missing.values():
            by_cause.setdefault(exc.why, []).append(exc.listed)
        causes = "; ".join(f"{', '.join(names)}: {why}" for why, names in by_cause.items())
        raise DataError(
            f"{len(missing)} datasets are missing, so nothing was run; give each one's folder with "
            f"--data-dir KEY=PATH: {causes}"
        )
    return roots


def _download(dataset: DatasetConfig) -> tuple[Path, str]:
    from huggingface_hub import snapshot_download

    from vipbench.hub import dataset_cached, local_only

    assert dataset.hf_id is not None
    hint = f"download it yourself and pass --data-dir {dataset.key}=PATH"
    what = f"the {dataset.key} dataset {dataset.hf_id!r}"
    try:
        offline = local_only(what, dataset_cached(dataset.hf_id, dataset.revision), hint)
    except VipbenchError as exc:
        why = str(exc).removesuffix(f"; {hint}").replace(f"{what} is ", "").replace(f" {what}", "")
        raise MissingData(dataset, why, str(exc)) from None
    try:
        path = Path(
            snapshot_download(
                repo_id=dataset.hf_id, repo_type="dataset", revision=dataset.revision, local_files_only=offline
            )
        )
    except Exception as exc:  # the hub raises many types: gated, not found, interrupted
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        message = (
            f"could not download the {dataset.key} dataset {dataset.hf_id!r} from the Hugging Face Hub ({why}); {hint}"
        )
        raise MissingData(dataset, f"the download failed ({why})", message) from None
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


def json_reason(exc: json.JSONDecodeError, lineno: int | None = None) -> str:
    """json's whole reason, as its own message words it ("Invalid control character at: line 3 column 12"), with
    the file's line number for a line parsed on its own (json counts lines within the string it was given)."""
    return f"{exc.msg}: line {lineno or exc.lineno} column {exc.colno}"


def _not_text(path: Path, exc: UnicodeDecodeError, lineno: int | None = None) -> DataError:
    where = f"{path}:{lineno}" if lineno else str(path)
    return DataError(f"{where}: not UTF-8 text ({exc.reason}: byte {exc.object[exc.start]:#04x})")


def read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({json_reason(exc)})") from None
    except UnicodeDecodeError as exc:
        raise _not_text(path, exc) from None
    except FileNotFoundError:
        raise DataError(f"missing file: {path}") from None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line."""
    try:
        fh = path.open("rb")  # decoded line by line, so a bad byte is reported with its line number
    except FileNotFoundError:
        raise DataError(f"missing file: {path}") from None
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _not_text(path, exc, lineno) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: malformed JSON line ({json_reason(exc, lineno)})") from None
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
    cache = cache_dir() / "hf-datasets" / files_fingerprint(root)
    try:
        ds = datasets.load_dataset(str(root), name=config, split=split, cache_dir=str(cache))
    except Exception as exc:  # noqa: BLE001 - datasets raises many types for a folder that is not the dataset
        raise DataError(f"cannot read {where}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    if "image" in ds.features:
        ds = ds.cast_column("image", datasets.Image(decode=False))
    return ds


def split_rows(root: Path, config: TaskConfig) -> Iterator[tuple[dict, str]]:
    """Each row of the task's split (``dataset.options``: ``split``, and ``config`` when the repo has several),
    with where it is, for error messages."""
    split = config.dataset.options["split"]
    for i, row in enumerate(load_parquet_split(root, split, config.dataset.options.get("config"))):
        yield row, f"{root} [{split}] row {i}"


def referring_expressions(row: Mapping[str, Any], where: str) -> list[str]:
    """The row's referring expressions (lmms-lab's RefCOCO ``answer``: a list, or one string); none is an error."""
    expressions = field(row, "answer", where)
    expressions = [expressions] if isinstance(expressions, str) else list(expressions)
    if not expressions:
        raise DataError(f"{where}: no referring expression")
    return [str(e) for e in expressions]


def files_fingerprint(root: Path) -> str:
    """A hash of the folder and of every file in it (name, size, modification time). ``datasets`` keys its cache
    of a local folder by the folder's name and the config alone: without this, a second folder of the same name,
    or a folder whose files were replaced, would be read from the first one's cache."""
    root = Path(root).resolve()
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    stats = [(str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return hashlib.sha256(json.dumps([str(root), stats]).encode()).hexdigest()[:16]


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


_WHOLE_IMAGES: set[tuple[Path, int, int]] = set()
"""(path, size, mtime) of every image already found whole in this process: tasks that share images (POPE's three
settings) and repeated loads check each file once."""


def check_image(path: Path, where: str) -> None:
    """Refuse, in one line naming the file, an image that is missing or that PIL cannot decode, so a corrupt file
    fails when the data loads instead of in the middle of generation. Cheap, since it runs on every image: the header
    is parsed; a PNG is verified (every chunk's CRC, truncation); a JPEG that does not end in its end-of-image marker
    (truncated, or with bytes after it) is decoded at 1/8 scale; any other format is decoded whole."""
    try:
        stat = path.stat()
    except OSError:
        raise DataError(f"{where}: image not found: {path}") from None
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key in _WHOLE_IMAGES:
        return
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            _decode_cheaply(image, path)
    except UnidentifiedImageError:
        raise DataError(f"{where}: not an image file PIL can read: {path}") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        # PIL reports a broken file as OSError (truncated), SyntaxError (bad PNG chunk) or ValueError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{where}: corrupt image {path} ({reason})") from None
    _WHOLE_IMAGES.add(key)


def _decode_cheaply(image, path: Path) -> None:
    if image.format == "PNG":
        image.verify()
    elif image.format == "JPEG":
        with path.open("rb") as fh:
            fh.seek(-2, os.SEEK_END)
            whole = fh.read(2) == b"\xff\xd9"
        if not whole:
            image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    else:
        image.load()


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
