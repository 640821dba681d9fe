"""OMG-LLaVA (Zhang et al., NeurIPS 2024): InternLM2-chat-7B reading an image as OMG-Seg's pixel features and object
queries, and each region as one object query decoded from its mask, natively in PyTorch with no mmcv, mmdet or
xtuner (the modules are in ``omg_llava_modeling``, ``omg_seg`` and ``internlm2``).

How upstream evaluates region captions, from ``lxtGH/OMG-Seg@1ae2e7d`` (``omg_llava/omg_llava/tools/
region_cap_mask_omg_seg_llava.py``, ``configs/finetune/omg_llava_7b_finetune_8gpus.py``,
``xtuner/utils/templates.py``), which this adapter follows:

- the image padded to a square with the mean colour (122, 116, 104), resized (bicubic) to 1024 × 1024 and
  normalised with mean (0.4814, 0.4578, 0.4082), std (0.2686, 0.2613, 0.2757);
- each region mask padded to a square the same way (with zeros) and resized to 1024 × 1024 (nearest); its
  ``<mark>`` token is ``forward_region_sam``'s query through the projector's ``query_proj`` and ``model``;
- the prompt ``<image>\\n{question}`` in the ``internlm2_chat`` template with no system turn
  (``<|im_start|>user\\n...<|im_end|>\\n<|im_start|>assistant\\n``), the text before ``<image>`` encoded with
  ``<s>``, the rest without; a region written "region1 <mark>" ("... marked by region1 <mark>?");
- greedy decoding, at most 300 new tokens, stopping at ``<|im_end|>``; a region caption cleaned as the tool
  cleans it ("region1", ":" and newlines, ``<...>`` tags and ``[SEG]`` removed, whitespace collapsed). By default
  (``postprocess="auto"``) only RefCOCOg's answers are cleaned: on other tasks the cleaning would eat the ":" of
  "10:30" or an OCR'd label; ``region_caption`` cleans every answer, ``none`` none.

Referring segmentation as upstream's RefCOCO tool (``tools/refcoco_omg_seg_llava.py``) does it: "Please segment
{expression} in this image." (the RES tasks' ``protocols: omg-llava`` block), greedy, 100 new tokens; each
``[SEG]`` of the answer is decoded into a mask of the original image (``omg_llava_modeling``: the hidden state,
``projector_text2vision``, OMG-Seg's decoder, un-padding, sigmoid > 0.5) and returned as an output region (its RLE
and tight box), in the answer's order; the tool scores the first. It has no REC evaluation: for REC the first
mask's tight box is the answer (vipbench's choice).

Choices of vipbench's: a box is read as its filled rectangle, through the same mask path (``box``); a point
(``point``) goes through ``forward_point_sam``, in the padded 1024 × 1024 image's pixels as upstream's
point data are; every region of a question is written "region{k} <mark>". Upstream runs its LLM 4-bit (NF4)
with the LoRA unmerged, in float16; here the LoRA is merged into the base (alpha / r) and the LLM runs in the
adapter's dtype (float16 on a GPU by default), the visual encoder and projector in float32 as upstream.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from vipbench import rle
from vipbench.errors import MissingExtraError, VipbenchError
from vipbench.models.base import Generation, GenerationSettings, OutputRegion
from vipbench.models.checkpoints import checkpoint_folder, describe_checkpoint, hub_file
from vipbench.models.native import IMAGE_PLACEHOLDER_ID, EmbeddingsAdapter, numbered_regions, square, to_tensor
from vipbench.prompting import request_image
from vipbench.records import ids_hash
from vipbench.types import Request

IMAGE = "<image>"
TEMPLATE = "<|im_start|>user\n" + IMAGE + "\n{question}<|im_end|>\n<|im_start|>assistant\n"
STOP = "<|im_end|>"
MEAN, STD = (0.4814, 0.4578, 0.4082), (0.2686, 0.2613, 0.2757)
PAD_COLOUR = tuple(int(x * 255) for x in MEAN)
FILES = ("internlm2-chat-7b/*", "omg_seg_convl.pth", "convnext_large_d_320_CocoPanopticOVDataset.pth")


def clean_caption(text: str) -> str:
    """The region-caption tool's cleaning of an answer."""
    text = text.replace("<s>", "").replace("\n", "").replace("region1", "").replace("Region1", "")
    text = text.replace(":", "").replace("   ", " ").replace("  ", " ").split("ASSISTANT: ")[-1]
    text = re.sub(r"<.*?>", "", text).replace("[SEG]", "")
    return " ".join(text.split()).strip("'").strip()


