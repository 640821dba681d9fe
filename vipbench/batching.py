"""How a task's requests become generate calls: longest prompt first, as many at once as fit, fewer after an
out-of-memory error.

Longest first (as lm-evaluation-harness orders them) puts requests of similar length together, so little of a
batch is padding, and meets the largest batch's memory peak at the start rather than hours in. With ``auto``, the
first batch tries ``AUTO_START`` requests and every out-of-memory error halves the size and retries the same
requests (as accelerate's ``find_executable_batch_size`` does), so no sample is lost or generated twice.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from vipbench.models.base import Generation, GenerationSettings, ModelAdapter
from vipbench.types import Request

#: Where ``auto`` starts on a GPU: a 7B model with 600-token prompts fits 128 in 80 GB (``benchmarks/``).
AUTO_START = 128

BatchSizeOption = int | Literal["auto"]


@dataclass
class BatchSize:
    """The size asked for, the size in use, and what the run learnt (for the manifest)."""

    requested: BatchSizeOption
    current: int
    largest: int = 0
    """The largest batch that generated without running out of memory."""
    backoffs: int = 0
    """How many times an out-of-memory error halved the batch."""

    @classmethod
    def start(cls, requested: BatchSizeOption) -> BatchSize:
        return cls(requested, AUTO_START if requested == "auto" else requested)

    def record(self) -> dict:
        return {
            "requested": self.requested,
            "largest_used": self.largest,
            "out_of_memory_backoffs": self.backoffs,
            "order": "longest prompt first",
        }


def longest_first(requests: Sequence[Request]) -> list[Request]:
    """By prompt length, longest first; ties keep their order, so the batches are the same on every run."""
    return sorted(requests, key=lambda r: -len(r.text))


def out_of_memory(exc: BaseException) -> bool:
    try:
        import torch
    except ImportError:
        return False
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def batches(
    model: ModelAdapter, requests: Sequence[Request], settings: GenerationSettings, size: BatchSize, warn=print
) -> Iterator[tuple[list[Request], list[str | Generation], float]]:
    """Generate ``requests`` in batches; yield each batch, its answers and the seconds it took."""
    pending = deque(longest_first(requests))
    while pending:
        batch = [pending.popleft() for _ in range(min(size.current, len(pending)))]
        started = time.perf_counter()
        try:
            answers = model.generate(batch, settings)
        except Exception as exc:
            if not out_of_memory(exc) or len(batch) == 1:
                raise
            size.current, size.backoffs = max(1, len(batch) // 2), size.backoffs + 1
            if size.requested != "auto":
                warn(f"out of memory at batch size {len(batch)}: going on at {size.current}")
            del exc
            _free_memory()
            pending.extendleft(reversed(batch))
            continue
        size.largest = max(size.largest, len(batch))
        yield batch, answers, time.perf_counter() - started
