"""vip-synth scenes: objects drawn from code, each scene built for one question whose answer is exact.

A scene is a 448-px square on a 4×4 grid of 112-px cells, one object per cell, so objects never touch and
a prompt drawn on one cannot be read as marking a neighbour. Everything random comes from
``random.Random`` seeded with a string naming (seed, question type, scene), so a scene never depends on
how many scenes are asked for, and the same seed gives the same scene in any process.

Answers are balanced: each block of ``len(choices)`` consecutive scenes uses every answer once, so a
model that ignores the image scores chance, which the ``blind`` baseline shows.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image, ImageDraw

from vipbench.prompting import COLORS
from vipbench.types import Region

#: Bump whenever a change below alters any scene, question or pixel: cached images are keyed by it.
GENERATOR_VERSION = 1

SIZE = 448
GRID = 4
CELL = SIZE // GRID
MARGIN = 14
"""The least gap between an object and its cell's edge, so two objects are always ≥ 28 px apart."""

BACKGROUND = (150, 150, 150)
"""Mid grey: every colour of ViP-LLaVA's prompt pool, light or dark, shows on it."""
EDGE = (60, 60, 60)
TILE = (245, 245, 245)
PANEL = (225, 225, 225)
INK = (20, 20, 20)

#: Object colours, far apart in hue: the closed answer set of colour questions.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (210, 30, 40),
    "yellow": (245, 220, 40),
    "green": (30, 150, 60),
    "blue": (30, 70, 200),
}

#: The mask prompt tints the whole object (alpha 128), so a colour question under it uses a prompt of a
#: neighbouring hue: the blend stays nearest the true colour among the choices (red + purple = crimson,
#: yellow + orange = amber, green + lime = bright green, blue + aqua = sky blue) yet the tint shows.
MASK_PARTNER = {"red": "purple", "yellow": "orange", "green": "lime", "blue": "aqua"}

MIN_PROMPT_CONTRAST = 150
"""Least RGB distance between a prompt colour and a marked object's colour (and between two prompts)."""
MAX_SURFACE_PROMPT_LUMA = 140
"""On a white tile or panel only dark prompts show: yellow, gold, orange, aqua and lime fade into it at alpha 128."""

SHAPE_KINDS = ("circle", "square", "triangle", "diamond")
QUESTION_TYPES = ("color", "ocr", "count", "compare", "location")
QUADRANTS = ("top left", "top right", "bottom left", "bottom right")
COUNTS = ("1", "2", "3", "4", "5")
ORDINALS = ("first", "second")

#: A 5×7 bitmap font, rows top to bottom. No look-alike pairs (0/O, 1/I, 5/S, 8/B, 2/Z, 6/G) and no "A",
#: which answer normalisation would drop as an article. Drawn from code, so no font file or FreeType
#: version can change a pixel.
GLYPHS: dict[str, str] = {
    "2": ".###./#...#/....#/...#./..#../.#.../#####",
    "3": "#####/...#./..#../...#./....#/#...#/.###.",
    "4": "...#./..##./.#.#./#..#./#####/...#./...#.",
    "7": "#####/....#/...#./..#../.#.../.#.../.#...",
    "9": ".###./#...#/#...#/.####/....#/...#./.##..",
    "C": ".###./#...#/#..../#..../#..../#...#/.###.",
    "E": "#####/#..../#..../####./#..../#..../#####",
    "F": "#####/#..../#..../####./#..../#..../#....",
    "H": "#...#/#...#/#...#/#####/#...#/#...#/#...#",
    "K": "#...#/#..#./#.#../##.../#.#../#..#./#...#",
    "M": "#...#/##.##/#.#.#/#.#.#/#...#/#...#/#...#",
    "N": "#...#/#...#/##..#/#.#.#/#..##/#...#/#...#",
    "P": "####./#...#/#...#/####./#..../#..../#....",
    "R": "####./#...#/#...#/####./#.#../#..#./#...#",
    "T": "#####/..#../..#../..#../..#../..#../..#..",
    "X": "#...#/#...#/.#.#./..#../.#.#./#...#/#...#",
    "Y": "#...#/#...#/.#.#./..#../..#../..#../..#..",
}
CHARACTERS = tuple(GLYPHS)
GLYPH_PIXEL = 8
"""A glyph is 40×56 px: about 30×42 px once the scene is scaled to a 336-px model input."""
TILE_SIZE = 84.0

