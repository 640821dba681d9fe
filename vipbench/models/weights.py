"""Reading checkpoint tensors, shared by the native adapters (Osprey, PerceptionGPT, OMG-LLaVA): every file
format their releases use, and one clear line when a file is missing or unreadable; merging a LoRA into them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from vipbench.errors import VipbenchError

#: A LoRA tensor's key as peft saves it: the module, ``lora_A`` or ``lora_B``, the adapter's name (``default``; the
#: state dict peft hands out for saving leaves it out), ``weight``.
LORA_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<which>[AB])(\.default)?\.weight$")


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


def merge_lora(
    state: dict[str, Any],
    lora: Mapping[tuple[str, str], Any],
    alpha: float,
    where: Path | str,
    weight_key: Callable[[str], str | None] = lambda module: f"{module}.weight",
) -> None:
    """W += (alpha / r) · B · A for each LoRA pair (``module`` → its ``A`` and ``B``), into the weight it adapts,
    ``state[weight_key(module)]``, in float32, kept in the weight's own dtype. A half pair, a pair with no base
    weight, or one whose shapes do not fit its weight is an error that names the module: a B of one row would
    otherwise broadcast over the whole weight and load a different model without a word."""
    for module in sorted({m for m, _ in lora}):
        a, b = lora.get((module, "A")), lora.get((module, "B"))
        key = weight_key(module)
        base = state.get(key) if key is not None else None
        if a is None or b is None or base is None:
            what = "lora_B" if b is None else "lora_A" if a is None else "base weight"
            raise VipbenchError(f"{where}: the LoRA of {module} has no {what}")
        if a.dim() != 2 or b.dim() != 2 or (b.shape[0], a.shape[1]) != tuple(base.shape) or a.shape[0] != b.shape[1]:
            raise VipbenchError(
                f"{where}: the LoRA of {module} (A {tuple(a.shape)}, B {tuple(b.shape)}) does not fit its weight "
                f"{tuple(base.shape)}"
            )
        state[key] = (base.float() + (alpha / a.shape[0]) * (b.float() @ a.float())).to(base.dtype)
