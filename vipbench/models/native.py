"""What the native adapters (Osprey, PerceptionGPT, OMG-LLaVA) share. Each builds a prompt's input embeddings
itself, with its regions spliced in as embeddings, so a batch is those embeddings left-padded: generation then
starts where every prompt ends, whatever each image's number of tokens."""

from __future__ import annotations

from collections.abc import Sequence

from vipbench.errors import VipbenchError
from vipbench.models.base import ModelAdapter
from vipbench.types import REGION_TOKEN, Request

#: The id upstream LLaVA code gives the image in a prompt's token ids (``IMAGE_TOKEN_INDEX``); Osprey's and xtuner's
#: (OMG-LLaVA's) code keep it.
IMAGE_PLACEHOLDER_ID = -200
#: OpenAI CLIP's normalisation, which Osprey (for its ConvNeXt) and PerceptionGPT (for its CLIP) both apply.
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def to_tensor(image, mean: Sequence[float], std: Sequence[float]):
    """A picture as a (3, H, W) float32 tensor, scaled to 0–1 and normalised per channel (torchvision's ``ToTensor``
    then ``Normalize``, which every native adapter's upstream applies)."""
    import numpy as np
    import torch

    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255)
    return ((x - torch.tensor(mean)) / torch.tensor(std)).permute(2, 0, 1)


def square(size: tuple[int, int]) -> tuple[int, int, int]:
    """(side, x offset, y offset) of a picture of ``size`` pasted into the middle of its padded square (LLaVA's
    ``expand2square``, as ``vipbench.imaging.pad_to_square`` draws it)."""
    w, h = size
    side = max(w, h)
    return side, (side - w) // 2, (side - h) // 2


def numbered_regions(request: Request, placeholder: str) -> str:
    """The question with its k-th ``<region>`` written "region{k} {placeholder}", as Osprey's and OMG-LLaVA's
    training data name regions."""
    parts = request.text.split(REGION_TOKEN)
    if len(parts) - 1 != len(request.regions):
        raise VipbenchError(f"{request.sample.id}: {len(parts) - 1} region tokens for {len(request.regions)} regions")
    return parts[0] + "".join(f"region{k} {placeholder}{part}" for k, part in enumerate(parts[1:], start=1))


def bare_regions(request: Request, placeholder: str) -> str:
    """The question with each ``<region>`` written as ``placeholder`` alone (Osprey's RefCOCOg script)."""
    count = request.text.count(REGION_TOKEN)
    if count != len(request.regions):
        raise VipbenchError(f"{request.sample.id}: {count} region tokens for {len(request.regions)} regions")
    return request.text.replace(REGION_TOKEN, placeholder)


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
