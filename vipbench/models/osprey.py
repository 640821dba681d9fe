"""Osprey (Yuan et al., CVPR 2024): a LLaVA-style model that reads each region as a mask, natively in PyTorch
(the modules are in ``osprey_modeling``, imported when a model is built).

The architecture, from ``CircleRadon/Osprey`` (``osprey/model``):

- a ConvNeXt-L trunk (open_clip's ``convnext_large_d_320``, run at 512 px); its module names follow timm's, so the
  separate open_clip weights file (``mm_vision_tower`` in config.json) loads by name;
- image tokens: the stride-16 stage (1024 tokens at 512 px) through a 2-layer GELU projector (768 → 4096 → 4096);
- regions: mask pooling on each of the four stages, a linear per stage, summed, then ``feat_linear`` (the mask
  token); the mask resized to 112 × 112 through a 3-layer MLP (the position token);
- a ``LlamaForCausalLM`` (Vicuna-7B v1.5) whose ``<mask><pos>`` placeholders are replaced by those two tokens.

The checkpoint is the official ``.bin`` shards (``model.*``, ``lm_head``, ``model.mm_projector``,
``mask_extractor``; the trunk too when it was saved with them), read key by key with every name mapped and every
shape checked: a missing or unexpected key is an error that names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from vipbench.errors import MissingExtraError, VipbenchError
from vipbench.models.base import Generation, GenerationSettings, seed_sampling
from vipbench.models.checkpoints import checkpoint_folder, describe_checkpoint, hub_file, llama_tokenizer, read_config
from vipbench.models.llava import SYSTEM
from vipbench.models.native import (
    CLIP_MEAN,
    CLIP_STD,
    IMAGE_PLACEHOLDER_ID,
    EmbeddingsAdapter,
    bare_regions,
    numbered_regions,
    to_tensor,
)
from vipbench.prompting import request_image
from vipbench.records import ids_hash
from vipbench.types import Request

#: The picture's introduction: ``eval`` as osprey/eval/refcocog_eval.py builds it (the text it tokenizes, "." on a
#: line of its own: tests/upstream/osprey_deb0e57.json), ``train`` as its training data does, ``demo`` as its
#: demo, ``bare`` as pope_eval.py asks (``<image>\n`` and the question).
PREFIXES = {
    "eval": "<image>\n.\nThis provides an overview of the picture.\n",
    "train": "<image>\nThis provides an overview of the picture.\n",
    "demo": "<image>\n\nThis provides an overview of the picture.\n",
    "bare": "<image>\n",
}
DEFAULT_PREFIX = "eval"
#: Osprey's conversations end with this stop string (``conv.sep2``); its scripts cut it off.
STOP = "</s>"
MASK, POS = "<mask>", "<pos>"
#: Where open_clip's ``convnext_large_d_320`` (laion2B-s29B-b131K-ft-soup) weights live, which Osprey loads apart.
CLIP_REPO = "laion/CLIP-convnext_large_d_320.laion2B-s29B-b131K-ft-soup"
CLIP_FILE = "open_clip_pytorch_model.bin"


# ------------------------------------------------------------------------------------------- the adapter


class OspreyAdapter(EmbeddingsAdapter):
    """Osprey reads each region as a binary mask (a box-only region as its filled rectangle)."""

    region_modes: ClassVar[tuple[str, ...]] = ("mask",)
    family: ClassVar[str | None] = "osprey"
    generation_defaults: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=1024, temperature=0.0)

    def __init__(
        self,
        checkpoint: str,
        model_path: str | None = None,
        clip_path: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        prefix: Literal["eval", "train", "demo", "bare"] | None = None,
    ):
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            raise MissingExtraError("models", "Osprey") from None

        from vipbench.models.checkpoints import resolve_device
        from vipbench.models.osprey_modeling import OspreyModel, load_into, read_state
        from vipbench.models.weights import building

        folder = checkpoint_folder(checkpoint, model_path, "osprey")
        config = read_config(folder, "osprey", "Osprey", prefix=True)
        self.checkpoint, self.source, self.prefix = checkpoint, str(folder), prefix
        self.settings = GenerationSettings()  # the task's, set by generate
        self.device, self.dtype = resolve_device(device, dtype)
        clip = self._clip_file(folder, config, clip_path)
        self.clip_path = str(clip)
        self.tokenizer = llama_tokenizer(folder)
        self.tokenizer.add_tokens([MASK, POS], special_tokens=True)
        self.mask_id, self.pos_id = self.tokenizer.convert_tokens_to_ids([MASK, POS])
        with building(self.dtype):  # in its final dtype at once: the weights are streamed into it
            model = OspreyModel(config)
        load_into(model, read_state(folder, clip), folder)
        self.model = model.to(device=self.device).eval()
        self.geometry = model.geometry

    @staticmethod
    def _clip_file(folder: Path, config: dict[str, Any], clip_path: str | None) -> Path:
        """The open_clip weights: ``clip_path``, or the file config.json names (its path on the authors' machine,
        so looked for by name in the checkpoint folder), or, when the checkpoint lacks both, a download from
        laion's repo on the Hub."""
        if clip_path:
            return Path(clip_path).expanduser()
        beside = folder / Path(str(config.get("mm_vision_tower", CLIP_FILE))).name
        if beside.is_file():
            return beside
        try:
            return hub_file(
                CLIP_REPO, CLIP_FILE, "Osprey's vision tower", "give the file with --model-args clip_path=FILE"
            )
        except VipbenchError:
            return beside  # a checkpoint that carries its trunk needs no file; read_state says when one is missing

    def describe(self) -> dict[str, Any]:
        return {
            **describe_checkpoint(self),
            "clip_path": self.clip_path,
            "prefix": self.prefix,  # None: each task's protocol decides (its generation.prefix), else "eval"
            "prefix_text": PREFIXES[self.prefix] if self.prefix else None,
            "template": "osprey_v1 (llava_v1)",
            "image_preprocess": f"warp to {self.geometry.image_size}x{self.geometry.image_size}",
        }

    def question(self, request: Request) -> str:
        """``<region>`` tokens as Osprey's training data writes regions ("region1 <mask><pos>", ...), or bare
        ``<mask><pos>`` as its RefCOCOg script asks."""
        if not self.settings.region_names:
            return bare_regions(request, MASK + POS)
        return numbered_regions(request, MASK + POS)

    def chat_template(self) -> str:
        """Osprey's ``osprey_v1`` template, the same as LLaVA's ``llava_v1``, with the task's picture introduction."""
        prefix = self.prefix or self.settings.prefix or DEFAULT_PREFIX
        if prefix not in PREFIXES:
            raise VipbenchError(f"unknown Osprey prefix {prefix!r}; choose from {', '.join(PREFIXES)}")
        return SYSTEM + " USER: " + PREFIXES[prefix] + "{question} ASSISTANT:"

    def prompt(self, request: Request) -> str:
        return self.chat_template().format(question=self.question(request))

    def pixels(self, request: Request):
        """Osprey's preprocessing: resize the short side to 512 (bicubic), normalise, then warp to 512 × 512."""
        import torch.nn.functional as F  # noqa: N812

        image = request_image(request)
        size = self.geometry.image_size
        w, h = image.size
        scale = size / min(w, h)
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), resample=3)
        x = to_tensor(image, CLIP_MEAN, CLIP_STD).unsqueeze(0)
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)

    def masks(self, request: Request):
        """The regions as binary masks at the image's own size (pooling resizes them onto each feature map)."""
        import numpy as np
        import torch

        from vipbench.imaging import image_size

        size = image_size(request.image_path)
        return torch.tensor(np.stack([np.asarray(r.mask(size)) > 0 for r in request.regions]), dtype=torch.float32)

    def embed(self, request: Request):
        """The input embeddings of one request: text, image tokens where ``<image>`` is, region tokens where each
        ``<mask><pos>`` is."""
        import torch

        model = self.model
        before, after = self.prompt(request).split("<image>", 1)
        features = model.vision(self.pixels(request).to(self.device, self.dtype))
        image = model.projector(features["res4"].flatten(2).transpose(1, 2))[0]
        pieces = [self._text(before, bos=True), image]
        ids = self.tokenizer(after, add_special_tokens=False, return_tensors="pt").input_ids[0].tolist()
        if request.regions:
            mask_tokens, pos_tokens = model.mask_extractor(features, self.masks(request).to(self.device))
        start = 0
        for i, at in enumerate(k for k, t in enumerate(ids) if t == self.mask_id):
            pieces += [self._ids(ids[start:at]), mask_tokens[i : i + 1], pos_tokens[i : i + 1]]
            start = at + 2  # past <mask><pos>
        pieces.append(self._ids(ids[start:]))
        return torch.cat([p for p in pieces if p.shape[0]], dim=0)

    def _text(self, text: str, bos: bool):
        return self._ids(self.tokenizer(text, add_special_tokens=bos).input_ids)

    def _ids(self, ids: list[int]):
        import torch

        tensor = torch.tensor(ids, dtype=torch.long, device=self.device)
        return self.model.llm.get_input_embeddings()(tensor)

    def input_ids(self, request: Request) -> list[int]:
        """The prompt's token ids with the image as upstream's placeholder id (-200), as the model reads them."""
        before, after = self.prompt(request).split("<image>", 1)
        tokens = self.tokenizer
        return tokens(before).input_ids + [IMAGE_PLACEHOLDER_ID] + tokens(after, add_special_tokens=False).input_ids

    def generate(self, requests: Sequence[Request], settings: GenerationSettings) -> list[Generation]:
        if settings.sampling and len(requests) > 1:  # each sample from its own seed
            return [answer for r in requests for answer in self.generate([r], settings)]
        self.settings = settings
        seed = seed_sampling(requests, settings)
        pad = self.tokenizer.pad_token_id
        kwargs = settings.generate_kwargs(pad if pad is not None else self.tokenizer.unk_token_id)
        import torch

        with torch.inference_mode():
            embeds, attention = self.batch(requests)
            output = self.model.llm.generate(inputs_embeds=embeds, attention_mask=attention, **kwargs)
        texts = self.tokenizer.batch_decode(output, skip_special_tokens=True)
        metadata = {} if seed is None else {"seed": seed}
        return [
            Generation(clean(text, settings.postprocess), self.prompt(r), ids_hash(self.input_ids(r)), dict(metadata))
            for text, r in zip(texts, requests)
        ]


def clean(text: str, postprocess: str | None = None) -> str:
    """The answer as Osprey's scripts keep it: the stop string cut off; with ``osprey_caption`` (refcocog_eval.py)
    also the text between the first and second ':' when there is one, and each '.' followed by a line break."""
    text = text.strip().removesuffix(STOP).strip()
    if postprocess is None:
        return text
    if postprocess != "osprey_caption":
        raise VipbenchError(f"unknown Osprey post-processing {postprocess!r}; known: osprey_caption")
    if ":" in text:
        text = text.split(":")[1]
    return text.replace(".", ".\n")
