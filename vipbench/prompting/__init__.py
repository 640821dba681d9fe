"""Visual prompts drawn as ViP-LLaVA draws them: 8 shapes, its colour names, and the words for them, colours
and "the" drawn at random as its organizer draws them, seeded per sample (``draws``).

>>> from vipbench.prompting import draw_prompt, phrase
>>> image = draw_prompt(image, region, "arrow", "blue", seed=0)   # doctest: +SKIP
>>> phrase("arrow", "blue")
'pointed to by the blue arrow'
"""

from __future__ import annotations

from vipbench.prompting.colors import COLORS, EXTRA_COLORS, color_rgb
from vipbench.prompting.draws import COLOUR_RULES, DrawSettings
from vipbench.prompting.phrases import WORDS, phrase
from vipbench.prompting.render import DEFAULT_ALPHA, draw_overlays, draw_prompt, request_image
from vipbench.prompting.shapes import SHAPES

__all__ = [
    "COLORS",
    "COLOUR_RULES",
    "DEFAULT_ALPHA",
    "DrawSettings",
    "EXTRA_COLORS",
    "SHAPES",
    "WORDS",
    "color_rgb",
    "draw_overlays",
    "draw_prompt",
    "phrase",
    "request_image",
]
