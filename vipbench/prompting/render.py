"""Putting prompts on an image: one transparent layer, alpha-composited once, as ViP-LLaVA blends them.

Randomness (sizes, jitter, sampled points) comes only from a generator seeded by the overlay's seed and
shape, so a request image is reproducible byte for byte and its prompt can be redrawn from the record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
from PIL import Image, ImageDraw

from vipbench.errors import VipbenchError
from vipbench.imaging import load_rgb
from vipbench.prompting.colors import color_rgb, is_named
from vipbench.prompting.draws import DrawSettings
from vipbench.prompting.geometry import Target
from vipbench.prompting.shapes import ANCHOR, painter, prompt_scale
from vipbench.types import Overlay, Region, Request

#: The alpha every ViP-LLaVA evaluation script passes (``--alpha 128``).
DEFAULT_ALPHA = 128
#: Bumped whenever a change to the drawing changes a pixel; the manifest records it with the parameters below.
RENDERER_VERSION = 1


def rendering_parameters(overlays: Iterable[Overlay], draws: DrawSettings | None = None) -> dict:
    """What decides how a task's visual prompts look, for the manifest (each prompt's own seed, shape, colour
    and alpha are in the requests, and so in the prompt hash). ``draws`` must be the settings the requests were
    built with (``Task.build_request``): the colour rule and the run seed every sample's draws derive from."""
    drawn = list(overlays)
    settings = draws or DrawSettings()
    return {
        "renderer": RENDERER_VERSION,
        "anchor": ANCHOR,
        "alphas": sorted({o.alpha for o in drawn}),
        "shapes": sorted({o.shape for o in drawn}),
        "colors": sorted({o.color for o in drawn if is_named(o.color)}),
        "unnamed_colors": sum(not is_named(o.color) for o in drawn),
        "colour_rule": settings.colour_rule,
        "seed": settings.seed,
        "draws": (
            f"colours and 'the' ({settings.colour_rule} rule): random.Random(sha256('vipbench-draws', seed, "
            "sample id)) per sample, making ViP-LLaVA's organizer calls in its order; a sample's own colours kept"
        ),
        "seeds": "geometry per prompt: sha256 of (sample id, shape, region label), then sha256 of (seed, shape)",
        "prompts": len(drawn),
    }


def shape_rng(seed: int, shape: str) -> np.random.Generator:
    """The generator for one prompt: a stable hash of (seed, shape), so it never depends on the process.

    The colour is left out on purpose: the same seed gives the same geometry in any colour.
    """
    digest = hashlib.sha256(f"vipbench-prompt\0{int(seed)}\0{shape}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def paint(draw: ImageDraw.ImageDraw, size: tuple[int, int], overlay: Overlay) -> None:
    """Draw one overlay onto an RGBA layer of image ``size``."""
    draw_shape = painter(overlay.shape)
    rgb = color_rgb(overlay.color)
    alpha = overlay.alpha
    if not isinstance(alpha, int) or isinstance(alpha, bool) or not 0 <= alpha <= 255:
        raise VipbenchError(f"prompt alpha must be an integer in 0..255, got {alpha!r}")
    draw_shape(
        draw,
        Target.from_region(overlay.region),
        (*rgb, alpha),
        shape_rng(overlay.seed, overlay.shape),
        prompt_scale(size),
    )


def composite(image: Image.Image, layer: Image.Image) -> Image.Image:
    """``image`` with the RGBA ``layer`` alpha-composited over it, as a new RGB image.

    Only the layer's non-transparent bounding box is composited: outside it the layer is fully transparent
    and ``alpha_composite`` would return the image's own pixels, so the result is the same, just faster.
    """
    result = image.copy()
    bbox = layer.getbbox()
    if bbox is not None:
        patch = Image.alpha_composite(image.crop(bbox).convert("RGBA"), layer.crop(bbox))
        result.paste(patch.convert("RGB"), bbox[:2])
    return result


def draw_overlays(image: Image.Image, overlays: Iterable[Overlay]) -> Image.Image:
    """``image`` (any mode) with every overlay drawn on one shared layer, composited once; RGB out.

    Where two overlays overlap, the later one's pixels replace the earlier one's on the layer.
    """
    base = image if image.mode == "RGB" else image.convert("RGB")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for overlay in overlays:
        paint(draw, base.size, overlay)
    return composite(base, layer)


def draw_prompt(
    image: Image.Image, region: Region, shape: str, color: str, seed: int, alpha: int = DEFAULT_ALPHA
) -> Image.Image:
    """``image`` with one visual prompt of ``shape`` and ``color`` on ``region``, as a new RGB image."""
    return draw_overlays(image, [Overlay(region=region, shape=shape, color=color, seed=seed, alpha=alpha)])


def request_image(request: Request) -> Image.Image:
    """The RGB image the model sees: the request's image, with its visual prompts (overlay mode) drawn on it."""
    image = load_rgb(request.image_path)
    return draw_overlays(image, request.overlays) if request.overlays else image
