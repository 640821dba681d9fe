"""Where a torch model runs: a device string checked against the machine, and its dtype."""

from __future__ import annotations

from typing import Any

from vipbench.errors import VipbenchError


def resolve_device(device: str, dtype: str) -> tuple[str, Any]:
    """``auto`` is CUDA when there is a GPU; a dtype of ``auto`` is bfloat16 on a GPU and float32 on a CPU."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        index = torch.device(device).index
    except RuntimeError:
        raise VipbenchError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise VipbenchError(f"--device {device}: torch {torch.__version__} sees no CUDA GPU here; use --device cpu")
        if index is not None and index >= count:
            raise VipbenchError(f"--device {device}: there are {count} CUDA GPU(s), numbered from 0")
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    try:
        return device, getattr(torch, dtype)
    except AttributeError:
        raise VipbenchError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16") from None
