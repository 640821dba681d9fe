"""Tiny random-initialised ViP-LLaVA and LLaVA-1.5 checkpoints, built offline from the real config classes.

It exercises exactly the code path of a real checkpoint (``save_pretrained`` → ``from_pretrained``,
processor, image-token expansion, batched generation) in a second on a CPU. Its answers are random words.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from vipbench.resources import cache_dir

#: Bump when the recipe changes, so cached copies are rebuilt.
TINY_VERSION = 2

_WORDS = (
    "the a an is are of in on at to and or it this that there yes no not left right top bottom middle "
    "red lime green blue yellow fuchsia aqua orange purple gold black white gray pink brown "
    "rectangle ellipse point triangle mask contour arrow scribble circle square star object objects "
    "one two three four five six seven eight nine ten zero 0 1 2 3 4 5 6 7 8 9 "
    "A B C D E F G H J K L M N P R S T U V X Y Z cat dog car person sign text number bigger smaller "
    ". , ? ! : ; ' \" ( ) -"
).split()


def tiny_checkpoint(model_type: str = "vipllava") -> Path:
    """The cached tiny checkpoint of a ``vipllava`` or ``llava`` model, built on first use."""
    name = {"vipllava": "vip-llava", "llava": "llava-1.5"}[model_type]
    return cached_build(
        cache_dir() / "models" / f"{name}-tiny-v{TINY_VERSION}", lambda out: build_tiny(out, model_type)
    )


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


def build_tiny_vipllava(out: Path, seed: int = 0) -> Path:
    return build_tiny(out, "vipllava", seed)


def build_tiny(
    out: Path,
    model_type: str,
    seed: int = 0,
    image_size: int = 30,
    patch_size: int = 2,
    tokenizer=None,
    text: dict | None = None,
    vision: dict | None = None,
    dtype=None,
    device: str = "cpu",
) -> Path:
    """Write config, weights, tokenizer and processor to ``out``. Dimensions follow transformers' own tests;
    ``text`` and ``vision`` override them (``benchmarks/gpu_generate.py`` builds the real 7B sizes, on ``device``
    in ``dtype``). ``tokenizer`` replaces the word-level tiny one (it needs ``<pad>`` and an ``image_token``)."""
    import torch
    import transformers
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaProcessor

    try:
        from transformers import CLIPImageProcessorPil as ImageProcessor  # no torchvision needed
    except ImportError:  # older transformers
        from transformers import CLIPImageProcessor as ImageProcessor

    if tokenizer is None:
        _, tokenizer = tiny_tokenizer()
    image_processor = ImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    text_config = LlamaConfig(
        **{
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 37,
            "max_position_embeddings": 2048,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            **(text or {}),
        }
    )
    vision_config = CLIPVisionConfig(
        **{
            "image_size": image_size,
            "patch_size": patch_size,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 37,
            "projection_dim": 32,
            **(vision or {}),
        }
    )
    common = {
        "text_config": text_config.to_dict(),
        "vision_config": vision_config.to_dict(),
        "image_token_index": tokenizer.convert_tokens_to_ids(tokenizer.image_token),
        "image_seq_length": (image_size // patch_size) ** 2,
    }
    if model_type == "vipllava":
        # The real five feature layers, or five like them within a 2-layer tower's 3 hidden states.
        deep = vision_config.num_hidden_layers >= 12
        layers = [-2, -5, -8, -11, 6] if deep else [-2, -3, -1, 0, 1]
        config = transformers.VipLlavaConfig(**common, vision_feature_layer=layers)
        model_class = transformers.VipLlavaForConditionalGeneration
    else:
        config = transformers.LlavaConfig(**common, vision_feature_layer=-2)
        model_class = transformers.LlavaForConditionalGeneration
    torch.manual_seed(seed)
    with torch.device(device):
        model = model_class(config).to(dtype or torch.float32).eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def tiny_osprey() -> Path:
    """The cached tiny Osprey checkpoint, built on first use."""
    return cached_build(cache_dir() / "models" / f"osprey-tiny-v{TINY_VERSION}", build_tiny_osprey)


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


def build_tiny_osprey(out: Path, seed: int = 0, trunk_in_shards: bool = False) -> Path:
    """A random Osprey in the official layout: config.json, two ``.bin`` shards with their index, the tokenizer,
    and the vision trunk in a separate open_clip weights file (or, with ``trunk_in_shards``, saved with the rest
    under ``model.vision_tower.vision_tower.visual.trunk``)."""
    import json

    import torch

    from vipbench.models.osprey_modeling import OspreyModel

    vocab, tokenizer = tiny_tokenizer()
    geometry = {"image_size": 64, "dims": [8, 16, 32, 64], "depths": [1, 1, 1, 1], "mask_embed_dim": 16}
    config = {
        "model_type": "osprey",
        "architectures": ["OspreyLlamaForCausalLM"],
        "vocab_size": len(vocab),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 37,
        "max_position_embeddings": 2048,
        "bos_token_id": vocab["<s>"],
        "eos_token_id": vocab["</s>"],
        "pad_token_id": vocab["<pad>"],
        "mm_vision_tower": "/data/osprey/open_clip_pytorch_model.bin",  # the authors' path: only the name is used
        "mm_projector_type": "mlp2x_gelu",
        "mm_hidden_size": geometry["dims"][2],
        "vipbench_geometry": geometry,
    }
    torch.manual_seed(seed)
    model = OspreyModel(config).eval()
    official, clip = {}, {"visual.head.mlp.fc1.weight": torch.zeros(2, 2), "logit_scale": torch.ones(())}
    for name, tensor in model.state_dict().items():
        if name.startswith("vision."):
            trunk = name.removeprefix("vision.")
            if trunk_in_shards:
                official[f"model.vision_tower.vision_tower.visual.trunk.{trunk}"] = tensor
            else:
                clip[f"visual.trunk.{trunk}"] = tensor
        elif name.startswith("projector."):
            official["model.mm_projector." + name.removeprefix("projector.")] = tensor
        else:
            official[name.removeprefix("llm.")] = tensor
    out.mkdir(parents=True, exist_ok=True)
    save_two_shards(official, out)
    if not trunk_in_shards:
        torch.save({k: v.clone() for k, v in clip.items()}, out / "open_clip_pytorch_model.bin")
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(out)
    return out
