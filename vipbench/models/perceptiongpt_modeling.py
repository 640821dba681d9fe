"""PerceptionGPT's modules in native PyTorch, and a strict reader for its checkpoints (see ``perceptiongpt``).

Facts from ``pipilurj/perceptionGPT@fd8e3eb`` (read, not copied; the code is CC BY-NC 4.0):
``mllm/models/perceptionGPT/perceptionGPT.py`` (the module tree and forward pass),
``mllm/models/builder/build_perceptionGPT.py`` (tokens, LoRA), ``mllm/pipeline/finetune.py`` (how it saves).

- ``PerceptionGPTModel``: transformers' ``CLIPVisionModel`` (ViT-L/14 at 224 px upstream); the softmax-weighted
  sum of its hidden states except the last (the embeddings and layers 1–23: 24 tensors, ``merge_coef_lower``);
  the class token dropped; ``Linear(1024, 4096)`` (``mm_projector``); ``bbox_encoder`` = MLP 4 → 512 → 512 →
  hidden, ReLU between (a box's ``<loc>`` embedding); ``bbox_decoder`` = MLP hidden → 512 → 512 → 4 with a
  sigmoid (a box read from the hidden state that predicted a ``<loc>``); a ``LlamaForCausalLM``.
- the mask branch (``perceptiongpt_masks``): ``merge_coef_higher`` (the mix of a finer CLIP pass),
  ``decoder_mapping`` = ``Linear(hidden, CLIP width)``, ``visual_adaptor``, ``mask_decoder`` (SAM's two-way
  transformer and an upscaler): a mask read from the same hidden state as the box.
- ``BoxFeedback``: upstream's decoding of ``<loc>`` tokens, on top of ``generate``; it keeps each ``<loc>``'s
  hidden state for its mask.

The checkpoint layout the reader expects. No PerceptionGPT weights have been published, so none of this is
checked against a real file: it is **UNCONFIRMED**, derived from the module tree above.

- ``config.json``: a ``LlamaConfig`` with ``model_type`` ``shikra`` (``ShikraConfig``) and upstream's vision keys
  ``mm_vision_tower`` (``openai/clip-vit-large-patch14``), ``mm_hidden_size``, ``use_mm_proj``,
  ``mm_use_im_start_end`` (true).
- weights (``pytorch_model.bin``, its shards and index, or the ``model.safetensors`` equivalents):
  ``model.embed_tokens``, ``model.layers.*``, ``model.norm``, ``lm_head``, ``model.mm_projector``,
  ``merge_coef_lower``, ``bbox_encoder.layers.{0,1,2}``, ``bbox_decoder.layers.{0,1,2}``, and the mask branch
  ``merge_coef_higher``, ``decoder_mapping``, ``visual_adaptor.{shortcut,linear1,linear2}``,
  ``mask_decoder.transformer.*``, ``mask_decoder.output_upscaling.*``, ``mask_decoder.output_hypernetworks_mlp.*``
  (all loaded strictly). ``mask_encoder.*`` is read and skipped: inference never uses it (``perceptiongpt_masks``).
- or the same weights as upstream's training script saves them (``model.module.save_pretrained`` with its LoRA
  still wrapped by peft): ``model.base_model.model.*``, with ``q_proj``/``v_proj`` as ``base_layer.weight`` (peft
  ≥ 0.7; ``weight`` before) plus ``lora_A.default.weight`` and ``lora_B.default.weight``. The LoRA is merged on
  load, scaled by ``lora_alpha / r`` (r from the tensors; alpha is not saved: upstream's config has 64, r 16).
- no vision tower: upstream keeps its CLIP in a Python list, out of the state dict, and loads it from
  ``mm_vision_tower``. It is read here from a CLIP folder (the whole CLIP model or its vision half).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vipbench.errors import VipbenchError
from vipbench.models import perceptiongpt_masks as masks
from vipbench.models.weights import LORA_KEY, Weight, load_strictly, merge_lora, stored_weights

IMAGE_PATCH, IMAGE_START, IMAGE_END, LOC = "<im_patch>", "<im_start>", "<im_end>", "<loc>"
#: The tokens upstream's builder adds to the tokenizer, in its order; only the first four are read here.
ADDED_TOKENS = (IMAGE_PATCH, IMAGE_START, IMAGE_END, LOC, "<obj_vis_s>", "<obj_vis_e>", "<obj_text_s>", "<obj_text_e>")
#: The width of the box MLPs' hidden layers, fixed in upstream's code.
BOX_HIDDEN = 512
#: Checkpoint keys of the mask branch, loaded as they are named.
MASK_BRANCH = ("merge_coef_higher", "mask_decoder.", "decoder_mapping.", "visual_adaptor.")
PEFT_PREFIX = "model.base_model.model."


# ------------------------------------------------------------------------------------------- the model


class PerceptionGPTModel(nn.Module):
    def __init__(self, config: Mapping[str, Any], vision_config):
        from transformers import CLIPVisionModel, LlamaConfig, LlamaForCausalLM

        super().__init__()
        check_config(config, vision_config)
        ours = ("model_type", "architectures", "transformers_version")
        llama = LlamaConfig(
            **{k: v for k, v in config.items() if not k.startswith(("mm_", "vipbench_")) and k not in ours}
        )
        hidden, layers, width = llama.hidden_size, vision_config.num_hidden_layers, vision_config.hidden_size
        self.vision = CLIPVisionModel(vision_config)
        self.merge_coef_lower = nn.Parameter(torch.full((layers,), 1 / layers))
        self.projector = nn.Linear(width, hidden)
        self.bbox_encoder = masks.MLP([4, BOX_HIDDEN, BOX_HIDDEN, hidden])
        self.bbox_decoder = masks.MLP([hidden, BOX_HIDDEN, BOX_HIDDEN, 4], sigmoid=True)
        self.merge_coef_higher = nn.Parameter(torch.full((layers,), 1 / layers))
        self.decoder_mapping = nn.Linear(hidden, width)
        self.visual_adaptor = masks.VisualAdaptor(width)
        self.mask_decoder = masks.MaskDecoder(width)
        self.llm = LlamaForCausalLM(llama)
        self.image_size = vision_config.image_size
        self.image_tokens = (vision_config.image_size // vision_config.patch_size) ** 2
        self.mask_grid = vision_config.image_size // masks.MASK_PATCH

    def image_features(self, pixels):
        """(B, image_tokens, hidden): every CLIP hidden state but the last, mixed by softmax(merge_coef_lower),
        the class token dropped, projected."""
        states = self.vision(pixels, output_hidden_states=True).hidden_states[:-1]
        weights = self.merge_coef_lower.softmax(dim=0).to(states[0].dtype)
        fused = torch.stack(states, dim=-1) @ weights
        return self.projector(fused[:, 1:])

    def mask_features(self, pixels):
        """(B, mask_grid², CLIP width): the finer CLIP pass's hidden states but the last, mixed by
        softmax(merge_coef_higher), the class token dropped (upstream's ``image_features_ori``)."""
        states = masks.fine_hidden_states(self.vision, pixels)[:-1]
        weights = self.merge_coef_higher.softmax(dim=0).to(states[0].dtype)
        return (torch.stack(states, dim=-1) @ weights)[:, 1:]

    def mask_logits(self, states, features):
        """Mask logits (N, 8·grid, 8·grid) on the padded square, one per ``<loc>``: ``states`` (N, hidden) the
        hidden states that chose them, ``features`` (N, grid², width) their images' ``mask_features``."""
        tokens = self.visual_adaptor(features)
        return self.mask_decoder(tokens, self.mask_grid, self.decoder_mapping(states.to(tokens.dtype)))


def check_config(config: Mapping[str, Any], vision_config) -> None:
    if not config.get("mm_use_im_start_end", True):
        raise VipbenchError("PerceptionGPT reads the image between <im_start> and <im_end>; mm_use_im_start_end is off")
    width = config.get("mm_hidden_size", vision_config.hidden_size)
    if width != vision_config.hidden_size:
        raise VipbenchError(
            f"config.json's mm_hidden_size {width} does not match the vision tower's width {vision_config.hidden_size}"
        )
    grid = vision_config.image_size // masks.MASK_PATCH
    if grid % 4:
        raise VipbenchError(
            f"PerceptionGPT's mask grid is the vision tower's {vision_config.image_size} px / {masks.MASK_PATCH}: "
            f"{grid}, which its mask decoder's positions need a multiple of 4"
        )


# -------------------------------------------------------------------------------------- box decoding


class BoxFeedback:
    """Upstream's ``<loc>`` decoding, as two hooks on ``generate``: the final norm's output at the last position
    (the hidden state that chose the token just generated) is kept; when that token is ``<loc>``,
    ``bbox_decoder`` reads a box from it, and ``bbox_encoder``'s embedding of that box, not ``<loc>``'s own row,
    is what the model reads for it at the next step. Greedy or sampled decoding only (no beams)."""

    def __init__(self, model: PerceptionGPTModel, loc_id: int):
        self.model, self.loc_id = model, loc_id
        self.found: dict[tuple[int, int], list[float]] = {}
        """(row, step) → the normalised x1y1x2y2 box decoded for the ``<loc>`` generated there."""
        self.states: dict[tuple[int, int], Any] = {}
        """(row, step) → the hidden state that chose that ``<loc>`` (its mask's query)."""
        self._last: Any = None
        self._steps = 0
        self._hooks: list[Any] = []

    def __enter__(self) -> BoxFeedback:
        llm = self.model.llm
        self.found, self.states, self._last, self._steps = {}, {}, None, 0
        self._hooks = [
            llm.model.norm.register_forward_hook(self._keep),
            llm.get_input_embeddings().register_forward_hook(self._feed),
        ]
        return self

    def __exit__(self, *exc) -> None:
        for hook in self._hooks:
            hook.remove()

    def _keep(self, module, inputs, output) -> None:
        self._last = output[:, -1]
        self._steps += 1

    def _decode(self, rows) -> Any:
        """The boxes of ``rows`` (a mask over the batch) at the last step, recorded."""
        states = self._last[rows]
        boxes = self.model.bbox_decoder(states)
        for row, box, state in zip(rows.nonzero()[:, 0].tolist(), boxes.float().tolist(), states):
            self.found[(row, self._steps - 1)] = box
            self.states[(row, self._steps - 1)] = state.clone()  # not a view holding the step's output
        return boxes

    def _feed(self, module, inputs, output):
        ids = inputs[0]
        if self._last is None or ids.dim() != 2 or ids.shape[1] != 1:
            return None
        rows = ids[:, 0] == self.loc_id
        if not bool(rows.any()):
            return None
        output = output.clone()
        output[rows, 0] = self.model.bbox_encoder(self._decode(rows)).to(output.dtype)
        return output

    def boxes(self, tokens) -> list[list[tuple[int, list[float]]]]:
        """Per row of the generated ``tokens``: (step, box) for each ``<loc>`` it generated, in order."""
        last = tokens[:, -1] == self.loc_id
        if self._last is not None and bool(last.any()):  # the final token is never read back: decode it here
            self._decode(last)
        found: list[list[tuple[int, list[float]]]] = [[] for _ in range(tokens.shape[0])]
        for row, step in (tokens == self.loc_id).nonzero().tolist():
            found[row].append((step, self.found[(row, step)]))
        return found


# -------------------------------------------------------------------------------------- the checkpoint


def read_checkpoint(folder: Path, lora_alpha: float) -> tuple[dict[str, Weight], str]:
    """The checkpoint's tensors under this module's names, with any LoRA to merge, and which layout it had
    (``merged`` or ``peft``); none read yet: ``load_into`` streams them into the model, merging as it goes."""
    raw = stored_weights(folder, "PerceptionGPT's weights")
    layout = "peft" if any(k.startswith(PEFT_PREFIX) for k in raw) else "merged"
    state: dict[str, Weight] = {}
    lora: dict[tuple[str, str], Weight] = {}
    unexpected = []
    for key, tensor in raw.items():
        name = unwrap_peft(key) if layout == "peft" else key
        match = LORA_KEY.match(name)
        if match:
            lora[(match["module"], match["which"])] = tensor
            continue
        if name.startswith(masks.UNREAD):
            continue
        ours = module_name(name)
        if ours is None:
            unexpected.append(key)
        else:
            state[ours] = tensor
    if unexpected:
        raise VipbenchError(f"{folder}: unexpected key(s) in the checkpoint: {', '.join(sorted(unexpected)[:5])}")
    merge_lora(state, lora, lora_alpha, folder, lambda module: module_name(module + ".weight"))
    return state, layout


def unwrap_peft(key: str) -> str:
    """A key of peft's wrapped model → the plain model's (``model.base_model.model.X`` → ``model.X``; a LoRA
    layer's ``base_layer.weight`` → ``weight``)."""
    if key.startswith(PEFT_PREFIX):
        key = "model." + key.removeprefix(PEFT_PREFIX)
    return key.replace(".base_layer.", ".")


def module_name(key: str) -> str | None:
    """An official (plain-layout) key → this module's name, or None for a key PerceptionGPT does not have."""
    if key.startswith("model.mm_projector."):
        return "projector." + key.removeprefix("model.mm_projector.")
    if key.startswith(("model.embed_tokens.", "model.layers.", "model.norm.")) or key == "lm_head.weight":
        return "llm." + key
    if key == "merge_coef_lower" or key.startswith(("bbox_encoder.", "bbox_decoder.", *MASK_BRANCH)):
        return key
    return None


def official_key(name: str) -> str:
    """This module's name → where the checkpoint (or, for the vision tower, the CLIP folder) keeps it."""
    if name.startswith("projector."):
        return "model.mm_projector." + name.removeprefix("projector.")
    if name.startswith("llm."):
        return name.removeprefix("llm.")
    if name.startswith("vision."):
        return "CLIP vision_model." + name.removeprefix("vision.").removeprefix("vision_model.")
    return name


def read_clip(folder: Path) -> tuple[Any, dict[str, Weight]]:
    """The vision config and the vision tower's tensors (``vision_model.*``, not read yet) of a CLIP folder: the
    whole CLIP (``openai/clip-vit-large-patch14``, whose text half is skipped) or a ``CLIPVisionModel`` alone."""
    from transformers import CLIPVisionConfig

    try:
        config = CLIPVisionConfig.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise VipbenchError(f"cannot read the CLIP config in {folder}: {str(exc).splitlines()[0]}") from None
    state = {}
    for key, tensor in stored_weights(folder, "the CLIP weights").items():
        if key.startswith("vision_model.") and not key.endswith("position_ids"):
            state["vision." + key.removeprefix("vision_model.")] = tensor
        elif not key.startswith(("text_model.", "text_projection.", "visual_projection.", "logit_scale")):
            if not key.endswith("position_ids"):
                raise VipbenchError(f"{folder}: unexpected key in the CLIP weights: {key}")
    return config, state


def load_into(model: PerceptionGPTModel, state: Mapping[str, Weight], where: Path) -> None:
    """Copy ``state`` into ``model``, refusing any missing or unexpected key and any shape that differs; keys are
    named as the checkpoint names them."""
    if hasattr(model.vision, "vision_model"):  # transformers 4.x nests CLIP's tower one level deeper
        state = {
            "vision.vision_model." + k.removeprefix("vision.") if k.startswith("vision.") else k: v
            for k, v in state.items()
        }
    load_strictly(model, state, where, "PerceptionGPT", official_key)
