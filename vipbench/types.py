"""The records that flow through vipbench: Region → Sample → Request → (model) → prediction text.

These are in-memory dataclasses. What is written to disk is defined in ``vipbench.records``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

Box = tuple[float, float, float, float]
Point = tuple[float, float]
Polygon = tuple[Point, ...]

#: How a model reads a region (README: Region modes and prompt styles): drawn on the pixels, a binary mask, a pixel box,
#: normalised coordinates in the text, or a point.
REGION_MODES = ("overlay", "mask", "box", "coords", "point")

#: In mask/box/point modes the question refers to each region with this token, in order;
#: an adapter swaps it for its own placeholder (Osprey's ``<mask><pos>``, PerceptionGPT's ``<vis>``, ...).
REGION_TOKEN = "<region>"

#: ``<obj>``, ``<obj1>``, ``<obj2>``, ... in a question template.
OBJ_PLACEHOLDER = re.compile(r"<(obj\d*)>")


@dataclass(frozen=True)
class Region:
    """One referred object, annotated in the pixel space of the sample's source image."""

    box: Box
    """Pixel ``(x1, y1, x2, y2)``."""
    polygons: tuple[Polygon, ...] = ()
    """Segmentation outline(s) in pixels; empty when only a box is known."""
    point: Point | None = None
    label: str = "obj"
    """The placeholder name this region fills in the question template (``obj``, ``obj1``, ...)."""

    @classmethod
    def from_polygon(cls, points: Polygon, label: str = "obj") -> Region:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return cls(box=(min(xs), min(ys), max(xs), max(ys)), polygons=(tuple(points),), label=label)

    @property
    def center(self) -> Point:
        if self.point is not None:
            return self.point
        x1, y1, x2, y2 = self.box
        return ((x1 + x2) / 2, (y1 + y2) / 2)

    def outline(self) -> tuple[Polygon, ...]:
        """The polygon(s), or the box as a 4-point polygon when there is no segmentation."""
        if self.polygons:
            return self.polygons
        x1, y1, x2, y2 = self.box
        return (((x1, y1), (x2, y1), (x2, y2), (x1, y2)),)

    def mask(self, size: tuple[int, int]) -> Image.Image:
        """A binary ``L`` mask (0/255) at image ``size`` = (W, H)."""
        from PIL import Image, ImageDraw

        mask = Image.new("L", size, 0)
        draw = ImageDraw.Draw(mask)
        for polygon in self.outline():
            draw.polygon([(float(x), float(y)) for x, y in polygon], fill=255, outline=255)
        return mask

    def normalized_box(self, size: tuple[int, int]) -> Box:
        w, h = size
        x1, y1, x2, y2 = self.box
        clamp = lambda v: min(max(v, 0.0), 1.0)  # noqa: E731
        return (clamp(x1 / w), clamp(y1 / h), clamp(x2 / w), clamp(y2 / h))

    def coords_text(self, size: tuple[int, int]) -> str:
        """Shikra-style normalised ``[x1, y1, x2, y2]`` with 3 decimals."""
        return "[" + ", ".join(f"{v:.3f}" for v in self.normalized_box(size)) + "]"


@dataclass(frozen=True)
class Sample:
    """One benchmark item, as the task's loader reads it from the official files."""

    id: str
    image: Path | None
    """The image as shipped; for ViP-Bench it already has the visual prompt drawn on it."""
    question: str | None
    """The question phrased for ``image`` ("... within the red rectangle?"); None if nothing is pre-rendered."""
    references: tuple[str, ...]
    """Ground-truth answers or captions, verbatim (``<AND>``/``<OR>`` kept)."""
    regions: tuple[Region, ...] = ()
    template: str | None = None
    """The question with ``<obj>`` placeholders, so regions can be re-rendered for any region mode."""
    source_image: Path | None = None
    """The clean image that ``regions`` are annotated on."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Capabilities, split, choices, question type, ... whatever the scorer and leaderboard need."""


@dataclass(frozen=True)
class Overlay:
    """One visual prompt to draw onto the request image when it is loaded."""

    region: Region
    shape: str
    color: str
    seed: int
    alpha: int = 128

    def to_dict(self) -> dict[str, Any]:
        r = self.region
        return {
            "shape": self.shape,
            "color": self.color,
            "seed": self.seed,
            "alpha": self.alpha,
            "region": {
                "box": list(r.box),
                "polygons": [list(map(list, p)) for p in r.polygons],
                "point": list(r.point) if r.point else None,
                "label": r.label,
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Overlay:
        r = data["region"]
        region = Region(
            box=tuple(r["box"]),
            polygons=tuple(tuple(tuple(p) for p in poly) for poly in r["polygons"]),
            point=tuple(r["point"]) if r.get("point") else None,
            label=r.get("label", "obj"),
        )
        return cls(
            region=region, shape=data["shape"], color=data["color"], seed=data["seed"], alpha=data.get("alpha", 128)
        )


@dataclass(frozen=True)
class Request:
    """What a model adapter receives: an image and a question with regions in the adapter's mode."""

    task: str
    sample: Sample
    """Provenance. Adapters read ``text``, ``image_path``, ``overlays`` and ``regions``; only the
    sanity baselines look at the sample itself."""
    text: str
    image_path: Path
    region_mode: str
    prompt_style: str | None = None
    """The shape the regions were redrawn in, or None when the sample's own rendering is used."""
    overlays: tuple[Overlay, ...] = ()
    regions: tuple[Region, ...] = ()
    """In mask/box/point modes: the regions, in the order their ``REGION_TOKEN`` appears in ``text``."""

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.task, self.sample.id, self.prompt_style)
