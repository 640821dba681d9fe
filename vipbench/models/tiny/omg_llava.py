"""A tiny random-initialised OMG-LLaVA, saved in the layout of ``zhangtao-whu/OMG-LLaVA`` and loaded back through the
real loader (see ``omg_llava_modeling`` for the layout).

The "true" model is random; the files hold it as upstream's training leaves it: the base InternLM2 (fused
``wqkv``, the vocabulary before the added tokens) minus a random LoRA delta on every linear layer, and the
fine-tuned ``.pth`` with the LoRA pairs, the resized embeddings and ``output`` in full, and the projector. Merging
the LoRA (alpha / r) gives the true model back, so a wrong merge or split shows as different logits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vipbench.models.tiny import cached_build, save_two_shards, tiny_tokenizer
from vipbench.resources import cache_dir

#: Bump when the recipe changes, so cached copies are rebuilt.
VERSION = 2
TINY_LORA_RANK = 4
#: Upstream's alpha (the adapter's default); the tiny rank is 4, not 512.
LORA_ALPHA = 256.0
GEOMETRY = {
    "image_size": 128,
    "trunk_dims": [8, 16, 32, 64],
    "trunk_depths": [1, 1, 1, 1],
    "pixel_shuffle": 2,
    "head": {
        "channels": 32,
        "groups": 8,
        "queries": 12,
        "encoder_layers": 2,
        "encoder_heads": 4,
        "encoder_points": 2,
        "encoder_ffn": 48,
        "decoder_layers": 3,
        "decoder_heads": 4,
        "decoder_ffn": 48,
    },
}
CLASSES = (6, 2, 16)  # (classes, prototypes, dim) of the class-name embeddings
CHAT_TOKENS = ["<|im_start|>", "<|im_end|>"]
LORA_MODULES = ("attention.wqkv", "attention.wo", "feed_forward.w1", "feed_forward.w2", "feed_forward.w3")


def tiny_omg_llava() -> Path:
    """The cached tiny OMG-LLaVA checkpoint folder, built on first use."""
    return cached_build(cache_dir() / "models" / f"omg-llava-tiny-v{VERSION}", build_tiny_omg_llava)


def build_tiny_omg_llava(
    out: Path,
    seed: int = 0,
    trunk_in_head_file: bool = False,
    peft_base_layer: bool = True,
    seg_decoder: bool = False,
) -> Path:
    """Write a random OMG-LLaVA to ``out``. ``trunk_in_head_file`` saves the ConvNeXt trunk in
    ``omg_seg_convl.pth`` (``backbone.*``) instead of a separate open_clip file; ``peft_base_layer`` False names
    the LoRA-wrapped ``output`` as peft before 0.7 did (``output.weight``, not ``output.base_layer.weight``);
    ``seg_decoder`` saves the ``[SEG]`` decoder copy of upstream's referring-segmentation fine-tune
    (``require_omg_decoder``), which the 8-GPU fine-tune lacks."""
    import torch

    from vipbench.models import internlm2
    from vipbench.models.omg_llava_modeling import (
        ADDED_TOKENS,
        CLASSES_FILE,
        FINETUNE_FILE,
        GEOMETRY_FILE,
        HEAD_FILE,
        LLM_FOLDER,
        PEFT_PREFIX,
        Geometry,
        OMGLLaVAModel,
    )

    _, tokenizer = tiny_tokenizer()
    tokenizer.add_tokens(CHAT_TOKENS, special_tokens=True)
    vocab = len(tokenizer)
    config = internlm2_config(
        tokenizer, vocab, hidden=32, intermediate=48, layers=2, heads=4, kv_heads=2, max_positions=4096
    )
    resized = vocab + len(ADDED_TOKENS)  # upstream resizes after its first four tokens; <mark> comes after
    torch.manual_seed(seed)
    (out / LLM_FOLDER).mkdir(parents=True, exist_ok=True)
    (out / GEOMETRY_FILE).write_text(json.dumps(GEOMETRY, indent=2))
    geometry = Geometry.of(out)
    model = OMGLLaVAModel(geometry, internlm2.llama_config(config, resized), CLASSES, seg_decoder).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}

    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    true_llm = from_llama(
        {k.removeprefix("llm."): v for k, v in state.items() if k.startswith("llm.")}, heads, kv_heads
    )
    scale = LORA_ALPHA / TINY_LORA_RANK
    finetune: dict = {}
    base: dict = {}
    for key, tensor in true_llm.items():
        module = key.removesuffix(".weight")
        lora = module == "output" or module.endswith(LORA_MODULES)
        if lora:
            a = torch.randn(TINY_LORA_RANK, tensor.shape[1]) * 0.02
            b = torch.randn(tensor.shape[0], TINY_LORA_RANK) * 0.02
            finetune[f"{PEFT_PREFIX}{module}.lora_A.default.weight"] = a
            finetune[f"{PEFT_PREFIX}{module}.lora_B.default.weight"] = b
            tensor = tensor - scale * (b @ a)
        if module in ("output", "model.tok_embeddings"):  # trained in full after the resize: in the fine-tune
            name = f"{module}.base_layer.weight" if lora and peft_base_layer else key
            finetune[PEFT_PREFIX + name] = tensor
            base[key] = torch.randn(vocab, tensor.shape[1]) * 0.02  # the original, smaller vocabulary
        else:
            base[key] = tensor
    finetune |= {k: v for k, v in state.items() if k.startswith(("projector.", "projector_text2vision."))}
    # The [SEG] decoder copy (require_omg_decoder) under the visual encoder's name, not in the head file; keys
    # upstream saves and never reads at inference beside it.
    seg_copy = ("head.transformer_decoder_llm.", "head.mask_embed_llm.")
    finetune |= {
        "visual_encoder.panoptic_head." + k.removeprefix("head."): v for k, v in state.items() if k.startswith(seg_copy)
    }
    if seg_decoder:
        finetune["visual_encoder.panoptic_head.additional_ffn.linear1.weight"] = torch.zeros(4, 4)
    torch.save(finetune, out / FINETUNE_FILE)

    save_two_shards(base, out / LLM_FOLDER, fmt="safetensors")
    (out / LLM_FOLDER / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(out / LLM_FOLDER)

    head = {
        "panoptic_head." + k.removeprefix("head."): v
        for k, v in state.items()
        if k.startswith("head.") and not k.startswith(seg_copy)
    }
    trunk = {k.removeprefix("trunk."): v for k, v in state.items() if k.startswith("trunk.")}
    clip_heads = {"backbone.norm_pre.weight": torch.ones(64), "backbone.head.1.proj.weight": torch.zeros(4, 4)}
    if trunk_in_head_file:
        head |= {_backbone_name(k): v for k, v in trunk.items()} | clip_heads
    else:
        clip = {f"visual.trunk.{k}": v for k, v in trunk.items()}
        clip |= {"visual.trunk.norm_pre.weight": torch.ones(64), "visual.head.mlp.fc1.weight": torch.zeros(4, 4)}
        clip |= {"logit_scale": torch.ones(()), "text_projection": torch.zeros(4, 4)}
        torch.save(clip, out / "open_clip_pytorch_model.bin")
    torch.save({"meta": {"note": "tiny OMG-Seg"}, "state_dict": head}, out / HEAD_FILE)

    classes = torch.nn.functional.normalize(torch.randn(*CLASSES), dim=-1)
    torch.save(classes, out / CLASSES_FILE)
    return out


def _backbone_name(trunk_key: str) -> str:
    """``stem.0.weight`` → ``backbone.stem.0.weight``; ``stages.2.blocks...`` → ``backbone.layer3.blocks...``."""
    if trunk_key.startswith("stages."):
        stage, _, rest = trunk_key.removeprefix("stages.").partition(".")
        return f"backbone.layer{int(stage) + 1}.{rest}"
    return "backbone." + trunk_key


def from_llama(state: Mapping[str, Any], heads: int, kv_heads: int) -> dict[str, Any]:
    """``LlamaForCausalLM`` tensors under InternLM2's names, q/k/v fused (the inverse of ``internlm2.to_llama``):
    how the tiny checkpoint is written."""
    from vipbench.models import internlm2

    inverse = {v: k for k, v in internlm2.RENAMES.items()}
    out: dict[str, Any] = {}
    for key, tensor in state.items():
        name, _, kind = key.rpartition(".")
        layer = internlm2.LAYER.match(name)
        if layer and layer[2] == "self_attn.q_proj":
            prefix = f"model.layers.{layer[1]}.self_attn"
            q, k, v = (state[f"{prefix}.{p}.{kind}"] for p in ("q_proj", "k_proj", "v_proj"))
            out[f"model.layers.{layer[1]}.attention.wqkv.{kind}"] = fuse_wqkv(q, k, v, heads, kv_heads)
        elif layer and layer[2] in ("self_attn.k_proj", "self_attn.v_proj"):
            continue
        elif layer:
            out[f"model.layers.{layer[1]}.{inverse[layer[2]]}.{kind}"] = tensor
        else:
            out[f"{next(k for k, v in internlm2.TOP.items() if v == name)}.{kind}"] = tensor
    return out


def fuse_wqkv(q, k, v, heads: int, kv_heads: int):
    """The inverse of ``internlm2.split_wqkv``: InternLM2's fused layout from separate q, k and v rows."""
    import torch

    group = heads // kv_heads
    head_dim = q.shape[0] // heads
    rest = q.shape[1:]
    parts = [
        q.reshape(kv_heads, group, head_dim, *rest),
        k.reshape(kv_heads, 1, head_dim, *rest),
        v.reshape(kv_heads, 1, head_dim, *rest),
    ]
    return torch.cat(parts, dim=1).reshape(-1, *rest)


def internlm2_config(
    tokenizer, vocab: int, *, hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int, max_positions: int
) -> dict:
    """InternLM2-chat's config.json at the given sizes (the tiny checkpoint's, or the real 7B's at reduced depth)."""
    return {
        "model_type": "internlm2",
        "architectures": ["InternLM2ForCausalLM"],
        "auto_map": {
            "AutoConfig": "configuration_internlm2.InternLM2Config",
            "AutoModelForCausalLM": "modeling_internlm2.InternLM2ForCausalLM",
        },
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "hidden_act": "silu",
        "max_position_embeddings": max_positions,
        "rms_norm_eps": 1e-5,
        "rope_theta": 1000000,
        "rope_scaling": {"type": "dynamic", "factor": 2.0},
        "bias": False,
        "tie_word_embeddings": False,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.eos_token_id,
    }
