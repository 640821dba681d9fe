"""PerceptionGPT (Pi et al., CVPR 2024): a Shikra-style LLaVA-v1 model that reads each region as a box, embedded
by a small MLP into a ``<loc>`` token, natively in PyTorch (the modules are in ``perceptiongpt_modeling``).

**No weights are public**: the authors' repository (``pipilurj/perceptionGPT``, CC BY-NC 4.0) releases training
code only. This adapter is the architecture, tested with random weights; every result it gives is labelled
"architecture only: no public checkpoint" (the manifest's ``weights``, hence the leaderboard) unless it loaded a
checkpoint from ``--model-path``, such as one trained with upstream's code. The layout it reads is described in
``perceptiongpt_modeling``.

How upstream runs it, from ``pipilurj/perceptionGPT@fd8e3eb`` (``config/_base_/model/shikra.py``,
``mllm/dataset/process_function/*``, ``mllm/dataset/utils/transform.py``, ``mllm/conversation``):

- the image padded to a square with white (``Expand2square``), then CLIP's preprocessing at 224 px;
- the prompt: ``vicuna_v1.1`` ("A chat between a curious user ..."), with ``<image>`` written as ``<im_start>``,
  256 × ``<im_patch>``, ``<im_end>``, tokenized in one call;
- each region one ``<loc>`` whose embedding is ``bbox_encoder`` of its box: x1y1x2y2 on the padded square,
  normalised to 0–1 and rounded to 3 decimals. A mask is read as its bounding box;
- greedy decoding, at most 1024 new tokens; bfloat16 (its evaluation config).

Choices of vipbench's (upstream has no generic-question evaluation): the question follows the image, as in
upstream's REC and captioning templates ("<image> Where is <expr>?"); and each generated ``<loc>`` is decoded by
``bbox_decoder`` into a box, recorded as the prediction's output regions (in the original image's pixels; the
metadata's ``boxes`` keep each one as written, on the padded square, with its step), and fed back through
``bbox_encoder``, as upstream's generation loop does (``decode_boxes=false`` turns both off). REC reads the first
decoded box (tasks/refcoco_rec: upstream's ``RECDataset`` question, ``Where is <expr>?``).

Each decoded ``<loc>`` also carries its mask, as upstream's generation loop decodes one beside each box
(``predict_mask`` on the same hidden state; ``perceptiongpt_masks``): the logits on the padded square resized to its
side, the padding cut off, sigmoid > 0.35 (the threshold of upstream's RES ``validate``), recorded as the region's
RLE at the original image's size beside its box (``decode_masks=false`` leaves the masks out and skips their
CLIP pass). RES reads the first region's mask (tasks/refcoco_res: the first question of upstream's RES.json).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from vipbench import rle
from vipbench.errors import MissingExtraError, VipbenchError
from vipbench.models.base import Generation, GenerationSettings, OutputRegion
from vipbench.models.checkpoints import checkpoint_folder, describe_checkpoint, llama_tokenizer, read_config
from vipbench.models.native import CLIP_MEAN, CLIP_STD, EmbeddingsAdapter, square, to_tensor
from vipbench.prompting import request_image
from vipbench.records import ids_hash
from vipbench.types import REGION_TOKEN, Request

#: The label every result gets while no PerceptionGPT weights are public.
ARCHITECTURE_ONLY = "architecture only: no public checkpoint"
USER_CHECKPOINT = "user checkpoint (PerceptionGPT has no public weights to compare with)"
SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
#: ``vicuna_v1.1`` with the image before the question; ``<image>`` stands for <im_start>, the patches, <im_end>.
TEMPLATE = SYSTEM + " USER: <image> {question} ASSISTANT:"
#: Where upstream's config finds the vision tower, which its checkpoints do not contain.
CLIP_REPO = "openai/clip-vit-large-patch14"
PAD_COLOUR = (255, 255, 255)
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


class PerceptionGPTAdapter(EmbeddingsAdapter):
    """PerceptionGPT reads each region as a box (a mask as its bounding box), one ``<loc>`` token per region."""

    region_modes: ClassVar[tuple[str, ...]] = ("box",)
    family: ClassVar[str | None] = "perceptiongpt"
    generation_defaults: ClassVar[GenerationSettings] = GenerationSettings(max_new_tokens=1024, temperature=0.0)

    def __init__(
        self,
        checkpoint: str | None = None,
        model_path: str | None = None,
        clip_path: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        decode_boxes: bool = True,
        decode_masks: bool = True,
        lora_alpha: float = 64.0,
    ):
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            raise MissingExtraError("models", "PerceptionGPT") from None

        from vipbench.models import perceptiongpt_modeling as modeling
        from vipbench.models.checkpoints import resolve_device
        from vipbench.models.weights import building

        if checkpoint is None and not model_path:
            raise VipbenchError(
                "PerceptionGPT has no public checkpoint: give one trained with pipilurj/perceptionGPT with "
                "--model-path DIR, or run the architecture with random weights: --model perceptiongpt-tiny"
            )
        folder = checkpoint_folder(checkpoint or "", model_path, "perceptiongpt")
        config = read_config(folder, "shikra", "PerceptionGPT")
        self.checkpoint, self.source = checkpoint, str(folder)
        self.decode_boxes, self.decode_masks, self.lora_alpha = decode_boxes, decode_masks, lora_alpha
        self.device, self.dtype = resolve_device(device, dtype)
        self.weights = self._weights(config, checkpoint, model_path)
        clip = self._clip_folder(folder, config, clip_path)
        self.clip_path = str(clip)
        self.tokenizer = llama_tokenizer(folder)
        self.added_ids = self._token_ids(folder)
        self.patch_id, self.start_id, self.end_id, self.loc_id = (self.added_ids[t] for t in modeling.ADDED_TOKENS[:4])
        self._added = re.compile("(" + "|".join(re.escape(t) for t in self.added_ids) + ")")
        vision_config, vision_state = modeling.read_clip(clip)
        state, self.layout = modeling.read_checkpoint(folder, lora_alpha)
        with building(self.dtype):
            model = modeling.PerceptionGPTModel(config, vision_config)
        modeling.load_into(model, {**state, **vision_state}, folder)
        self.model = model.to(self.device).eval()
        if len(self.tokenizer) > model.llm.config.vocab_size:
            raise VipbenchError(
                f"{folder}: the tokenizer has {len(self.tokenizer)} tokens, the model {model.llm.config.vocab_size}"
            )
        self.image_text = modeling.IMAGE_START + modeling.IMAGE_PATCH * model.image_tokens + modeling.IMAGE_END

    @staticmethod
    def _weights(config: dict[str, Any], checkpoint: str | None, model_path: str | None) -> str:
        """The label results carry: random weights (the tiny build marks its config) are the architecture only."""
        if config.get("vipbench_random_weights"):
            return ARCHITECTURE_ONLY
        return USER_CHECKPOINT if model_path else f"checkpoint {checkpoint}"

    @staticmethod
    def _clip_folder(folder: Path, config: dict[str, Any], clip_path: str | None) -> Path:
        """The CLIP that upstream loads apart: ``clip_path``; else config.json's ``mm_vision_tower``, as a folder
        (given as is, or by its name in the checkpoint folder) or a Hub id."""
        hint = "give a local copy of it with --model-args clip_path=DIR"
        if clip_path:
            given = Path(clip_path).expanduser()
            if not given.is_dir():
                raise VipbenchError(f"clip_path {clip_path}: folder not found")
            return given
        name = str(config.get("mm_vision_tower") or CLIP_REPO)
        for candidate in (Path(name).expanduser(), folder / Path(name).name):
            if candidate.is_dir():
                return candidate
        if not _HUB_ID.match(name):
            raise VipbenchError(
                f"PerceptionGPT's vision tower {name} (config.json's mm_vision_tower) not found; {hint}"
            )
        from huggingface_hub import snapshot_download

        from vipbench.hub import local_only, model_cached

        offline = local_only(f"PerceptionGPT's vision tower {name!r}", model_cached(name), hint)
        # The configs and safetensors only: the repo also holds the same weights for PyTorch, TF and Flax.
        patterns = ["*.json", "*.safetensors"]
        return Path(snapshot_download(name, local_files_only=offline, allow_patterns=patterns))

    def _token_ids(self, folder: Path) -> dict[str, int]:
        """The ids of upstream's added tokens; the four this model reads must be there."""
        from vipbench.models.perceptiongpt_modeling import ADDED_TOKENS

        ids = {}
        for i, token in enumerate(ADDED_TOKENS):
            found = self.tokenizer.convert_tokens_to_ids(token)
            if found is not None and found != self.tokenizer.unk_token_id:
                ids[token] = found
            elif i < 4:
                raise VipbenchError(f"{folder}: the tokenizer has no {token} token (upstream's builder adds it)")
        return ids

    def describe(self) -> dict[str, Any]:
        return {
            **describe_checkpoint(self),
            "weights": self.weights,
            "checkpoint_layout": self.layout,
            "lora_alpha": self.lora_alpha,
            "clip_path": self.clip_path,
            "template": "vicuna_v1.1, image before the question",
            "image_tokens": f"<im_start> + {self.model.image_tokens} × <im_patch> + <im_end>",
            "image_preprocess": f"pad to square (white), resize to {self.model.image_size}x{self.model.image_size}",
            "regions": "one <loc> per box (x1y1x2y2 on the padded square, 0-1, 3 decimals) through bbox_encoder",
            "decode_boxes": self.decode_boxes,
            "decode_masks": self.decode_masks and self.decode_boxes,
            "masks": "each decoded <loc>'s mask: its hidden state through decoder_mapping and mask_decoder against the "
            f"{self.model.mask_grid}x{self.model.mask_grid} merge_coef_higher features, on the padded square, "
            "un-padded, sigmoid > 0.35",
        }

    def chat_template(self) -> str:
        return TEMPLATE

    def question(self, request: Request) -> str:
        """``<region>`` tokens as upstream writes a box: ``<loc>``."""
        from vipbench.models.perceptiongpt_modeling import LOC

        count = request.text.count(REGION_TOKEN)
        if count != len(request.regions):
            raise VipbenchError(f"{request.sample.id}: {count} region tokens for {len(request.regions)} regions")
        return request.text.replace(REGION_TOKEN, LOC)

    def prompt(self, request: Request) -> str:
        """The text the model reads, the image as its ``<im_start>``, patches and ``<im_end>`` tokens: before the
        question, or where the question puts ``<image>`` (upstream's question templates place it)."""
        question = self.question(request)
        template = TEMPLATE if "<image>" not in question else TEMPLATE.replace("<image> ", "", 1)
        return template.format(question=question).replace("<image>", self.image_text, 1)

    def input_ids(self, request: Request) -> list[int]:
        """The prompt's token ids as upstream's tokenizer reads it (its pinned transformers' slow
        ``LlamaTokenizer``, one call): ``<s>``, then the text split at the added tokens, the whitespace next to
        each one stripped, each piece encoded on its own (so with SentencePiece's leading ``▁``)."""
        pieces = self._added.split(self.prompt(request))
        ids = [self.tokenizer.bos_token_id]
        for i, piece in enumerate(pieces):
            if i % 2:  # an added token
                ids.append(self.added_ids[piece])
                continue
            piece = piece.lstrip() if i > 0 else piece
            piece = piece.rstrip() if i < len(pieces) - 1 else piece
            if piece:
                ids += self.tokenizer(piece, add_special_tokens=False).input_ids
        return ids

    def boxes(self, request: Request) -> list[list[float]]:
        """Each region's box as upstream normalises it: on the image padded to a square, x1y1x2y2 in 0–1, rounded
        to 3 decimals."""
        from vipbench.imaging import image_size

        side, dx, dy = square(image_size(request.image_path))
        clamp = lambda v: min(max(v, 0.0), 1.0)  # noqa: E731
        return [
            [round(clamp(v / side), 3) for v in (x1 + dx, y1 + dy, x2 + dx, y2 + dy)]
            for x1, y1, x2, y2 in (r.box for r in request.regions)
        ]

    def pixels(self, request: Request):
        """Upstream's preprocessing: pad to a square with white, resize (bicubic) to CLIP's size, normalise."""
        from PIL import Image

        image = request_image(request)
        side, dx, dy = square(image.size)
        padded = Image.new("RGB", (side, side), PAD_COLOUR)
        padded.paste(image, (dx, dy))
        size = self.model.image_size
        return to_tensor(padded.resize((size, size), resample=3), CLIP_MEAN, CLIP_STD)

    def embed(self, request: Request):
        """The input embeddings of one request: its tokens' rows, the image features where the patches are,
        ``bbox_encoder`` of each box where its ``<loc>`` is."""
        import torch

        model = self.model
        ids = torch.tensor(self.input_ids(request), dtype=torch.long, device=self.device)
        embeds = model.llm.get_input_embeddings()(ids)
        patches = ids == self.patch_id
        if int(patches.sum()) != model.image_tokens:
            raise VipbenchError(f"{request.sample.id}: the prompt holds {int(patches.sum())} image patch tokens")
        pixels = self.pixels(request).unsqueeze(0).to(self.device, self.dtype)
        embeds[patches] = model.image_features(pixels)[0].to(embeds.dtype)
        locs = ids == self.loc_id
        if int(locs.sum()) != len(request.regions):
            raise VipbenchError(
                f"{request.sample.id}: {int(locs.sum())} <loc> tokens for {len(request.regions)} regions"
            )
        if request.regions:
            boxes = torch.tensor(self.boxes(request), device=self.device, dtype=self.dtype)
            embeds[locs] = model.bbox_encoder(boxes).to(embeds.dtype)
        return embeds

    def generate(self, requests: Sequence[Request], settings: GenerationSettings) -> list[Generation]:
        import torch

        from vipbench.models.perceptiongpt_modeling import BoxFeedback

        if self.decode_boxes and settings.num_beams != 1:
            raise VipbenchError("PerceptionGPT decodes its <loc> boxes one beam at a time; pass decode_boxes=false")
        pad = self.tokenizer.pad_token_id
        kwargs = settings.generate_kwargs(pad if pad is not None else self.tokenizer.unk_token_id)
        kwargs["use_cache"] = True  # upstream saves use_cache false (set for training); the box feedback needs it
        found: list[list[tuple[int, list[float]]]] = [[] for _ in requests]
        masks: list[list[Any]] = [[] for _ in requests]
        with torch.inference_mode():
            embeds, attention = self.batch(requests)
            if self.decode_boxes:
                with BoxFeedback(self.model, self.loc_id) as feedback:
                    output = self.model.llm.generate(inputs_embeds=embeds, attention_mask=attention, **kwargs)
                found = feedback.boxes(output)
                if self.decode_masks:
                    masks = self.decoded_masks(requests, found, feedback.states)
            else:
                output = self.model.llm.generate(inputs_embeds=embeds, attention_mask=attention, **kwargs)
        texts = self.tokenizer.batch_decode(output, skip_special_tokens=True)
        answers = []
        for text, request, boxes, decoded in zip(texts, requests, found, masks):
            regions, metadata = self._decoded(request, boxes, decoded)
            answers.append(
                Generation(
                    text.strip(), self.prompt(request), ids_hash(self.input_ids(request)), metadata, regions=regions
                )
            )
        return answers

    def decoded_masks(
        self, requests: Sequence[Request], found: list[list[tuple[int, list[float]]]], states
    ) -> list[list[Any]]:
        """Per request, the binary mask (H × W of its image) of each ``<loc>`` it generated, in order: the hidden
        state that chose it (``states``, by (row, step)) against its image's mask features."""
        import torch

        from vipbench.imaging import image_size
        from vipbench.models.perceptiongpt_masks import masks_to_image

        out: list[list[Any]] = [[] for _ in requests]
        for row, (request, locs) in enumerate(zip(requests, found)):
            if not locs:
                continue
            pixels = self.pixels(request).unsqueeze(0).to(self.device, self.dtype)
            features = self.model.mask_features(pixels)
            hidden = torch.stack([states[(row, step)] for step, _ in locs])
            logits = self.model.mask_logits(hidden, features.expand(len(locs), -1, -1))
            out[row] = list(masks_to_image(logits, image_size(request.image_path)).cpu().numpy())
        return out

    def _decoded(
        self, request: Request, found: list[tuple[int, list[float]]], masks: Sequence[Any] = ()
    ) -> tuple[list[OutputRegion], dict[str, Any]]:
        """The boxes the model generated, in output order: as regions in the original image's pixels (the padding
        undone, clamped to the image), each with its mask where ``masks`` has one, and in the metadata as it wrote
        them (0–1 on the padded square) with the step of their ``<loc>``."""
        if not self.decode_boxes:
            return [], {}
        from vipbench.imaging import image_size

        w, h = image_size(request.image_path)
        side, dx, dy = square((w, h))
        regions, written = [], []
        for k, (step, (x1, y1, x2, y2)) in enumerate(found):
            pixels = [(x1 * side - dx, w), (y1 * side - dy, h), (x2 * side - dx, w), (y2 * side - dy, h)]
            box = tuple(round(min(max(v, 0.0), limit), 1) for v, limit in pixels)
            mask = rle.encode(masks[k]) if k < len(masks) else None
            regions.append(OutputRegion(box=box, mask=mask))  # type: ignore[arg-type]
            written.append({"token": step, "box_normalized": [round(v, 3) for v in (x1, y1, x2, y2)]})
        return regions, {"boxes": written}
