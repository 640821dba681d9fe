"""VCR, Visual7W and PointQA word their questions as ViP-LLaVA's own loader does, colours and "the" drawn as it
draws them (issue 23). The reference is tests/upstream/vip_llava_77079b1.json: what ViP-LLaVA's
``model_vqa_loader_vip.py`` / ``visual_prompt_organizer.py`` built from vipbench's example datasets, the prompt
under ``random.seed(0)`` per item and, over ``random.seed(0..199)``, how often each draw came out each way.

- Under ``random.Random(0)`` vipbench makes upstream's calls in upstream's order, so the text is upstream's exactly;
  over seeds 0..199 every count (colours, "the" kept, named or unnamed) equals upstream's.
- With vipbench's own per-sample seeding the text equals upstream's up to the colour words and the optional "the",
  and the shares stay within sampling error of upstream's.
- Two objects never share a marker, past the pool's 9 colours too.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from vipbench.examples.region_tasks import write_pointqa_vip_llava, write_v7w_vip_llava, write_vcr_vip_llava
from vipbench.prompting import COLORS, DrawSettings, color_rgb
from vipbench.prompting.colors import hex_color, is_named
from vipbench.prompting.draws import MIN_RGB_DISTANCE, draw_sample, sample_seed, upstream_colors
from vipbench.prompting.render import rendering_parameters
from vipbench.tasks import TaskIndex
from vipbench.types import Region, Sample

REFERENCE = json.loads((Path(__file__).parent / "upstream" / "vip_llava_77079b1.json").read_text(encoding="utf-8"))
#: reference key → (vipbench task, example dataset, its writer)
TASKS = {
    "v7w": ("v7w", "v7w", write_v7w_vip_llava),
    "pointqa": ("pointqa-twice", "pointqa", write_pointqa_vip_llava),
    "vcr_qa": ("vcr-qa", "vcr", write_vcr_vip_llava),
    "vcr_qar": ("vcr-qar", "vcr", write_vcr_vip_llava),
}
ITEMS = [(key, item["id"]) for key in TASKS for item in REFERENCE[key]["items"]]
#: llava_v1, the conversation template of ViP-LLaVA's scripts, around the question upstream built.
HEAD = (
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the human's questions. USER: <image>\n"
)
TAIL = " ASSISTANT:"
SITE = "llava/visual_prompt_organizer.py:{} "
#: One mention of a drawn prompt: preposition, the optional "the ", the optional colour name, the shape's noun.
MENTION = re.compile(rf"\b(at|within) (the )?(?:({'|'.join(COLORS)}) )?(point|rectangle)\b")
SEEDS = range(200)


def upstream_question(prompt: str) -> str:
    """The question text upstream built: its prompt without the conversation template."""
    assert prompt.startswith(HEAD) and prompt.endswith(TAIL)
    return prompt[len(HEAD) : -len(TAIL)]


def masked(text: str) -> str:
    """The text with each prompt mention's optional "the " and colour word taken out."""
    return MENTION.sub(r"\1 <prompt> \4", text)


def the_kept(text: str) -> tuple[int, int]:
    """(mentions with "the ", mentions) in a text."""
    found = MENTION.findall(text)
    return sum(bool(m[1]) for m in found), len(found)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[tuple[str, str], tuple]:
    """(reference key, item id) → (task, sample), loaded from the example datasets upstream read."""
    base, index, found = tmp_path_factory.mktemp("upstream-wording"), TaskIndex(), {}
    for key, (task_name, dataset, write) in TASKS.items():
        root = base / dataset
        if not root.exists():
            write(root)
        task = index.task(task_name)
        by_id = {s.id: s for s in task.load_samples(root)}
        for item in REFERENCE[key]["items"]:
            found[key, item["id"]] = (task, by_id[item["id"]])
    found["roots"] = base
    return found


def drawn(sample: Sample, rng: random.Random):
    by_label = {r.label: r for r in sample.regions}
    return draw_sample(sample, sample.metadata["prompt_style"], by_label, True, rng=rng)


def reference_item(key: str, item_id: str) -> dict:
    return next(item for item in REFERENCE[key]["items"] if item["id"] == item_id)


