"""The 8 visual prompt shapes, each drawn the way ViP-LLaVA draws it.

Every painter draws onto a transparent RGBA layer (``ImageDraw`` on an RGBA image overwrites pixels, so
overlapping strokes never darken each other); ``render`` composites that layer once. Sizes follow
ViP-LLaVA: a base size in pixels at its 336-px anchor (CLIP's crop size) times ``scale = max(W, H) / 336``.
The rectangle's width and the point's radius use the fixed sizes of ViP-LLaVA's evaluation scripts
('constant' style); the other shapes draw their sizes from its training ranges with the seeded ``rng``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import ImageDraw

from vipbench.errors import VipbenchError
from vipbench.prompting.geometry import Target, cubic_bezier, max_angle_below, resample_by_length

RGBA = tuple[int, int, int, int]
Painter = Callable[[ImageDraw.ImageDraw, Target, RGBA, np.random.Generator, float], None]

#: ViP-LLaVA's ``image_size_anchor``: sizes below are in pixels of a 336-px image.
ANCHOR = 336


def prompt_scale(size: tuple[int, int]) -> float:
    """How much larger than ViP-LLaVA's 336-px anchor this image is: ``max(W, H) / 336``."""
    return max(size) / ANCHOR


def fixed_size(base: float, scale: float) -> int:
    """A 'constant'-style size: ``int(base * scale)``, at least 1 px."""
    return max(int(base * scale), 1)


def random_size(rng: np.random.Generator, low: float, high: float, scale: float) -> int:
    """ViP-LLaVA's random size: an integer in ``[int(low*scale), int(high*scale)]``, at least 1 px."""
    return max(int(rng.integers(int(low * scale), int(high * scale), endpoint=True)), 1)


def _xy(points: np.ndarray) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in points]


def draw_rectangle(
    draw: ImageDraw.ImageDraw, target: Target, fill: RGBA, rng: np.random.Generator, scale: float
) -> None:
    """The box outline, 3 px at 336 (the width every ViP-LLaVA evaluation script uses), drawn inwards."""
    x1, y1, x2, y2 = target.box
    draw.rectangle((x1, y1, x2, y2), outline=fill, width=fixed_size(3, scale))


def draw_ellipse(draw: ImageDraw.ImageDraw, target: Target, fill: RGBA, rng: np.random.Generator, scale: float) -> None:
    """An ellipse around the mask bounds (or box), enlarged by U(1, 1.5) so it encloses the object."""
    width = random_size(rng, 2, 8, scale)
    ratio = rng.uniform(1.0, 1.5)
    cx, cy = target.center
    x1, y1, x2, y2 = target.bounds
    half_w, half_h = (x2 - x1) * ratio / 2, (y2 - y1) * ratio / 2
    draw.ellipse((cx - half_w, cy - half_h, cx + half_w, cy + half_h), outline=fill, width=width)


def draw_point(draw: ImageDraw.ImageDraw, target: Target, fill: RGBA, rng: np.random.Generator, scale: float) -> None:
    """A filled disk of radius 8 px at 336, near the centre of one mask part and inside it.

    As in ViP-LLaVA the centre is Gaussian around the part's bounds centre (around the region's annotated
    point instead, when it has one) with
    variance extent/8 per axis, retried up to 10 times to fall inside; unlike it, when all 10 miss (a
    ring-shaped object) the centre is a uniform point inside the part rather than one more blind draw.
    """
    radius = fixed_size(8, scale)
    part = target if target.anchor is not None else target.part(rng)
    x1, y1, x2, y2 = part.bounds
    mean = np.array(part.anchor if part.anchor is not None else part.center)
    std = np.sqrt(np.array([max(x2 - x1, 0.0), max(y2 - y1, 0.0)]) / 8)
    tries = mean + rng.standard_normal((10, 2)) * std
    inside = part.contains(tries[:, 0], tries[:, 1])
    cx, cy = tries[int(inside.argmax())] if inside.any() else part.random_points(rng, 1)[0]
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill, outline=fill)


def draw_triangle(
    draw: ImageDraw.ImageDraw, target: Target, fill: RGBA, rng: np.random.Generator, scale: float
) -> None:
    """A closed triangle outline on three random points inside the object, all its angles below 150°.

    The joints are rounded, as in ViP-LLaVA; the start corner is rounded too, so all three match.
    """
    width = random_size(rng, 2, 8, scale)
    corners = target.random_points(rng, 3)
    for _ in range(100):  # a sliver region may never give a proper triangle: keep the last one then
        if max_angle_below(corners, 150.0):
            break
        corners = target.random_points(rng, 3)
    draw.line(_xy(corners[[0, 1, 2, 0, 1]]), fill=fill, width=width, joint="curve")


def draw_mask(draw: ImageDraw.ImageDraw, target: Target, fill: RGBA, rng: np.random.Generator, scale: float) -> None:
    """Every polygon filled (the box when there is no segmentation)."""
    for polygon in target.polygons:
        draw.polygon(_xy(polygon), fill=fill)


