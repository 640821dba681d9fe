"""OMG-LLaVA's modules in native PyTorch, and a strict reader for its checkpoint files (see ``omg_llava``).

Facts from ``lxtGH/OMG-Seg@1ae2e7d``, subfolder ``omg_llava/omg_llava`` (read, not copied: ``model/omg_llava.py``,
``model/omg_seg/omg_seg_visual_encoder.py``, ``model/modules/projector/modeling_projector.py``,
``configs/finetune/omg_llava_7b_finetune_8gpus.py``, ``tools/convert_deepspeed2pth.py``):

- the visual encoder (``OMGSegVisualEncoder``, frozen, float32): the ConvNeXt-L trunk (``vipbench.models.convnext``)
  and the OMG-Seg head (``vipbench.models.omg_seg``). Its image features are the stride-32 stage, pixel-shuffled
  by 2 (channels ordered row offset, column offset, channel), each position concatenated with a "pixel query":
  the softmax over queries of their mask probabilities at that position (upsampled to the input, sigmoid,
  weighted by 0.5 + 0.5 × the query's best class score, resized to the shuffled grid) times each query's
  (final query ‖ positional query). A query is *valid* when it wins (argmax) at least one grid position;
- the projector (``projector.model``): ``model_feat`` (Linear, GELU, Linear) on the image features;
  ``seperate_embed`` (one token); ``query_proj`` then ``model`` (Linear, GELU, Linear) on each valid query. The
  image is read as features ‖ separator ‖ valid queries, so its token count depends on the image;
- a region (``<mark>``) is ``forward_region_sam``'s query through ``query_proj`` and ``model``; a point likewise
  through ``forward_point_sam``;
- the language model: InternLM2-chat-7B (``vipbench.models.internlm2``), its vocabulary resized after upstream
  adds ``[SEG]``, ``<p>``, ``</p>``, ``<region>`` (``<mark>`` comes after the resize: its id is never embedded).
- a ``[SEG]`` token's mask (``tools/refcoco_omg_seg_llava.py``, ``model/omg_seg/mask2former_vid_semanticsam.py``
  ``forward_llm_seg``): the last layer's hidden state at the ``[SEG]`` token through ``projector_text2vision``,
  split into a content and a position query (256 each), through the decoder's layers (each attending where the
  query's previous mask is), the last layer's stride-4 mask logits; those resized (bilinear) to the original
  image's padded square, the padding cut off, sigmoid > 0.5 (``masks_to_image``).

The checkpoint folder (``zhangtao-whu/OMG-LLaVA``'s layout, upstream's ``pretrained/omg_llava``):

- ``internlm2-chat-7b/``: the base LLM (InternLM2 names; safetensors or ``.bin``, one file or shards), its config
  and tokenizer;
- ``omg_seg_convl.pth``: ``{"state_dict": {"panoptic_head.*": ...}}``, the OMG-Seg head; the trunk too when it
  holds ``backbone.stem`` / ``backbone.layerN`` (upstream loads it over open_clip's with ``strict=False``);
  ``backbone.norm_pre`` and ``backbone.head`` (the CLIP heads) are not read;
- ``convnext_large_d_320_CocoPanopticOVDataset.pth``: the class-name embeddings (classes, prototypes, dim);
- the fine-tuned model, ``omg_llava_7b_finetune_8gpus.pth`` (``OMG_LLaVA.state_dict()`` as
  ``convert_deepspeed2pth.py`` saves it): ``projector.model.*``; the LLM as peft saved it under
  ``llm.base_model.model.``: LoRA pairs (``*.lora_A.default.weight``, ``*.lora_B.default.weight``, r 512, alpha
  256: merged here as W += alpha / r · B · A) on every linear layer, ``output`` included, and the resized
  ``model.tok_embeddings`` and ``output`` in full (``output.base_layer.weight``, or ``output.weight`` before peft
  0.7); ``projector_text2vision.model.{0,2}.*`` (Linear, GELU, Linear: the LLM's hidden size → 2 × 256), which
  turns a ``[SEG]`` token's hidden state into an OMG-Seg query; with upstream's ``require_omg_decoder`` (its
  referring-segmentation fine-tune, not the 8-GPU one) also ``visual_encoder.panoptic_head.transformer_decoder_llm.*``
  and ``mask_embed_llm.*``, the decoder copy ``[SEG]`` queries then go through. Keys upstream saves but never reads
  at inference (``UNREAD``) are skipped;
- ConvNeXt's open_clip weights (``open_clip_pytorch_model.bin``, ``visual.trunk.*``) beside them, or elsewhere.

None of these key layouts could be checked against the real files here: they are **UNCONFIRMED**, derived from the
module tree and the save code above.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from vipbench.errors import VipbenchError
from vipbench.models import internlm2
from vipbench.models.convnext import ConvNeXtTrunk
from vipbench.models.omg_seg import HeadGeometry, Memories, OMGSegHead, resize_matrix
from vipbench.models.weights import (
    LORA_KEY,
    Weight,
    load_strictly,
    load_tensors,
    merge_lora,
    stored_tensors,
    stored_weights,
)

LLM_FOLDER = "internlm2-chat-7b"
HEAD_FILE = "omg_seg_convl.pth"
CLASSES_FILE = "convnext_large_d_320_CocoPanopticOVDataset.pth"
FINETUNE_FILE = "omg_llava_7b_finetune_8gpus.pth"
GEOMETRY_FILE = "vipbench_geometry.json"
#: The tokens upstream adds, in its order: these four, a resize of the embeddings, then ``<mark>``.
ADDED_TOKENS = ("[SEG]", "<p>", "</p>", "<region>")
MARK = "<mark>"
PEFT_PREFIX = "llm.base_model.model."
#: Fine-tune keys upstream saves (``OMG_LLaVA.state_dict``) but never reads at inference: ``forward_llm_seg`` runs
#: the original pixel decoder even when ``pixel_decoder_llm`` exists, never calls the additional cross-attention
#: and FFN, and no module builds ``downsample_layer``.
UNREAD = (
    "visual_encoder.panoptic_head.pixel_decoder_llm.",
    "visual_encoder.panoptic_head.additional_cross_attn_layers.",
    "visual_encoder.panoptic_head.additional_ffn.",
    "visual_encoder.downsample_layer.",
)
#: The fine-tune's ``[SEG]`` decoder copy (``require_omg_decoder``), loaded into the head under ``head.``.
SEG_DECODER = ("visual_encoder.panoptic_head.transformer_decoder_llm.", "visual_encoder.panoptic_head.mask_embed_llm.")
HEAD_PREFIX = "visual_encoder.panoptic_head."


@dataclass(frozen=True)
class Geometry:
    """OMG-LLaVA's sizes, fixed in its config; a test checkpoint shrinks them in ``vipbench_geometry.json``."""

    image_size: int = 1024
    trunk_dims: tuple[int, ...] = (192, 384, 768, 1536)
    trunk_depths: tuple[int, ...] = (3, 3, 27, 3)
    pixel_shuffle: int = 2
    head: HeadGeometry = field(default_factory=HeadGeometry)

    @classmethod
    def of(cls, folder: Path) -> Geometry:
        path = folder / GEOMETRY_FILE
        if not path.is_file():
            return cls()
        given = json.loads(path.read_text())
        head = {k: tuple(v) if isinstance(v, list) else v for k, v in given.pop("head", {}).items()}
        top = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
        known = {f.name for f in fields(cls)} | {f.name for f in fields(HeadGeometry)}
        unknown = sorted(set(top) - known | set(head) - known)
        if unknown:
            raise VipbenchError(f"{path}: unknown key(s) {unknown}")
        head.setdefault("in_channels", top.get("trunk_dims", cls.trunk_dims))
        return cls(**top, head=HeadGeometry(**head))

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_size": self.image_size,
            "trunk_dims": list(self.trunk_dims),
            "trunk_depths": list(self.trunk_depths),
            "pixel_shuffle": self.pixel_shuffle,
            "head": {f.name: getattr(self.head, f.name) for f in fields(HeadGeometry)},
        }

    @property
    def grid(self) -> int:
        """The side of the image-feature grid: the stride-32 map, pixel-shuffled."""
        return self.image_size // 32 // self.pixel_shuffle


