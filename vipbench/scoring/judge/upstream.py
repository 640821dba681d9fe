"""The official judge prompts, read from upstream's own files: never embedded in vipbench (they are upstream prose).

A judge YAML names the upstream file its official prompt lives in (``prompt_file:``, a key of ``PINNED``): the
repository, the commit and the sha256 of the file there. The file is found, in this order: the path the user gives
(``--judge-template``), the copy in vipbench's cache folder (``upstream/<owner>+<repo>/<commit>/<file>``), a
download from ``$VIPBENCH_UPSTREAM_URL`` (default ``https://raw.githubusercontent.com``) at the pinned commit,
hash-checked before it is cached. Without it, ``vipbench judge`` stops with one line saying where to get it;
vipbench's own wording (``--judge-prompt vipbench``) is a labelled deviation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vipbench.errors import VipbenchError
from vipbench.upstream_files import PinnedFile, fetch, local_copy, matches, sha256_of

__all__ = ["PINNED", "UpstreamFile", "kind_of", "local_copy", "matches", "official_file", "pinned", "sha256_of"]

Kind = Literal["evaluator", "rules", "jinja"]


@dataclass(frozen=True)
class UpstreamFile(PinnedFile):
    """One upstream judge file at a pinned commit (``vipbench.upstream_files``), and what it is to a judge."""

    kind: Kind
    """``evaluator``: a grader script whose ``prompt`` string is the judge's prompt (ViP-Bench); ``rules``:
    LLaVA's ``rule.json``, a rule per category (LLaVA-Bench)."""


PINNED: dict[str, UpstreamFile] = {
    "vip-bench-evaluator": UpstreamFile(
        repo="WisconsinAIVision/ViP-LLaVA",
        commit="77079b1e1990472598f1f8a6bb3f7f470100d191",
        path="scripts/eval/vip-bench_evaluator.py",
        sha256="67e82b4784629932b71b95e06c24eeedb9d1d1192d0c17372063af71c9c0b1ba",
        kind="evaluator",
    ),
    "llava-rule-json": UpstreamFile(
        repo="haotian-liu/LLaVA",
        commit="c121f0432da27facab705978f83c4ada465e46fd",
        path="llava/eval/table/rule.json",
        sha256="dd7345a44ce9f7a24e51a30ee030cdab32346f9d08e3359c80545ff1312b1e07",
        kind="rules",
    ),
}


def pinned(name: str) -> UpstreamFile:
    if name not in PINNED:
        raise VipbenchError(f"unknown upstream prompt file {name!r} (known: {', '.join(sorted(PINNED))})")
    return PINNED[name]


def kind_of(path: Path) -> Kind:
    """What a judge template file is, by its name: a grader script, a rule.json, or a jinja2 template."""
    return "evaluator" if path.suffix == ".py" else "rules" if path.suffix == ".json" else "jinja"


def official_file(pin: UpstreamFile, download: bool = True) -> Path | None:
    """The pinned file: the cached copy, else downloaded, checked and cached. None when ``download`` is off and
    there is no cached copy; a download that fails or gives other bytes is one error line."""
    return fetch(pin, lambda url, why: _missing(pin, url, why), download)


def _missing(pin: UpstreamFile, url: str, why: str) -> str:
    return (
        f"the official judge prompt is upstream's {pin.label} and {why}: download {url} and pass "
        f"--judge-template PATH (or put it at {pin.cache_path()}), or pass --judge-prompt vipbench for vipbench's "
        "own wording (a recorded deviation)"
    )
