"""vip-synth, the generated diagnostic task, and the oracle/blind baselines that bracket any model on it."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vipbench import cli
from vipbench.models import create_model
from vipbench.models.base import GenerationSettings
from vipbench.prompting import COLORS, SHAPES, request_image
from vipbench.records import RunSpec
from vipbench.runner import run
from vipbench.tasks import Task, TaskIndex
from vipbench.types import OBJ_PLACEHOLDER

QUESTION_TYPES = ("color", "ocr", "count", "compare", "location")
SCENES = 10  # the YAML's dataset.scenes


@pytest.fixture(scope="module")
def task() -> Task:
    return TaskIndex().task("vip-synth")


@pytest.fixture(scope="module")
def scenes(task):
    """The generator module, as the task's hook module imported it."""
    return sys.modules[task.config.loader.resolve().__module__].scenes


@pytest.fixture
def samples(task):
    return task.load_samples(None)


def with_options(task: Task, **options) -> Task:
    dataset = dataclasses.replace(task.config.dataset, options={**task.config.dataset.options, **options})
    return Task(dataclasses.replace(task.config, dataset=dataset))


def of_type(samples, question_type: str):
    return [s for s in samples if s.metadata["question_type"] == question_type]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


# --- generation ---------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_samples_and_byte_identical_images(task, tmp_path, monkeypatch):
    small = with_options(task, scenes=2)

    def generate(cache: str, **options):
        monkeypatch.setenv("VIPBENCH_CACHE", str(tmp_path / cache))
        samples = with_options(small, **options).load_samples(None)
        records = [(s.id, s.template, s.references, s.regions, dict(s.metadata)) for s in samples]
        images = {s.source_image.name: s.source_image.read_bytes() for s in samples}
        return records, images, samples

    first, first_images, first_samples = generate("a")
    again, again_images, again_samples = generate("b")
    assert first == again
    assert first_images == again_images and len(first_images) == 2 * len(QUESTION_TYPES)
    assert str(tmp_path / "b") in str(again_samples[0].source_image)  # really written twice, not shared
    # The pixels a model sees, prompt drawn, are identical too.
    for a, b in zip(first_samples[::7], again_samples[::7]):
        assert (
            request_image(small.build_request(a, "overlay")).tobytes()
            == request_image(small.build_request(b, "overlay")).tobytes()
        )

    other, other_images, _ = generate("c", seed=1)
    assert [r[0] for r in other] == [r[0] for r in first]  # same ids, different content
    assert [r[2] for r in other] != [r[2] for r in first] or [r[3] for r in other] != [r[3] for r in first]
    assert all(other_images[name] != first_images[name] for name in first_images)


def test_scenes_do_not_depend_on_how_many_are_asked_for(task):
    few = {s.id: s for s in with_options(task, scenes=2).load_samples(None)}
    many = {s.id: s for s in task.load_samples(None)}
    assert all(many[i] == s for i, s in few.items())


def test_images_are_cached_by_generator_version_and_seed_and_reused(task, scenes, samples):
    folder = samples[0].source_image.parent
    assert folder.name == f"v{scenes.GENERATOR_VERSION}-seed0" and folder.parent.name == "vip-synth"
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.png")}
    assert len(before) == SCENES * len(QUESTION_TYPES)
    task.load_samples(None)
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.png")} == before
    assert not list(folder.glob(".*.tmp"))


def test_every_question_type_is_asked_under_every_shape(samples):
    assert len(samples) == SCENES * len(QUESTION_TYPES) * len(SHAPES) == 400
    assert len({s.id for s in samples}) == len(samples)
    cells = Counter((s.metadata["question_type"], s.metadata["shape"]) for s in samples)
    assert cells == {(q, shape): SCENES for q in QUESTION_TYPES for shape in SHAPES}
    for s in samples:
        meta = s.metadata
        assert meta["prompt_style"] == meta["shape"]
        labels = [m.group(1) for m in OBJ_PLACEHOLDER.finditer(s.template)]
        assert (
            labels
            == [r.label for r in s.regions]
            == (["obj1", "obj2"] if meta["question_type"] == "compare" else ["obj"])
        )
        assert len(meta["prompt_colors"]) == len(s.regions) and all(c in COLORS for c in meta["prompt_colors"])
        assert s.references[0] in meta["choices"] and "Answer with" in s.template
    # --limit N still sees every question type.
    assert {s.metadata["question_type"] for s in samples[:5]} == set(QUESTION_TYPES)


def test_answers_are_balanced_so_a_prior_cannot_do_much(samples):
    for qtype in QUESTION_TYPES:
        answers = Counter(s.references[0] for s in of_type(samples, qtype))
        choices = of_type(samples, qtype)[0].metadata["choices"]
        assert max(answers.values()) <= math.ceil(SCENES / len(choices)) * len(SHAPES)


# --- answers correct by construction -------------------------------------------------------------------