Point = tuple[float, float]
T = TypeVar("T")


@dataclass(frozen=True)
class Thing:
    """One drawn object: a coloured shape, a tile with a character on it, or a panel that holds shapes."""

    kind: str
    """One of ``SHAPE_KINDS``, ``"tile"`` or ``"panel"``."""
    center: Point
    """The centre of its bounding box."""
    width: float
    height: float
    color: str = ""
    """A ``PALETTE`` name for shapes; empty for tiles and panels."""
    char: str = ""

    @property
    def rgb(self) -> tuple[int, int, int]:
        return {"tile": TILE, "panel": PANEL}.get(self.kind) or PALETTE[self.color]

    @property
    def box(self) -> tuple[float, float, float, float]:
        cx, cy = self.center
        return (cx - self.width / 2, cy - self.height / 2, cx + self.width / 2, cy + self.height / 2)

    @property
    def polygon(self) -> tuple[Point, ...]:
        cx, cy = self.center
        x1, y1, x2, y2 = self.box
        if self.kind == "circle":
            r = self.width / 2
            return tuple(
                (round(cx + r * math.cos(2 * math.pi * k / 48), 2), round(cy + r * math.sin(2 * math.pi * k / 48), 2))
                for k in range(48)
            )
        if self.kind == "triangle":
            return ((cx, y1), (x2, y2), (x1, y2))
        if self.kind == "diamond":
            return ((cx, y1), (x2, cy), (cx, y2), (x1, cy))
        return ((x1, y1), (x2, y1), (x2, y2), (x1, y2))

    @property
    def anchor(self) -> Point:
        """A point well inside the object: the centroid (a triangle's sits below its box centre)."""
        cx, cy = self.center
        return (cx, round(cy + self.height / 6, 2)) if self.kind == "triangle" else (cx, cy)

    def region(self, label: str) -> Region:
        return Region(box=self.box, polygons=(self.polygon,), point=self.anchor, label=label)


@dataclass(frozen=True)
class Item:
    """One scene and the one question asked about it (under every prompt shape)."""

    question_type: str
    index: int
    things: tuple[Thing, ...]
    """Everything drawn, in drawing order (panels before the shapes they hold)."""
    targets: tuple[Thing, ...]
    """The marked objects, in placeholder order (``<obj>``, or ``<obj1>`` and ``<obj2>``)."""
    template: str
    answer: str
    choices: tuple[str, ...]
    relation: str | None = None
    """For compare questions: ``left`` or ``bigger``."""

    @property
    def labels(self) -> tuple[str, ...]:
        return ("obj",) if len(self.targets) == 1 else tuple(f"obj{i + 1}" for i in range(len(self.targets)))


# --- randomness and layout ----------------------------------------------------------------------------


def _rng(*parts: object) -> random.Random:
    return random.Random("vip-synth|" + "|".join(map(str, parts)))


