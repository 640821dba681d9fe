"""PerceptionGPT's mask branch in native PyTorch: the mask a ``<loc>`` decodes to (see ``perceptiongpt``).

Facts from ``pipilurj/perceptionGPT@fd8e3eb`` (read, not copied; the code is CC BY-NC 4.0):
``mllm/models/perceptionGPT/perceptionGPT.py`` (``init_autoencoder``, ``predict_mask``, the forward pass's
``image_features_ori``, ``greedy_search``), ``mllm/models/vision_towers/clip_custom.py`` (the finer CLIP pass),
``mllm/models/enhancer/sam.py`` and ``common.py`` (the ``MaskDecoder`` and ``TwoWayTransformer`` it imports; the
same-named classes in ``perceptionGPT/mask_decoder.py`` and ``enhancer/transformer.py`` are not the ones used),
``mllm/pipeline/finetune.py`` (``validate``: how a mask is read).

- **Image features for masks**: the same CLIP run a second time on the same 224-px pixels with its 14-px patch
  kernel resized (bilinear, corners aligned) to 8 px and applied with stride 8, its 16 × 16 position embeddings
  resized (bicubic) to the 28 × 28 grid that gives (the class token's kept); every hidden state but the last mixed
  by softmax(``merge_coef_higher``), the class token dropped: 784 tokens of CLIP's width.
- **A ``<loc>``'s mask** (``predict_mask``): the final-norm hidden state that chose the ``<loc>`` (the one
  ``bbox_decoder`` reads), ``decoder_mapping`` (LLM width → CLIP width) as the single query;
  ``visual_adaptor`` (a residual two-layer MLP) on the image tokens as the keys; ``mask_decoder``: SAM's two-way
  transformer (depth 2, 8 heads, MLP twice the width, ReLU, attention downsampled 2×) with a sine/cosine positional
  term laid out as upstream's code lays it (below), then three conv + LayerNorm2d + ReLU stages each followed by a
  2× bilinear upsampling (28 → 224), a 1×1 conv, and the dot product with an MLP of the query: 224 × 224 logits on
  the image padded to a square.
- **The positional term**: upstream unpacks the (B, 28, 28, C) keys as (B, c, h, w), so its ``pos2d`` is built
  with 28 channels over a 28 × C "image", then permuted so that the term added to key (y, x) in channel c is
  that table's entry [x, y, c]. The trained weights expect exactly this; it is reproduced, and the grid must be a
  multiple of 4.
- **Reading a mask** (``validate``, the RES evaluation upstream reports): logits resized bilinearly to the truth's
  size, sigmoid > 0.35. Here the truth is the original image, so the logits are resized to the padded square's
  side, the centring padding cut off, then sigmoid > 0.35.
- ``mask_encoder`` (a ResNet of input masks) is not built: the forward pass computes it for input masks but then
  always feeds the boxes' ``bbox_encoder`` embeddings (``loc_embedding_mapped = loc_embedding_mapped_box``), so
  nothing at inference reads it. Its checkpoint keys are read and skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vipbench.errors import VipbenchError

#: The patch size of upstream's finer CLIP pass (224 px → 28 × 28), fixed in its code.
MASK_PATCH = 8
#: ``validate``'s threshold on the mask's sigmoid.
MASK_THRESHOLD = 0.35
#: The two-way transformer, fixed in upstream's ``init_autoencoder``: depth, heads, MLP width per model width.
DEPTH, HEADS, MLP_RATIO, DOWNSAMPLE = 2, 8, 2, 2
#: Keys of the mask branch no inference reads (see above).
UNREAD = ("mask_encoder.",)


# ------------------------------------------------------------------------------------------- modules


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map (eps 1e-6)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class Attention(nn.Module):
    """SAM's attention: q/k/v projected to ``dim // downsample``, split in heads, ``out_proj`` back to ``dim``.
    Scores are clamped to the dtype's range before the softmax, as upstream does."""

    def __init__(self, dim: int, heads: int, downsample: int = 1):
        super().__init__()
        inner = dim // downsample
        if inner % heads:
            raise VipbenchError(f"PerceptionGPT's mask decoder: {heads} heads do not divide its width {inner}")
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(dim, inner) for _ in range(3))
        self.out_proj = nn.Linear(inner, dim)

    def _split(self, x):
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, q, k, v):
        q, k, v = self._split(self.q_proj(q)), self._split(self.k_proj(k)), self._split(self.v_proj(v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        limit = torch.finfo(scores.dtype).max
        out = scores.clamp(-limit, limit).softmax(dim=-1) @ v
        b, h, n, c = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * c))


