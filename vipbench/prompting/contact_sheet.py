"""A labelled grid of all 8 prompt shapes on one synthetic scene, to eyeball the drawing code.

``python -m vipbench.prompting.contact_sheet OUT.png [--seed N]``. The scene is painted with PIL from
code (no external image), so the sheet can be regenerated anywhere and diffed after a change.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from vipbench.prompting.colors import COLORS
from vipbench.prompting.phrases import phrase
from vipbench.prompting.render import draw_prompt
from vipbench.prompting.shapes import SHAPES
from vipbench.types import Region

TILE = (448, 336)
LABEL_HEIGHT = 30
GAP = 8
COLUMNS = 4


def _lerp(a: Sequence[int], b: Sequence[int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


def scene(size: tuple[int, int] = TILE) -> tuple[Image.Image, Region]:
    """A sunny garden with a house, a tree and a ball; returns the image and the house as a polygon region."""
    w, h = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    horizon = int(h * 0.62)
    for y in range(horizon):  # sky: deep blue at the top, hazy near the horizon
        draw.line([(0, y), (w, y)], fill=_lerp((88, 148, 214), (206, 228, 244), y / horizon))
    for y in range(horizon, h):  # lawn: lighter in the distance
        draw.line([(0, y), (w, y)], fill=_lerp((124, 176, 92), (70, 128, 58), (y - horizon) / (h - horizon)))
    draw.ellipse((w * 0.80, h * 0.07, w * 0.92, h * 0.07 + w * 0.12), fill=(255, 236, 160))
    hills = [(0, horizon)] + [(x, horizon - 28 - 18 * math.sin(x / w * 5.0)) for x in range(0, w + 1, 16)]
    draw.polygon(hills + [(w, horizon)], fill=(104, 150, 110))
    for cx, cy, r in ((0.18, 0.16, 0.05), (0.25, 0.14, 0.06), (0.32, 0.17, 0.045)):  # a cloud
        draw.ellipse((w * (cx - r), h * cy - w * r, w * (cx + r), h * cy + w * r), fill=(246, 248, 252))

    # The house: walls, roof, door and windows. Its outline is the region every prompt marks.
    left, right, eave, base, ridge = w * 0.30, w * 0.62, h * 0.46, h * 0.80, h * 0.24
    overhang = w * 0.03
    draw.rectangle((left, eave, right, base), fill=(226, 214, 196))
    roof = [(left - overhang, eave), ((left + right) / 2, ridge), (right + overhang, eave)]
    draw.polygon(roof, fill=(120, 72, 60))
    draw.rectangle((w * 0.43, h * 0.62, w * 0.49, base), fill=(96, 66, 48))
    for wx in (0.34, 0.53):
        draw.rectangle(
            (w * wx, h * 0.53, w * (wx + 0.06), h * 0.61), fill=(150, 196, 226), outline=(250, 250, 250), width=2
        )
    house = (
        (left - overhang, eave),
        ((left + right) / 2, ridge),
        (right + overhang, eave),
        (right, eave),
        (right, base),
        (left, base),
        (left, eave),
    )

    # A tree to the right and a ball on the lawn, for context.
    draw.rectangle((w * 0.78, h * 0.50, w * 0.81, h * 0.78), fill=(112, 80, 52))
    for cx, cy, r in ((0.795, 0.40, 0.085), (0.75, 0.46, 0.06), (0.84, 0.46, 0.06)):
        draw.ellipse((w * (cx - r), h * cy - w * r, w * (cx + r), h * cy + w * r), fill=(58, 112, 56))
    draw.ellipse((w * 0.14, h * 0.80, w * 0.20, h * 0.80 + w * 0.06), fill=(214, 70, 64))
    return image, Region.from_polygon(house, label="house")


def contact_sheet(seed: int = 0) -> Image.Image:
    """All 8 shapes on the scene, one per tile in ViP-LLaVA's colour order, each labelled with its phrase."""
    image, region = scene()
    rows = math.ceil(len(SHAPES) / COLUMNS)
    tw, th = TILE
    sheet = Image.new("RGB", (COLUMNS * (tw + GAP) + GAP, rows * (th + LABEL_HEIGHT + GAP) + GAP), (36, 38, 44))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=17)
    for i, (shape, color) in enumerate(zip(SHAPES, COLORS)):
        x = GAP + (i % COLUMNS) * (tw + GAP)
        y = GAP + (i // COLUMNS) * (th + LABEL_HEIGHT + GAP)
        sheet.paste(draw_prompt(image, region, shape, color, seed=seed), (x, y))
        draw.text((x + 6, y + th + 6), f"{shape}: {phrase(shape, color)}", fill=(236, 236, 236), font=font)
    return sheet


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vipbench.prompting.contact_sheet", description=__doc__)
    parser.add_argument("out", type=Path, help="where to write the PNG")
    parser.add_argument("--seed", type=int, default=0, help="prompt seed (default 0)")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(args.seed).save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
