"""Test models that always write one token: the real adapters, their output head biased towards it, so a random
tiny model answers with decoded regions (PerceptionGPT's <loc>, OMG-LLaVA's [SEG]). The bias is the tests' only
hand on the model: the weights, the prompt and the decoding are the adapter's own."""

from __future__ import annotations

import torch

from vipbench.models import MODELS
from vipbench.models.omg_llava import OMGLLaVAAdapter
from vipbench.models.perceptiongpt import PerceptionGPTAdapter


def bias_towards(llm, token_id: int) -> None:
    """Replace ``llm``'s lm_head with a copy that adds a large bias to ``token_id``'s logit."""
    head = llm.lm_head
    biased = torch.nn.Linear(head.in_features, head.out_features, bias=True, dtype=head.weight.dtype)
    with torch.no_grad():
        biased.weight.copy_(head.weight)
        biased.bias.zero_()
        biased.bias[token_id] = 1e4
    llm.lm_head = biased


class LocForcingPerceptionGPT(PerceptionGPTAdapter):
    """PerceptionGPT that writes "<loc><loc>...": a box (and a mask) decoded at every step."""

    def __init__(self, **options):
        super().__init__(**options)
        bias_towards(self.model.llm, self.loc_id)


class SegForcingOMGLLaVA(OMGLLaVAAdapter):
    """OMG-LLaVA that writes "[SEG][SEG]...": a mask decoded for every [SEG] but the last."""

    def __init__(self, checkpoint: str = "zhangtao-whu/OMG-LLaVA", **options):
        super().__init__(checkpoint, **options)
        bias_towards(self.model.llm, self.seg_id)


def register(name: str, adapter: type) -> str:
    """``name`` in vipbench's model registry (once per session), for ``vipbench run --model name``."""
    if name not in MODELS:
        MODELS.register(name, adapter, f"{adapter.__doc__}")
    return name
