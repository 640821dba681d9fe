"""A tiny random-initialised Osprey in the official checkpoint layout (``sunshine-lwt/Osprey-7b``): config.json,
two ``.bin`` shards with their index, the tokenizer, and the vision trunk in a separate open_clip weights file."""

from __future__ import annotations

from pathlib import Path

from vipbench.models.tiny import TINY_LLAMA, cached_build, save_two_shards, tiny_tokenizer
from vipbench.resources import cache_dir

#: Bump when the recipe changes, so cached copies are rebuilt.
VERSION = 2


def tiny_osprey() -> Path:
    """The cached tiny Osprey checkpoint, built on first use."""
    return cached_build(cache_dir() / "models" / f"osprey-tiny-v{VERSION}", build_tiny_osprey)


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
        **TINY_LLAMA,
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
