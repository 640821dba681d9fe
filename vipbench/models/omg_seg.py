"""OMG-Seg's panoptic head in native PyTorch, with no mmcv or mmdet: the part of OMG-LLaVA's visual encoder that
turns ConvNeXt features into object queries, and a region mask or a point into one query.

Module names follow the mmdet/mmcv modules that OMG-Seg builds (``Mask2FormerVideoSemSamHead``, with its
``MSDeformAttnPixelDecoder`` and ``Mask2FormerTransformerDecoder``), so ``omg_seg_convl.pth``'s ``panoptic_head.*``
keys load by name. Facts from ``lxtGH/OMG-Seg`` (``omg_llava/omg_llava/model/omg_seg/``), mmdet 3.3
(``models/layers/msdeformattn_pixel_decoder.py``, ``positional_encoding.py``, ``transformer/*``) and mmcv
(``ops/multi_scale_deform_attn.py``, ``cnn/bricks/transformer.py``):

- pixel decoder: the three coarsest trunk stages through ``input_convs`` (1×1 conv + GroupNorm), a sine position
  code plus ``level_encoding``, six deformable-attention encoder layers (``encoder.layers.N``: ``self_attn``,
  ``ffn``, ``norms.{0,1}``, post-norm); then the stride-4 stage through ``lateral_convs.0`` plus the upsampled
  stride-8 output, ``output_convs.0`` (3×3 conv + GroupNorm + ReLU) and ``mask_feature`` (1×1 conv);
- transformer decoder: nine layers (``cross_attn``, ``self_attn``, ``ffn``, ``norms.{0,1,2}``, post-norm each),
  cycling over the three memories coarse to fine, each query masked to where its mask of the previous layer is
  positive (masked attention), ``post_norm`` before the heads;
- heads: ``mask_embed`` (mask logits against the pixel decoder's mask features), and open-vocabulary class
  logits: mask-pooled features through ``mask_pooling_proj``, plus the query, through ``cls_proj``, cosine
  against the class-name embeddings (``convnext_large_d_320_CocoPanopticOVDataset.pth``, a zero background row
  appended) times ``exp(logit_scale)``; ``iou_embed`` is loaded and never read at inference;
- visual prompts (``forward_visual_prompt`` / ``forward_point_prompt``): one query from ``pb_embedding[0] +
  mask_tokens``, placed by a ±3 px box around a point (sine-encoded, ``pos_linear``); a region's point is its
  mask's deepest pixel, and every layer attends only inside the mask; a bare point attends where its own
  predicted mask is.

Multi-scale deformable attention is the pure-PyTorch ``grid_sample`` formulation (mmcv's CPU path); no fused
kernel is shipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


@dataclass(frozen=True)
class HeadGeometry:
    """The head's sizes: OMG-LLaVA's config (``omg_llava_7b_finetune_8gpus.py``) unless a test shrinks them."""

    in_channels: tuple[int, ...] = (192, 384, 768, 1536)
    strides: tuple[int, ...] = (4, 8, 16, 32)
    channels: int = 256
    groups: int = 32
    queries: int = 300
    levels: int = 3
    encoder_layers: int = 6
    encoder_heads: int = 8
    encoder_points: int = 4
    encoder_ffn: int = 1024
    decoder_layers: int = 9
    decoder_heads: int = 8
    decoder_ffn: int = 2048


# ------------------------------------------------------------------------------- position codes


def _interleave(pos):
    """sin of the even features, cos of the odd ones, interleaved (mmdet's layout)."""
    return torch.stack((pos[..., 0::2].sin(), pos[..., 1::2].cos()), dim=-1).flatten(-2)


def _frequencies(feats: int, temperature: float = 10000.0, device=None):
    index = torch.arange(feats, dtype=torch.float32, device=device)
    return temperature ** (2 * torch.div(index, 2, rounding_mode="floor") / feats)


def sine_2d(h: int, w: int, feats: int, device=None, eps: float = 1e-6):
    """mmdet's normalised ``SinePositionalEncoding`` of an unpadded h × w map: (2 · feats, h, w), y then x."""
    scale = 2 * math.pi
    y = torch.arange(1, h + 1, dtype=torch.float32, device=device) / (h + eps) * scale
    x = torch.arange(1, w + 1, dtype=torch.float32, device=device) / (w + eps) * scale
    dim_t = _frequencies(feats, device=device)
    pos_y = _interleave(y[:, None] / dim_t)[:, None].expand(h, w, feats)
    pos_x = _interleave(x[:, None] / dim_t)[None].expand(h, w, feats)
    return torch.cat((pos_y, pos_x), dim=-1).permute(2, 0, 1)


def sine_3d(h: int, w: int, feats: int, device=None, eps: float = 1e-6):
    """mmdet's normalised ``SinePositionalEncoding3D`` of one frame, flattened: (h · w, 2 · feats). The frame
    term (one frame, so the same everywhere) is added to the 2-D code."""
    scale = 2 * math.pi
    z = torch.ones(1, dtype=torch.float32, device=device) / (1 + eps) * scale
    pos_z = _interleave(z[:, None] / _frequencies(2 * feats, device=device))[0]
    return (sine_2d(h, w, feats, device, eps).permute(1, 2, 0) + pos_z).flatten(0, 1)


def coordinate_encoding(coords, feats: int = 128):
    """mmdet's ``coordinate_to_encoding`` of (cx, cy, w, h) in 0–1: (..., 4 · feats), ordered y, x, w, h."""
    dim_t = _frequencies(feats, device=coords.device)
    scaled = coords * (2 * math.pi)
    x, y, w, h = (_interleave(scaled[..., i, None] / dim_t) for i in range(4))
    return torch.cat((y, x, w, h), dim=-1)


def inverse_sigmoid(x, eps: float = 1e-5):
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


# ------------------------------------------------------------------- multi-scale deformable attention


def ms_deform_attn(value, shapes: Sequence[tuple[int, int]], locations, weights):
    """Multi-scale deformable attention by bilinear ``grid_sample`` (zeros outside, align_corners False).

    value (B, S, heads, d), S the levels' h · w in order; locations (B, Q, heads, levels, points, 2) as (x, y)
    in 0–1; weights (B, Q, heads, levels, points). Returns (B, Q, heads · d)."""
    b, _, heads, d = value.shape
    _, q, _, levels, points, _ = locations.shape
    per_level = value.split([h * w for h, w in shapes], dim=1)
    grids = 2 * locations - 1
    sampled = []
    for level, (h, w) in enumerate(shapes):
        v = per_level[level].flatten(2).transpose(1, 2).reshape(b * heads, d, h, w)
        grid = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)  # (B · heads, Q, points, 2)
        sampled.append(F.grid_sample(v, grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    stacked = torch.stack(sampled, dim=-2).flatten(-2)  # (B · heads, d, Q, levels · points)
    w = weights.transpose(1, 2).reshape(b * heads, 1, q, levels * points)
    return (stacked * w).sum(-1).view(b, heads * d, q).transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    """mmcv's ``MultiScaleDeformableAttention`` (batch first, no padding), with its residual."""

    def __init__(self, dim: int, heads: int, levels: int, points: int):
        super().__init__()
        self.heads, self.levels, self.points = heads, levels, points
        self.sampling_offsets = nn.Linear(dim, heads * levels * points * 2)
        self.attention_weights = nn.Linear(dim, heads * levels * points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)

    def forward(self, query, query_pos, reference_points, shapes: Sequence[tuple[int, int]]):
        b, q, _ = query.shape
        value = self.value_proj(query).view(b, q, self.heads, -1)
        positioned = query + query_pos
        offsets = self.sampling_offsets(positioned).view(b, q, self.heads, self.levels, self.points, 2)
        weights = self.attention_weights(positioned).view(b, q, self.heads, self.levels * self.points)
        weights = weights.softmax(-1).view(b, q, self.heads, self.levels, self.points)
        normaliser = torch.tensor([[w, h] for h, w in shapes], dtype=query.dtype, device=query.device)
        locations = reference_points[:, :, None, :, None, :] + offsets / normaliser[None, None, None, :, None, :]
        return query + self.output_proj(ms_deform_attn(value, shapes, locations, weights))


# --------------------------------------------------------------------------------- building blocks


class FFN(nn.Module):
    """mmcv's ``FFN``: ``layers.0.0`` (Linear) with ReLU, ``layers.1`` (Linear), and the residual."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.0)), nn.Linear(hidden, dim), nn.Dropout(0.0)
        )

    def forward(self, x):
        return x + self.layers(x)


class Attention(nn.Module):
    """mmcv's ``MultiheadAttention`` (``attn`` = torch's): position codes added to query and key, the residual."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, query, key, value, query_pos, key_pos, mask=None):
        out = self.attn(query + query_pos, key + key_pos, value, attn_mask=mask, need_weights=False)[0]
        return query + out


class ConvNorm(nn.Module):
    """mmcv's ``ConvModule``: ``conv``, then ``gn`` (GroupNorm), then an optional ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, groups: int, bias: bool, relu: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=bias)
        self.gn = nn.GroupNorm(groups, cout)
        self.relu = relu

    def forward(self, x):
        x = self.gn(self.conv(x))
        return F.relu(x) if self.relu else x


class EncoderLayer(nn.Module):
    def __init__(self, g: HeadGeometry):
        super().__init__()
        self.self_attn = MSDeformAttn(g.channels, g.encoder_heads, g.levels, g.encoder_points)
        self.ffn = FFN(g.channels, g.encoder_ffn)
        self.norms = nn.ModuleList(nn.LayerNorm(g.channels) for _ in range(2))

    def forward(self, query, query_pos, reference_points, shapes):
        query = self.norms[0](self.self_attn(query, query_pos, reference_points, shapes))
        return self.norms[1](self.ffn(query))


class Encoder(nn.Module):
    def __init__(self, g: HeadGeometry):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(g) for _ in range(g.encoder_layers))

    def forward(self, query, query_pos, reference_points, shapes):
        for layer in self.layers:
            query = layer(query, query_pos, reference_points, shapes)
        return query


class PixelDecoder(nn.Module):
    """mmdet's ``MSDeformAttnPixelDecoder``: (mask features at stride 4, the encoder's memories coarse to fine)."""

    def __init__(self, g: HeadGeometry):
        super().__init__()
        self.g = g
        coarse = [g.in_channels[i] for i in range(len(g.in_channels) - 1, len(g.in_channels) - g.levels - 1, -1)]
        self.input_convs = nn.ModuleList(ConvNorm(c, g.channels, 1, g.groups, bias=True) for c in coarse)
        self.encoder = Encoder(g)
        self.level_encoding = nn.Embedding(g.levels, g.channels)
        fine = range(len(g.in_channels) - g.levels - 1, -1, -1)
        self.lateral_convs = nn.ModuleList(ConvNorm(g.in_channels[i], g.channels, 1, g.groups, False) for i in fine)
        self.output_convs = nn.ModuleList(
            ConvNorm(g.channels, g.channels, 3, g.groups, bias=False, relu=True) for _ in fine
        )
        self.mask_feature = nn.Conv2d(g.channels, g.channels, 1)

    def forward(self, feats: Sequence):
        g, b = self.g, feats[0].shape[0]
        inputs, positions, references, shapes = [], [], [], []
        for i in range(g.levels):
            level = len(feats) - i - 1
            feat = feats[level]
            h, w = feat.shape[-2:]
            stride = g.strides[level]
            pos = sine_2d(h, w, g.channels // 2, feat.device) + self.level_encoding.weight[i].view(-1, 1, 1)
            ys, xs = torch.meshgrid(
                torch.arange(h, device=feat.device), torch.arange(w, device=feat.device), indexing="ij"
            )
            points = torch.stack(((xs.flatten() + 0.5) * stride, (ys.flatten() + 0.5) * stride), dim=-1)
            references.append(points / torch.tensor([w * stride, h * stride], device=feat.device))
            inputs.append(self.input_convs[i](feat).flatten(2).transpose(1, 2))
            positions.append(pos.flatten(1).transpose(0, 1).to(feat.dtype))
            shapes.append((h, w))
        reference = torch.cat(references)[None, :, None].expand(b, -1, g.levels, -1).to(feats[0].dtype)
        pos = torch.cat(positions)[None].expand(b, -1, -1)
        memory = self.encoder(torch.cat(inputs, dim=1), pos, reference, shapes).transpose(1, 2)
        outs = [m.reshape(b, -1, h, w) for m, (h, w) in zip(memory.split([h * w for h, w in shapes], dim=-1), shapes)]
        for j, i in enumerate(range(len(feats) - g.levels - 1, -1, -1)):
            lateral = self.lateral_convs[j](feats[i])
            up = F.interpolate(outs[-1], size=lateral.shape[-2:], mode="bilinear", align_corners=False)
            outs.append(self.output_convs[j](lateral + up))
        return self.mask_feature(outs[-1]), outs[: g.levels]


class DecoderLayer(nn.Module):
    """mmdet's ``Mask2FormerTransformerDecoderLayer``: masked cross-attention, self-attention, FFN, post-norm."""

    def __init__(self, g: HeadGeometry):
        super().__init__()
        self.cross_attn = Attention(g.channels, g.decoder_heads)
        self.self_attn = Attention(g.channels, g.decoder_heads)
        self.ffn = FFN(g.channels, g.decoder_ffn)
        self.norms = nn.ModuleList(nn.LayerNorm(g.channels) for _ in range(3))

    def forward(self, query, key, query_pos, key_pos, mask):
        query = self.norms[0](self.cross_attn(query, key, key, query_pos, key_pos, mask))
        query = self.norms[1](self.self_attn(query, query, query, query_pos, query_pos))
        return self.norms[2](self.ffn(query))


