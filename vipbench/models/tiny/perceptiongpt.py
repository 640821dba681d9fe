"""A tiny random-initialised PerceptionGPT, saved as upstream's code would save it and loaded back through the
real loader: the only PerceptionGPT weights anyone can run, since none are public.

The folder holds config.json (``model_type`` shikra, upstream's ``mm_*`` keys), two ``.bin`` shards and their
index (transformers' ``save_pretrained`` of 2023, which upstream pins), the tokenizer with upstream's added
tokens, and a tiny CLIP beside them under the name ``mm_vision_tower`` gives (``clip-vit-large-patch14``).
The CLIP reads 64 px in 16-px patches (a 4 × 4 grid, 16 image tokens) so that the mask branch's finer pass, 8-px
patches as upstream's, has an 8 × 8 grid (its positions need a multiple of 4): both resizings it does are run.
The weights include the whole mask branch under upstream's names, and a few ``mask_encoder`` tensors as upstream
saves them (the loader skips that module).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from vipbench.models.tiny import TINY_LLAMA, cached_build, save_two_shards, tiny_tokenizer
from vipbench.resources import cache_dir

#: Bump when the recipe changes, so cached copies are rebuilt.
VERSION = 3
#: Upstream's LoRA rank is 16; the tiny model's layers are 32 wide.
TINY_LORA_RANK = 4
#: How much the tiny mask decoder's last layer is scaled up, so that its masks are neither empty nor full.
MASK_LOGIT_SCALE = 30.0


def tiny_perceptiongpt() -> Path:
    """The cached tiny PerceptionGPT checkpoint, built on first use."""
    return cached_build(cache_dir() / "models" / f"perceptiongpt-tiny-v{VERSION}", build_tiny_perceptiongpt)


def build_tiny_perceptiongpt(
    out: Path,
    seed: int = 0,
    layout: Literal["merged", "peft"] = "merged",
    lora_alpha: float = 64.0,
    tokenizer=None,
) -> Path:
    """Write a random PerceptionGPT to ``out``. ``layout="peft"`` saves it as upstream's training script does,
    with the LoRA on ``q_proj``/``v_proj`` still wrapped by peft (``model.base_model.model.*``): the same
    effective weights, split into a base and a LoRA pair that the loader merges with ``lora_alpha``.
    ``tokenizer`` replaces the word-level tiny one; upstream's tokens are added to it."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from vipbench.models.perceptiongpt_modeling import ADDED_TOKENS, PerceptionGPTModel

    if tokenizer is None:
        _, tokenizer = tiny_tokenizer()
    tokenizer.add_tokens(list(ADDED_TOKENS), special_tokens=True)
    torch.manual_seed(seed)
    clip = CLIPModel(
        CLIPConfig(
            text_config={
                "vocab_size": 99,
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "intermediate_size": 37,
                "max_position_embeddings": 16,
                "pad_token_id": 0,
                "bos_token_id": 1,
                "eos_token_id": 2,
            },
            vision_config={
                "image_size": 64,
                "patch_size": 16,
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "intermediate_size": 37,
            },
            projection_dim=32,
        )
    ).eval()
    config = {
        "model_type": "shikra",
        "architectures": ["PerceptionGPT"],
        "vocab_size": len(tokenizer),
        **TINY_LLAMA,
        "use_cache": False,  # upstream's builder turns it off for training, and saves it so
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.unk_token_id if tokenizer.pad_token_id is None else tokenizer.pad_token_id,
        "mm_vision_tower": "openai/clip-vit-large-patch14",  # upstream's value: the loader looks beside it first
        "mm_hidden_size": 32,
        "mm_vision_select_layer": -2,
        "mm_use_im_start_end": True,
        "use_mm_proj": True,
        "vipbench_random_weights": True,
    }
    model = PerceptionGPTModel(config, clip.config.vision_config)
    tower = getattr(model.vision, "vision_model", model.vision)  # transformers 4.x nests it, 5.x does not
    tower.load_state_dict(clip.vision_model.state_dict())
    with torch.no_grad():  # upstream starts the mixes at 1/24 each; random, they show which layer is which
        model.merge_coef_lower.normal_()
        model.merge_coef_higher.normal_()
        # Random, the mask logits are all near 0 (sigmoid ≈ 0.5 > 0.35: every mask full); scaled, they vary.
        model.mask_decoder.output_hypernetworks_mlp.layers[-1].weight.mul_(MASK_LOGIT_SCALE)
    official = _official(model)
    # Upstream's mask_encoder (a ResNet over input masks, never read at inference): its first tensors.
    official |= {
        "mask_encoder.conv1.weight": torch.randn(32, 1, 7, 7) * 0.1,
        "mask_encoder.norm1.weight": torch.ones(32),
        "mask_encoder.norm1.bias": torch.zeros(32),
    }
    if layout == "peft":
        official = _wrap_in_peft(official, lora_alpha)
    out.mkdir(parents=True, exist_ok=True)
    save_two_shards(official, out)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(out)
    _save_clip(clip, out / "clip-vit-large-patch14")
    return out


def _official(model) -> dict:
    """This module's weights under upstream's names (``model.mm_projector``, ``model.layers``, ``lm_head``, ...);
    the vision tower is not among them."""
    official = {}
    for name, tensor in model.state_dict().items():
        if name.startswith("vision."):
            continue
        if name.startswith("projector."):
            name = "model.mm_projector." + name.removeprefix("projector.")
        official[name.removeprefix("llm.")] = tensor.clone()
    return official


def _wrap_in_peft(official: dict, alpha: float) -> dict:
    """The keys peft gives a LoRA-wrapped ``model``: ``model.base_model.model.*``; ``q_proj``/``v_proj`` as
    ``base_layer.weight`` plus ``lora_A``/``lora_B``, whose scaled product restores the original weight."""
    import torch

    wrapped = {}
    for key, tensor in official.items():
        if not key.startswith("model."):
            wrapped[key] = tensor
            continue
        key = "model.base_model.model." + key.removeprefix("model.")
        if key.endswith(("q_proj.weight", "v_proj.weight")):
            module = key.removesuffix(".weight")
            a = torch.randn(TINY_LORA_RANK, tensor.shape[1]) * 0.1
            b = torch.randn(tensor.shape[0], TINY_LORA_RANK) * 0.1
            wrapped[f"{module}.base_layer.weight"] = tensor - (alpha / TINY_LORA_RANK) * (b @ a)
            wrapped[f"{module}.lora_A.default.weight"] = a
            wrapped[f"{module}.lora_B.default.weight"] = b
        else:
            wrapped[key] = tensor
    return wrapped


def _save_clip(clip, folder: Path) -> None:
    """The whole CLIP, as the Hub's ``openai/clip-vit-large-patch14`` holds it: config.json and model.safetensors."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    clip.config.save_pretrained(folder)
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, folder / "model.safetensors")