# ------------------------------------------------------------------------------------------- the model


class NaiveProjector(nn.Module):
    """upstream's ``Naive_Proj`` (depth 2, GELU; no cross-attention, no separate visual-prompt projector)."""

    def __init__(self, feat_channels: int, query_channels: int, hidden: int):
        super().__init__()
        self.query_proj = nn.Linear(query_channels, feat_channels)
        self.model = nn.Sequential(nn.Linear(feat_channels, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.model_feat = nn.Sequential(
            nn.Linear(feat_channels + query_channels, hidden), nn.GELU(), nn.Linear(hidden, hidden)
        )
        self.seperate_embed = nn.Embedding(1, hidden)

    def queries(self, queries):
        """A (query ‖ position) of 2C → one LLM token: the image's object queries, and ``<mark>`` regions."""
        return self.model(self.query_proj(queries))


class Projector(nn.Module):
    def __init__(self, feat_channels: int, query_channels: int, hidden: int):
        super().__init__()
        self.model = NaiveProjector(feat_channels, query_channels, hidden)


class Text2VisionProjector(nn.Module):
    """upstream's ``projector_text2vision`` (xtuner's ``ProjectorModel``, depth 2, GELU): a ``[SEG]`` hidden state
    → one OMG-Seg query (content ‖ position, 2C)."""

    def __init__(self, hidden: int, query_channels: int):
        super().__init__()
        channels = query_channels
        self.model = nn.Sequential(nn.Linear(hidden, channels), nn.GELU(), nn.Linear(channels, channels))

    def forward(self, hidden_states):
        return self.model(hidden_states)


@dataclass
class Encoded:
    """The visual encoder's outputs for a batch of images."""

    features: torch.Tensor
    """(B, grid², shuffled channels + 2C): the image features with their pixel queries."""
    queries: torch.Tensor
    """(B, Q, 2C): each query's final state ‖ its positional query."""
    valid: torch.Tensor
    """(B, Q): the queries that own a grid position."""
    memories: Memories


class OMGLLaVAModel(nn.Module):
    def __init__(
        self, geometry: Geometry, llm_config, class_embed_shape: tuple[int, int, int], seg_decoder: bool = False
    ):
        from transformers import LlamaForCausalLM

        super().__init__()
        g = geometry
        if g.head.in_channels != g.trunk_dims:
            raise VipbenchError(f"the head reads {g.head.in_channels} channels, the trunk gives {g.trunk_dims}")
        self.geometry = g
        self.trunk = ConvNeXtTrunk(g.trunk_dims, g.trunk_depths)
        self.head = OMGSegHead(g.head, class_embed_shape, llm_decoder=seg_decoder)
        shuffled = g.trunk_dims[-1] * g.pixel_shuffle**2
        self.projector = Projector(shuffled, 2 * g.head.channels, llm_config.hidden_size)
        self.projector_text2vision = Text2VisionProjector(llm_config.hidden_size, 2 * g.head.channels)
        self.llm = LlamaForCausalLM(llm_config)

    def encode(self, pixels) -> Encoded:
        """Run the visual encoder on (B, 3, S, S) pixels (the head in float32, as upstream runs it)."""
        stages = self.trunk(pixels)
        feats = [stages[f"res{i + 2}"] for i in range(len(self.geometry.trunk_dims))]
        memories = self.head.memories(feats)
        query, query_pos, classes, masks = self.head.panoptic(memories)
        queries = torch.cat([query, query_pos], dim=-1)
        pixel_queries, valid = [], []
        for i in range(pixels.shape[0]):
            pq, v = self._assign(classes[i], masks[i], queries[i], pixels.shape[-1])
            pixel_queries.append(pq)
            valid.append(v)
        shuffled = pixel_shuffle(feats[-1], self.geometry.pixel_shuffle).flatten(2).transpose(1, 2)
        features = torch.cat([shuffled, torch.stack(pixel_queries)], dim=-1)
        return Encoded(features, queries, torch.stack(valid), memories)

    def _assign(self, classes, masks, queries, size: int):
        """``panoptic_postprocess`` for one image: (pixel queries (grid², 2C), valid (Q,)).

        Upstream resizes the (Q, S/4, S/4) mask logits to the input's S × S, takes the sigmoid, and resizes the
        probabilities down to the grid, both bilinearly. Bilinear resizing is separable, so only the rows and
        columns of the S × S map that the downsizing reads are computed: the same numbers, without a Q × S × S
        tensor."""
        grid = self.geometry.grid
        scores = classes.softmax(-1)[..., :-1].max(-1).values
        weight = (scores * 0.5 + 0.5)[:, None, None]
        up_y, up_x = (resize_matrix(n, size, masks.device, masks.dtype) for n in masks.shape[-2:])
        down = resize_matrix(size, grid, masks.device, masks.dtype)
        read = down.abs().sum(0) > 0
        upsampled = up_y[read] @ masks @ up_x[read].T
        probabilities = down[:, read] @ (weight * upsampled.sigmoid()) @ down[:, read].T  # (Q, grid, grid)
        owners = probabilities.argmax(0).flatten()
        pixel_queries = probabilities.softmax(0).flatten(1).T @ queries
        valid = torch.zeros(queries.shape[0], dtype=torch.bool, device=queries.device)
        valid[owners] = True
        return pixel_queries, valid

    def image_tokens(self, encoded: Encoded) -> list[torch.Tensor]:
        """Per image: its features, the separator and its valid queries, as LLM tokens (T_i, hidden)."""
        projector = self.projector.model
        features = projector.model_feat(encoded.features)
        queries = projector.queries(encoded.queries)
        return [
            torch.cat([features[i], projector.seperate_embed.weight, queries[i][encoded.valid[i]]])
            for i in range(features.shape[0])
        ]

    def region_tokens(self, encoded: Encoded, masks, index):
        """``<mark>`` tokens (N, hidden) of region masks (N, S, S) on images ``index``."""
        return self.projector.model.queries(self.head.region_queries(encoded.memories, masks, index))

    def point_tokens(self, encoded: Encoded, points, index, size: int):
        """``<mark>`` tokens (N, hidden) of points (N, 2) in the S × S input's pixels."""
        return self.projector.model.queries(self.head.point_queries(encoded.memories, points, index, size, size))

    def seg_logits(self, memories: Memories, hidden_states, index):
        """Mask logits (N, S/4, S/4) on the padded input square of ``[SEG]`` hidden states (N, hidden) of images
        ``index``: ``projector_text2vision``, then the head's ``[SEG]`` path, in float32 as upstream."""
        return self.head.llm_seg(memories, self.projector_text2vision(hidden_states.float()), index)


def pixel_shuffle(x, ratio: int):
    """(B, C, H, W) → (B, ratio² · C, H / ratio, W / ratio), channels ordered (row offset, column offset, C)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // ratio, ratio, w // ratio, ratio).permute(0, 3, 5, 1, 2, 4)
    return x.flatten(1, 3)


# -------------------------------------------------------------------------------------- the checkpoint


@dataclass
class Checkpoint:
    """Every tensor the model needs under this module's names (none read yet: ``load_into`` streams them into the
    model, merging the LoRA and splitting InternLM2's fused q, k, v as it goes), with what was learnt reading them."""

    state: dict[str, Weight]
    classes: torch.Tensor
    llm_config: Any
    lora_pairs: int
    lora_rank: int | None
    trunk_from: str
    seg_decoder: bool = False
    """The fine-tune has the ``[SEG]`` decoder copy (``transformer_decoder_llm``, ``mask_embed_llm``)."""


def read_checkpoint(folder: Path, finetune: str, clip_file: Callable[[], Path | None], lora_alpha: float) -> Checkpoint:
    """Read the four files of ``folder`` into one state; ``clip_file()`` finds the open_clip trunk, asked only
    when the head file lacks it."""
    llm_folder = folder / LLM_FOLDER
    for path in (llm_folder / "config.json", folder / HEAD_FILE, folder / CLASSES_FILE, folder / finetune):
        if not path.is_file():
            raise VipbenchError(
                f"{folder} is not an OMG-LLaVA checkpoint folder: {path.name} not found in {path.parent}"
            )
    config = json.loads((llm_folder / "config.json").read_text())
    heads = config.get("num_attention_heads")
    kv_heads = config.get("num_key_value_heads") or heads

    llm = stored_weights(llm_folder, "InternLM2's weights")
    projector, lora, count = _read_finetune(folder / finetune, llm)
    merge_lora(llm, lora, lora_alpha, folder / finetune)
    vocab = llm["model.tok_embeddings.weight"].shape[0] if "model.tok_embeddings.weight" in llm else None
    state = {"llm." + k: v for k, v in internlm2.to_llama(llm, heads, kv_heads, llm_folder).items()}
    state |= projector
    head, trunk = _read_head(folder / HEAD_FILE)
    state |= head
    trunk_from = f"{HEAD_FILE} (backbone.*)"
    if not trunk:
        clip = clip_file()
        trunk, trunk_from = _read_clip(clip), str(clip)
    state |= trunk
    ranks = {t.shape[0] for (_, which), t in lora.items() if which == "A"}
    return Checkpoint(
        state=state,
        classes=_read_classes(folder / CLASSES_FILE),
        llm_config=internlm2.llama_config(config, vocab),
        lora_pairs=count,
        lora_rank=max(ranks) if ranks else None,
        trunk_from=trunk_from,
        seg_decoder=any(k.startswith("head.") for k in projector),
    )


def _read_finetune(path: Path, llm: dict[str, Weight]) -> tuple[dict[str, Weight], dict[tuple[str, str], Weight], int]:
    """The projectors (and the ``[SEG]`` decoder copy, as ``head.*``), and the LLM's LoRA pairs; the LLM weights it
    saved in full replace the base's in ``llm``."""
    raw = stored_tensors(path, inside="state_dict")
    projector: dict[str, Weight] = {}
    lora: dict[tuple[str, str], Weight] = {}
    unexpected = []
    for key, tensor in raw.items():
        if key.startswith(("projector.", "projector_text2vision.")):
            projector[key] = tensor
        elif key.startswith(SEG_DECODER):
            projector["head." + key.removeprefix(HEAD_PREFIX)] = tensor
        elif key.startswith(UNREAD):
            continue
        elif key.startswith("llm."):
            name = key.removeprefix(PEFT_PREFIX) if key.startswith(PEFT_PREFIX) else key.removeprefix("llm.")
            name = name.replace(".base_layer.", ".")
            match = LORA_KEY.match(name)
            if match:
                lora[(match["module"], match["which"])] = tensor
            elif name in llm:
                llm[name] = tensor
            else:
                unexpected.append(key)
        else:
            unexpected.append(key)
    if unexpected:
        raise VipbenchError(f"{path}: unexpected key(s) in the fine-tuned weights: {', '.join(sorted(unexpected)[:5])}")
    return projector, lora, len({m for m, _ in lora})


def _read_head(path: Path) -> tuple[dict[str, Weight], dict[str, Weight]]:
    """``panoptic_head.*`` → ``head.*``; ``backbone.stem`` / ``backbone.layerN`` → ``trunk.stem`` /
    ``trunk.stages.(N-1)``; the backbone's CLIP heads are skipped; anything else is an error."""
    raw = stored_tensors(path, inside="state_dict")
    head: dict[str, Weight] = {}
    trunk: dict[str, Weight] = {}
    unexpected = []
    for key, tensor in raw.items():
        if key.startswith("panoptic_head."):
            name = key.removeprefix("panoptic_head.")
            if name.split(".")[0] in ("cls_embed", "logit_scale"):
                continue  # buffers upstream rebuilds from the class-embedding file
            head["head." + name] = tensor
        elif key.startswith("backbone.stem."):
            trunk["trunk." + key.removeprefix("backbone.")] = tensor
        elif key.startswith("backbone.layer"):
            stage, _, rest = key.removeprefix("backbone.layer").partition(".")
            trunk[f"trunk.stages.{int(stage) - 1}.{rest}"] = tensor
        elif key.startswith(("backbone.norm_pre.", "backbone.head.")):
            continue
        else:
            unexpected.append(key)
    if unexpected:
        raise VipbenchError(f"{path}: unexpected key(s) in the OMG-Seg weights: {', '.join(sorted(unexpected)[:5])}")
    return head, trunk


def _read_clip(path: Path | None) -> dict[str, Weight]:
    if path is None or not path.is_file():
        raise VipbenchError(
            f"OMG-LLaVA's vision trunk weights not found{f': {path}' if path else ''} (open_clip's "
            "convnext_large_d_320, laion2B-s29B-b131K-ft-soup: open_clip_pytorch_model.bin; give it with "
            "--model-args clip_path=FILE)"
        )
    trunk = {}
    for key, tensor in stored_tensors(path).items():
        rest = key.removeprefix("visual.trunk.")
        if key.startswith("visual.trunk.") and rest.startswith(("stem.", "stages.")):
            trunk["trunk." + rest] = tensor
    return trunk


def _read_classes(path: Path):
    classes = load_tensors(path)
    if not isinstance(classes, torch.Tensor) or classes.dim() != 3:
        raise VipbenchError(f"{path}: expected a (classes, prototypes, dim) tensor of class-name embeddings")
    return classes.float()


def official_key(name: str, finetune: str) -> str:
    """This module's name → where the checkpoint keeps it (for error messages)."""
    if name.startswith(tuple("head." + p.removeprefix(HEAD_PREFIX) for p in SEG_DECODER)):
        return f"{finetune}: {HEAD_PREFIX}{name.removeprefix('head.')}"
    if name.startswith("head."):
        return f"{HEAD_FILE}: panoptic_head.{name.removeprefix('head.')}"
    if name.startswith("trunk."):
        return f"ConvNeXt trunk: {name.removeprefix('trunk.')}"
    if name.startswith(("projector.", "projector_text2vision.")):
        return f"{finetune}: {name}"
    return f"{LLM_FOLDER} (as Llama): {name.removeprefix('llm.')}"


def load_into(model: OMGLLaVAModel, checkpoint: Checkpoint, where: Path, finetune: str) -> None:
    """Copy the checkpoint into ``model``, refusing any missing or unexpected key and any shape that differs."""
    load_strictly(model, checkpoint.state, where, "OMG-LLaVA", lambda key: official_key(key, finetune))
    dim, classes, prototypes = model.head.cls_embed.shape
    expected = (classes - 1, prototypes, dim)
    if tuple(checkpoint.classes.shape) != expected:
        raise VipbenchError(f"{CLASSES_FILE}: class embeddings {tuple(checkpoint.classes.shape)}, expected {expected}")
    model.head.set_class_embeddings(checkpoint.classes)


def masks_to_input(masks, size: int):
    """Region masks (N, H, W) of the image → the model's input: padded to a square like the image (zeros,
    centred), resized to size × size by nearest neighbour (upstream's ``expand2square_mask`` and interpolate)."""
    n, h, w = masks.shape
    side = max(h, w)
    square = masks.new_zeros(n, side, side)
    dy, dx = (side - h) // 2, (side - w) // 2
    square[:, dy : dy + h, dx : dx + w] = masks
    return F.interpolate(square[None].float(), size=(size, size), mode="nearest")[0]


def masks_to_image(logits, size: tuple[int, int]):
    """``[SEG]`` mask logits (N, h, w) on the padded square → binary masks (N, H, W) of the original W × H image,
    as upstream's RefCOCO tool does: bilinear resize to the padded square's side, the centring padding cut off
    (``(side - H) // 2`` rows above, ``(side - W) // 2`` columns left), sigmoid > 0.5."""
    width, height = size
    side = max(width, height)
    square = F.interpolate(logits[None].float(), size=(side, side), mode="bilinear", align_corners=False)[0]
    dy, dx = (side - height) // 2, (side - width) // 2
    return square[:, dy : dy + height, dx : dx + width].sigmoid() > 0.5
