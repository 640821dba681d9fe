"""The built site's folders and names.

``vipbench runs`` names the leaderboard's copy of a broken run's manifest as its repair, so this module imports
nothing of vipbench: reading a run never loads the site builder.
"""

from __future__ import annotations

import re

MARKER = ".vipbench-leaderboard"
"""Written into every built site; a non-empty output folder without it is never written into or cleaned."""
STATE_DIR = ".vipbench-state"
"""One small file per run: what the run's files were when its pages were written, and what those pages need
(``state.py``). A rebuild redoes only the runs whose files changed since."""
OWN_DIRS = ("img", "data", "runs", "assets", STATE_DIR)
"""The folders of a built site whose stale files a rebuild removes."""


def site_key(text: str) -> str:
    """A run's or unit's name as the site's folders spell it (``runs/<key>/manifest.json``)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"
    return slug[:80]


def unique_key(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``, ... when another run or unit already took it (``taken`` holds them in
    lower case, as a case-insensitive file system sees them). The caller takes it: ``taken.add(key.lower())``."""
    candidate, k = name, 2
    while candidate.lower() in taken:
        candidate, k = f"{name}-{k}", k + 1
    return candidate
