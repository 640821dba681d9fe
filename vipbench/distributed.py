"""Data-parallel runs on torch.distributed: ``torchrun --nproc-per-node N -m vipbench run ...``.

torchrun (or any launcher that sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``) starts one process per GPU, on one
machine or several (``--nnodes``). Each process loads the model on its own device and generates every
``WORLD_SIZE``-th pending request, appending to its own shard (``predictions.rank<R>.jsonl``); rank 0 alone writes
the manifest and the heartbeat, and, once every rank is done, merges the shards into predictions.jsonl in the
tasks' order. A killed run resumes with any number of processes: what every shard holds is done, the rest is shared
out again. vipbench schedules nothing itself: torch.distributed starts, connects and stops the processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from vipbench.errors import VipbenchError


@dataclass(frozen=True)
class World:
    """A process's place in a run. This base is the single process every run is unless torchrun started several
    (rank 0 of 1: its barrier waits for no one, what it shares it keeps), as lm-evaluation-harness's models default
    their rank and world size; ``TorchWorld`` is one of several processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        """Rank 0, which alone writes the manifest and the heartbeat and merges the shards."""
        return self.rank == 0

    @property
    def shard(self) -> int | None:
        """The shard this process appends its predictions to; None, predictions.jsonl itself, in a single process."""
        return None

    def others(self) -> list[int]:
        """Every rank but this one."""
        return [rank for rank in range(self.size) if rank != self.rank]

    def device(self, requested: str | None) -> str | None:
        """The device to load the model on: the one asked for."""
        return requested

    def barrier(self) -> None:
        """Wait until every process gets here."""

    def share(self, value: Any) -> Any:
        """Rank 0's ``value``, on every rank."""
        return value

    def close(self) -> None:
        """Leave the process group."""

    @contextmanager
    def leader_first(self) -> Iterator[None]:
        """Rank 0 does the block first, the others after it: whatever rank 0 downloads or builds, they read whole."""
        if not self.leader:
            self.barrier()
        yield
        if self.leader:
            self.barrier()


@dataclass(frozen=True)
class TorchWorld(World):
    """One of several processes torchrun started, joined by torch.distributed."""

    @property
    def shard(self) -> int | None:
        return self.rank

    def device(self, requested: str | None) -> str | None:
        """Each process's own GPU when the device is left to vipbench (``cuda:<LOCAL_RANK>``)."""
        import torch

        if requested in (None, "auto", "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        return requested

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def share(self, value: Any) -> Any:
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


SINGLE = World()
"""The single process a run is unless torchrun started several."""


def current() -> World:
    """The process's place in the run: under torchrun (``WORLD_SIZE`` > 1) it joins the process group, otherwise it is
    the single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    try:
        import torch
        import torch.distributed as dist
    except ImportError:
        raise VipbenchError("a data-parallel run needs torch: pip install 'vipbench[models]'") from None
    if not dist.is_initialized():
        gpu = torch.cuda.is_available()
        if gpu:
            torch.cuda.set_device(local_rank)
        # NCCL between GPUs; gloo on CPUs. Generous timeout: a rank may wait for another's long last batch.
        dist.init_process_group("nccl" if gpu else "gloo", timeout=timedelta(hours=2))
    return TorchWorld(rank, size, local_rank)
