"""The model registry. Entries are ``"module:Class"`` strings so that listing models never imports torch.

Each alias carries the options that make it one model: a checkpoint id, a template, and so on.
Third-party adapters register through the ``vipbench.models`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vipbench.errors import VipbenchError
from vipbench.models.base import GenerationSettings, ModelAdapter
from vipbench.registry import Registry, check_keywords, convert_arg

MODELS: Registry[type[ModelAdapter]] = Registry("model")

_VIP_LLAVA = "vipbench.models.llava:VipLlavaAdapter"
_LLAVA = "vipbench.models.llava:LlavaAdapter"
_LLAVA_COORDS = "vipbench.models.llava:LlavaCoordsAdapter"
for size in ("7b", "13b"):
    MODELS.register(
        f"vip-llava-{size}",
        _VIP_LLAVA,
        f"ViP-LLaVA {size.upper()} (Vicuna-1.5), HF-converted weights",
        checkpoint=f"llava-hf/vip-llava-{size}-hf",
    )
    MODELS.register(
        f"llava-1.5-{size}",
        _LLAVA,
        f"LLaVA-1.5 {size.upper()}: the drawn-prompt baseline (regions drawn as for ViP-LLaVA)",
        checkpoint=f"llava-hf/llava-1.5-{size}-hf",
    )
    MODELS.register(
        f"llava-1.5-{size}-coords",
        _LLAVA_COORDS,
        f"LLaVA-1.5 {size.upper()}: the coordinate baseline (regions as normalised [x1, y1, x2, y2] in the text)",
        checkpoint=f"llava-hf/llava-1.5-{size}-hf",
    )
MODELS.register(
    "vip-llava-tiny",
    _VIP_LLAVA,
    "a tiny random-initialised ViP-LLaVA built offline from the real config classes (smoke tests)",
    checkpoint="tiny",
)
MODELS.register(
    "llava-1.5-tiny",
    _LLAVA,
    "a tiny random-initialised LLaVA-1.5 built offline from the real config classes (smoke tests)",
    checkpoint="tiny",
)
for name, checkpoint, description in (
    ("osprey-7b", "sunshine-lwt/Osprey-7b", "Osprey 7B: regions read as masks (mask pooling + shape token)"),
    ("osprey-chat-7b", "sunshine-lwt/Osprey-Chat-7b", "Osprey-Chat 7B (adds LLaVA-665k data)"),
    (
        "osprey-7b-refcocog-ft",
        "sunshine-lwt/Osprey-7b-Refercocog-finetuning",
        "Osprey 7B fine-tuned on RefCOCOg region captions (run it with --finetuned-on refcocog)",
    ),
    ("osprey-tiny", "tiny", "a tiny random Osprey in the official checkpoint layout (smoke tests)"),
):
    MODELS.register(name, "vipbench.models.osprey:OspreyAdapter", description, checkpoint=checkpoint)
for name, checkpoint, description in (
    (
        "omg-llava-7b",
        "zhangtao-whu/OMG-LLaVA",
        "OMG-LLaVA 7B (InternLM2-chat-7B + OMG-Seg): a region as one object query from its mask or point",
    ),
    ("omg-llava-tiny", "tiny", "a tiny random OMG-LLaVA in the official checkpoint layout (smoke tests)"),
):
    MODELS.register(name, "vipbench.models.omg_llava:OMGLLaVAAdapter", description, checkpoint=checkpoint)
MODELS.register(
    "openai:",
    "vipbench.models.openai_chat:OpenAIChatAdapter",
    "openai:<model>: any OpenAI-compatible chat API that reads images (GPT-4o, or vLLM/SGLang with base_url=...)",
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
# PerceptionGPT: no weights are public, so the 7B entry needs --model-path; the tiny one runs offline.
_PERCEPTIONGPT = "vipbench.models.perceptiongpt:PerceptionGPTAdapter"
MODELS.register(
    "perceptiongpt-7b",
    _PERCEPTIONGPT,
    "PerceptionGPT 7B (Shikra-style LLaVA-v1, a region as a <loc> box embedding): "
    "architecture only: no public checkpoint; give one with --model-path",
)
MODELS.register(
    "perceptiongpt-tiny",
    _PERCEPTIONGPT,
    "a tiny random PerceptionGPT in upstream's checkpoint layout (smoke tests): "
    "architecture only: no public checkpoint",
    checkpoint="tiny",
)


def check_model_options(name: str, options: Mapping[str, Any]) -> None:
    """Refuse options the adapter does not take (``--model-path`` for ``oracle``), listing those it does."""
    entry = MODELS.entry(name)
    check_keywords(f"model {name!r}", entry.load(), options, fixed=entry.options)


def parse_model_args(name: str, text: str) -> dict[str, Any]:
    """``key=value,key=value`` → keyword arguments, each value converted to the type the adapter declares."""
    cls = MODELS.entry(name).load()
    args: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise VipbenchError(f"--model-args: expected key=value, got {item!r}")
        args[key.strip()] = convert_arg(cls, key.strip(), value.strip())
    check_model_options(name, args)
    return args


def create_model(name: str, **options: Any) -> ModelAdapter:
    """Build an adapter by alias; ``options`` (from the command line) override the alias's own."""
    entry = MODELS.entry(name)
    check_model_options(name, options)
    return entry.load()(**{**entry.options, **options})


__all__ = ["MODELS", "GenerationSettings", "ModelAdapter", "check_model_options", "create_model", "parse_model_args"]
