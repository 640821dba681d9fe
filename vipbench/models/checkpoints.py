"""Where a torch model's weights come from (a local folder, the tiny test build, or the Hub) and where it runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vipbench.errors import VipbenchError


def checkpoint_source(checkpoint: str, model_path: str | None, tiny: Callable[[], Path]) -> tuple[str, bool]:
    """(a local folder or a Hub id, whether to load from the local cache only). ``--model-path`` wins; the
    alias ``tiny`` builds a test checkpoint; a Hub id is checked for reachability first (vipbench.hub)."""
    if model_path:
        folder = Path(model_path).expanduser()
        if not folder.is_dir():
            raise VipbenchError(f"--model-path {model_path}: folder not found")
        return str(folder), False
    if checkpoint == "tiny":
        with quiet_loading():  # the build's save_pretrained draws "Writing model shards"
            return str(tiny()), False
    from vipbench.hub import local_only, model_cached

    hint = f"download it where there is a network (hf download {checkpoint}) and pass --model-path DIR"
    return checkpoint, local_only(f"the checkpoint {checkpoint!r}", model_cached(checkpoint), hint)


@contextmanager
def quiet_loading() -> Iterator[None]:
    """transformers' own progress bars ("Loading weights", "Writing model shards") off while a model loads or is
    built: vipbench draws its own progress, and a tqdm line between its lines is noise. The Hub's download bars stay
    as they were (a 7B checkpoint downloads for minutes), and both are restored after."""
    try:
        from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
        from transformers.utils import logging
    except ImportError:
        yield
        return
    was_on, hub_was_off = logging.is_progress_bar_enabled(), are_progress_bars_disabled()
    logging.disable_progress_bar()  # turns the Hub's bars off too: they are turned back on at once
    if not hub_was_off:
        enable_progress_bars()
    try:
        yield
    finally:
        if was_on:
            logging.enable_progress_bar()
        if hub_was_off:
            disable_progress_bars()


def describe_checkpoint(adapter: Any) -> dict[str, Any]:
    """What every checkpoint-backed adapter records first: itself, the checkpoint, where it loaded, and how it runs."""
    return {
        "adapter": type(adapter).__name__,
        "checkpoint": adapter.checkpoint,
        "source": adapter.source,
        "device": adapter.device,
        "dtype": str(adapter.dtype).removeprefix("torch."),
    }


def resolve_device(device: str, dtype: str, gpu_dtype: str = "bfloat16") -> tuple[str, Any]:
    """``auto`` is CUDA when there is a GPU; a dtype of ``auto`` is ``gpu_dtype`` on a GPU (the precision the
    model's own evaluation used) and float32 on a CPU."""
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
        dtype = gpu_dtype if device.startswith("cuda") else "float32"
    try:
        return device, getattr(torch, dtype)
    except AttributeError:
        raise VipbenchError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16") from None
