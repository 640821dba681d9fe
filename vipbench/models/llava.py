"""The LLaVA family through transformers: ViP-LLaVA (``VipLlavaForConditionalGeneration``) and LLaVA-1.5
(``LlavaForConditionalGeneration``), the baseline every region leaderboard shows beside it.

Each task's protocol (``vipbench.protocols``, the task YAML's ``protocols.llava``) picks what the family's own
script uses: the conversation template (``vicuna_v1`` for LLaVA-1.5's POPE and LLaVA-Bench scripts, ``llava_v1``
for ViP-LLaVA's ViP-Bench, VCR, Visual7W and PointQA scripts: two different system prompts), the image
preprocessing (pad-to-square with the CLIP mean colour; VCR squashes) and the decoding. The HF processor alone
would centre-crop non-square images and can cut off prompts drawn near the edges, so the image is padded before
the processor sees it. Both read regions drawn onto the pixels; LLaVA-1.5 also reads them as coordinates in the
text (``llava-1.5-7b-coords``), the second kind of baseline ViP-Bench's paper reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from vipbench.errors import MissingExtraError, VipbenchError
from vipbench.imaging import pad_to_square
from vipbench.models.base import Generation, GenerationSettings, ModelAdapter, seed_sampling
from vipbench.models.checkpoints import (
    checkpoint_source,
    describe_checkpoint,
    quiet_loading,
    read_config,
    resolve_device,
)
from vipbench.prompting import request_image
from vipbench.records import ids_hash
from vipbench.types import Request

#: The system prompt of LLaVA's ``llava_v1`` template (llava/conversation.py ``conv_llava_v1``), shared by ViP-LLaVA
#: and Osprey (``osprey_v1``).
SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
#: The system prompt of LLaVA's ``vicuna_v1`` template (``conv_vicuna_v1``): "user", not "human".
VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)

#: ``llava_v1`` (sep " ", roles USER/ASSISTANT): ViP-LLaVA's ViP-Bench, VCR, Visual7W and PointQA scripts.
LLAVA_V1 = SYSTEM + " USER: <image>\n{question} ASSISTANT:"
#: ``vicuna_v1``: LLaVA-1.5's POPE and LLaVA-Bench scripts (scripts/v1_5/eval/pope.sh, llavabench.sh), and
#: ViP-LLaVA's copies of them.
VICUNA_V1 = VICUNA_SYSTEM + " USER: <image>\n{question} ASSISTANT:"
#: The template used where neither the task's protocol nor the user names one.
DEFAULT_TEMPLATE = "llava_v1"
PREPROCESSING = ("pad", "crop", "resize")
#: ``static`` preallocates the KV cache, which lets transformers compile the decoding step on a GPU.
KV_CACHES = ("dynamic", "static")

#: ViP-LLaVA's projector reads these CLIP layers; an old llava-hf 7B config revision lists only -2.
_OFFICIAL_FEATURE_LAYERS = [-2, -5, -8, -11, 6]


class LlavaFamilyAdapter(ModelAdapter):
    """What ViP-LLaVA and LLaVA-1.5 share: loading, the template, preprocessing and batched generation."""

    region_modes: ClassVar[tuple[str, ...]] = ("overlay", "coords")
    family: ClassVar[str | None] = "llava"
    generation_defaults: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=1024, temperature=0.0)
    model_type: ClassVar[str]
    """The checkpoint's ``config.json`` model_type."""
    model_class: ClassVar[str]
    """The transformers class that loads it."""
    templates: ClassVar[dict[str, str]]
    """Conversation templates by name; the first is the default."""

    def __init__(
        self,
        checkpoint: str,
        model_path: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        conv_template: str | None = None,
        image_preprocess: str | None = None,
        kv_cache: str = "dynamic",
    ):
        try:
            import torch  # noqa: F401
            import transformers
            from transformers import AutoProcessor
        except ImportError:
            raise MissingExtraError("models", type(self).__name__) from None
        if conv_template is not None and conv_template not in self.templates:
            raise VipbenchError(
                f"unknown conversation template {conv_template!r}; choose from {', '.join(self.templates)}"
            )
        if kv_cache not in KV_CACHES:
            raise VipbenchError(f"unknown KV cache {kv_cache!r}; choose from {', '.join(KV_CACHES)}")
        if image_preprocess is not None and image_preprocess not in PREPROCESSING:
            raise VipbenchError(
                f"unknown image preprocessing {image_preprocess!r}; choose from {', '.join(PREPROCESSING)}"
            )

        source, offline = checkpoint_source(checkpoint, model_path, self.model_type)
        # LLaVA's and ViP-LLaVA's evaluation scripts run the model in fp16 (``.half()`` in model_vqa.py).
        self.device, self.dtype = resolve_device(device, dtype, gpu_dtype="float16")
        config = self.fix_config(_load_config(source, self.model_type, offline))
        self.source, self.checkpoint = source, checkpoint
        self.template, self.image_preprocess, self.kv_cache = conv_template, image_preprocess, kv_cache
        self.batch_size = "auto" if self.device.startswith("cuda") else 1  # a GPU takes the largest batch that fits

        try:
            self.processor = AutoProcessor.from_pretrained(source, local_files_only=offline)
        except (OSError, ValueError, TypeError) as exc:
            raise VipbenchError(
                f"cannot load the processor (tokenizer and image processor) from {source}: {str(exc).splitlines()[0]}"
            ) from None
        tokenizer = self.processor.tokenizer
        tokenizer.padding_side = "left"  # decoder-only batching: prompts end where generation starts
        if getattr(self.processor, "patch_size", None) is None:  # older hub processors lack these
            self.processor.patch_size = config.vision_config.patch_size
            self.processor.num_additional_image_tokens = 1
            self.processor.vision_feature_select_strategy = "default"
        image_processor = self.processor.image_processor
        self.fill = tuple(int(255 * m) for m in image_processor.image_mean)
        crop = getattr(image_processor, "crop_size", None) or {}
        self.image_size = crop.get("height") or config.vision_config.image_size

        try:
            with quiet_loading():
                model = getattr(transformers, self.model_class).from_pretrained(
                    source, config=config, dtype=self.dtype, local_files_only=offline
                )
        except (OSError, RuntimeError, ValueError) as exc:
            raise VipbenchError(f"cannot load the weights from {source}: {str(exc).splitlines()[0]}") from None
        self.model = model.to(self.device).eval()

    def fix_config(self, config):
        """A hook for what an older checkpoint's config gets wrong."""
        return config

    def describe(self) -> dict[str, Any]:
        return {
            **describe_checkpoint(self),
            # None: each task's protocol decides (the manifest's tasks.<task>.generation says what ran)
            "conv_template": self.template,
            "image_preprocess": self.image_preprocess,
            "kv_cache": self.kv_cache,
        }

    def template_name(self, settings: GenerationSettings | None = None) -> str:
        """The user's template, else the task protocol's, else ``llava_v1``."""
        chosen = self.template or (settings.conv_template if settings else None) or DEFAULT_TEMPLATE
        if chosen not in self.templates:
            raise VipbenchError(f"unknown conversation template {chosen!r}; choose from {', '.join(self.templates)}")
        return chosen

    def chat_template(self, settings: GenerationSettings | None = None) -> str:
        return self.templates[self.template_name(settings)]

    def prompt(self, question: str, settings: GenerationSettings | None = None) -> str:
        return self.chat_template(settings).format(question=question)

    def preprocess(self, request: Request, settings: GenerationSettings | None = None):
        """pad: LLaVA's expand2square; resize: squash to a square; crop: the HF processor's centre crop.

        After pad or resize the image is square, so the processor's resize + centre crop only rescales it.
        """
        image = request_image(request)
        how = self.image_preprocess or (settings.image_preprocess if settings else None) or "pad"
        if how == "pad":
            image = pad_to_square(image, self.fill)
        elif how == "resize":
            image = image.resize((self.image_size, self.image_size), resample=3)  # bicubic, as CLIP
        return image

    def input_ids(self, prompt: str) -> list[int]:
        """The prompt's ids as upstream LLaVA builds them (``tokenizer_image_token``): the text on each side of
        ``<image>`` tokenized on its own, with the begin-of-sentence token only at the very start, and the image's
        tokens between. Tokenizing the whole prompt instead (as the HF processor does) drops the ``▁`` that starts
        the text after the image when the tokenizer has ``legacy=False``."""
        tokenizer = self.processor.tokenizer
        ids: list[int] = []
        for i, piece in enumerate(prompt.split("<image>")):
            piece_ids = tokenizer(piece).input_ids
            if i:
                ids += [self.image_token_id] * self.image_tokens
                if piece_ids[:1] == [tokenizer.bos_token_id]:
                    piece_ids = piece_ids[1:]
            ids += piece_ids
        return ids

    @cached_property
    def image_token_id(self) -> int:
        return self.processor.tokenizer.convert_tokens_to_ids(self.processor.image_token)

    @cached_property
    def image_tokens(self) -> int:
        """How many tokens one image takes, as the processor expands ``<image>`` for this checkpoint."""
        from PIL import Image

        blank = Image.new("RGB", (self.image_size, self.image_size))
        ids = self.processor(images=[blank], text=["<image>"], return_tensors="pt")["input_ids"][0]
        return int((ids == self.image_token_id).sum())

    def inputs(self, requests: Sequence[Request], settings: GenerationSettings | None = None):
        """The batch as the model takes it: padded images, templated prompts, left-padded token ids."""
        import torch

        rows = [self.input_ids(self.prompt(r.text, settings)) for r in requests]
        longest = max(map(len, rows))
        pad = self.processor.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (longest - len(row)) + row for row in rows])
        attention = torch.tensor([[0] * (longest - len(row)) + [1] * len(row) for row in rows])
        pixels = self.processor.image_processor([self.preprocess(r, settings) for r in requests], return_tensors="pt")
        return {
            "input_ids": ids.to(self.device),
            "attention_mask": attention.to(self.device),
            "pixel_values": pixels["pixel_values"].to(self.device, self.dtype),
        }

    def next_token_logits(self, requests: Sequence[Request]):
        import torch

        with torch.inference_mode():
            return self.model(**self.inputs(requests)).logits[:, -1, :].float()

    def generate(self, requests: Sequence[Request], settings: GenerationSettings) -> list[Generation]:
        import torch

        if settings.sampling and len(requests) > 1:  # each sample from its own seed
            return [answer for r in requests for answer in self.generate([r], settings)]
        seed = seed_sampling(requests, settings)
        inputs = self.inputs(requests, settings)
        kwargs = settings.generate_kwargs(self.processor.tokenizer.pad_token_id)
        if self.kv_cache == "static":
            kwargs["cache_implementation"] = "static"
        with torch.inference_mode():
            output = self.model.generate(**inputs, **kwargs)
        ids, attention = inputs["input_ids"], inputs["attention_mask"].bool()
        texts = self.processor.batch_decode(output[:, ids.shape[1] :], skip_special_tokens=True)
        metadata = {} if seed is None else {"seed": seed}
        return [
            Generation(text.strip(), self.prompt(r.text, settings), ids_hash(row[kept]), dict(metadata))
            for text, r, row, kept in zip(texts, requests, ids, attention)
        ]


