"""Reading checkpoint tensors, shared by the native adapters (Osprey, PerceptionGPT, OMG-LLaVA): every file
format their releases use, and one clear line when a file is missing or unreadable; merging a LoRA into them.

A 7B's weights are streamed: ``stored_weights`` / ``stored_tensors`` give each tensor as a ``Stored`` (its shape and
dtype from the file, its values not read), ``load_strictly`` checks every key and shape against the model and then
copies the tensors into its parameters one at a time, handing each one's memory back before the next. Built in its
target dtype (``building``), the model then needs about its own size in host memory, not two or three times it."""

from __future__ import annotations

import ctypes
import json
import mmap
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

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


# ------------------------------------------------------------------------------------------- streaming


class Stored:
    """A checkpoint tensor not read yet: its shape and dtype come from the file; ``copy_into`` reads its values
    into the parameter that takes them and hands the memory they took back."""

    shape: torch.Size
    dtype: torch.dtype

    def read(self) -> torch.Tensor:
        raise NotImplementedError

    def done(self, tensor: torch.Tensor) -> None:
        """``tensor`` (from ``read``) is no longer needed."""

    def copy_into(self, target: torch.Tensor) -> None:
        tensor = self.read()
        target.copy_(tensor)
        self.done(tensor)


#: A weight on its way into a model: a tensor in memory or one still in its file.
Weight = Union[torch.Tensor, Stored]


@dataclass(eq=False)
class Mapped(Stored):
    """A tensor of a torch pickle that ``torch.load(mmap=True)`` mapped into memory: reading it pages it in, and
    ``done`` drops those pages again (they stay in the file), or the process would keep every page it read until
    the whole file is unmapped: a 10 GB shard's worth."""

    tensor: torch.Tensor

    def __post_init__(self) -> None:
        self.shape, self.dtype = self.tensor.shape, self.tensor.dtype

    def read(self) -> torch.Tensor:
        return self.tensor

    def done(self, tensor: torch.Tensor) -> None:
        _drop_pages(tensor)

    def copy_into(self, target: torch.Tensor) -> None:
        """A block of rows at a time, each block's pages dropped before the next: a 760 MB embedding never sits
        whole in memory beside its parameter."""
        for block in row_blocks(self.tensor):
            target[block].copy_(self.tensor[block])
            self.done(self.tensor[block])


@dataclass(eq=False)
class InSafetensors(Stored):
    """A tensor of a safetensors file, read with plain file reads (no mapping: nothing stays behind)."""

    path: Path
    start: int
    nbytes: int
    dtype: torch.dtype
    shape: torch.Size

    def read(self) -> torch.Tensor:
        tensor = torch.empty(self.shape, dtype=self.dtype)
        self._read_into(tensor)
        return tensor

    def copy_into(self, target: torch.Tensor) -> None:
        """Straight into ``target`` when it has the file's dtype and layout (no copy in between)."""
        if target.dtype == self.dtype and target.is_contiguous() and target.shape == self.shape:
            self._read_into(target)
        else:
            super().copy_into(target)

    def _read_into(self, tensor: torch.Tensor) -> None:
        if self.nbytes == 0:
            return
        if tensor.numel() * tensor.element_size() != self.nbytes:
            raise VipbenchError(f"cannot read weights {self.path}: a tensor's bytes do not match its shape and dtype")
        try:
            with open(self.path, "rb") as file:
                file.seek(self.start)
                complete = file.readinto(tensor.view(-1).view(torch.uint8).numpy()) == self.nbytes
        except OSError as exc:
            raise VipbenchError(f"cannot read weights {self.path}: {exc}") from None
        if not complete:
            raise VipbenchError(f"cannot read weights {self.path}: the file is shorter than its header says")


