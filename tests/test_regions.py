"""Region modes: one Region → overlay, mask, box, coords, point; and the task renders <obj> for each."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from PIL import Image

from vipbench.errors import DataError, VipbenchError
from vipbench.prompting import COLORS, DrawSettings, request_image
from vipbench.tasks import TaskIndex
from vipbench.types import REGION_TOKEN, Region, Sample

POLYGON = ((40.0, 30.0), (120.0, 20.0), (150.0, 90.0), (70.0, 110.0))


def _bounds(mask) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(np.array(mask))
    return xs.min(), ys.min(), xs.max(), ys.max()


def test_polygon_to_mask_to_box_round_trip():
    region = Region.from_polygon(POLYGON)
    assert region.box == (40.0, 20.0, 150.0, 110.0)
    x1, y1, x2, y2 = _bounds(region.mask((200, 160)))
    for got, want in zip((x1, y1, x2, y2), region.box):
        assert abs(got - want) <= 1


def test_mask_from_box_when_no_polygon():
    mask = np.array(Region(box=(10, 20, 50, 60)).mask((100, 100)))
    assert mask[40, 30] == 255 and mask[5, 5] == 0
    assert set(np.unique(mask)) == {0, 255}
    assert _bounds(mask) == (10, 20, 50, 60)


def test_coords_text_is_normalised_with_three_decimals():
    region = Region(box=(64, 48, 320, 240))
    assert region.coords_text((640, 480)) == "[0.100, 0.100, 0.500, 0.500]"
    assert Region(box=(-5, 0, 700, 480)).coords_text((640, 480)) == "[0.000, 0.000, 1.000, 1.000]"  # clamped


def test_point_defaults_to_box_centre():
    assert Region(box=(0, 0, 10, 20)).center == (5, 10)
    assert Region(box=(0, 0, 10, 20), point=(1, 2)).center == (1, 2)


@pytest.fixture(scope="module")
def sample(vip_bench_dir):
    task = TaskIndex().task("vip-bench-bbox")
    return task, {s.id: s for s in task.load_samples(vip_bench_dir)}


def test_overlay_mode_uses_pre_rendered_image_and_text(sample):
    task, samples = sample
    request = task.build_request(samples["v1_0"], "overlay")
    assert request.image_path == samples["v1_0"].image
    assert request.text == "What is the value of x in the equation within the red rectangle?"
    assert request.overlays == ()


def test_coords_mode_writes_coordinates_into_the_template(sample):
    task, samples = sample
    s = samples["v1_0"]  # 640x480, rectangle from (64, 96) to (256, 288)
    request = task.build_request(s, "coords")
    assert request.image_path == s.source_image
    assert request.text == "What is the value of x in the equation [0.100, 0.200, 0.400, 0.600]?"


def test_mask_mode_orders_regions_as_the_template_refers_to_them(sample):
    task, samples = sample
    s = samples["v1_3"]  # "Where is the object <obj1> relative to the object <obj2>?"
    request = task.build_request(s, "mask")
    assert request.text == f"Where is the object {REGION_TOKEN} relative to the object {REGION_TOKEN}?"
    assert [r.label for r in request.regions] == ["obj1", "obj2"]


def test_prompt_style_redraws_regions_and_rewrites_the_phrase(sample):
    task, samples = sample
    s = samples["v1_3"]
    request = task.build_request(s, "overlay", prompt_style="arrow")
    assert request.prompt_style == "arrow"
    # As upstream draws: two objects of one shape take two different named colours, "the" kept or not.
    a, b = (o.color for o in request.overlays)
    assert a != b and {a, b} <= set(COLORS)
    said = "pointed to by (?:the )?{} arrow"
    assert re.fullmatch(
        f"Where is the object {said.format(a)} relative to the object {said.format(b)}\\?", request.text
    )
    pool = task.build_request(s, "overlay", prompt_style="arrow", draws=DrawSettings(colour_rule="pool"))
    assert pool.text == (
        "Where is the object pointed to by the red arrow relative to the object pointed to by the lime arrow?"
    )  # the opt-in: palette order, always "the"
    assert [o.shape for o in request.overlays] == ["arrow", "arrow"]
    clean = np.asarray(Image.open(s.source_image).convert("RGB"))
    drawn = np.asarray(request_image(request))
    assert drawn.shape == clean.shape and (drawn != clean).any()
    again = np.asarray(request_image(task.build_request(s, "overlay", prompt_style="arrow")))
    assert (again == drawn).all()  # same sample, shape and seed: same colours, same pixels


def test_unsupported_mode_and_missing_annotation_are_clear_errors(sample):
    task, samples = sample
    bare = Sample(id="x", image=None, question=None, references=("a",), template="What is <obj>?")
    with pytest.raises(DataError, match="no pre-rendered image"):
        task.build_request(bare, "overlay")
    with pytest.raises(DataError, match="no source annotation"):
        task.build_request(bare, "coords")
    wrong = Sample(
        id="y",
        image=None,
        question=None,
        references=("a",),
        template="What is <obj2>?",
        source_image=samples["v1_0"].source_image,
        regions=(Region(box=(0, 0, 1, 1)),),
    )
    with pytest.raises(DataError, match="obj2"):
        task.build_request(wrong, "coords")
    overlay_only = type(task)(dataclasses.replace(task.config, region_modes=("overlay",)))
    with pytest.raises(VipbenchError, match="cannot give regions"):
        overlay_only.build_request(samples["v1_0"], "mask")
