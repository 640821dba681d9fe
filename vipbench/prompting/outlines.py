"""The regions a mask-, box- or point-mode model was given, as visual prompts a reader can see.

Such a model reads its regions beside the image, not drawn on it; a person looking at its sample (the
leaderboard's browser) sees them drawn here, in the shape that mode stands for and in ViP-LLaVA's palette order
(past its 9 colours, distinct unnamed ones: no two regions look alike), opaque, by the same renderer that draws
overlay-mode prompts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from vipbench.prompting.draws import pool_colors
from vipbench.types import Overlay, Region

#: Region mode → the shape that shows it: a box as its rectangle, a mask as its contour, a point as a dot.
OUTLINE_SHAPES = {"box": "rectangle", "mask": "mask contour", "point": "point"}


def region_outlines(regions: Sequence[Region], region_mode: str) -> list[Overlay]:
    """One opaque prompt per region, the i-th in the palette's i-th colour (seeded by its position)."""
    shape = OUTLINE_SHAPES.get(region_mode, "rectangle")
    colors = pool_colors(random.Random(0), len(regions))
    return [Overlay(region, shape, colors[i], seed=i, alpha=255) for i, region in enumerate(regions)]
