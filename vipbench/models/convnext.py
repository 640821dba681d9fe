"""open_clip's ConvNeXt trunk (``convnext_large_d_320``, laion2B-s29B-b131K-ft-soup) in native PyTorch, shared by
Osprey and OMG-LLaVA, which both read its four stage outputs.

The module names are timm's, as open_clip builds the trunk (``visual.trunk.*`` in open_clip's weights file):
``stem.{0,1}``, ``stages.N.downsample.{0,1}``, ``stages.N.blocks.M.{conv_dw, norm, mlp.fc1, mlp.fc2, gamma}``.
Only the trunk's stages are here: ``norm_pre`` and the CLIP heads are read by neither model's language path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

#: ConvNeXt-L's stage widths and depths (timm's ``convnext_large``).
LARGE_DIMS = (192, 384, 768, 1536)
LARGE_DEPTHS = (3, 3, 27, 3)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (timm's ``LayerNorm2d``)."""

    def forward(self, x):
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps).permute(
            0, 3, 1, 2
        )


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        y = self.mlp(self.norm(self.conv_dw(x).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        return x + y * self.gamma.reshape(1, -1, 1, 1)


class ConvNeXtStage(nn.Module):
    def __init__(self, in_dim: int, dim: int, depth: int):
        super().__init__()
        if in_dim == dim:
            self.downsample = nn.Identity()
        else:
            self.downsample = nn.Sequential(LayerNorm2d(in_dim, eps=1e-6), nn.Conv2d(in_dim, dim, 2, stride=2))
        self.blocks = nn.Sequential(*(ConvNeXtBlock(dim) for _ in range(depth)))

    def forward(self, x):
        return self.blocks(self.downsample(x))


class ConvNeXtTrunk(nn.Module):
    """The feature maps of the four stages (``res2`` .. ``res5``, strides 4 to 32): what Osprey pools its masks
    on and what OMG-Seg's pixel decoder reads."""

    def __init__(self, dims: Sequence[int] = LARGE_DIMS, depths: Sequence[int] = LARGE_DEPTHS):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4), LayerNorm2d(dims[0], eps=1e-6))
        ins = (dims[0], *dims[:-1])
        self.stages = nn.Sequential(*(ConvNeXtStage(i, d, n) for i, d, n in zip(ins, dims, depths)))

    def forward(self, x) -> dict[str, Any]:
        x = self.stem(x)
        features = {}
        for i, stage in enumerate(self.stages):
            x = stage(x)
            features[f"res{i + 2}"] = x
        return features