@dataclass(eq=False)
class LoraMerged(Stored):
    """``base`` + scale · B · A, computed in float32 and kept in ``base``'s dtype (as ``merge_lora`` does in
    memory), a block of rows at a time straight into the parameter: no merged copy of the whole weight."""

    base: Weight
    a: Weight
    b: Weight
    scale: float

    def __post_init__(self) -> None:
        self.shape, self.dtype = self.base.shape, self.base.dtype

    def copy_into(self, target: torch.Tensor) -> None:
        base, a, b = (_read(w) for w in (self.base, self.a, self.b))
        down = a.float()
        for block in row_blocks(base):
            merged = base[block].float() + self.scale * (b[block].float() @ down)
            target[block].copy_(merged.to(base.dtype))
            for weight, tensor in ((self.base, base), (self.b, b)):
                if isinstance(weight, Stored):
                    weight.done(tensor[block])
        for weight, tensor in zip((self.base, self.a, self.b), (base, a, b)):
            if isinstance(weight, Stored):
                weight.done(tensor)


def row_blocks(tensor: torch.Tensor, elements: int = 2**22) -> list[Any]:
    """Index ranges over ``tensor``'s first dimension, each about ``elements`` values (16 MB of float32); the whole
    tensor, once, for a scalar."""
    if tensor.dim() == 0 or tensor.numel() == 0:
        return [...]
    rows = max(1, elements // (tensor.numel() // tensor.shape[0]))
    return [slice(start, start + rows) for start in range(0, tensor.shape[0], rows)]


class Split:
    """The tensors ``split`` makes of one stored weight (InternLM2's fused q, k, v): the weight is read once, when
    the first part is copied, and let go when the last one has been."""

    def __init__(self, whole: Stored, split: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], shapes):
        self.whole, self.split = whole, split
        self.parts = [Part(self, i, torch.Size(shape), whole.dtype) for i, shape in enumerate(shapes)]
        self._made: list[Any] | None = None

    def take(self, index: int) -> torch.Tensor:
        if self._made is None or self._made[index] is None:  # the first part asked for (or one asked for again)
            whole = torch.empty(self.whole.shape, dtype=self.whole.dtype)
            self.whole.copy_into(whole)
            self._made = list(self.split(whole))
        part, self._made[index] = self._made[index], None
        if all(p is None for p in self._made):
            self._made = None
        return part


@dataclass(eq=False)
class Part(Stored):
    """One tensor of a ``Split``."""

    split: Split
    index: int
    shape: torch.Size
    dtype: torch.dtype

    def read(self) -> torch.Tensor:
        return self.split.take(self.index)


def _read(weight: Weight) -> torch.Tensor:
    return weight.read() if isinstance(weight, Stored) else weight


def copy_weight(weight: Weight, target: torch.Tensor) -> None:
    """Copy ``weight`` into ``target`` (a parameter or buffer, converting the dtype), freeing what it read."""
    if isinstance(weight, Stored):
        weight.copy_into(target)
    else:
        target.copy_(weight)


def stored_weights(folder: Path, what: str) -> dict[str, Weight]:
    """Every tensor of a folder's weights (as ``read_tensors``), none of them read yet."""
    state: dict[str, Weight] = {}
    for file in weight_files(folder, what):
        state.update(stored_tensors(file))
    return state


