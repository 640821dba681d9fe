"""Where a torch model's weights come from (a local folder, the tiny test build, or the Hub), the config that says
which model they are, and where it runs: shared by every checkpoint-backed adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vipbench.errors import VipbenchError


def checkpoint_source(checkpoint: str, model_path: str | None, family: str) -> tuple[str, bool]:
    """(a local folder or a Hub id, whether to load from the local cache only). ``--model-path`` wins; the
    alias ``tiny`` builds ``family``'s test checkpoint (``vipbench.models.tiny``, imported only then); a Hub id is
    checked for reachability first (vipbench.hub)."""
    if model_path:
        folder = Path(model_path).expanduser()
        if not folder.is_dir():
            raise VipbenchError(f"--model-path {model_path}: folder not found")
        return str(folder), False
    if checkpoint == "tiny":
        from vipbench.models.tiny import tiny_checkpoint

        with quiet_loading():  # the build's save_pretrained draws "Writing model shards"
            return str(tiny_checkpoint(family)), False
    from vipbench.hub import local_only, model_cached

    hint = f"download it where there is a network (hf download {checkpoint}) and pass --model-path DIR"
    return checkpoint, local_only(f"the checkpoint {checkpoint!r}", model_cached(checkpoint), hint)


def checkpoint_folder(
    checkpoint: str, model_path: str | None, family: str, allow_patterns: Sequence[str] | None = None
) -> Path:
    """The local folder of a checkpoint that is read file by file (the native adapters): ``checkpoint_source``'s
    folder, or a Hub snapshot of it (only ``allow_patterns`` when given: a repo may hold more than the model)."""
    source, offline = checkpoint_source(checkpoint, model_path, family)
    if Path(source).is_dir():
        return Path(source)
    from huggingface_hub import snapshot_download

    patterns = list(allow_patterns) if allow_patterns is not None else None
    return Path(snapshot_download(source, local_files_only=offline, allow_patterns=patterns))


def read_config(folder: Path, model_type: str, family: str | None = None, *, prefix: bool = False) -> dict[str, Any]:
    """A checkpoint folder's config.json, checked to be ``model_type``'s (with ``prefix``, any model type that starts
    with it) before any weight is read: a wrong folder is one line that says what it holds and what ``family`` (the
    model's name, when it is not its model type) needs."""
    path = folder / "config.json"
    if not path.is_file():
        raise VipbenchError(f"{folder} is not a Hugging Face checkpoint folder (no config.json)")
    try:
        config = json.loads(path.read_text())
    except ValueError as exc:
        raise VipbenchError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise VipbenchError(f"{path}: not a model config (a JSON object)")
    found = str(config.get("model_type") or "unknown")
    if not (found.startswith(model_type) if prefix else found == model_type):
        rule = "start with" if prefix else "be"
        raise VipbenchError(
            f"{folder} holds {_a(found)} checkpoint, not {_a(family or model_type)} one "
            f"(config.json model_type must {rule} {model_type!r})"
        )
    return config


def llama_tokenizer(folder: Path):
    """A checkpoint folder's tokenizer, read as Llama's: given a config, transformers does not read config.json's
    model_type (Osprey's ``osprey``, PerceptionGPT's ``shikra``), which it does not know."""
    from transformers import AutoTokenizer, LlamaConfig

    try:
        return AutoTokenizer.from_pretrained(folder, config=LlamaConfig())
    except (OSError, ValueError) as exc:
        raise VipbenchError(f"cannot load the tokenizer from {folder}: {str(exc).splitlines()[0]}") from None


def hub_file(repo: str, filename: str, what: str, hint: str) -> Path:
    """One file of a Hub repo that a checkpoint loads apart (a vision tower's weights): from the local cache, or
    downloaded where there is a network; where neither, vipbench.hub's one line names ``what`` and the ``hint``."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    from vipbench.hub import local_only

    cached = isinstance(try_to_load_from_cache(repo, filename), str)
    offline = local_only(f"{what} {repo!r}", cached, hint)
    return Path(hf_hub_download(repo, filename, local_files_only=offline))


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


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
