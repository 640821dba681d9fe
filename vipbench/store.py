"""The run store: ``results/<run-id>/`` and the files each stage writes there.

Appends are flushed and fsynced per batch, so a killed run loses at most the batch in flight; a line torn by
the kill is cut off when the file is next opened. Whole files are replaced atomically.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from vipbench.errors import UnknownNameError, VipbenchError, first_problem
from vipbench.records import Manifest, PredictionRecord

M = TypeVar("M", bound=BaseModel)

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` whole or not at all: a kill, a full disk or a second writer at the same moment leaves
    the old file or the new one, never a mix (a temp file of this writer's own, synced, then renamed)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with tmp.open("x", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def read_jsonl_records(path: Path, model: type[M], repair: bool = True) -> list[M]:
    """Read an append-only JSONL file. A final line torn by a kill is ignored, and with ``repair`` also cut
    off, so the next append starts on a fresh line (readers of a published, read-only folder pass False)."""
    if not path.exists():
        return []
    records: list[M] = []
    with path.open("rb+" if repair else "rb") as fh:
        good = 0
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                break  # torn by a kill mid-write
            good += len(raw)
            if not raw.strip():
                continue
            try:
                records.append(model.model_validate_json(raw))
            except ValidationError as exc:
                raise VipbenchError(f"{path}: line {number} is not a valid record: {first_problem(exc)}") from None
        if repair:
            fh.truncate(good)
    return records


def append_jsonl(path: Path, records: Iterable[BaseModel], sync: bool = True) -> None:
    """Append whole lines. A flushed write survives the process being killed; ``sync`` also survives
    the machine going down, at the price of an fsync."""
    lines = "".join(r.model_dump_json() + "\n" for r in records)
    if not lines:
        return
    with path.open("a", encoding="utf-8") as fh:
        fh.write(lines)
        fh.flush()
        if sync:
            os.fsync(fh.fileno())


HEARTBEAT_SECONDS = 5.0
"""How often a generating run touches its heartbeat file."""
STALE_SECONDS = 30.0
"""A heartbeat older than this means the run's process is gone."""


class RunStore:
    def __init__(self, path: Path):
        self.path = path
        self.heartbeat_path = path / "heartbeat"
        self.manifest_path = path / "manifest.json"
        self.predictions_path = path / "predictions.jsonl"
        self.judgements_path = path / "judgements.jsonl"
        self.scores_path = path / "scores.json"
        self.scores_csv_path = path / "scores.csv"
        self.exports_dir = path / "exports"

    @property
    def run_id(self) -> str:
        return self.path.name

    @classmethod
    def create(cls, results_dir: Path, run_id: str) -> RunStore:
        if not _RUN_ID.match(run_id):
            raise VipbenchError(f"invalid run id {run_id!r}: use letters, digits and . _ @ + -")
        path = results_dir / run_id
        if path.exists():
            raise VipbenchError(f"run {run_id!r} already exists in {results_dir}; continue it with --resume {run_id}")
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise VipbenchError(f"cannot create the run folder {path}: {exc.strerror or exc}") from None
        return cls(path)

    @classmethod
    def open(cls, results_dir: Path, ref: str | None = None) -> RunStore:
        """A run by id or folder path; ``None`` or ``"latest"`` is the most recently started run."""
        if ref in (None, "latest"):
            runs = list_runs(results_dir)
            if not runs:
                raise VipbenchError(f"no runs in {results_dir}; start one with vipbench run")
            return runs[-1]
        candidates = [Path(ref), results_dir / ref]
        for path in candidates:
            if (path / "manifest.json").is_file():
                return cls(path)
        raise UnknownNameError("run", ref, [r.run_id for r in list_runs(results_dir)])

    def manifest(self) -> Manifest:
        try:
            return Manifest.model_validate_json(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise VipbenchError(f"{self.path} is not a vipbench run (no manifest.json)") from None
        except ValidationError as exc:
            raise VipbenchError(
                f"{self.manifest_path}: invalid manifest ({first_problem(exc)}); a run made by another vipbench "
                "version cannot be continued or judged: start a new run"
            ) from None

    def write_manifest(self, manifest: Manifest) -> None:
        manifest.updated = now()
        write_atomic(self.manifest_path, manifest.model_dump_json(indent=2) + "\n")

    def shard_path(self, rank: int) -> Path:
        """Where one process of a data-parallel run appends its predictions until they are merged."""
        return self.path / f"predictions.rank{rank}.jsonl"

    def shards(self) -> list[Path]:
        return sorted(self.path.glob("predictions.rank*.jsonl"))

    def predictions(self, repair: bool = False) -> list[PredictionRecord]:
        """Every prediction made: predictions.jsonl, then any data-parallel shards not merged yet (each sample
        once, should a merge have been cut short). Only the process about to append (``repair``) cuts off a line
        torn by a kill: a reader must not, since the line may be one another process is still writing."""
        records: dict[tuple, PredictionRecord] = {}
        for path in (self.predictions_path, *self.shards()):
            for record in read_jsonl_records(path, PredictionRecord, repair=repair):
                records.setdefault(record.key, record)
        return list(records.values())

    def append_predictions(self, records: Iterable[PredictionRecord], rank: int | None = None) -> None:
        append_jsonl(self.predictions_path if rank is None else self.shard_path(rank), records)

    def write_predictions(self, records: Iterable[PredictionRecord]) -> None:
        """Replace predictions.jsonl at once (a kill leaves the old file whole), then drop the merged shards."""
        write_atomic(self.predictions_path, "".join(r.model_dump_json() + "\n" for r in records))
        for shard in self.shards():
            shard.unlink()


class Heartbeat:
    """While a run generates, a thread touches ``<run>/heartbeat`` every few seconds, so that other processes
    (on this machine or another sharing the folder) can tell a live run from one that was killed."""

    def __init__(self, store: RunStore, every: float = HEARTBEAT_SECONDS):
        self.path, self.every = store.heartbeat_path, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="vipbench-heartbeat", daemon=True)

    def _beat(self) -> None:
        while True:
            self.path.touch()
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_status(store: RunStore, manifest: Manifest) -> str:
    """The run's status as it really is: a manifest left at ``running`` by a process that was killed (its pid
    gone on this machine, or its heartbeat stale) is ``interrupted``."""
    if manifest.status != "running":
        return manifest.status
    try:
        age = time.time() - store.heartbeat_path.stat().st_mtime
    except FileNotFoundError:
        return "interrupted"
    if age > STALE_SECONDS:
        return "interrupted"
    if manifest.host == socket.gethostname() and manifest.pid and not _pid_alive(manifest.pid):
        return "interrupted"
    return "running"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def list_runs(results_dir: Path) -> list[RunStore]:
    """Runs in ``results_dir``, oldest first by manifest creation time."""
    runs = []
    if results_dir.is_dir():
        for path in results_dir.iterdir():
            if (path / "manifest.json").is_file():
                try:
                    created = json.loads((path / "manifest.json").read_text()).get("created", "")
                except json.JSONDecodeError:
                    continue
                runs.append((created, path.name, RunStore(path)))
    return [store for _, _, store in sorted(runs, key=lambda t: (t[0], t[1]))]