def draw_mask_contour(
    draw: ImageDraw.ImageDraw, target: Target, fill: RGBA, rng: np.random.Generator, scale: float
) -> None:
    """The polygon outline, thickened as ViP-LLaVA does: redrawn at every (dx, dy) in [-w, w]².

    w is drawn from [1, 2] px at 336, so the stroke is a square-brush dilation 2w+1 px wide.
    """
    reach = random_size(rng, 1, 2, scale)
    offsets = range(-reach, reach + 1)
    for polygon in target.polygons:
        for dx in offsets:
            for dy in offsets:
                draw.polygon(_xy(polygon + (dx, dy)), outline=fill)


def draw_arrow(draw: ImageDraw.ImageDraw, target: Target, fill: RGBA, rng: np.random.Generator, scale: float) -> None:
    """An arrow whose tip sits at the box centre jittered by up to ±25%, pointing in from a random angle.

    Length U(0.8·shorter box side, 50 px at 336); the head is max(U(0.2, 0.5)·length, 6 px at 336) long,
    with wings at ±60° of the shaft, filled or an open V (50/50); half the shafts bend at a midpoint
    moved by up to ±5 px at 336 so they look hand-drawn. Width is 1–6 px at 336.
    """
    width = random_size(rng, 1, 6, scale)
    x1, y1, x2, y2 = target.box
    # Between the two bounds whichever is larger, as Python's random.uniform in ViP-LLaVA allows.
    length = rng.uniform(*sorted((0.8 * min(x2 - x1, y2 - y1), fixed_size(50, scale))))
    angle = rng.uniform(0.0, 2 * math.pi)
    tip_x = (x1 + x2) / 2 + rng.uniform(-0.25, 0.25) * (x2 - x1)
    tip_y = (y1 + y2) / 2 + rng.uniform(-0.25, 0.25) * (y2 - y1)
    head = max(rng.uniform(0.2, 0.5) * length, int(6 * scale))
    tail = (tip_x + (length - head) * math.cos(angle), tip_y + (length - head) * math.sin(angle))
    shaft = [(tip_x, tip_y), tail]
    if rng.random() < 0.5:
        wobble = rng.uniform(-5, 5, 2) * scale
        shaft.insert(1, ((tip_x + tail[0]) / 2 + wobble[0], (tip_y + tail[1]) / 2 + wobble[1]))
    draw.line(shaft, fill=fill, width=width)
    wings = [
        (tip_x + head * math.cos(angle + s * math.pi / 3), tip_y + head * math.sin(angle + s * math.pi / 3))
        for s in (1, -1)
    ]
    outline = [wings[0], (tip_x, tip_y), wings[1]]
    if rng.random() < 0.5:
        draw.polygon(outline, fill=fill)
    else:
        draw.line(outline, fill=fill, width=width)


def draw_scribble(
    draw: ImageDraw.ImageDraw, target: Target, fill: RGBA, rng: np.random.Generator, scale: float
) -> None:
    """A cubic Bézier stroke through 4 random points inside one mask part (or the box), 2–12 px at 336.

    ViP-LLaVA strokes 1000·scale tiny wide segments one by one, which is slow and leaves pin-holes. Here
    a round brush of the same width is stamped every half radius along the curve: the same band of
    pixels (round-ended, solid), at a tenth of the cost.
    """
    width = random_size(rng, 2, 12, scale)
    controls = target.part(rng).random_points(rng, 4)
    hull = float(np.sum(np.hypot(*np.diff(controls, axis=0).T)))  # the curve is never longer than this
    curve = cubic_bezier(controls, int(hull) + 2)
    reach = width / 2 - 0.5  # a PIL ellipse spans x0..x1 inclusive, so this disk is `width` px across
    for x, y in resample_by_length(curve, max(width / 4, 0.5)):
        draw.ellipse((x - reach, y - reach, x + reach, y + reach), fill=fill)


def draw_box_1px(draw: ImageDraw.ImageDraw, target: Target, fill: RGBA, rng: np.random.Generator, scale: float) -> None:
    """The box outline 1 px wide in the image's own pixels, whatever its size: lmms-eval's RefCOCO box tasks
    (``refcoco_bbox_doc_to_visual``: PIL's ``rectangle`` with an outline and no width)."""
    draw.rectangle(target.box, outline=fill, width=1)


#: Shape name → painter, in the order ViP-LLaVA's paper lists its 8 visual prompt types.
PAINTERS: dict[str, Painter] = {
    "rectangle": draw_rectangle,
    "ellipse": draw_ellipse,
    "point": draw_point,
    "triangle": draw_triangle,
    "mask": draw_mask,
    "mask contour": draw_mask_contour,
    "arrow": draw_arrow,
    "scribble": draw_scribble,
}

SHAPES: tuple[str, ...] = tuple(PAINTERS)
#: Markers a protocol draws that are no ViP-LLaVA prompt type (never a ``--prompt-style``).
PROTOCOL_MARKERS: dict[str, Painter] = {"box 1px": draw_box_1px}


def check_shape(shape: str) -> str:
    """The shape name itself when it is known; otherwise an error that lists the valid names."""
    if isinstance(shape, str) and shape in PAINTERS:
        return shape
    raise VipbenchError(f"unknown prompt shape {shape!r}; valid shapes: {', '.join(repr(s) for s in SHAPES)}")


def painter(shape: str) -> Painter:
    """The painter for a shape name (a prompt type, or a protocol's marker)."""
    return PROTOCOL_MARKERS.get(shape) or PAINTERS[check_shape(shape)]
