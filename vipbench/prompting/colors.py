"""Colour names a visual prompt can be drawn in, and their RGB values.

``COLORS`` is ViP-LLaVA's training pool (``color_pool`` in ``llava/visual_prompt_generator.py``), in its
order: these are the words the released checkpoints learned to associate with the pixels. ``EXTRA_COLORS``
adds a few CSS colour names that ViP-Bench's human-drawn questions use ("the green rectangle", "the pink
dot") so such questions can be re-rendered; they are never picked by default.

Past the pool ViP-LLaVA draws an unnamed random RGB colour; vipbench writes one as ``#rrggbb`` (drawn in that
colour, never named in the text: see ``is_named``).
"""

from __future__ import annotations

import re

from vipbench.errors import VipbenchError

RGB = tuple[int, int, int]

#: ViP-LLaVA's colour pool, in its order. The values are the CSS colours of the same names.
COLORS: dict[str, RGB] = {
    "red": (255, 0, 0),
    "lime": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "fuchsia": (255, 0, 255),
    "aqua": (0, 255, 255),
    "orange": (255, 165, 0),
    "purple": (128, 0, 128),
    "gold": (255, 215, 0),
}

#: Further names seen in ViP-Bench question texts, with their CSS values (not in ViP-LLaVA's pool).
EXTRA_COLORS: dict[str, RGB] = {
    "green": (0, 128, 0),
    "pink": (255, 192, 203),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}


_HEX = re.compile(r"#([0-9a-f]{6})")


def hex_color(rgb: RGB) -> str:
    """An unnamed colour as vipbench writes it, ``#rrggbb``."""
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def is_named(color: str) -> bool:
    """Whether a colour has a name the text can say (``red``), not an unnamed ``#rrggbb``."""
    return not _HEX.fullmatch(color.strip().lower())


def known_colors() -> list[str]:
    """Every accepted colour name: the ViP-LLaVA pool first, then the extras."""
    return [*COLORS, *EXTRA_COLORS]


def color_rgb(name: str) -> RGB:
    """The RGB value of a colour name or ``#rrggbb``; an unknown name raises an error that lists the valid ones."""
    key = name.strip().lower() if isinstance(name, str) else name
    unnamed = _HEX.fullmatch(key) if isinstance(key, str) else None
    if unnamed:
        value = int(unnamed.group(1), 16)
        return (value >> 16, (value >> 8) & 255, value & 255)
    if key in COLORS:
        return COLORS[key]
    if key in EXTRA_COLORS:
        return EXTRA_COLORS[key]
    raise VipbenchError(f"unknown prompt colour {name!r}; valid colours: {', '.join(known_colors())} or #rrggbb")
