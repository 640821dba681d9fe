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
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from vipbench.errors import VipbenchError


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int

    @property
    def leader(self) -> bool:
        return self.rank == 0

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
        """Rank 0's ``value``, on every rank."""
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def current() -> World | None:
    """The process's place in a data-parallel run started by torchrun, or None for a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return None
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
    return World(rank, size, local_rank)
