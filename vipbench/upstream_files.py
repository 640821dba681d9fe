"""Upstream files vipbench reads but never contains (their prose is upstream's): pinned by repository, commit and
sha256, found in the user's copy or vipbench's cache, else downloaded at the pinned commit and hash-checked.

Used by the official judge prompts (``vipbench.scoring.judge.upstream``) and by the question templates some
protocols draw from (``vipbench.protocols``: PerceptionGPT's ``template/*.json``). A copy in the cache folder
(``upstream/<owner>+<repo>/<commit>/<file>``) that no longer matches its pin is ignored, then replaced. Downloads
come from ``$VIPBENCH_UPSTREAM_URL`` (default ``https://raw.githubusercontent.com``).
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vipbench.errors import VipbenchError

DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
#: Seconds a download may take to start answering: offline is known fast, and the files are small.
TIMEOUT = 10.0


@dataclass(frozen=True)
class PinnedFile:
    """One upstream file at a pinned commit."""

    repo: str
    commit: str
    path: str
    sha256: str

    @property
    def label(self) -> str:
        """How results name it: ``owner/repo@commit7:path``."""
        return f"{self.repo}@{self.commit[:7]}:{self.path}"

    def url(self, base: str | None = None) -> str:
        base = base or os.environ.get("VIPBENCH_UPSTREAM_URL") or DEFAULT_BASE_URL
        return f"{base.rstrip('/')}/{self.repo}/{self.commit}/{self.path}"

    def cache_path(self) -> Path:
        from vipbench.resources import cache_dir

        return cache_dir() / "upstream" / self.repo.replace("/", "+") / self.commit / Path(self.path).name


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def matches(pin: PinnedFile, path: Path) -> bool:
    """Whether a file is byte for byte the pinned one."""
    return path.is_file() and sha256_of(path.read_bytes()) == pin.sha256


def local_copy(pin: PinnedFile) -> Path | None:
    """The cached copy, if it is there and intact."""
    path = pin.cache_path()
    return path if matches(pin, path) else None


def fetch(pin: PinnedFile, missing: Callable[[str, str], str], download: bool = True) -> Path | None:
    """The pinned file: the cached copy, else downloaded, checked and cached. None when ``download`` is off and
    there is no cached copy. A download that fails or gives other bytes is one error line, ``missing(url, why)``
    (the caller says what the file is for and how else to give it)."""
    found = local_copy(pin)
    if found or not download:
        return found
    url = pin.url()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            data = response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise VipbenchError(missing(url, f"could not download it ({reason})")) from None
    got = sha256_of(data)
    if got != pin.sha256:
        raise VipbenchError(missing(url, f"the download's sha256 is {got[:12]}…, not the pinned {pin.sha256[:12]}…"))
    path = pin.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
