"""Visual prompt drawing: ViP-LLaVA's shapes, sizes, colours and blending, reproducible and local; the words for
a prompt, "the" and an unnamed colour; what the manifest records of the draws."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from vipbench.errors import VipbenchError
from vipbench.prompting import COLORS, SHAPES, DrawSettings, color_rgb, draw_overlays, draw_prompt, phrase
from vipbench.prompting.colors import hex_color, is_named
from vipbench.prompting.outlines import region_outlines
from vipbench.prompting.render import composite, rendering_parameters
from vipbench.types import Overlay, Region

SIZE = (336, 252)  # scale = max(W, H) / 336 = 1: sizes are ViP-LLaVA's base sizes
RANDOM_SHAPES = ("ellipse", "point", "triangle", "arrow", "scribble")

# A concave, L-shaped object, so "inside the polygon" differs from "inside its box".
L_SHAPE = ((100.0, 60.0), (220.0, 60.0), (220.0, 110.0), (150.0, 110.0), (150.0, 200.0), (100.0, 200.0))
REGION = Region.from_polygon(L_SHAPE)
BOX_REGION = Region(box=(60.0, 50.0, 260.0, 190.0))


def backdrop(size: tuple[int, int] = SIZE) -> Image.Image:
    """A mid-grey image with a gradient, so no colour of the pool leaves a pixel unchanged."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    pixels = np.stack([60 + xx * 60 // w, 60 + yy * 60 // h, np.full_like(xx, 90)], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def changed(before: Image.Image, after: Image.Image) -> np.ndarray:
    return np.any(np.asarray(before) != np.asarray(after), axis=-1)


def box_mask(box: tuple[float, float, float, float], grow: float, size: tuple[int, int] = SIZE) -> np.ndarray:
    x1, y1, x2, y2 = box
    h, w = size[1], size[0]
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx >= x1 - grow) & (xx <= x2 + grow) & (yy >= y1 - grow) & (yy <= y2 + grow)


def region_mask(region: Region, size: tuple[int, int] = SIZE) -> np.ndarray:
    return np.asarray(region.mask(size)) > 0


# --- API surface -------------------------------------------------------------------------------------


def test_names_are_vip_llava_s_in_order():
    assert SHAPES == ("rectangle", "ellipse", "point", "triangle", "mask", "mask contour", "arrow", "scribble")
    assert list(COLORS) == ["red", "lime", "blue", "yellow", "fuchsia", "aqua", "orange", "purple", "gold"]
    assert COLORS["orange"] == (255, 165, 0) and COLORS["purple"] == (128, 0, 128) and COLORS["gold"] == (255, 215, 0)


def test_returns_a_new_rgb_image_and_leaves_the_input_alone():
    image = backdrop().convert("RGBA")
    before = image.tobytes()
    out = draw_prompt(image, REGION, "mask", "red", seed=0)
    assert out.mode == "RGB" and out.size == image.size
    assert image.tobytes() == before


# --- determinism -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_same_inputs_give_identical_bytes(shape):
    a = draw_prompt(backdrop(), REGION, shape, "blue", seed=7)
    b = draw_prompt(backdrop(), REGION, shape, "blue", seed=7)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("shape", RANDOM_SHAPES)
def test_a_different_seed_moves_the_random_shapes(shape):
    base = draw_prompt(backdrop(), REGION, shape, "blue", seed=0).tobytes()
    for seed in (1, 2, 3):
        assert draw_prompt(backdrop(), REGION, shape, "blue", seed=seed).tobytes() != base


def test_geometry_does_not_depend_on_the_colour():
    a = changed(backdrop(), draw_prompt(backdrop(), REGION, "scribble", "red", seed=3))
    b = changed(backdrop(), draw_prompt(backdrop(), REGION, "scribble", "lime", seed=3))
    assert a.any() and np.array_equal(a, b)


# --- each shape stays near its region ----------------------------------------------------------------