class OMGLLaVAAdapter(EmbeddingsAdapter):
    """OMG-LLaVA reads each region as a mask (a box as its rectangle) or a point, one ``<mark>`` token each."""

    region_modes: ClassVar[tuple[str, ...]] = ("mask", "box", "point")
    family: ClassVar[str | None] = "omg-llava"
    generation_defaults: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=300, temperature=0.0)

    def __init__(
        self,
        checkpoint: str,
        model_path: str | None = None,
        finetune: str = "omg_llava_7b_finetune_8gpus.pth",
        clip_path: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        lora_alpha: float = 256.0,
        postprocess: Literal["auto", "region_caption", "none"] = "auto",
    ):
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            raise MissingExtraError("models", "OMG-LLaVA") from None

        from vipbench.models import omg_llava_modeling as modeling
        from vipbench.models.checkpoints import resolve_device
        from vipbench.models.internlm2 import InternLM2Tokens
        from vipbench.models.weights import building

        if postprocess not in ("auto", "region_caption", "none"):
            raise VipbenchError(f"postprocess must be auto, region_caption or none, not {postprocess!r}")
        folder = checkpoint_folder(checkpoint, model_path, "omg-llava", allow_patterns=[*FILES, finetune])
        self.checkpoint, self.source, self.finetune = checkpoint, str(folder), finetune
        self.lora_alpha, self.postprocess = lora_alpha, postprocess
        # Upstream's LLM computes in float16 (4-bit NF4 weights); its visual encoder and projector in float32.
        self.device, self.dtype = resolve_device(device, dtype, gpu_dtype="float16")
        self.clip_path = clip_path
        loaded = modeling.read_checkpoint(folder, finetune, lambda: self._clip_file(folder, clip_path), lora_alpha)
        self.geometry = modeling.Geometry.of(folder)
        self.tokenizer = InternLM2Tokens(folder / modeling.LLM_FOLDER)
        self.tokenizer.add(list(modeling.ADDED_TOKENS))
        self.tokenizer.add([modeling.MARK])
        self.mark_id = self.tokenizer.token_id(modeling.MARK)
        self.seg_id = self.tokenizer.token_id(modeling.ADDED_TOKENS[0])
        self.stop_id = self.tokenizer.token_id(STOP)
        # The LLM is built in its dtype (RoPE's frequencies stay float32), the visual side in float32.
        with building(self.dtype):
            shape = tuple(loaded.classes.shape)
            model = modeling.OMGLLaVAModel(self.geometry, loaded.llm_config, shape, loaded.seg_decoder)
        for part in (model.trunk, model.head, model.projector, model.projector_text2vision):
            part.float()
        modeling.load_into(model, loaded, folder, finetune)
        self.model = model.to(self.device).eval()
        self.layout = {
            "lora_pairs": loaded.lora_pairs,
            "lora_rank": loaded.lora_rank,
            "trunk": loaded.trunk_from,
            "vocab": loaded.llm_config.vocab_size,
            "seg_decoder": "transformer_decoder_llm" if loaded.seg_decoder else "the panoptic decoder",
        }

    @staticmethod
    def _clip_file(folder: Path, clip_path: str | None) -> Path | None:
        """The open_clip ConvNeXt weights, asked for only when ``omg_seg_convl.pth`` lacks the trunk:
        ``clip_path``, or ``open_clip_pytorch_model.bin`` in the folder, or laion's file from the Hub (cached, or
        downloaded when online); None when none is found (the reader then says what to give)."""
        from vipbench.models.osprey import CLIP_FILE, CLIP_REPO

        if clip_path:
            return Path(clip_path).expanduser()
        if (folder / CLIP_FILE).is_file():
            return folder / CLIP_FILE
        try:
            hint = "give the file with --model-args clip_path=FILE"
            return hub_file(CLIP_REPO, CLIP_FILE, "OMG-LLaVA's vision trunk", hint)
        except (VipbenchError, OSError, ValueError):
            return None

    def describe(self) -> dict[str, Any]:
        size = self.geometry.image_size
        return {
            **describe_checkpoint(self),
            "finetune": self.finetune,
            "clip_path": self.clip_path,
            "lora_alpha": self.lora_alpha,
            "lora_merge": "W += lora_alpha / r · B·A, into the base InternLM2 before it is mapped onto Llama",
            "checkpoint_layout": self.layout,
            "vision_dtype": "float32",
            "template": "internlm2_chat, no system turn: <|im_start|>user\\n<image>\\n{question}<|im_end|>\\n"
            "<|im_start|>assistant\\n",
            "stop": STOP,
            "image_preprocess": f"pad to square ({', '.join(map(str, PAD_COLOUR))}), bicubic resize to {size}x{size}",
            "image_tokens": f"{self.geometry.grid**2} pixel-shuffled features + separator + the valid object queries",
            "regions": "region{k} <mark>; mask/box → padded to square, nearest resize, forward_region_sam; "
            "point → forward_point_sam",
            "segmentation": "each [SEG] of the answer (not its last token): the last layer's hidden state → "
            f"projector_text2vision → {self.layout['seg_decoder']} → stride-4 logits, bilinear to the original's "
            "padded square, un-padded, sigmoid > 0.5 → output region (mask RLE, its tight box)",
            "postprocess": self.postprocess
            + (" (the region-caption tool's cleaning on refcocog tasks only)" if self.postprocess == "auto" else ""),
        }

    def cleans(self, task: str) -> bool:
        """Whether ``task``'s answers get the region-caption tool's cleaning, which is RefCOCOg captioning's
        protocol (not its REC or RES tasks)."""
        caption = task.startswith("refcocog") and not task.startswith(("refcocog-rec", "refcocog-res"))
        return self.postprocess == "region_caption" or (self.postprocess == "auto" and caption)

    def chat_template(self) -> str:
        return TEMPLATE

    def question(self, request: Request) -> str:
        """``<region>`` placeholders as upstream's region-caption prompt writes a region: "region1 <mark>", ..."""
        from vipbench.models.omg_llava_modeling import MARK

        return numbered_regions(request, MARK)

    def prompt(self, request: Request) -> str:
        return TEMPLATE.format(question=self.question(request))

    def input_ids(self, request: Request) -> list[int]:
        """As the tool encodes the prompt: the text before ``<image>`` with ``<s>``, xtuner's image id (-200),
        the rest without."""
        before, after = self.prompt(request).split(IMAGE, 1)
        return [*self.tokenizer.encode(before, bos=True), IMAGE_PLACEHOLDER_ID, *self.tokenizer.encode(after)]

    def pixels(self, request: Request):
        """Pad to a square with the mean colour, bicubic resize, normalise: (3, S, S) in float32."""
        from vipbench.imaging import pad_to_square

        size = self.geometry.image_size
        return to_tensor(pad_to_square(request_image(request), PAD_COLOUR).resize((size, size), resample=3), MEAN, STD)

    def masks(self, request: Request):
        """The regions as the model reads them: (N, S, S) masks on the padded square (a box as its rectangle)."""
        import numpy as np
        import torch

        from vipbench.imaging import image_size
        from vipbench.models.omg_llava_modeling import masks_to_input
        from vipbench.types import Region

        size = image_size(request.image_path)
        shapes = [Region(r.box) if request.region_mode == "box" else r for r in request.regions]
        masks = torch.tensor(np.stack([np.asarray(r.mask(size)) > 0 for r in shapes]), dtype=torch.float32)
        return masks_to_input(masks, self.geometry.image_size)

    def points(self, request: Request):
        """Each region's point (its own, or its box's centre) on the padded square, in the S × S input's pixels."""
        import torch

        from vipbench.imaging import image_size

        side, dx, dy = square(image_size(request.image_path))
        scale = self.geometry.image_size / side
        return torch.tensor([[(x + dx) * scale, (y + dy) * scale] for x, y in (r.center for r in request.regions)])

    def embed(self, request: Request):
        """The input embeddings of one request: its tokens, the image's tokens where ``<image>`` is, each
        region's query token where its ``<mark>`` is."""
        return self.inputs(request)[0]

    def inputs(self, request: Request):
        """(the input embeddings, the image's visual-encoder outputs), which a ``[SEG]`` mask is decoded against."""
        import torch

        model = self.model
        pixels = self.pixels(request)[None].to(self.device)
        encoded = model.encode(pixels)
        image = model.image_tokens(encoded)[0]
        ids = torch.tensor(self.input_ids(request), device=self.device)
        marks = ids == self.mark_id
        if int(marks.sum()) != len(request.regions):
            raise VipbenchError(
                f"{request.sample.id}: {int(marks.sum())} <mark> tokens for {len(request.regions)} regions"
            )
        text = model.llm.get_input_embeddings()(torch.where(marks | (ids < 0), 0, ids)).float()
        if request.regions:
            index = torch.zeros(len(request.regions), dtype=torch.long, device=self.device)
            if request.region_mode == "point":
                size = self.geometry.image_size
                text[marks] = model.point_tokens(encoded, self.points(request).to(self.device), index, size)
            else:
                text[marks] = model.region_tokens(encoded, self.masks(request).to(self.device), index)
        at = int((ids == IMAGE_PLACEHOLDER_ID).nonzero()[0, 0])
        return torch.cat([text[:at], image, text[at + 1 :]]).to(self.dtype), encoded

    def generate(self, requests: Sequence[Request], settings: GenerationSettings) -> list[Generation]:
        import torch

        kwargs = settings.generate_kwargs(self.tokenizer.pad_token_id)
        kwargs["eos_token_id"] = [self.tokenizer.eos_token_id, self.stop_id]
        with torch.inference_mode():
            embeds, attention = self.batch(requests)
            output = self.model.llm.generate(inputs_embeds=embeds, attention_mask=attention, **kwargs)
        answers = []
        for row, request in zip(output.tolist(), requests):
            text = self.tokenizer.decode(row).strip()
            if self.cleans(request.task):
                text = clean_caption(text)
            regions = self.seg_regions(request, row)
            answers.append(Generation(text, self.prompt(request), ids_hash(self.input_ids(request)), regions=regions))
        return answers

    def answer_tokens(self, row: Sequence[int]) -> list[int]:
        """A generated row up to its first stop token (kept), without the padding after it."""
        stops = {self.tokenizer.eos_token_id, self.stop_id}
        end = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
        return list(row[:end])

    def seg_regions(self, request: Request, row: Sequence[int]) -> list[OutputRegion]:
        """One mask per ``[SEG]`` of the answer, in order. As upstream's tool, a ``[SEG]`` that is the answer's
        last token (cut by the token limit) has no hidden state and no mask."""
        tokens = self.answer_tokens(row)
        positions = [i for i, t in enumerate(tokens[:-1]) if t == self.seg_id]
        if not positions:
            return []
        masks = self.decode_masks(request, tokens[: positions[-1] + 1], positions)
        return [OutputRegion(box=tight_box(m), mask=rle.encode(m)) for m in masks]

    def decode_masks(self, request: Request, tokens: Sequence[int], positions: Sequence[int]):
        """Binary masks (N, H, W) of the original image for the ``[SEG]`` tokens at ``positions`` of the answer
        ``tokens``: the language model's last hidden state at each (one pass over the prompt and the answer, the
        states generation computed, up to rounding), ``projector_text2vision`` and OMG-Seg's ``[SEG]`` decoder
        against the image, the logits back on the original image (``masks_to_image``)."""
        import torch

        from vipbench.imaging import image_size
        from vipbench.models.omg_llava_modeling import masks_to_image

        with torch.inference_mode():
            seg, encoded = self.seg_hidden_states(request, tokens, positions)
            index = torch.zeros(len(positions), dtype=torch.long, device=self.device)
            logits = self.model.seg_logits(encoded.memories, seg, index)
            return masks_to_image(logits, image_size(request.image_path)).cpu().numpy()

    def seg_hidden_states(self, request: Request, tokens: Sequence[int], positions: Sequence[int]):
        """(the last layer's hidden states (N, hidden) at answer ``positions``, the image's encoder outputs): the
        state at the ``[SEG]`` token itself, as upstream's tool reads generation's, not the one that predicted it."""
        import torch

        embeds, encoded = self.inputs(request)
        ids = torch.tensor(list(tokens), device=self.device)
        answer = self.model.llm.get_input_embeddings()(ids).to(embeds.dtype)
        hidden = self.model.llm.model(inputs_embeds=torch.cat([embeds, answer])[None]).last_hidden_state[0]
        return hidden[[len(embeds) + p for p in positions]], encoded


def tight_box(mask) -> tuple[float, float, float, float] | None:
    """A binary mask's tight box in pixel edges, ``(x1, y1, x2, y2)`` with x2, y2 one past the last pixel (COCO's
    box of a mask); None when the mask is empty."""
    import numpy as np

    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