class TransformerDecoder(nn.Module):
    def __init__(self, g: HeadGeometry):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(g) for _ in range(g.decoder_layers))
        self.post_norm = nn.LayerNorm(g.channels)


def _mlp(dim: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out))


# ----------------------------------------------------------------------------------------- the head


@dataclass
class Memories:
    """What the decoder reads for a batch of images, kept so that visual prompts can be decoded against them."""

    mask_features: torch.Tensor
    """(B, C, H/4, W/4)."""
    inputs: list[torch.Tensor]
    """Per level, coarse to fine: (B, h · w, C), with the level embedding."""
    positions: list[torch.Tensor]
    """Per level: (h · w, C)."""
    shapes: list[tuple[int, int]]

    def select(self, index) -> Memories:
        return Memories(self.mask_features[index], [x[index] for x in self.inputs], self.positions, self.shapes)


class OMGSegHead(nn.Module):
    """``Mask2FormerVideoSemSamHead`` at inference: panoptic queries for an image, visual-prompt queries, and the
    masks of ``[SEG]`` queries (``forward_llm_seg``).

    ``llm_decoder``: the checkpoint trained a copy of the decoder and mask embedding for ``[SEG]`` queries
    (``transformer_decoder_llm``, ``mask_embed_llm``: upstream's ``require_omg_decoder``, its referring-segmentation
    fine-tune); without it ``[SEG]`` queries go through the panoptic decoder, as upstream's do."""

    def __init__(self, g: HeadGeometry, class_embed_shape: tuple[int, int, int], llm_decoder: bool = False):
        super().__init__()
        self.g = g
        c = g.channels
        self.pixel_decoder = PixelDecoder(g)
        self.transformer_decoder = TransformerDecoder(g)
        self.query_embed = nn.Embedding(g.queries, c)
        self.query_feat = nn.Embedding(g.queries, c)
        self.level_embed = nn.Embedding(g.levels, c)
        self.mask_embed = _mlp(c, c)
        self.iou_embed = _mlp(c, 1)
        classes, prototypes, dim = class_embed_shape
        self.cls_proj = _mlp(c, dim)
        self.mask_pooling_proj = nn.Sequential(nn.LayerNorm(c), nn.Linear(c, c))
        self.mask_tokens = nn.Embedding(1, c)
        self.pb_embedding = nn.Embedding(2, c)
        self.pos_linear = nn.Linear(2 * c, c)
        # (dim, classes + background, prototypes), filled from the class-embedding file; not in the checkpoint.
        self.register_buffer("cls_embed", torch.zeros(dim, classes + 1, prototypes), persistent=False)
        self.register_buffer("logit_scale", torch.tensor(4.6052, dtype=torch.float32), persistent=False)
        if llm_decoder:
            self.transformer_decoder_llm = TransformerDecoder(g)
            self.mask_embed_llm = _mlp(c, c)

    def set_class_embeddings(self, embeddings) -> None:
        """(classes, prototypes, dim), unit norm: upstream appends a zero background row and keeps (dim, K+1, P)."""
        background = torch.zeros(1, *embeddings.shape[1:], dtype=embeddings.dtype)
        full = torch.cat([embeddings, background]).permute(2, 0, 1).contiguous()
        self.cls_embed.copy_(full.to(self.cls_embed))

    # -- shared pieces

    def memories(self, feats: Sequence) -> Memories:
        mask_features, multi_scale = self.pixel_decoder(feats)
        inputs, positions, shapes = [], [], []
        for i, memory in enumerate(multi_scale):
            h, w = memory.shape[-2:]
            inputs.append(memory.flatten(2).transpose(1, 2) + self.level_embed.weight[i].view(1, 1, -1))
            positions.append(sine_3d(h, w, self.g.channels // 2, memory.device).to(memory.dtype))
            shapes.append((h, w))
        return Memories(mask_features, inputs, positions, shapes)

    def _mask_logits(self, query, mask_features, llm: bool = False):
        """(post-normed queries, mask logits); ``llm``: with the ``[SEG]`` decoder's norm and mask embedding, when
        the checkpoint has them."""
        decoder, embed = self._seg_modules() if llm else (self.transformer_decoder, self.mask_embed)
        out = decoder.post_norm(query)
        return out, torch.einsum("bqc,bchw->bqhw", embed(out), mask_features)

    def _seg_modules(self) -> tuple[TransformerDecoder, nn.Module]:
        if hasattr(self, "transformer_decoder_llm"):
            return self.transformer_decoder_llm, self.mask_embed_llm
        return self.transformer_decoder, self.mask_embed

    def _attention_mask(self, logits, size: tuple[int, int]):
        """Masked attention from mask logits: attend where the (resized) mask is positive; (B · heads, Q, h · w)."""
        resized = F.interpolate(logits, size, mode="bilinear", align_corners=False)
        return self._per_head(resized.flatten(2).sigmoid() < 0.5)

    def _per_head(self, mask):
        return mask.unsqueeze(1).repeat(1, self.g.decoder_heads, 1, 1).flatten(0, 1)

    def _decode(self, memories: Memories, query, query_pos, mask, next_mask, decoder=None):
        """The decoder layers over the levels in turn; ``next_mask(query, level)`` gives the next layer's mask."""
        layers = (decoder or self.transformer_decoder).layers
        for i, layer in enumerate(layers):
            level = i % self.g.levels
            mask = mask.clone()
            mask[mask.all(-1)] = False  # a query whose mask is empty attends everywhere
            b = query.shape[0]
            key_pos = memories.positions[level][None].expand(b, -1, -1)
            query = layer(query, memories.inputs[level], query_pos, key_pos, mask)
            if i + 1 < len(layers):
                mask = next_mask(query, (i + 1) % self.g.levels)
        return query

    # -- panoptic queries

    def panoptic(self, memories: Memories):
        """(final queries (B, Q, C), their positional queries (B, Q, C), class logits (B, Q, K + 1), mask logits
        (B, Q, H/4, W/4)) for the learnt queries."""
        b = memories.mask_features.shape[0]
        query = self.query_feat.weight[None].expand(b, -1, -1)
        query_pos = self.query_embed.weight[None].expand(b, -1, -1)

        def next_mask(q, level):
            return self._attention_mask(self._mask_logits(q, memories.mask_features)[1], memories.shapes[level])

        query = self._decode(memories, query, query_pos, next_mask(query, 0), next_mask)
        out, logits = self._mask_logits(query, memories.mask_features)
        return query, query_pos, self._class_logits(out, logits, memories.mask_features), logits

    def _class_logits(self, out, mask_logits, mask_features):
        binary = (mask_logits > 0).to(mask_features.dtype)
        pooled = torch.einsum("bchw,bqhw->bqc", mask_features, binary / (binary.sum(dim=(-1, -2), keepdim=True) + 1e-8))
        embed = F.normalize(self.cls_proj(self.mask_pooling_proj(pooled) + out), dim=-1)
        similarity = torch.einsum("bnc,ckp->bnkp", embed, self.cls_embed.to(embed.dtype)).max(-1).values
        return self.logit_scale.exp() * similarity

    # -- visual prompts

    def _prompt_query(self, points, width: int, height: int):
        """``prepare_sam_query``: (content, position) queries (N, 1, C) for points (N, 2) in pixels."""
        boxes = torch.cat([points - 3, points + 3], dim=-1) / points.new_tensor([width, height, width, height])
        cxcywh = torch.cat([(boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]], dim=-1)
        encoded = coordinate_encoding(inverse_sigmoid(cxcywh).sigmoid()[:, None], self.g.channels // 2)
        position = self.pos_linear(encoded)
        content = self.pb_embedding.weight[0] + self.mask_tokens.weight[0]
        return content.expand(points.shape[0], 1, -1), position

    def region_queries(self, memories: Memories, regions, index):
        """``forward_visual_prompt``: one (query, position) of 2C per region mask (N, H, W), read against image
        ``index[n]``; the mask is the cross-attention mask of every layer."""
        points = deepest_points(regions).to(memories.mask_features.dtype)
        query, query_pos = self._prompt_query(points, regions.shape[-1], regions.shape[-2])
        chosen = memories.select(index)
        masks = regions[:, None].to(chosen.mask_features.dtype)

        def region_mask(_, level):
            fitted = F.interpolate(masks, chosen.shapes[level], mode="nearest")
            return self._per_head(~fitted.flatten(2).bool())

        query = self._decode(
            chosen, query.to(masks.dtype), query_pos.to(masks.dtype), region_mask(None, 0), region_mask
        )
        return torch.cat([query, query_pos], dim=-1)[:, 0]

    def point_queries(self, memories: Memories, points, index, width: int, height: int):
        """``forward_point_prompt``: one (query, position) of 2C per point (N, 2) in the input's pixels; each layer
        attends where the query's own mask of the previous layer is."""
        query, query_pos = self._prompt_query(points.to(memories.mask_features.dtype), width, height)
        chosen = memories.select(index)

        def next_mask(q, level):
            return self._attention_mask(self._mask_logits(q, chosen.mask_features)[1], chosen.shapes[level])

        query = self._decode(chosen, query, query_pos, next_mask(query, 0), next_mask)
        return torch.cat([query, query_pos], dim=-1)[:, 0]

    # -- [SEG] masks

    def llm_seg(self, memories: Memories, queries, index):
        """``forward_llm_seg``: the mask logits (N, H/4, W/4) of ``[SEG]`` queries (N, 2C), each the projected
        hidden state split into content (first C) and position (last C), read against image ``index[n]``; every
        layer attends where the query's own mask of the previous layer is, as a panoptic query does. The last
        layer's logits are the mask."""
        c = self.g.channels
        query, query_pos = queries[:, None, :c], queries[:, None, c:]
        chosen = memories.select(index)
        decoder, _ = self._seg_modules()

        def next_mask(q, level):
            logits = self._mask_logits(q, chosen.mask_features, llm=True)[1]
            return self._attention_mask(logits, chosen.shapes[level])

        query = self._decode(chosen, query, query_pos, next_mask(query, 0), next_mask, decoder)
        return self._mask_logits(query, chosen.mask_features, llm=True)[1][:, 0]


def deepest_points(masks):
    """(x, y) of each mask's deepest pixel (N, 2), as OMG-LLaVA's ``get_center_coords`` finds it: the first
    maximum, in row-major order, of kornia's convolutional distance transform (3 × 3 kernel, h = 0.35) from the
    background, the mask padded by one background pixel."""
    points = []
    for mask in masks:
        h, w = mask.shape
        background = (~F.pad(mask.bool()[None, None], (1, 1, 1, 1), value=False)).float()
        best = int(distance_transform(background)[0, 0, 1:-1, 1:-1].argmax())
        points.append((best % w, best // w))
    return torch.tensor(points, dtype=torch.float32, device=masks.device).reshape(-1, 2)


def distance_transform(image, kernel_size: int = 3, h: float = 0.35):
    """kornia's ``distance_transform`` (Pham et al. 2021) of a (B, 1, H, W) image: each pixel's approximate
    distance to the nearest non-zero pixel, grown one soft-min 3 × 3 convolution at a time."""
    half = kernel_size // 2
    grid = torch.arange(kernel_size, dtype=image.dtype, device=image.device) - half
    kernel = torch.exp(torch.hypot(grid[None, :], grid[:, None]) / -h)[None, None]
    out = torch.zeros_like(image)
    boundary = image.clone()
    for i in range(math.ceil(max(image.shape[-2:]) / half)):
        cdt = torch.nan_to_num(-h * torch.log(F.conv2d(boundary, kernel, padding=half)), posinf=0.0)
        reached = cdt > 0
        if not bool(reached.any()):
            break
        out += (i * kernel_size // 2 + cdt) * reached
        boundary = torch.where(reached, torch.ones_like(boundary), boundary)
    return out


def resize_matrix(source: int, target: int, device=None, dtype=torch.float32):
    """The (target, source) matrix of 1-D linear resizing with align_corners False (one axis of bilinear)."""
    eye = torch.eye(source, device=device, dtype=dtype)[None]
    return F.interpolate(eye, size=target, mode="linear", align_corners=False)[0].T