@pytest.mark.parametrize("region", [REGION, BOX_REGION], ids=["polygon", "box"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_shape_changes_pixels_only_near_its_region(region, seed):
    base = backdrop()
    x1, y1, x2, y2 = region.box
    inside = region_mask(region)
    for shape in SHAPES:
        diff = changed(base, draw_prompt(base, region, shape, "red", seed=seed))
        assert diff.any(), shape
        if shape == "rectangle":  # 3 px, drawn inwards from the box edges
            assert not (diff & ~box_mask(region.box, 1)).any()
            assert not (diff & box_mask((x1 + 4, y1 + 4, x2 - 4, y2 - 4), 0)).any()
        elif shape == "ellipse":  # at most 1.5x the bounds, plus an 8 px line
            half_w, half_h = (x2 - x1) * 0.75 + 8, (y2 - y1) * 0.75 + 8
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            assert not (diff & ~box_mask((cx - half_w, cy - half_h, cx + half_w, cy + half_h), 1)).any()
        elif shape == "point":  # an 8 px disk whose centre is inside the object
            ys, xs = np.nonzero(diff)
            assert xs.max() - xs.min() <= 17 and ys.max() - ys.min() <= 17
            assert inside[round(ys.mean()), round(xs.mean())]
        elif shape == "mask":
            assert not (diff & ~inside).any()
            assert diff.sum() >= 0.95 * inside.sum()
        elif shape == "mask contour":  # a band of at most 2 px either side of the outline
            ring = ImageFilter.MaxFilter(7), ImageFilter.MinFilter(7)
            grown = np.asarray(region.mask(SIZE).filter(ring[0])) > 0
            shrunk = np.asarray(region.mask(SIZE).filter(ring[1])) > 0
            assert not (diff & ~(grown & ~shrunk)).any()
        elif shape == "arrow":  # the tip in the box's central half, the rest within reach of it
            reach = max(0.8 * min(x2 - x1, y2 - y1), 50) + 7
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            qx, qy = (x2 - x1) / 4, (y2 - y1) / 4
            assert not (diff & ~box_mask((cx - qx, cy - qy, cx + qx, cy + qy), reach)).any()
            assert (diff & box_mask(region.box, 0)).any()
        elif shape in ("triangle", "scribble"):  # corners / control points inside the object
            assert not (diff & ~box_mask(region.box, 6)).any()
            assert (diff & inside).sum() >= 0.5 * diff.sum()


def test_triangle_and_scribble_stay_inside_a_convex_object():
    diamond = Region.from_polygon(((160.0, 40.0), (260.0, 130.0), (160.0, 220.0), (60.0, 130.0)))
    grown = np.asarray(diamond.mask(SIZE).filter(ImageFilter.MaxFilter(13))) > 0
    for seed in range(5):
        for shape in ("triangle", "scribble", "point"):
            diff = changed(backdrop(), draw_prompt(backdrop(), diamond, shape, "red", seed=seed))
            assert diff.any() and not (diff & ~grown).any(), (shape, seed)


def test_point_prefers_the_annotated_point():
    region = Region(box=(20.0, 20.0, 300.0, 230.0), point=(60.0, 200.0))
    ys, xs = np.nonzero(changed(backdrop(), draw_prompt(backdrop(), region, "point", "red", seed=0)))
    assert abs(xs.mean() - 60) < 25 and abs(ys.mean() - 200) < 25


# --- blending and sizes ------------------------------------------------------------------------------


def test_alpha_128_red_mask_over_black_is_half_red():
    black = Image.new("RGB", SIZE, (0, 0, 0))
    out = np.asarray(draw_prompt(black, REGION, "mask", "red", seed=0))
    assert np.abs(out[150, 120].astype(int) - (128, 0, 0)).max() <= 1
    assert tuple(out[5, 5]) == (0, 0, 0)
    opaque = np.asarray(draw_prompt(black, REGION, "mask", "red", seed=0, alpha=255))
    assert tuple(opaque[150, 120]) == (255, 0, 0)


def rectangle_line_width(side: int) -> int:
    k = side / 336
    region = Region(box=(50 * k, 50 * k, 250 * k, 250 * k))
    image = Image.new("RGB", (side, side), (0, 0, 0))
    row = changed(image, draw_prompt(image, region, "rectangle", "red", seed=0))[int(150 * k)]
    return int(row[: int(150 * k)].sum())  # the left edge's thickness on a row through the middle


def test_rectangle_width_scales_with_the_image():
    assert rectangle_line_width(336) == 3
    assert rectangle_line_width(672) == 2 * rectangle_line_width(336)


def test_point_radius_scales_with_the_image():
    def diameter(side: int) -> int:
        k = side / 336
        image = Image.new("RGB", (side, side), (0, 0, 0))
        diff = changed(image, draw_prompt(image, Region(box=(100 * k, 100 * k, 200 * k, 200 * k)), "point", "red", 0))
        return int(np.ptp(np.nonzero(diff.any(axis=0))[0])) + 1

    assert diameter(336) == 17 and diameter(672) == 33


# --- several overlays --------------------------------------------------------------------------------


def test_draw_overlays_matches_draw_prompt_and_draws_every_overlay():
    first = Overlay(region=REGION, shape="mask", color="red", seed=0)
    second = Overlay(region=Region(box=(240.0, 150.0, 320.0, 240.0)), shape="rectangle", color="blue", seed=0)
    single = draw_overlays(backdrop(), [first])
    assert single.tobytes() == draw_prompt(backdrop(), REGION, "mask", "red", seed=0).tobytes()
    both = np.asarray(draw_overlays(backdrop(), [first, second]))
    assert tuple(both[150, 120]) == tuple(np.asarray(single)[150, 120])
    assert both[150, 240, 2] > np.asarray(backdrop())[150, 240, 2]  # the blue rectangle's left edge
    assert draw_overlays(backdrop(), []).tobytes() == backdrop().tobytes()


def test_compositing_only_the_drawn_box_equals_a_full_composite():
    base = backdrop()
    layer = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    ImageDraw.Draw(layer).ellipse((40, 30, 200, 150), fill=(10, 200, 30, 77))
    full = Image.alpha_composite(base.convert("RGBA"), layer).convert("RGB")
    assert composite(base, layer).tobytes() == full.tobytes()


# --- phrases and errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_phrase_names_the_colour_and_the_shape(shape):
    for color in [*COLORS, "green", "pink"]:
        words = phrase(shape, color)
        assert f"the {color} {shape}" in words


def test_phrases_use_vip_llava_s_words():
    assert phrase("rectangle", "red") == "within the red rectangle"
    assert phrase("ellipse", "blue") == "within the blue ellipse"
    assert phrase("arrow", "blue") == "pointed to by the blue arrow"
    assert phrase("point", "lime") == "at the lime point"
    assert phrase("scribble", "yellow") == "with the yellow scribble"
    assert phrase("mask contour", "red") == "with the red mask contour"


@pytest.mark.parametrize(
    "call",
    [
        lambda: draw_prompt(backdrop(), REGION, "circle", "red", seed=0),
        lambda: draw_prompt(backdrop(), REGION, "mask_contour", "red", seed=0),
        lambda: draw_overlays(backdrop(), [Overlay(region=REGION, shape="star", color="red", seed=0)]),
        lambda: phrase("hexagon", "red"),
    ],
)
def test_unknown_shape_lists_the_valid_ones(call):
    with pytest.raises(VipbenchError, match="valid shapes: .*'mask contour'.*'scribble'"):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: draw_prompt(backdrop(), REGION, "mask", "chartreuse", seed=0),
        lambda: phrase("mask", "mauve"),
    ],
)
def test_unknown_colour_lists_the_valid_ones(call):
    with pytest.raises(VipbenchError, match="valid colours: red, lime, blue"):
        call()


