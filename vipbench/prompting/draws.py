"""Which colour each object is drawn in, and how the text refers to it: as ViP-LLaVA's organizer draws them.

ViP-LLaVA's evaluation loader (``llava/visual_prompt_organizer.py``, ``get_color_shape`` and ``get_all_qa``) draws
at random for every sample:

- one object: a named colour of the pool or an unnamed random RGB colour, 50/50;
- several objects of one shape: named colours without repeating one, then, past the 9 of the pool, unnamed
  random RGB colours (each channel ``randint(0, 255)``);
- each mention of an object in the text: "the " kept with probability 1/2 ("within the red rectangle" or "within
  red rectangle"); an unnamed colour is not said ("within the rectangle"). Where the text names each object's
  class (VCR), one more draw precedes it (upstream's "object"/"instance" swap, ignored by its evaluation).

vipbench makes the same calls, in the same order, on a ``random.Random`` of its own, seeded per sample from the
run's seed and the sample id (``sample_seed``), so a run is reproducible and two runs with one seed show every
model the same pixels and words; under ``random.Random(0)`` the text is upstream's after ``random.seed(0)``. One
deviation, on purpose: an unnamed colour that lands within ``MIN_RGB_DISTANCE`` of a colour another object of the
image already has is drawn again, so two objects never share a marker (upstream may repeat one).

The ``pool`` rule (vipbench's own protocol) is deterministic instead: the pool in order, always "the", unnamed
colours past the pool drawn as above.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vipbench.errors import VipbenchError
from vipbench.prompting.colors import COLORS, RGB, color_rgb, hex_color
from vipbench.prompting.phrases import phrase
from vipbench.types import OBJ_PLACEHOLDER, Overlay, Region, Sample

#: "upstream": drawn as ViP-LLaVA's organizer draws (the default); "pool": vipbench's deterministic pool order.
COLOUR_RULES = ("upstream", "pool")
#: The run-level seed when none is given.
DEFAULT_SEED = 0
#: Two colours closer than this (Euclidean, in RGB) would read as one marker: an unnamed draw that close to a
#: colour of another object of the image is drawn again.
MIN_RGB_DISTANCE = 24.0
#: Redraws of an unnamed colour before any colour not exactly taken is accepted (reached only with hundreds of
#: objects in one image).
MAX_REDRAWS = 1000


@dataclass(frozen=True)
class DrawSettings:
    """How a run draws colours and "the": the rule and the run-level seed (both recorded in the manifest)."""

    colour_rule: str = "upstream"
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        if self.colour_rule not in COLOUR_RULES:
            raise VipbenchError(f"unknown colour rule {self.colour_rule!r}; valid rules: {', '.join(COLOUR_RULES)}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise VipbenchError(f"the prompt seed must be an integer, got {self.seed!r}")

    def to_dict(self) -> dict:
        return {"colour_rule": self.colour_rule, "seed": self.seed}


def sample_seed(run_seed: int, sample_id: str) -> int:
    """The seed of one sample's draws: a stable hash of (run seed, sample id), the same in any process."""
    digest = hashlib.sha256(f"vipbench-draws\0{int(run_seed)}\0{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def unnamed_color(rng: random.Random, taken: Sequence[RGB]) -> str:
    """An unnamed random RGB colour as upstream draws it (``randint(0, 255)`` per channel), drawn again while it
    is within ``MIN_RGB_DISTANCE`` of a ``taken`` colour; never one exactly taken."""
    for attempt in itertools.count():
        rgb = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
        near = any(math.dist(rgb, other) < MIN_RGB_DISTANCE for other in taken)
        if not near or (attempt >= MAX_REDRAWS and rgb not in taken):
            return hex_color(rgb)
    raise AssertionError("unreachable")


def upstream_colors(rng: random.Random, shape: str, count: int) -> list[str]:
    """``count`` objects' colours as ``get_color_shape`` draws them when every object has ``shape``: its shape
    draw, then one object 50/50 named or unnamed, several objects the pool without repeats and unnamed after."""
    rng.choices([shape], k=count)  # upstream's shape draw: one shape to choose from, but the calls still count
    names = list(COLORS)
    if count == 1:
        return [rng.choice(names) if rng.choice([True, False]) else unnamed_color(rng, [])]
    chosen: list[str] = []
    for _ in range(count):
        free = [name for name in names if name not in chosen]
        chosen.append(rng.choice(free) if free else unnamed_color(rng, [color_rgb(c) for c in chosen]))
    return chosen


def pool_colors(rng: random.Random, count: int) -> list[str]:
    """The pool in order, then unnamed colours distinct from every one before (vipbench's ``pool`` rule)."""
    chosen = list(COLORS)[:count]
    while len(chosen) < count:
        chosen.append(unnamed_color(rng, [color_rgb(c) for c in chosen]))
    return chosen


def mention(rng: random.Random, shape: str, color: str, object_names: bool) -> str:
    """One mention of an object in the text, as ``get_all_qa`` writes it: "the " kept with probability 1/2."""
    if object_names:
        rng.random()  # upstream's "object"/"instance" swap; its evaluation (answer_type "direct") ignores it
    return phrase(shape, color, the=rng.random() < 0.5)


def geometry_seed(sample_id: str, shape: str, label: str) -> int:
    """The seed of one prompt's geometry (jitter, sampled points): it never depends on the colour drawn."""
    return int(hashlib.sha256(f"{sample_id}|{shape}|{label}".encode()).hexdigest()[:8], 16)


@dataclass(frozen=True)
class Drawn:
    """A sample's prompts as drawn: the overlays (one per object) and the text with every ``<objN>`` filled."""

    overlays: tuple[Overlay, ...]
    text: str


def draw_sample(
    sample: Sample,
    shape: str,
    by_label: Mapping[str, Region],
    own_style: bool,
    settings: DrawSettings = DrawSettings(),
    rng: random.Random | None = None,
) -> Drawn:
    """Colour every object ``sample.template`` refers to and write each mention of it.

    ``own_style``: the sample is drawn in its own shape, so colours it names itself (``prompt_colors``) and, under
    the upstream rule, its own fixed words (``prompt_phrases``, PointQA's "within the rectangle") are kept.
    Otherwise colours follow ``settings``; under the upstream rule the objects take colours in the order of
    ``sample.regions`` (upstream's object order), under ``pool`` in the order the template first names them.
    ``rng`` replaces the per-sample generator (tests give ``random.Random(0)`` to compare with upstream's seed 0).
    """
    template = sample.template or ""
    mentions = [m.group(1) for m in OBJ_PLACEHOLDER.finditer(template)]
    # A question that names no object (lmms-eval's "Provide a short description for this region.") still has its
    # regions drawn: the picture is what points at them.
    named = list(dict.fromkeys(mentions)) or [r.label for r in sample.regions if r.label in by_label]
    upstream = settings.colour_rule == "upstream"
    rng = rng or random.Random(sample_seed(settings.seed, sample.id))
    given = sample.metadata.get("prompt_colors") if own_style else None
    if given:
        colors = dict(zip(named, given))
    elif upstream:
        objects = list(dict.fromkeys(r.label for r in sample.regions if r.label in named))
        colors = dict(zip(objects, upstream_colors(rng, shape, len(objects))))
    else:
        colors = dict(zip(named, pool_colors(rng, len(named))))
    fixed = dict(zip(named, sample.metadata.get("prompt_phrases") or ())) if given and upstream else {}
    object_names = bool(sample.metadata.get("object_names"))

    def words(label: str) -> str:
        if label in fixed:
            return fixed[label]
        if upstream and not given:
            return mention(rng, shape, colors[label], object_names)
        return phrase(shape, colors[label])

    text = OBJ_PLACEHOLDER.sub(lambda m: words(m.group(1)), template)
    alpha = sample.metadata.get("prompt_alpha", Overlay.alpha) if own_style else Overlay.alpha
    overlays = tuple(
        Overlay(by_label[label], shape, colors[label], geometry_seed(sample.id, shape, label), alpha) for label in named
    )
    return Drawn(overlays, text)