def test_colour_answer_is_the_colour_at_the_object_centre(samples, scenes):
    for s in of_type(samples, "color"):
        x, y = s.regions[0].point
        assert tuple(pixels(s.source_image)[int(y), int(x)]) == scenes.PALETTE[s.references[0]]


def test_colour_under_a_mask_stays_nearest_its_true_colour(task, samples, scenes):
    """The mask tints the whole object; its blend must still read as the right one of the choices."""
    for s in of_type(samples, "color"):
        if s.metadata["shape"] != "mask":
            continue
        x, y = s.regions[0].point
        seen = np.asarray(request_image(task.build_request(s, "overlay")))[int(y), int(x)].astype(int)
        nearest = min(scenes.PALETTE, key=lambda name: math.dist(seen, scenes.PALETTE[name]))
        assert nearest == s.references[0]
        assert math.dist(seen, scenes.PALETTE[nearest]) > 20  # and the tint shows


def test_prompt_colours_stand_out_from_the_marked_objects(samples, scenes):
    for s in samples:
        if s.metadata["question_type"] == "color" and s.metadata["shape"] == "mask":
            continue
        item = scenes.make_item(s.metadata["seed"], s.metadata["question_type"], s.metadata["scene"])
        assert s.regions == tuple(t.region(label) for t, label in zip(item.targets, item.labels))
        marked = [t.rgb for t in item.targets]  # a shape's fill, a tile's or a panel's background
        colours = [COLORS[c] for c in s.metadata["prompt_colors"]]
        assert all(math.dist(c, m) >= 150 for c in colours for m in marked), s.id
        assert len(colours) < 2 or math.dist(*colours) >= 150
        if s.metadata["question_type"] in ("ocr", "count"):  # on a white tile or panel, only dark prompts show
            assert all(0.299 * r + 0.587 * g + 0.114 * b < 140 for r, g, b in colours), s.id


def test_count_answer_is_the_number_of_shapes_whose_centre_lies_in_the_region(samples, scenes):
    seen = Counter()
    for s in of_type(samples, "count"):
        item = scenes.make_item(s.metadata["seed"], "count", s.metadata["scene"])
        x1, y1, x2, y2 = s.regions[0].box
        inside = [
            t
            for t in item.things
            if t.kind in scenes.SHAPE_KINDS and x1 <= t.center[0] <= x2 and y1 <= t.center[1] <= y2
        ]
        assert len(inside) == int(s.references[0])
        assert all(x1 <= t.box[0] and t.box[2] <= x2 and y1 <= t.box[1] and t.box[3] <= y2 for t in inside)
        seen[s.references[0]] += 1
    assert set(seen) == set(scenes.COUNTS)


def test_ocr_answer_is_the_glyph_drawn_on_the_marked_tile(samples, scenes):
    """Read the tile's pixels back on the glyph grid: the ink pattern is the answer's bitmap."""
    size = scenes.GLYPH_PIXEL
    for s in of_type(samples, "ocr")[:: len(SHAPES)]:
        image = pixels(s.source_image)
        cx, cy = s.regions[0].point
        bitmap = scenes.GLYPHS[s.references[0]].split("/")
        x0, y0 = cx - len(bitmap[0]) * size / 2, cy - len(bitmap) * size / 2
        read = "/".join(
            "".join(
                "#" if image[int(y0 + (r + 0.5) * size), int(x0 + (c + 0.5) * size)].sum() < 150 else "."
                for c in range(len(bitmap[0]))
            )
            for r in range(len(bitmap))
        )
        assert read == scenes.GLYPHS[s.references[0]], s.id
        assert len(set(scenes.GLYPHS.values())) == len(scenes.GLYPHS)


def test_location_answer_is_the_quadrant_holding_the_whole_object(samples):
    for s in of_type(samples, "location"):
        x1, y1, x2, y2 = s.regions[0].box
        w, h = Image.open(s.source_image).size
        assert x2 < w / 2 or x1 > w / 2
        assert y2 < h / 2 or y1 > h / 2
        cx, cy = s.regions[0].center
        assert abs(cx - w / 2) > w / 4 and abs(cy - h / 2) > h / 4  # far from the midlines, not a near call
        vertical = "top" if y2 < h / 2 else "bottom"
        horizontal = "left" if x2 < w / 2 else "right"
        assert s.references[0] == f"{vertical} {horizontal}"


def test_compare_answer_follows_from_the_two_regions(samples):
    relations = Counter()
    for s in of_type(samples, "compare"):
        first, second = s.regions
        assert (
            first.box[2] < second.box[0]
            or second.box[2] < first.box[0]
            or first.box[3] < second.box[1]
            or second.box[3] < first.box[1]
        )  # the regions never overlap
        relation = s.metadata["relation"]
        if relation == "left":
            first_wins = first.box[2] < second.box[0]
            assert first_wins or second.box[2] < first.box[0]  # one lies wholly left of the other
            assert "further left" in s.template
        else:
            area = lambda r: (r.box[2] - r.box[0]) * (r.box[3] - r.box[1])  # noqa: E731
            first_wins = area(first) > area(second)
            assert max(area(first), area(second)) > 3 * min(area(first), area(second))
            assert "bigger" in s.template
        assert s.references[0] == ("first" if first_wins else "second")
        relations[relation, s.references[0]] += 1
    assert len(relations) == 4