def _balanced(seed: int, key: str, index: int, options: tuple[T, ...]) -> T:
    """Scene ``index``'s answer: every block of ``len(options)`` scenes holds each option once."""
    block = list(options)
    _rng(seed, key, "answers", index // len(options)).shuffle(block)
    return block[index % len(options)]


def _place(rng: random.Random, cell: int, size: float) -> Point:
    """A centre that keeps a ``size``-px object at least ``MARGIN`` inside grid ``cell``."""
    row, col = divmod(cell, GRID)
    slack = max(CELL - size - 2 * MARGIN, 0)
    return (
        round(col * CELL + MARGIN + size / 2 + rng.uniform(0, slack), 2),
        round(row * CELL + MARGIN + size / 2 + rng.uniform(0, slack), 2),
    )


def _shape(rng: random.Random, cell: int, size: float, color: str | None = None, kind: str | None = None) -> Thing:
    return Thing(
        kind or rng.choice(SHAPE_KINDS), _place(rng, cell, size), size, size, color or rng.choice(tuple(PALETTE))
    )


def _cell_of(thing: Thing) -> int:
    x, y = thing.center
    return int(y // CELL) * GRID + int(x // CELL)


def _either(options: tuple[str, ...]) -> str:
    return ", ".join(options[:-1]) + " or " + options[-1]


def _quadrant(cell: int) -> str:
    row, col = divmod(cell, GRID)
    return QUADRANTS[2 * (row >= GRID // 2) + (col >= GRID // 2)]


# --- one builder per question type --------------------------------------------------------------------


def _color(seed: int, index: int) -> Item:
    rng = _rng(seed, "color", index)
    answer = _balanced(seed, "color", index, tuple(PALETTE))
    cells = rng.sample(range(GRID * GRID), rng.randint(5, 7))
    target = _shape(rng, cells[0], rng.randint(60, 80), answer)
    others = [_shape(rng, c, rng.randint(44, 76), rng.choice([k for k in PALETTE if k != answer])) for c in cells[1:]]
    template = f"What color is the object <obj>? Answer with one word: {_either(tuple(PALETTE))}."
    return Item("color", index, (target, *others), (target,), template, answer, tuple(PALETTE))


def _ocr(seed: int, index: int) -> Item:
    rng = _rng(seed, "ocr", index)
    answer = _balanced(seed, "ocr", index, CHARACTERS)
    cells = rng.sample(range(GRID * GRID), rng.randint(5, 7))
    chars = [answer, *rng.sample([c for c in CHARACTERS if c != answer], len(cells) - 1)]
    tiles = [
        Thing("tile", _place(rng, cell, TILE_SIZE), TILE_SIZE, TILE_SIZE, char=ch) for cell, ch in zip(cells, chars)
    ]
    template = "What character is written on the tile <obj>? Answer with the single letter or digit."
    return Item("ocr", index, tuple(tiles), (tiles[0],), template, answer, CHARACTERS)


def _count(seed: int, index: int) -> Item:
    """Four framed panels in a 2×2 layout, each holding a different number of shapes (0–5)."""
    rng = _rng(seed, "count", index)
    answer = int(_balanced(seed, "count", index, COUNTS))
    counts = [answer, *rng.sample([n for n in range(6) if n != answer], 3)]
    rng.shuffle(counts)
    gap = 16
    side = (SIZE - 3 * gap) / 2
    sub = side / 3
    panels, shapes = [], []
    for p, n in enumerate(counts):
        px, py = gap + (p % 2) * (side + gap), gap + (p // 2) * (side + gap)
        panels.append(Thing("panel", (px + side / 2, py + side / 2), side, side))
        for slot in rng.sample(range(9), n):
            size = rng.randint(30, 40)
            slack = (sub - size) / 2 - 6
            cx = px + (slot % 3 + 0.5) * sub + rng.uniform(-slack, slack)
            cy = py + (slot // 3 + 0.5) * sub + rng.uniform(-slack, slack)
            shapes.append(
                Thing(rng.choice(SHAPE_KINDS), (round(cx, 2), round(cy, 2)), size, size, rng.choice(tuple(PALETTE)))
            )
    target = panels[counts.index(answer)]
    template = "How many shapes are inside the panel <obj>? Answer with a number."
    return Item("count", index, (*panels, *shapes), (target,), template, str(answer), COUNTS)


def _compare(seed: int, index: int) -> Item:
    """Two marked objects: which is further left (grid columns ≥ 2 apart) or bigger (about twice as wide)."""
    rng = _rng(seed, "compare", index)
    relation, answer = _balanced(seed, "compare", index, tuple((r, o) for r in ("left", "bigger") for o in ORDINALS))
    colors = rng.sample(tuple(PALETTE), 2)
    if relation == "left":
        pairs = [(a, b) for a in range(GRID * GRID) for b in range(GRID * GRID) if b % GRID - a % GRID >= 2]
        left_cell, right_cell = rng.choice(pairs)
        winner = _shape(rng, left_cell, rng.randint(52, 72), colors[0])
        loser = _shape(rng, right_cell, rng.randint(52, 72), colors[1])
        question = "Which object is further left"
    else:
        big_cell, small_cell = rng.sample(range(GRID * GRID), 2)
        kind = rng.choice(SHAPE_KINDS)
        winner = _shape(rng, big_cell, rng.randint(76, 84), colors[0], kind)
        loser = _shape(rng, small_cell, rng.randint(36, 42), colors[1], kind)
        question = "Which object is bigger"
    targets = (winner, loser) if answer == "first" else (loser, winner)
    free = [c for c in range(GRID * GRID) if c not in {_cell_of(winner), _cell_of(loser)}]
    others = [_shape(rng, c, rng.randint(44, 64)) for c in rng.sample(free, rng.randint(3, 4))]
    template = (
        f"{question}: the first object, <obj1>, or the second object, <obj2>? Answer with one word: first or second."
    )
    return Item("compare", index, (*targets, *others), targets, template, answer, ORDINALS, relation)


def _location(seed: int, index: int) -> Item:
    """The target sits in its quadrant's corner cell, so it is far from both midlines and its quadrant is
    plain to see; other objects go anywhere else, at least one in every other quadrant."""
    rng = _rng(seed, "location", index)
    answer = _balanced(seed, "location", index, QUADRANTS)
    by_quadrant = {q: [c for c in range(GRID * GRID) if _quadrant(c) == q] for q in QUADRANTS}
    corners = {_quadrant(c): c for c in (0, GRID - 1, GRID * (GRID - 1), GRID * GRID - 1)}
    cell = corners[answer]
    target = _shape(rng, cell, rng.randint(56, 76))
    free = [c for c in range(GRID * GRID) if c != cell]
    cells = [rng.choice(by_quadrant[q]) for q in QUADRANTS if q != answer]
    cells += rng.sample([c for c in free if c not in cells], rng.randint(1, 3))
    others = [_shape(rng, c, rng.randint(44, 76)) for c in cells]
    template = (
        "In which part of the image is the object <obj>? "
        "Answer with one of: top left, top right, bottom left, bottom right."
    )
    return Item("location", index, (target, *others), (target,), template, answer, QUADRANTS)


BUILDERS = {"color": _color, "ocr": _ocr, "count": _count, "compare": _compare, "location": _location}


def make_item(seed: int, question_type: str, index: int) -> Item:
    """Scene ``index`` of one question type; the same arguments always give the same item."""
    return BUILDERS[question_type](seed, index)


# --- prompt colours and drawing -----------------------------------------------------------------------


def prompt_colors(item: Item, shape: str, seed: int) -> list[str]:
    """One prompt colour per target, from ViP-LLaVA's pool: far from every marked object's colour and from
    each other, so the prompt shows and two prompts are told apart (see ``MASK_PARTNER`` for the exception)."""
    if item.question_type == "color" and shape == "mask":
        return [MASK_PARTNER[item.answer]]
    rng = _rng(seed, item.question_type, item.index, "prompt", shape)
    chosen: list[str] = []
    for _ in item.targets:
        options = [
            name
            for name, rgb in COLORS.items()
            if all(_stands_out(rgb, t) for t in item.targets)
            and all(math.dist(rgb, COLORS[c]) >= MIN_PROMPT_CONTRAST for c in chosen)
        ]
        chosen.append(rng.choice(options))
    return chosen


def _stands_out(rgb: tuple[int, int, int], thing: Thing) -> bool:
    if thing.kind in ("tile", "panel") and luma(rgb) > MAX_SURFACE_PROMPT_LUMA:
        return False
    return math.dist(rgb, thing.rgb) >= MIN_PROMPT_CONTRAST


def luma(rgb: tuple[int, int, int]) -> float:
    """Rec. 601 luma, 0–255."""
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def render(item: Item) -> Image.Image:
    """The clean scene (no prompt): the task draws prompts onto it per request."""
    image = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for thing in item.things:
        if thing.kind == "panel":
            draw.rectangle(thing.box, fill=PANEL, outline=EDGE, width=3)
        elif thing.kind == "tile":
            draw.rectangle(thing.box, fill=TILE, outline=EDGE, width=2)
            _draw_glyph(draw, thing)
        else:
            draw.polygon(thing.polygon, fill=thing.rgb, outline=EDGE, width=2)
    return image


def _draw_glyph(draw: ImageDraw.ImageDraw, tile: Thing) -> None:
    rows = GLYPHS[tile.char].split("/")
    x0 = tile.center[0] - len(rows[0]) * GLYPH_PIXEL / 2
    y0 = tile.center[1] - len(rows) * GLYPH_PIXEL / 2
    for r, row in enumerate(rows):
        for c, bit in enumerate(row):
            if bit == "#":
                x, y = x0 + c * GLYPH_PIXEL, y0 + r * GLYPH_PIXEL
                draw.rectangle((x, y, x + GLYPH_PIXEL - 1, y + GLYPH_PIXEL - 1), fill=INK)
