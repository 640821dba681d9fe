"""Tiny random-initialised ViP-LLaVA and LLaVA-1.5 checkpoints, built offline from the real config classes.

It exercises exactly the code path of a real checkpoint (``save_pretrained`` → ``from_pretrained``,
processor, image-token expansion, batched generation) in a second on a CPU. Its answers are random words.
"""

from __future__ import annotations

from pathlib import Path

from vipbench.models.tiny import TINY_LLAMA, cached_build, tiny_tokenizer
from vipbench.resources import cache_dir

#: Bump when the recipe changes, so cached copies are rebuilt.
VERSION = 2


def tiny_vipllava() -> Path:
    """The cached tiny ViP-LLaVA checkpoint, built on first use."""
    return cached_build(cache_dir() / "models" / f"vip-llava-tiny-v{VERSION}", build_tiny_vipllava)


def tiny_llava() -> Path:
    """The cached tiny LLaVA-1.5 checkpoint, built on first use."""
    return cached_build(cache_dir() / "models" / f"llava-1.5-tiny-v{VERSION}", lambda out: build_tiny(out, "llava"))


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
            **TINY_LLAMA,
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