def test_overlay_text_names_each_prompt_by_its_shape_and_colour(task, samples):
    s = next(s for s in samples if s.metadata["question_type"] == "compare" and s.metadata["shape"] == "arrow")
    request = task.build_request(s, "overlay")
    first, second = s.metadata["prompt_colors"]
    assert (
        f"the first object, pointed to by the {first} arrow, or the second object, pointed to by the {second} "
        "arrow?" in request.text
    )
    assert [o.color for o in request.overlays] == [first, second]
    coords = task.build_request(s, "coords")
    assert "<obj" not in coords.text and "[" in coords.text and not coords.overlays


# --- baselines and the pipeline end to end ---------------------------------------------------------------


def run_and_judge(model: str, tmp_path: Path, **spec) -> dict:
    run(RunSpec(model=model, tasks=["vip-synth"], **spec), results_dir=tmp_path, run_id=model)
    assert cli.main(["judge", model, "--results", str(tmp_path)]) == 0
    return json.loads((tmp_path / model / "scores.json").read_text())["units"]["vip-synth"]


def test_oracle_scores_100_everywhere(tmp_path):
    unit = run_and_judge("oracle", tmp_path)
    assert unit["n"] == 400 and unit["failed"] == 0
    assert unit["total"]["mean"] == 100.0
    assert len(unit["breakdowns"]["shape"]) == len(SHAPES)
    assert unit["breakdowns"]["shape"]["mask contour"]["label"] == "Mask contour"
    assert {k: v["mean"] for k, v in unit["breakdowns"]["question_type"].items()} == dict.fromkeys(
        QUESTION_TYPES, 100.0
    )


def test_blind_scores_the_majority_share_of_each_question_type(tmp_path, samples):
    unit = run_and_judge("blind", tmp_path)
    assert 0 < unit["total"]["mean"] < 40
    assert len(unit["breakdowns"]["shape"]) == len(SHAPES)
    for qtype in QUESTION_TYPES:
        answers = Counter(s.references[0] for s in of_type(samples, qtype))
        share = 100 * max(answers.values()) / sum(answers.values())
        assert unit["breakdowns"]["question_type"][qtype]["mean"] == pytest.approx(share, abs=0.05)
    predictions = [json.loads(line) for line in (tmp_path / "blind" / "predictions.jsonl").read_text().splitlines()]
    by_type = {}
    for p in predictions:
        by_type.setdefault(p["metadata"]["question_type"], set()).add(p["prediction"])
    assert all(len(answers) == 1 for answers in by_type.values())  # one answer per type, image unseen


def test_blind_needs_begin_task_and_ignores_request_order(task, samples):
    requests = [task.build_request(s, "coords") for s in samples]
    model = create_model("blind")
    with pytest.raises(Exception, match="begin_task"):
        model.generate(requests[:1], GenerationSettings())
    model.begin_task("vip-synth", requests)
    forward = model.generate(requests, GenerationSettings())
    model.begin_task("vip-synth", requests[::-1])
    assert model.generate(requests, GenerationSettings()) == forward


def test_tiny_vip_llava_runs_on_vip_synth(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    started = time.perf_counter()
    unit = run_and_judge("vip-llava-tiny", tmp_path, limit=10)
    assert time.perf_counter() - started < 30
    predictions = (tmp_path / "vip-llava-tiny" / "predictions.jsonl").read_text().splitlines()
    ids = [json.loads(line)["sample_id"] for line in predictions]
    assert len(ids) == len(set(ids)) == 10 and unit["n"] == 10
    assert {json.loads(line)["region_mode"] for line in predictions} == {"overlay"}


def test_modes_that_draw_nothing_ask_each_distinct_request_once(tmp_path):
    """In coords mode the 8 shape variants of a question are the same request: it is asked once, and its answer
    recorded for all 8 samples."""
    from vipbench.planning import plan
    from vipbench.records import RunSpec
    from vipbench.runner import run
    from vipbench.tasks import TaskIndex

    warnings: list[str] = []
    (overlay,) = plan(RunSpec(model="oracle", tasks=["vip-synth"]), TaskIndex(), warn=warnings.append)
    spec = RunSpec(model="oracle", tasks=["vip-synth"], region_mode="coords")
    (coords,) = plan(spec, TaskIndex(), warn=warnings.append)
    assert len(overlay.requests) == 400 and overlay.provenance.asked == 400
    assert len(coords.requests) == 400 and coords.provenance.asked == 50
    assert len({(r.text, r.image_path) for r in coords.requests}) == 50
    assert warnings and "350 of 400 requests are identical" in warnings[0]
    store = run(spec, results_dir=tmp_path, run_id="coords", warn=warnings.append)
    assert len({p.sample_id for p in store.predictions()}) == 400
