"""What a grading is asked to do, split by job: the grading policy, and the judge endpoint its calls go to.

Scoring with metrics only (the end of ``vipbench run``) takes a policy and no endpoint: it makes no judge call.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from vipbench.chat.client import DEFAULT_TIMEOUT
from vipbench.errors import VipbenchError


def default_prompt() -> Literal["official", "vipbench"]:
    """``$VIPBENCH_JUDGE_PROMPT`` (official or vipbench: e.g. for an offline CI), else official."""
    value = os.environ.get("VIPBENCH_JUDGE_PROMPT") or "official"
    if value not in ("official", "vipbench"):
        raise VipbenchError(f"VIPBENCH_JUDGE_PROMPT={value!r}: expected official or vipbench")
    return value


@dataclass(frozen=True)
class JudgeOverrides:
    """The command line's changes to every judge-scored task's recorded judge."""

    model: str | None = None
    runs: int | None = None
    templates: tuple[tuple[str | None, Path], ...] = ()
    """``--judge-template [TASK=]PATH``: a file for the tasks named (a glob), or, unnamed, for every judged task
    whose judge reads that kind of file (a grader script: ViP-Bench; a rule.json: LLaVA-Bench; a .jinja: all)."""
    prompt: Literal["official", "vipbench"] = field(default_factory=lambda: default_prompt())
    """Where a judge's prompt comes from when no template is given: upstream's file (``official``: the user's
    copy, the cached download, or a download) or vipbench's own wording (a recorded deviation)."""
    rules: Literal["official", "vipbench"] | None = None
    """The judges' rules (reading, re-asks, failure rule): None, each task's as its protocol says (official
    unless the run was made with ``--protocol vipbench``)."""

    def flags(self) -> list[str]:
        """The options given, as the command line spells them."""
        given = (
            ("--judge", self.model),
            ("--judge-template", self.templates),
            ("--runs", self.runs),
            ("--judge-rules", self.rules),
        )
        return [flag for flag, value in given if value]


@dataclass
class GradingPolicy:
    """Which grades a run needs, how they count, and when scores are written."""

    overrides: JudgeOverrides = field(default_factory=JudgeOverrides)
    include_paths: Sequence[Path] = ()
    """Task folders to look in for the current task YAML (to report changes, or to rescore with it)."""
    rescore_with_current_task: bool = False
    """Grade with the current task YAML instead of the spec the run recorded."""
    failed_grade: Literal["rule", "exclude", "zero"] = "rule"
    """A grade that stayed unparseable: ``rule`` counts it as its judge's rules say (officially ViP-Bench's 0.0,
    LLaVA-Bench's [-1, -1]; vipbench's rules leave it out), ``exclude`` leaves it out, ``zero`` counts it as 0."""
    swap_check: bool = False
    """Grade pairwise reviews again with the two answers swapped, and report the judge's position bias."""
    allow_partial: bool = False
    """Score a run that is not complete (killed, failed or still running); every number is marked partial."""
    allow_failures: bool = False
    """Write scores less complete than the run's current scores.json (never scores without a single grade)."""


@dataclass
class JudgeEndpoint:
    """Where judge calls go and how they are made: the client's settings, the cache, prices and the Batch API."""

    base_url: str | None = None
    concurrency: int = 64
    """The most requests in flight. At a fixed latency the speed-up over a serial loop cannot exceed this, so 64
    is what it takes to grade 50× faster than the official grader's serial loop (benchmarks/judge_throughput.py)."""
    adaptive: bool = True
    """Start below ``concurrency`` and adapt to the endpoint's rate limit (vipbench.chat.limiter)."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds a request waits for its answer to start; an endpoint that never answered stops the judge after one."""
    max_retries: int = 6
    backoff_initial: float = 1.0
    cache_path: Path | None = None
    """The reply cache (default: ``judge-cache.sqlite`` in vipbench's cache folder)."""
    prices: Path | None = None
    cost_limit: float | None = None
    batch: bool = False
    """Send the first ask of each grade still needed through OpenAI's Batch API (half price, within 24 hours);
    grade once the batch has ended."""
    wait: bool = False
    """With ``batch``: poll until the batch has ended, instead of leaving it to a later command."""
    poll: float = 30.0
    """Seconds between two looks at a batch."""

    def client_settings(self) -> dict[str, object]:
        """The ChatClient's keyword arguments this endpoint sets."""
        names = ("base_url", "concurrency", "timeout", "max_retries", "backoff_initial", "adaptive")
        return {name: getattr(self, name) for name in names}
