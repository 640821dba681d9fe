"""Where on a region the random shapes may land: point sampling, containment, curves.

ViP-LLaVA samples its triangle corners, scribble control points and point centres *inside the object's
polygon* (with shapely). This module does the same with plain numpy (even-odd ray casting), so the
drawing code stays free of shapely/scipy and every draw is vectorised and seeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vipbench.types import Region

Bounds = tuple[float, float, float, float]

#: ViP-LLaVA gives up on "inside the polygon" after this many tries and takes a point in the bounds.
TRIES_PER_POINT = 50


@dataclass(frozen=True)
class Target:
    """A region as the drawing code needs it: polygon arrays, their bounds, and an optional anchor point."""

    polygons: tuple[np.ndarray, ...]
    """Each an ``(n, 2)`` float array; the box as a 4-point polygon when there is no segmentation."""
    has_mask: bool
    """True when ``polygons`` come from a segmentation, False when they are just the box."""
    bounds: Bounds
    """The polygons' bounds (ViP-LLaVA's "mask bounds"), or the box."""
    box: Bounds
    """The annotated box, normalised so that x1 <= x2 and y1 <= y2."""
    anchor: tuple[float, float] | None = None
    """The region's annotated point, if any."""

    @classmethod
    def from_region(cls, region: Region) -> Target:
        polygons = tuple(np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in region.polygons if len(p) >= 3)
        anchor = (float(region.point[0]), float(region.point[1])) if region.point is not None else None
        bx1, by1, bx2, by2 = (float(v) for v in region.box)
        box = (min(bx1, bx2), min(by1, by2), max(bx1, bx2), max(by1, by2))
        if polygons:
            return cls(polygons, True, _bounds(np.concatenate(polygons)), box, anchor)
        x1, y1, x2, y2 = box
        box_polygon = np.array([(x1, y1), (x2, y1), (x2, y2), (x1, y2)], dtype=np.float64)
        return cls((box_polygon,), False, box, box, anchor)

    @property
    def center(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.bounds
        return ((x1 + x2) / 2, (y1 + y2) / 2)

    def part(self, rng: np.random.Generator) -> Target:
        """One polygon of a multi-part mask, chosen with probability proportional to its area.

        ViP-LLaVA puts a point or a scribble on one randomly chosen polygon; weighting by area keeps the
        prompt off the tiny fragments that COCO-style segmentations often carry.
        """
        if len(self.polygons) == 1:
            return self
        areas = np.array([polygon_area(p) for p in self.polygons])
        total = areas.sum()
        weights = areas / total if total > 0 else None
        chosen = self.polygons[int(rng.choice(len(self.polygons), p=weights))]
        return Target((chosen,), True, _bounds(chosen), self.box, self.anchor)

    def contains(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Whether each point lies inside any of the polygons (even-odd rule per polygon, union across)."""
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        inside = np.zeros(xs.shape, dtype=bool)
        for poly in self.polygons:
            x0, y0 = poly[:, 0, None], poly[:, 1, None]
            nxt = np.roll(poly, -1, axis=0)
            x1, y1 = nxt[:, 0, None], nxt[:, 1, None]
            flat_x, flat_y = xs.reshape(1, -1), ys.reshape(1, -1)
            straddles = (y0 > flat_y) != (y1 > flat_y)
            dy = np.where(y1 == y0, 1.0, y1 - y0)
            crossing_x = x0 + (flat_y - y0) * (x1 - x0) / dy
            crossings = np.count_nonzero(straddles & (flat_x < crossing_x), axis=0)
            inside |= (crossings % 2 == 1).reshape(xs.shape)
        return inside

    def random_points(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` points uniform inside the region, as an ``(n, 2)`` array.

        Like ViP-LLaVA: up to 50 uniform tries in the bounds per point, and the last try is kept when
        none lands inside (a sliver polygon); a box region needs no rejection at all.
        """
        x1, y1, x2, y2 = self.bounds
        if not self.has_mask:
            return np.stack([rng.uniform(x1, x2, n), rng.uniform(y1, y2, n)], axis=1)
        xs = rng.uniform(x1, x2, (n, TRIES_PER_POINT))
        ys = rng.uniform(y1, y2, (n, TRIES_PER_POINT))
        inside = self.contains(xs, ys)
        pick = np.where(inside.any(axis=1), inside.argmax(axis=1), TRIES_PER_POINT - 1)
        rows = np.arange(n)
        return np.stack([xs[rows, pick], ys[rows, pick]], axis=1)


def _bounds(points: np.ndarray) -> Bounds:
    (x1, y1), (x2, y2) = points.min(axis=0), points.max(axis=0)
    return (float(x1), float(y1), float(x2), float(y2))


def polygon_area(points: np.ndarray) -> float:
    """Unsigned shoelace area."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def max_angle_below(corners: np.ndarray, limit_degrees: float) -> bool:
    """True when every interior angle of the triangle ``corners`` (3×2) is below the limit.

    ViP-LLaVA rejects triangles with an angle of 150° or more, which would read as a line, not a triangle.
    Coincident corners count as degenerate and fail.
    """
    threshold = math.cos(math.radians(limit_degrees))
    for i in range(3):
        a = corners[(i + 1) % 3] - corners[i]
        b = corners[(i + 2) % 3] - corners[i]
        norm = math.hypot(*a) * math.hypot(*b)
        if norm == 0 or float(np.dot(a, b)) / norm <= threshold:
            return False
    return True


def cubic_bezier(controls: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points along the cubic Bézier curve with the 4 ``controls`` (4×2), as ``(steps, 2)``."""
    t = np.linspace(0.0, 1.0, max(steps, 2))[:, None]
    u = 1.0 - t
    p0, p1, p2, p3 = controls
    return u**3 * p0 + 3 * u**2 * t * p1 + 3 * u * t**2 * p2 + t**3 * p3


def resample_by_length(points: np.ndarray, step: float) -> np.ndarray:
    """Points evenly spaced at most ``step`` apart along the polyline ``points`` (n×2), ends kept."""
    lengths = np.hypot(*np.diff(points, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(lengths)])
    t = np.linspace(0.0, along[-1], int(along[-1] / step) + 2)
    return np.stack([np.interp(t, along, points[:, 0]), np.interp(t, along, points[:, 1])], axis=1)
