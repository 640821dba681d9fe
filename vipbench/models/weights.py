"""Reading checkpoint tensors, shared by the native adapters (Osprey, PerceptionGPT, OMG-LLaVA): every file
format their releases use, and one clear line when a file is missing or unreadable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from vipbench.errors import VipbenchError


def read_tensors(folder: Path, what: str) -> dict[str, Any]:
    """Every tensor of a folder's weights: safetensors or ``.bin``, one file or shards with their index."""
    state: dict[str, Any] = {}
    for file in weight_files(folder, what):
        state.update(load_tensors(file))
    return state


def weight_files(folder: Path, what: str) -> list[Path]:
    """The files holding a folder's weights, in Hugging Face's layouts (an index names the shards)."""
    for index, single in (
        ("model.safetensors.index.json", "model.safetensors"),
        ("pytorch_model.bin.index.json", "pytorch_model.bin"),
    ):
        if (folder / index).is_file():
            try:
                files = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
            except (ValueError, KeyError):
                raise VipbenchError(f"{folder / index}: not a weights index (no weight_map)") from None
            return [folder / f for f in files]
        if (folder / single).is_file():
            return [folder / single]
    raise VipbenchError(f"{what} not found in {folder} (model.safetensors or pytorch_model.bin, or their shards)")


def load_tensors(path: Path) -> dict[str, Any]:
    """One weights file (safetensors, or a torch pickle read with ``weights_only``: never code from a file)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise VipbenchError(f"cannot read weights {path}: {str(exc).splitlines()[0]}") from None


@contextmanager
def building(dtype: torch.dtype) -> Iterator[None]:
    """Build modules in ``dtype`` without random initialisation (their weights are loaded next): a 7B model
    then takes its final size in memory at once."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4.x
        from transformers.modeling_utils import no_init_weights
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with no_init_weights():
            yield
    finally:
        torch.set_default_dtype(previous)