def sites(item: dict) -> dict[str, dict]:
    """The item's distribution by call site line ("291", "331", ...)."""
    return {s["site"].split(":")[1].split()[0]: s for s in item["distribution"]["sites"]}


# --------------------------------------------------------------------------------- the data is upstream's


@pytest.mark.parametrize("dataset", ["v7w", "pointqa", "vcr"])
def test_the_example_datasets_are_the_files_upstream_read(samples, dataset):
    root = samples["roots"] / dataset
    for name, digest in REFERENCE["fixtures"][dataset]["sha256"].items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, (
            f"{dataset}/{name} changed since tests/upstream was made: regenerate it (tests/upstream/README.md)"
        )


# --------------------------------------------------------------------------------- the wording


@pytest.mark.parametrize("key,item_id", ITEMS)
def test_under_seed_0_the_text_is_upstream_s_exactly(samples, key, item_id):
    _, sample = samples[key, item_id]
    want = upstream_question(reference_item(key, item_id)["seed_0"]["prompt"])
    assert drawn(sample, random.Random(0)).text == want


@pytest.mark.parametrize("key,item_id", ITEMS)
def test_a_run_s_text_is_upstream_s_but_for_colour_words_and_the(samples, key, item_id):
    task, sample = samples[key, item_id]
    item = reference_item(key, item_id)
    request = task.build_request(sample, "overlay")
    want = upstream_question(item["seed_0"]["prompt"])
    if not item["distribution"]["sites"]:  # upstream draws nothing (PointQA): the words are fixed
        assert request.text == want
    else:
        assert masked(request.text) == masked(want) and masked(want) != want
    said = {m[2] for m in MENTION.findall(request.text)} - {""}
    assert said <= {o.color for o in request.overlays}  # a colour said is a colour drawn
    assert masked(task.build_request(sample, "overlay", draws=DrawSettings(colour_rule="pool")).text) == masked(want)


def test_pointqa_says_no_colour_but_draws_red_and_the_pool_rule_names_it(samples):
    task, sample = samples["pointqa", "pointQA_twice-p1"]
    request = task.build_request(sample, "overlay")
    assert "The exemplary object is within the rectangle." in request.text
    assert [o.color for o in request.overlays] == ["red"]
    pool = task.build_request(sample, "overlay", draws=DrawSettings(colour_rule="pool"))
    assert "The exemplary object is within the red rectangle." in pool.text


# --------------------------------------------------------------------------------- the distributions


def upstream_counts(sample: Sample, seeds=SEEDS) -> dict:
    """What vipbench draws under random.Random(seed) for each seed, counted as the reference counts it."""
    colors, single, the, mentions = Counter(), Counter(), 0, 0
    for seed in seeds:
        result = drawn(sample, random.Random(seed))
        names = [o.color for o in result.overlays]
        (single if len(names) == 1 else colors).update(c if is_named(c) else "unnamed" for c in names)
        kept, n = the_kept(result.text)
        the, mentions = the + kept, mentions + n
    return {"colors": colors, "single": single, "the": the, "mentions": mentions}


@pytest.mark.parametrize("key,item_id", [i for i in ITEMS if i[0] != "pointqa"])
def test_over_seeds_0_to_199_every_count_is_upstream_s(samples, key, item_id):
    _, sample = samples[key, item_id]
    got, at = upstream_counts(sample), sites(reference_item(key, item_id))
    assert (got["the"], got["mentions"]) == (at["331"]["below_p"], at["331"]["calls"])
    if "291" in at:  # several objects: named colours, no repeat within a sample
        assert dict(got["colors"]) == at["291"]["results"]
    else:  # one object: named (then which) or unnamed, 50/50
        assert got["single"]["unnamed"] == at["297"]["results"]["false"] == at["301"]["calls"] // 3
        assert {c: n for c, n in got["single"].items() if c != "unnamed"} == at["298"]["results"]


def within(share: float, want: float, n: int, m: int) -> bool:
    """Two binomial shares from n and m draws agree within 4 standard errors of their difference."""
    p = (share * n + want * m) / (n + m)
    return abs(share - want) <= 4 * math.sqrt(max(p * (1 - p), 1e-9) * (1 / n + 1 / m))


