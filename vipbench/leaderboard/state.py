"""The build state: for each run, what its files were when its pages were written, and what those pages hold.

One small JSON file per run in the site's ``.vipbench-state/``: the size and modification time of the run's
files, its entry (the overview's numbers, no sample), the sample files it wrote and the pictures they show. A
rebuild reads a run again only when any of that no longer holds: a file of the run changed (or appeared, or went),
the run was still running, a file the state names is gone from the site, or another vipbench wrote the state.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vipbench.leaderboard.files import write_text
from vipbench.leaderboard.images import RunImages
from vipbench.leaderboard.summary import RunEntry
from vipbench.site_layout import STATE_DIR
from vipbench.store import RunStore

FORMAT = 1
RUN_FILES = ("manifest.json", "scores.json", "scores.csv", "predictions.jsonl", "judgements.jsonl")
"""What a run's pages are made from: a change to any of them rebuilds the run."""


def fingerprint(folder: Path) -> dict[str, list[int] | None]:
    """Size and modification time (ns) of each of the run's files; None for one that does not exist."""
    found: dict[str, list[int] | None] = {}
    for name in RUN_FILES:
        try:
            st = (folder / name).stat()
        except FileNotFoundError:
            found[name] = None
        else:
            found[name] = [st.st_size, st.st_mtime_ns]
    return found


@functools.lru_cache(maxsize=1)
def builder() -> str:
    """The code that writes a run's pages: vipbench's version and this package's sources. A state written by
    other code is never trusted (its sample files may have another shape)."""
    from vipbench import __version__

    digest = hashlib.sha256(__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class RunState:
    """One run as its pages were last written."""

    entry: RunEntry
    files: dict[str, list[int] | None]
    """The run's ``fingerprint`` when it was read."""
    written: list[str] = field(default_factory=list)
    """The sample files written for it, relative to the site folder."""
    images: RunImages = field(default_factory=RunImages)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "builder": builder(),
            "files": self.files,
            "written": self.written,
            "images": {"used": self.images.used, "missing": self.images.missing, "failed": self.images.failed},
            "entry": self.entry.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        return cls(RunEntry.from_json(data["entry"]), data["files"], data["written"], RunImages(**data["images"]))


class BuildState:
    """The state files of one site folder."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.dir = out_dir / STATE_DIR
        self._present: dict[str, bool] = {}

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def reusable(self, store: RunStore, key: str, files: dict[str, list[int] | None]) -> RunState | None:
        """The run's state when its pages (under ``key``) are still what its ``files`` would make; else None."""
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data.get("builder") != builder() or data.get("files") != files:
                return None
            state = RunState.from_json(data)
        except (OSError, ValueError, KeyError, TypeError):  # none yet, or not one this code can read
            return None
        entry = state.entry
        if (entry.run_id, entry.folder) != (store.run_id, str(store.path)) or entry.status == "running":
            return None
        if not all(self._exists(p) for p in [*state.written, *state.images.used]):
            return None
        return state

    def _exists(self, site_path: str) -> bool:
        if site_path not in self._present:
            self._present[site_path] = (self.out_dir / site_path).is_file()
        return self._present[site_path]

    def save(self, state: RunState, written: set[Path]) -> None:
        write_text(self.path(state.entry.key), json.dumps(state.to_json(), separators=(",", ":")), written)

    def keep(self, key: str, written: set[Path]) -> None:
        written.add(self.path(key))