def stored_tensors(path: Path, inside: str | None = None) -> dict[str, Weight]:
    """One weights file's tensors, none of them read yet; with ``inside``, those of the dict under that key when
    the file has one (mmengine's ``{"meta": ..., "state_dict": ...}``). A torch pickle too old to be mapped is read
    whole, as ``load_tensors`` does."""
    if path.suffix == ".safetensors":
        return _safetensors_entries(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        wrap: Callable[[torch.Tensor], Weight] = Mapped
    except (OSError, RuntimeError, ValueError):  # not a zip archive (torch < 1.6): no mapping; or unreadable
        loaded, wrap = load_tensors(path), lambda tensor: tensor
    if inside is not None and isinstance(loaded, dict) and isinstance(loaded.get(inside), dict):
        loaded = loaded[inside]
    if not isinstance(loaded, dict):
        raise VipbenchError(f"cannot read weights {path}: not a dict of tensors")
    return {k: wrap(v) if isinstance(v, torch.Tensor) else v for k, v in loaded.items()}


#: safetensors' dtype names.
_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def _safetensors_entries(path: Path) -> dict[str, Weight]:
    """A safetensors file's tensors from its header (8 bytes of length, then JSON: dtype, shape and byte range)."""
    try:
        with open(path, "rb") as file:
            length = int.from_bytes(file.read(8), "little")
            header = json.loads(file.read(length))
        entries = {}
        for key, info in header.items():
            if key == "__metadata__":
                continue
            start, stop = info["data_offsets"]
            dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
            if dtype is None:
                raise ValueError(f"{key} has the unsupported dtype {info['dtype']}")
            entries[key] = InSafetensors(path, 8 + length + start, stop - start, dtype, torch.Size(info["shape"]))
        return entries
    except (OSError, ValueError, KeyError, TypeError, AttributeError, MemoryError) as exc:
        raise VipbenchError(f"cannot read weights {path}: not a safetensors file ({exc})") from None


def _libc_madvise() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_DONTNEED"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int
    return function


_MADVISE = _libc_madvise()


def _drop_pages(tensor: torch.Tensor) -> None:
    """Drop the whole pages a mapped tensor spans from this process (Linux; elsewhere the kernel reclaims them
    when memory runs short). Only for a file mapping: its pages come back from the file if read again."""
    if _MADVISE is None:
        return
    if tensor.is_contiguous():
        start = tensor.data_ptr()
        stop = start + tensor.numel() * tensor.element_size()
    else:
        storage = tensor.untyped_storage()
        start, stop = storage.data_ptr(), storage.data_ptr() + storage.nbytes()
    first, last = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE, stop // mmap.PAGESIZE * mmap.PAGESIZE
    if last > first:
        _MADVISE(first, last - first, mmap.MADV_DONTNEED)


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
    state: Mapping[str, Weight],
    where: Path,
    family: str,
    official_key: Callable[[str], str] = lambda key: key,
) -> None:
    """Copy ``state`` into ``model`` (whose language model is ``model.llm``), refusing any missing or unexpected key
    and any shape that differs, each named as the checkpoint names it (``official_key``): never ``strict=False``.
    Every key and shape is checked before anything is read; then each tensor is read, copied into its parameter in
    the model's dtype, and let go, one at a time (``Stored``)."""
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
    with torch.no_grad():
        for key, target in own.items():
            copy_weight(state[key], target)


def merge_lora(
    state: dict[str, Weight],
    lora: Mapping[tuple[str, str], Weight],
    alpha: float,
    where: Path | str,
    weight_key: Callable[[str], str | None] = lambda module: f"{module}.weight",
) -> None:
    """W += (alpha / r) · B · A for each LoRA pair (``module`` → its ``A`` and ``B``), into the weight it adapts,
    ``state[weight_key(module)]``, in float32, kept in the weight's own dtype: at once for tensors in memory, or,
    for a weight still in its file, as it is copied into the model (``LoraMerged``, one weight at a time). A half
    pair, a pair with no base weight, or one whose shapes do not fit its weight is an error that names the module:
    a B of one row would otherwise broadcast over the whole weight and load a different model without a word."""
    for module in sorted({m for m, _ in lora}):
        a, b = lora.get((module, "A")), lora.get((module, "B"))
        key = weight_key(module)
        base = state.get(key) if key is not None else None
        if a is None or b is None or base is None:
            what = "lora_B" if b is None else "lora_A" if a is None else "base weight"
            raise VipbenchError(f"{where}: the LoRA of {module} has no {what}")
        if (
            len(a.shape) != 2
            or len(b.shape) != 2
            or (b.shape[0], a.shape[1]) != tuple(base.shape)
            or a.shape[0] != b.shape[1]
        ):
            raise VipbenchError(
                f"{where}: the LoRA of {module} (A {tuple(a.shape)}, B {tuple(b.shape)}) does not fit its weight "
                f"{tuple(base.shape)}"
            )
        merged = LoraMerged(base, a, b, alpha / a.shape[0])
        if isinstance(merged.base, torch.Tensor) and not isinstance(a, Stored) and not isinstance(b, Stored):
            target = torch.empty_like(base)
            merged.copy_into(target)
            state[key] = target
        else:
            state[key] = merged
