"""Where the declarative files (tasks/, judges/, leaderboard/) live.

In a wheel they are packaged under vipbench/_builtin/; in a source checkout they sit at the repository root.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def builtin_dir(name: str) -> Path:
    for candidate in (_PACKAGE / "_builtin" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"vipbench's built-in {name}/ folder is missing; the installation is broken")


def cache_dir() -> Path:
    """Where vipbench keeps things it can rebuild: the tiny checkpoint, generated data, the judge cache."""
    root = os.environ.get("VIPBENCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "vipbench")
    return Path(root)
