"""How fast each visual prompt shape renders: images/s on 640×480 images, one core.

Run ``python benchmarks/render_speed.py [--seconds S]``. Each shape is drawn with a fresh seed per image
on a COCO-like 48-vertex polygon region, through the public ``draw_prompt``; the target is a mean of
200 images/s over the 8 shapes, so prompting never limits an evaluation run.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image

from vipbench.prompting import SHAPES, draw_prompt
from vipbench.types import Region

TARGET_PER_SECOND = 200.0
SIZE = (640, 480)


def test_image(size: tuple[int, int] = SIZE) -> Image.Image:
    """A photo-like RGB image: smooth gradients plus noise, so no PIL fast path for flat colour kicks in."""
    w, h = size
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    pixels = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (w + h) + 64], axis=-1)
    pixels += rng.normal(0, 12, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def test_region(vertices: int = 48) -> Region:
    """A wobbly blob about 220×170 px, like a COCO object's segmentation."""
    angles = np.linspace(0, 2 * math.pi, vertices, endpoint=False)
    radius = 1 + 0.18 * np.sin(3 * angles) + 0.08 * np.cos(7 * angles)
    points = tuple(
        (float(320 + 110 * r * math.cos(a)), float(250 + 85 * r * math.sin(a))) for r, a in zip(radius, angles)
    )
    return Region.from_polygon(points)


def images_per_second(shape: str, image: Image.Image, region: Region, seconds: float) -> float:
    """Render ``shape`` with seeds 0, 1, 2, ... for about ``seconds``; return the rate."""
    for seed in range(5):  # warm-up
        draw_prompt(image, region, shape, "red", seed=seed)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(10):
            draw_prompt(image, region, shape, "red", seed=count)
            count += 1
    return count / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per shape (default 1)")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):  # one core, as the target is stated
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    image, region = test_image(), test_region()
    print(f"draw_prompt on {SIZE[0]}x{SIZE[1]} RGB, 48-vertex polygon region, one core")
    rates = {}
    for shape in SHAPES:
        rates[shape] = images_per_second(shape, image, region, args.seconds)
        print(f"  {shape:<13} {rates[shape]:8.1f} images/s")
    mean = sum(rates.values()) / len(rates)
    mixed = len(rates) / sum(1 / r for r in rates.values())
    print(f"  {'mean':<13} {mean:8.1f} images/s")
    print(f"  {'mixed':<13} {mixed:8.1f} images/s (one of each shape in turn: the harmonic mean)")
    print(f"mean / target ({TARGET_PER_SECOND:.0f}/s) = {mean / TARGET_PER_SECOND:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
