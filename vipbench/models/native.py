"""What the native adapters (Osprey, PerceptionGPT, OMG-LLaVA) share. Each builds a prompt's input embeddings
itself, with its regions spliced in as embeddings, so a batch is those embeddings left-padded: generation then
starts where every prompt ends, whatever each image's number of tokens."""

from __future__ import annotations

from collections.abc import Sequence

from vipbench.errors import VipbenchError
from vipbench.models.base import ModelAdapter
from vipbench.types import REGION_TOKEN, Request


def numbered_regions(request: Request, placeholder: str) -> str:
    """The question with its k-th ``<region>`` written "region{k} {placeholder}", as Osprey's and OMG-LLaVA's
    training data name regions."""
    parts = request.text.split(REGION_TOKEN)
    if len(parts) - 1 != len(request.regions):
        raise VipbenchError(f"{request.sample.id}: {len(parts) - 1} region tokens for {len(request.regions)} regions")
    return parts[0] + "".join(f"region{k} {placeholder}{part}" for k, part in enumerate(parts[1:], start=1))


class EmbeddingsAdapter(ModelAdapter):
    """An adapter whose ``embed(request)`` gives the prompt's input embeddings for ``self.model.llm``."""

    def embed(self, request: Request):
        raise NotImplementedError

    def batch(self, requests: Sequence[Request]):
        """Left-padded embeddings, in the language model's dtype, and their attention mask."""
        import torch

        embeds = [self.embed(r) for r in requests]
        longest = max(e.shape[0] for e in embeds)
        dtype = self.model.llm.get_input_embeddings().weight.dtype
        padded = torch.zeros(len(embeds), longest, embeds[0].shape[1], dtype=dtype, device=self.device)
        attention = torch.zeros(len(embeds), longest, dtype=torch.long, device=self.device)
        for i, e in enumerate(embeds):
            padded[i, longest - e.shape[0] :] = e
            attention[i, longest - e.shape[0] :] = 1
        return padded, attention

    def next_token_logits(self, requests: Sequence[Request]):
        """The logits of each request's first answer token (tests prove regions reach the model through them)."""
        import torch

        with torch.inference_mode():
            embeds, attention = self.batch(requests)
            return self.model.llm(inputs_embeds=embeds, attention_mask=attention).logits[:, -1, :].float()