class VipLlavaAdapter(LlavaFamilyAdapter):
    """ViP-LLaVA reads regions drawn onto the pixels, or coordinates written in the text."""

    model_type = "vipllava"
    model_class = "VipLlavaForConditionalGeneration"
    #: ``hf`` is the format on the llava-hf model card.
    templates = {
        "llava_v1": LLAVA_V1,
        "vicuna_v1": VICUNA_V1,
        "hf": SYSTEM + "###Human: <image>\n{question}###Assistant:",
    }

    def fix_config(self, config):
        if isinstance(config.vision_feature_layer, int) and config.vision_config.num_hidden_layers >= 12:
            config.vision_feature_layer = list(_OFFICIAL_FEATURE_LAYERS)
        return config


class LlavaAdapter(LlavaFamilyAdapter):
    """LLaVA-1.5: the same drawn prompts as ViP-LLaVA, on a model never trained on them."""

    model_type = "llava"
    model_class = "LlavaForConditionalGeneration"
    #: ``hf`` is the format on the llava-hf model card.
    templates = {"llava_v1": LLAVA_V1, "vicuna_v1": VICUNA_V1, "hf": "USER: <image>\n{question} ASSISTANT:"}


class LlavaCoordsAdapter(LlavaAdapter):
    """LLaVA-1.5 given regions as normalised ``[x1, y1, x2, y2]`` in the text (Shikra style), not drawn."""

    region_modes = ("coords", "overlay")


def _load_config(source: str, model_type: str, offline: bool = False):
    """Load and check the checkpoint's config before touching weights, so a wrong folder fails clearly."""
    from transformers import AutoConfig

    if Path(source).exists():
        read_config(Path(source), model_type)
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=offline)
    except (OSError, ValueError) as exc:
        raise VipbenchError(f"cannot load the model config from {source!r}: {str(exc).splitlines()[0]}") from None
    if config.model_type != model_type:
        raise VipbenchError(f"{source} is a {config.model_type} checkpoint, not a {model_type} one")
    return config
