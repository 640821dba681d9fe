"""Writing into the site folder: claiming it, writing files atomically, copying run files, removing stale ones."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vipbench.errors import VipbenchError
from vipbench.site_layout import MARKER, OWN_DIRS
from vipbench.store import RunStore


def check_out_dir(out_dir: Path, results_dir: Path) -> None:
    """Refuse an ``out_dir`` that is not a new or empty folder, or one a build has written (it holds MARKER)."""
    if out_dir.resolve() == results_dir.resolve():
        raise VipbenchError(
            f"the leaderboard cannot be written into the results folder itself ({out_dir}); "
            "choose a subfolder such as results/leaderboard"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise VipbenchError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise VipbenchError(
            f"{out_dir} is not empty and holds no vipbench leaderboard; choose an empty or new folder with --out"
        )


def claim_out_dir(out_dir: Path) -> None:
    """Make ``out_dir`` a site folder (after ``check_out_dir``): a later build may write into it and clean it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text(
        f"built by vipbench leaderboard build; rebuilds replace {' '.join(f'{d}/' for d in OWN_DIRS)}\n",
        encoding="utf-8",
    )


def write_text(path: Path, text: str, written: set[Path]) -> None:
    """Write ``path`` atomically (a reader never sees half a file) and record it as part of the site."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    written.add(path)


def clean_stale(out_dir: Path, written: set[Path]) -> None:
    """Remove every file of the site's own folders that this build did not write or keep."""
    keep = {p.resolve() for p in written}
    for name in OWN_DIRS:
        folder = out_dir / name
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*"), reverse=True):
            if path.is_file() and path.resolve() not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def copy_run_files(store: RunStore, key: str, out_dir: Path, written: set[Path]) -> dict[str, str]:
    """The run's manifest and scores, copied beside the site for download (with their times, so that a rebuild
    copies only what changed); their site paths by kind."""
    files: dict[str, str] = {}
    for name, source in (
        ("manifest", store.manifest_path),
        ("scores", store.scores_path),
        ("csv", store.scores_csv_path),
    ):
        if source.is_file():
            target = out_dir / "runs" / key / source.name
            if not _same_file(source, target):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
            written.add(target)
            files[name] = f"runs/{key}/{source.name}"
    return files


def _same_file(source: Path, target: Path) -> bool:
    try:
        a, b = source.stat(), target.stat()
    except FileNotFoundError:
        return False
    return (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)