class MLPBlock(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.lin2(torch.relu(self.lin1(x)))


class TwoWayBlock(nn.Module):
    """Queries attend to themselves, then to the image; an MLP; then the image attends to the queries. The first
    block's self-attention takes no positional term and no residual."""

    def __init__(self, dim: int, heads: int, mlp: int, first: bool):
        super().__init__()
        self.first = first
        self.self_attn = Attention(dim, heads)
        self.cross_attn_token_to_image = Attention(dim, heads, DOWNSAMPLE)
        self.mlp = MLPBlock(dim, mlp)
        self.cross_attn_image_to_token = Attention(dim, heads, DOWNSAMPLE)
        self.norm1, self.norm2, self.norm3, self.norm4 = (nn.LayerNorm(dim) for _ in range(4))

    def forward(self, queries, keys, query_pe, key_pe):
        if self.first:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        queries = self.norm2(queries + self.cross_attn_token_to_image(queries + query_pe, keys + key_pe, keys))
        queries = self.norm3(queries + self.mlp(queries))
        keys = self.norm4(keys + self.cross_attn_image_to_token(keys + key_pe, queries + query_pe, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    def __init__(self, dim: int, depth: int = DEPTH, heads: int = HEADS, mlp: int | None = None):
        super().__init__()
        mlp = mlp or MLP_RATIO * dim
        self.layers = nn.ModuleList(TwoWayBlock(dim, heads, mlp, first=i == 0) for i in range(depth))
        self.final_attn_token_to_image = Attention(dim, heads, DOWNSAMPLE)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(self, keys, key_pe, queries):
        """keys (B, N, C) with their positional term (N, C); queries (B, Q, C), their own positional term."""
        query_pe = queries
        for layer in self.layers:
            queries, keys = layer(queries, keys, query_pe, key_pe)
        queries = queries + self.final_attn_token_to_image(queries + query_pe, keys + key_pe, keys)
        return self.norm_final_attn(queries), keys


def conv_stage(channels_in: int, channels_out: int) -> nn.Sequential:
    """3×3 conv (no bias), LayerNorm2d, ReLU: keys ``N.0.weight``, ``N.1.weight``, ``N.1.bias``."""
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False), LayerNorm2d(channels_out), nn.ReLU()
    )


class Upscaler(nn.Module):
    """dim → dim/4 → dim/8 → dim/8 channels, each stage followed by a 2× bilinear upsampling (in float32), then
    a 1×1 conv: 8× the grid."""

    def __init__(self, dim: int):
        super().__init__()
        self.layer1 = conv_stage(dim, dim // 4)
        self.layer2 = conv_stage(dim // 4, dim // 8)
        self.layer3 = conv_stage(dim // 8, dim // 8)
        self.conv = nn.Conv2d(dim // 8, dim // 8, 1)

    def forward(self, x):
        for stage in (self.layer1, self.layer2, self.layer3):
            x = stage(x)
            x = F.interpolate(x.float(), scale_factor=2, mode="bilinear").to(x.dtype)
        return self.conv(x)


class MLP(nn.Module):
    """Linear layers (``layers.N``) with a ReLU between them, and a sigmoid at the end where asked: upstream's
    ``MLP``, for the box encoder and decoder and the mask decoder's hypernetwork."""

    def __init__(self, sizes: Sequence[int], sigmoid: bool = False):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.sigmoid = sigmoid

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else torch.relu(layer(x))
        return torch.sigmoid(x) if self.sigmoid else x


class MaskDecoder(nn.Module):
    """One query (the mapped ``<loc>`` state) against the image tokens → one mask's logits, 8× the grid."""

    def __init__(self, dim: int):
        super().__init__()
        self.transformer = TwoWayTransformer(dim)
        self.output_upscaling = Upscaler(dim)
        self.output_hypernetworks_mlp = MLP([dim, dim, dim, dim // 8])

    def forward(self, tokens, grid: int, query):
        """tokens (B, grid², C) in raster order, query (B, C) → logits (B, 8·grid, 8·grid)."""
        b, _, c = tokens.shape
        pe = upstream_positions(grid, c).to(tokens.device, tokens.dtype)
        hs, keys = self.transformer(tokens, pe, query[:, None])
        image = keys.transpose(1, 2).reshape(b, c, grid, grid)
        up = self.output_upscaling(image)
        weights = self.output_hypernetworks_mlp(hs)  # (B, 1, C/8)
        return (weights @ up.flatten(2)).reshape(b, *up.shape[-2:])


class VisualAdaptor(nn.Module):
    """``linear2(relu(linear1(x))) + shortcut(x)`` (upstream's ``VisualEmbedder``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.shortcut, self.linear1, self.linear2 = (nn.Linear(dim, dim) for _ in range(3))

    def forward(self, x):
        return self.linear2(torch.relu(self.linear1(x))) + self.shortcut(x)


# ------------------------------------------------------------------------------------------- functions


def sincos_table(channels: int, height: int, width: int):
    """(channels, height, width): the first half of the channels sin/cos of the column, the second half of the
    row, at frequencies 10000^(-2i/half), alternating sin and cos (upstream's ``pos2d``)."""
    if channels % 4:
        raise VipbenchError(f"PerceptionGPT's mask grid ({channels}) must be a multiple of 4 for its positions")
    half = channels // 2
    freq = torch.exp(torch.arange(0.0, half, 2) * -(math.log(10000.0) / half))
    cols = torch.arange(float(width))[:, None] * freq  # (width, half/2)
    rows = torch.arange(float(height))[:, None] * freq
    table = torch.zeros(channels, height, width)
    table[0:half:2] = cols.sin().T[:, None, :]
    table[1:half:2] = cols.cos().T[:, None, :]
    table[half::2] = rows.sin().T[:, :, None]
    table[half + 1 :: 2] = rows.cos().T[:, :, None]
    return table


def upstream_positions(grid: int, dim: int):
    """(grid², dim): the positional term of the key at row y, column x (token y·grid + x), channel c, as
    upstream's code computes it: ``sincos_table(grid, grid, dim)[x, y, c]``."""
    return sincos_table(grid, grid, dim).permute(1, 0, 2).reshape(grid * grid, dim)


def fine_embeddings(embeddings, pixels, patch: int = MASK_PATCH):
    """CLIP's patch and position embeddings at a finer patch (upstream's ``CLIPVisionModelCustom``): the patch
    kernel resized bilinearly (corners aligned), the grid's position embeddings bicubically; (B, 1 + g², C)."""
    kernel = embeddings.patch_embedding.weight
    dtype = kernel.dtype
    resized = F.interpolate(kernel.float(), size=(patch, patch), mode="bilinear", align_corners=True).to(dtype)
    x = F.conv2d(pixels.to(dtype), resized, embeddings.patch_embedding.bias, stride=patch)
    grid = x.shape[-1]
    tokens = x.flatten(2).transpose(1, 2)
    positions = embeddings.position_embedding.weight
    dim, side = positions.shape[1], math.isqrt(positions.shape[0] - 1)
    table = positions[1:].float().reshape(side, side, dim).permute(2, 0, 1)[None]
    table = F.interpolate(table, size=(grid, grid), mode="bicubic", align_corners=False)[0]
    positions = torch.cat([positions[:1].float(), table.reshape(dim, grid * grid).T]).to(dtype)
    classes = embeddings.class_embedding.to(dtype).expand(x.shape[0], 1, -1)
    return torch.cat([classes, tokens], dim=1) + positions


def fine_hidden_states(vision, pixels, patch: int = MASK_PATCH) -> tuple:
    """CLIP's hidden states (embeddings, then each layer) with ``fine_embeddings`` in place of its own: the
    embeddings module's output is swapped by a hook, so the tower runs as transformers runs it."""
    tower = getattr(vision, "vision_model", vision)  # transformers 4.x nests it
    hook = tower.embeddings.register_forward_hook(lambda module, args, out: fine_embeddings(module, args[0], patch))
    try:
        return vision(pixels, output_hidden_states=True).hidden_states
    finally:
        hook.remove()


def masks_to_image(logits, size: tuple[int, int], threshold: float = MASK_THRESHOLD):
    """Mask logits (N, s, s) on the padded square → binary masks (N, H, W) of the original W × H image: resized
    (bilinear) to the square's side, the centring padding (``(side - H) // 2`` rows above, ``(side - W) // 2``
    columns left) cut off, sigmoid > ``threshold``."""
    width, height = size
    side = max(width, height)
    square = F.interpolate(logits[None].float(), size=(side, side), mode="bilinear", align_corners=False)[0]
    dy, dx = (side - height) // 2, (side - width) // 2
    return square[:, dy : dy + height, dx : dx + width].sigmoid() > threshold
