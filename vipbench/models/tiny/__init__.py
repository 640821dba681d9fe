"""Tiny random-initialised checkpoints of every model family, built offline from the real config classes and saved
in each family's official layout, so that the ``*-tiny`` models and the tests run the real loading path in a second
on a CPU. Their answers are random words.

Production code never imports this package, except where a ``*-tiny`` model is asked for: the shared loader
(``vipbench.models.checkpoints.checkpoint_source``) calls ``tiny_checkpoint`` then. One module per family
(``llava``, ``osprey``, ``omg_llava``, ``perceptiongpt``); this one holds what they share.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

#: family → "module:function" of the cached build, imported only when that family's tiny model is asked for.
_CHECKPOINTS = {
    "vipllava": "llava:tiny_vipllava",
    "llava": "llava:tiny_llava",
    "osprey": "osprey:tiny_osprey",
    "omg-llava": "omg_llava:tiny_omg_llava",
    "perceptiongpt": "perceptiongpt:tiny_perceptiongpt",
}
#: The language model's sizes in every tiny Llama-based checkpoint (transformers' own tests use these).
TINY_LLAMA = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "max_position_embeddings": 2048,
}
#: The tiny tokenizer's vocabulary: words the fixtures' questions and the visual prompts' names use.
_WORDS = (
    "the a an is are of in on at to and or it this that there yes no not left right top bottom middle "
    "red lime green blue yellow fuchsia aqua orange purple gold black white gray pink brown "
    "rectangle ellipse point triangle mask contour arrow scribble circle square star object objects "
    "one two three four five six seven eight nine ten zero 0 1 2 3 4 5 6 7 8 9 "
    "A B C D E F G H J K L M N P R S T U V X Y Z cat dog car person sign text number bigger smaller "
    ". , ? ! : ; ' \" ( ) -"
).split()


def tiny_checkpoint(family: str) -> Path:
    """The cached tiny checkpoint of ``family`` (``vipllava``, ``llava``, ``osprey``, ``omg-llava`` or
    ``perceptiongpt``), built on first use in vipbench's cache."""
    module, _, function = _CHECKPOINTS[family].partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)()


def cached_build(path: Path, build: Callable[[Path], Path]) -> Path:
    """``path``, built on first use into a folder of its own and renamed into place, so processes that start
    together (a data-parallel run) never read a half-written checkpoint."""
    if path.is_dir():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}-") as tmp:
        build(Path(tmp) / "build")
        try:
            os.replace(Path(tmp) / "build", path)
        except OSError:
            if not path.is_dir():  # not another process's build that got there first
                raise
    return path


def tiny_tokenizer():
    """A word-level Llama-like tokenizer over ``_WORDS`` (``<s>`` prepended, digits one by one)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
    vocab = {tok: i for i, tok in enumerate([*specials, *dict.fromkeys(_WORDS)])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # Digits one by one, as Llama's tokenizer splits them: coordinates in the text stay distinguishable.
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    backend.post_processor = processors.TemplateProcessing(  # Llama tokenizers prepend <s>
        single="<s> $A",
        pair="<s> $A $B",
        special_tokens=[("<s>", vocab["<s>"])],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    return vocab, tokenizer


def save_two_shards(state: dict, out: Path, fmt: str = "bin") -> None:
    """``state`` in two shards with their index, as released checkpoints hold it: ``pytorch_model-0000N-of-00002.bin``
    (``fmt="bin"``) or ``model-0000N-of-00002.safetensors``. Each tensor is saved as a compact copy of its own."""
    import json

    import torch

    stem, suffix = ("pytorch_model", "bin") if fmt == "bin" else ("model", "safetensors")
    keys = sorted(state)
    shards = {
        f"{stem}-00001-of-00002.{suffix}": keys[: len(keys) // 2],
        f"{stem}-00002-of-00002.{suffix}": keys[len(keys) // 2 :],
    }
    for file, names in shards.items():
        tensors = {k: state[k].detach().clone(memory_format=torch.contiguous_format) for k in names}
        if fmt == "bin":
            torch.save(tensors, out / file)
        else:
            from safetensors.torch import save_file

            save_file(tensors, out / file)
    index = {"metadata": {}, "weight_map": {k: file for file, names in shards.items() for k in names}}
    (out / f"{stem}.{suffix}.index.json").write_text(json.dumps(index))
