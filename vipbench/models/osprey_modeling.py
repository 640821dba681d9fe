"""Osprey's modules in native PyTorch, named so that the official weights load by name (see ``osprey``).

- ``ConvNeXtTrunk`` (``vipbench.models.convnext``, shared with OMG-LLaVA): open_clip's ``convnext_large_d_320``
  trunk; Osprey reads the output of each stage.
- ``MaskExtractor``: mask pooling on each stage, a linear per stage (``res2`` .. ``res5``), summed, then
  ``feat_linear``; and the mask at 112 × 112 through ``mask_linear.layers.{0,1,2}``.
- ``OspreyModel``: the trunk, the 2-layer GELU projector, the mask extractor and a ``LlamaForCausalLM``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from vipbench.errors import VipbenchError
from vipbench.models.convnext import ConvNeXtTrunk
from vipbench.models.weights import Weight, load_strictly, stored_tensors, weight_files


@dataclass(frozen=True)
class Geometry:
    """The vision side's sizes. Osprey's are fixed in its code; a test checkpoint may shrink them under the
    config key ``vipbench_geometry``."""

    image_size: int = 512
    dims: tuple[int, ...] = (192, 384, 768, 1536)
    depths: tuple[int, ...] = (3, 3, 27, 3)
    mask_embed_dim: int = 1024
    mask_shape: int = 112

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Geometry:
        given = dict(config.get("vipbench_geometry") or {})
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})


# ------------------------------------------------------------------------------------------- the regions


class MaskMLP(nn.Module):
    def __init__(self, sizes: Sequence[int]):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


class MaskExtractor(nn.Module):
    """Each region's mask token (mask pooling on every stage, a linear per stage, summed, ``feat_linear``) and
    position token (the mask at 112 × 112 through ``mask_linear``)."""

    def __init__(self, geometry: Geometry, hidden: int):
        super().__init__()
        embed, shape = geometry.mask_embed_dim, geometry.mask_shape
        for i, dim in enumerate(geometry.dims):
            setattr(self, f"res{i + 2}", nn.Linear(dim, embed))
        self.levels = [f"res{i + 2}" for i in range(len(geometry.dims))]
        self.feat_linear = nn.Linear(embed, hidden)
        self.mask_linear = MaskMLP([shape * shape, embed, embed, hidden])
        self.mask_shape = shape

    def forward(self, features: Mapping[str, Any], masks) -> tuple[Any, Any]:
        """``masks``: (regions, H, W) for one image, any size; ``features``: that image's stage outputs."""
        masks = masks.unsqueeze(0).to(features["res2"].dtype)
        pooled = 0
        for name in self.levels:
            feature = features[name]
            fitted = F.interpolate(masks, size=feature.shape[-2:], mode="bilinear", align_corners=False)
            binary = (fitted > 0).to(feature.dtype)
            weights = binary / (binary.sum(dim=(-1, -2), keepdim=True) + 1e-8)
            pooled = pooled + getattr(self, name)(torch.einsum("bchw,bqhw->bqc", feature, weights)[0])
        shape = F.interpolate(masks, size=self.mask_shape, mode="bilinear", align_corners=False)
        return self.feat_linear(pooled), self.mask_linear(shape[0].flatten(1))


class OspreyModel(nn.Module):
    def __init__(self, config: Mapping[str, Any]):
        from transformers import LlamaConfig, LlamaForCausalLM

        super().__init__()
        self.geometry = Geometry.of(config)
        ours = ("model_type", "architectures", "transformers_version")
        llama = LlamaConfig(
            **{k: v for k, v in config.items() if not k.startswith(("mm_", "vipbench_")) and k not in ours}
        )
        hidden, projected = llama.hidden_size, config.get("mm_hidden_size", self.geometry.dims[2])
        if config.get("mm_projector_type", "mlp2x_gelu") != "mlp2x_gelu":
            raise VipbenchError(f"Osprey's projector is mlp2x_gelu, not {config.get('mm_projector_type')!r}")
        self.vision = ConvNeXtTrunk(self.geometry.dims, self.geometry.depths)
        self.projector = nn.Sequential(nn.Linear(projected, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.mask_extractor = MaskExtractor(self.geometry, hidden)
        self.llm = LlamaForCausalLM(llama)


# -------------------------------------------------------------------------------------- the checkpoint


def checkpoint_names(key: str) -> str | None:
    """An official checkpoint key → this module's, or None for a key Osprey does not use."""
    if key.startswith("model.mm_projector."):
        return "projector." + key.removeprefix("model.mm_projector.")
    if key.startswith("mask_extractor."):
        return key
    trunk = "model.vision_tower.vision_tower.visual.trunk."
    if key.startswith(trunk):
        return _trunk(key.removeprefix(trunk))
    if key.startswith("model.vision_tower."):
        return None  # the open_clip heads Osprey never runs
    if key.startswith("model.") or key == "lm_head.weight":
        return "llm." + key
    return key


def clip_names(key: str) -> str | None:
    """An open_clip weights-file key → this module's: the trunk's stem and stages; the rest is unused."""
    trunk = "visual.trunk."
    return _trunk(key.removeprefix(trunk)) if key.startswith(trunk) else None


def _trunk(rest: str) -> str | None:
    return "vision." + rest if rest.startswith(("stem.", "stages.")) else None


def read_state(folder: Path, clip_file: Path) -> dict[str, Weight]:
    """Every tensor the model needs, under this module's names: the checkpoint's, and the trunk from the open_clip
    file when the checkpoint lacks it; none read yet (``load_into`` streams them into the model)."""
    state: dict[str, Weight] = {}
    unexpected = []
    for shard in weight_files(folder, "Osprey's weights"):
        for key, tensor in stored_tensors(shard).items():
            name = checkpoint_names(key)
            if name is None:
                continue
            if not name.startswith(("llm.", "projector.", "mask_extractor.", "vision.")):
                unexpected.append(key)
            state[name] = tensor
    if unexpected:
        raise VipbenchError(f"{folder}: unexpected key(s) in the checkpoint: {', '.join(sorted(unexpected)[:5])}")
    if not any(k.startswith("vision.") for k in state):
        if not clip_file.is_file():
            raise VipbenchError(
                f"Osprey's vision tower weights not found: {clip_file} (open_clip's convnext_large_d_320, "
                "laion2B-s29B-b131K-ft-soup: open_clip_pytorch_model.bin; give it with --model-args clip_path=FILE)"
            )
        for key, tensor in stored_tensors(clip_file).items():
            name = clip_names(key)
            if name is not None:
                state[name] = tensor
    return state


def load_into(model, state: Mapping[str, Weight], where: Path) -> None:
    load_strictly(model, state, where, "Osprey")
