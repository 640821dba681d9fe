"""Reading checkpoint tensors, shared by the native adapters (Osprey, PerceptionGPT, OMG-LLaVA): every file
format their releases use, and one clear line when a file is missing or unreadable."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
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


def no_init():
    """Build modules without random initialisation (their weights are loaded next)."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4.x
        from transformers.modeling_utils import no_init_weights
    return no_init_weights()


@contextmanager
def building(dtype: torch.dtype) -> Iterator[None]:
    """Build modules in ``dtype`` without random initialisation: a 7B model then takes its final size in memory
    at once."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with no_init():
            yield
    finally:
        torch.set_default_dtype(previous)


def load_strictly(
    model: torch.nn.Module,
    state: Mapping[str, Any],
    where: Path,
    family: str,
    official_key: Callable[[str], str] = lambda key: key,
) -> None:
    """Copy ``state`` into ``model`` (whose language model is ``model.llm``), refusing any missing or unexpected key
    and any shape that differs, each named as the checkpoint names it (``official_key``): never ``strict=False``."""
    own = model.state_dict()
    if "llm.lm_head.weight" not in state and getattr(model.llm.config, "tie_word_embeddings", False):
        state = {**state, "llm.lm_head.weight": state.get("llm.model.embed_tokens.weight")}
    missing = sorted(official_key(k) for k in own if k not in state)
    unexpected = sorted(official_key(k) for k in state if k not in own)
    if missing or unexpected:
        parts = [
            f"{what} {', '.join(keys[:5])}" for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys
        ]
        raise VipbenchError(f"{where}: the weights do not fit {family}: {'; '.join(parts)}")
    wrong = [
        f"{official_key(k)} {tuple(state[k].shape)} ≠ {tuple(v.shape)}"
        for k, v in own.items()
        if state[k].shape != v.shape
    ]
    if wrong:
        raise VipbenchError(f"{where}: weights of the wrong shape: {'; '.join(wrong[:3])}")
    model.load_state_dict(state, strict=True)
