"""The model registry. Entries are ``"module:Class"`` strings so that listing models never imports torch.

Each alias carries the options that make it one model: a checkpoint id, a template, and so on.
Third-party adapters register through the ``vipbench.models`` entry-point group.
"""

from __future__ import annotations

from typing import Any

from vipbench.models.base import GenerationSettings, ModelAdapter
from vipbench.registry import Registry

MODELS: Registry[type[ModelAdapter]] = Registry("model")

_VIP_LLAVA = "vipbench.models.vip_llava:VipLlavaAdapter"
MODELS.register(
    "vip-llava-7b", _VIP_LLAVA, "ViP-LLaVA 7B (Vicuna-1.5), HF-converted weights", checkpoint="llava-hf/vip-llava-7b-hf"
)
MODELS.register(
    "vip-llava-13b",
    _VIP_LLAVA,
    "ViP-LLaVA 13B (Vicuna-1.5), HF-converted weights",
    checkpoint="llava-hf/vip-llava-13b-hf",
)
MODELS.register(
    "vip-llava-tiny",
    _VIP_LLAVA,
    "a tiny random-initialised ViP-LLaVA built offline from the real config classes (smoke tests)",
    checkpoint="tiny",
)
MODELS.register(
    "oracle",
    "vipbench.models.baselines:OracleAdapter",
    "sanity baseline: answers the reference, so a metric-scored task must score 100 (no torch)",
)
MODELS.register(
    "blind",
    "vipbench.models.baselines:BlindAdapter",
    "sanity baseline: the majority answer of each question type, image unseen (no torch)",
)


def create_model(name: str, **options: Any) -> ModelAdapter:
    """Build an adapter by alias; ``options`` (from the command line) override the alias's own."""
    entry = MODELS.entry(name)
    cls = entry.load()
    merged = {**entry.options, **{k: v for k, v in options.items() if v is not None}}
    return cls(**merged)


__all__ = ["MODELS", "GenerationSettings", "ModelAdapter", "create_model"]