@pytest.mark.parametrize("key,item_id", [i for i in ITEMS if i[0] != "pointqa"])
def test_vipbench_s_per_sample_seeds_draw_from_upstream_s_distribution(samples, key, item_id):
    task, sample = samples[key, item_id]
    at = sites(reference_item(key, item_id))
    the = mentions = named = objects = 0
    colors: Counter = Counter()
    for run_seed in SEEDS:
        request = task.build_request(sample, "overlay", draws=DrawSettings(seed=run_seed))
        kept, n = the_kept(request.text)
        the, mentions = the + kept, mentions + n
        names = [o.color for o in request.overlays]
        named, objects = named + sum(map(is_named, names)), objects + len(names)
        colors.update(c for c in names if is_named(c))
        assert len(set(names)) == len(names)
    assert within(the / mentions, at["331"]["below_p"] / at["331"]["calls"], mentions, at["331"]["calls"])
    if "297" in at:
        upstream_named = at["297"]["results"]["true"] / at["297"]["calls"]
        assert within(named / objects, upstream_named, objects, at["297"]["calls"])
    else:
        assert named == objects  # fewer objects than the pool: every colour named, as upstream
    results = (at.get("291") or at["298"])["results"]
    total, upstream_total = sum(colors.values()), sum(results.values())
    for color in COLORS:  # each pool colour about as often as upstream drew it
        assert within(colors[color] / total, results[color] / upstream_total, total, upstream_total), color


# --------------------------------------------------------------------------------- reproducible, recorded


def test_the_same_sample_gets_the_same_draw_in_two_runs_and_the_seed_is_recorded(samples):
    task, sample = samples["vcr_qar", "vcr-val-0"]
    one, two = (task.build_request(sample, "overlay", draws=DrawSettings(seed=7)) for _ in range(2))
    assert (one.text, one.overlays) == (two.text, two.overlays)
    others = {task.build_request(sample, "overlay", draws=DrawSettings(seed=s)).text for s in range(8)}
    assert len(others) > 1  # the run seed changes the draws
    assert sample_seed(7, "a") == sample_seed(7, "a") != sample_seed(7, "b") != sample_seed(8, "b")
    recorded = rendering_parameters(one.overlays, DrawSettings(seed=7))
    assert recorded["colour_rule"] == "upstream" and recorded["seed"] == 7
    assert rendering_parameters(one.overlays)["seed"] == 0  # the default run seed


# --------------------------------------------------------------------------------- never one marker twice


def many(count: int) -> Sample:
    regions = tuple(Region(box=(i, i, i + 5.0, i + 5.0), label=f"obj{i}") for i in range(count))
    template = " ".join(f"the object <obj{i}>" for i in range(count))
    return Sample("many", None, None, ("a",), regions=regions, template=template)


def test_eleven_objects_take_upstream_s_colours_under_seed_0():
    want = REFERENCE["colours"]["eleven_points_seed_0"]["result"]
    got = upstream_colors(random.Random(0), "point", 11)
    assert got == [name or hex_color(rgb) for name, rgb, _ in (want[str(i)] for i in range(11))]
    assert got[:9] != list(COLORS) and sorted(got[:9]) == sorted(COLORS) and not any(map(is_named, got[9:]))


@pytest.mark.parametrize("count", [11, 150])
@pytest.mark.parametrize("rule", ["upstream", "pool"])
def test_no_two_objects_share_a_marker(count, rule):
    sample = many(count)
    for seed in range(5):
        result = draw_sample(sample, "rectangle", {r.label: r for r in sample.regions}, False, DrawSettings(rule, seed))
        colors = [o.color for o in result.overlays]
        assert len(colors) == count and len(set(colors)) == count
        named = [c for c in colors if is_named(c)]
        assert named == list(COLORS) if rule == "pool" else sorted(named) == sorted(COLORS)  # the pool, used up
        rgbs = [color_rgb(c) for c in colors]
        for i, a in enumerate(rgbs):
            assert all(math.dist(a, b) >= MIN_RGB_DISTANCE for b in rgbs[i + 1 :]), (i, colors[i])
        unnamed_said = result.text.count("within the rectangle") + result.text.count("within rectangle")
        assert unnamed_said == count - len(COLORS)  # an unnamed colour is not said