def test_alpha_out_of_range_is_an_error():
    with pytest.raises(VipbenchError, match="alpha"):
        draw_prompt(backdrop(), REGION, "mask", "red", seed=0, alpha=300)


# --- colours and "the" as upstream draws them (the wording against upstream: test_upstream_wording.py) ----


def test_phrase_drops_the_and_never_says_an_unnamed_colour():
    assert phrase("rectangle", "red", the=False) == "within red rectangle"
    assert phrase("point", "#3225a9") == "at the point"
    assert phrase("arrow", "#3225A9", the=False) == "pointed to by arrow"
    assert color_rgb("#3225a9") == (50, 37, 169) and hex_color((50, 37, 169)) == "#3225a9"
    assert is_named("gold") and not is_named("#ffd700")


def test_an_unnamed_colour_is_drawn_in_its_rgb():
    out = np.asarray(draw_prompt(backdrop(), BOX_REGION, "mask", "#3225a9", seed=0, alpha=255))
    assert (out[120, 160] == (50, 37, 169)).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: DrawSettings(colour_rule="random"), "valid rules: upstream, pool"),
        (lambda: DrawSettings(seed="1"), "seed must be an integer"),
        (lambda: color_rgb("#12345"), "valid colours: .* or #rrggbb"),
    ],
)
def test_bad_draw_settings_are_one_line_errors(call, message):
    with pytest.raises(VipbenchError, match=message):
        call()


def test_the_manifest_records_the_rule_the_seed_and_how_many_colours_were_unnamed():
    overlays = [Overlay(REGION, "rectangle", c, seed=0) for c in ("red", "#3225a9", "#f133b5")]
    recorded = rendering_parameters(overlays, DrawSettings(colour_rule="pool", seed=5))
    assert recorded["colour_rule"] == "pool" and recorded["seed"] == 5
    assert recorded["colors"] == ["red"] and recorded["unnamed_colors"] == 2
    assert "sample id" in recorded["draws"]


def test_region_outlines_never_repeat_a_colour():
    colors = [o.color for o in region_outlines([BOX_REGION] * 12, "box")]
    assert colors[:9] == list(COLORS) and len(set(colors)) == 12
    assert colors == [o.color for o in region_outlines([BOX_REGION] * 12, "box")]  # the same every time
