"""The model input is upstream's: on the example datasets, the text each tiny model of a family reads under the
default (official) protocol equals the prompt that family's own evaluation script built on the same item
(tests/upstream/*.json, produced by running upstream's code), and the decoding settings equal the ones upstream
passed to ``generate``.

VCR, Visual7W and PointQA draw colours and drop "the" at random upstream, so for them only the template around the
question is compared (the text up to and after the question) along with the decoding and image settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vipbench.examples import find_layout, write_example
from vipbench.models import create_model
from vipbench.models.base import GenerationSettings
from vipbench.models.osprey import clean
from vipbench.planning import plan
from vipbench.records import RunSpec
from vipbench.tasks import TaskIndex

pytest.importorskip("torch")

UPSTREAM = Path(__file__).parent / "upstream"
LLAVA = json.loads((UPSTREAM / "llava_c121f04.json").read_text(encoding="utf-8"))
VIP_LLAVA = json.loads((UPSTREAM / "vip_llava_77079b1.json").read_text(encoding="utf-8"))
OSPREY = json.loads((UPSTREAM / "osprey_deb0e57.json").read_text(encoding="utf-8"))
LMMS = json.loads((UPSTREAM / "lmms_eval_75571cf.json").read_text(encoding="utf-8"))
ONE_TOKEN = {"max_new_tokens": 1}
#: (dataset key, layout) as tests/upstream's ``fixtures`` name them.
EXAMPLES = {
    "pope": ("pope", "rucaibox"),
    "llava-bench-wild": ("llava-bench-wild", "hf"),
    "llava-bench-coco": ("llava-bench-coco", "llava"),
    "vip-bench": ("vip-bench", "official"),
    "refcocog": ("refcocog", "hf"),
    "v7w": ("v7w", "vip-llava"),
    "pointqa": ("pointqa", "vip-llava"),
    "vcr": ("vcr", "vip-llava"),
}


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("upstream-examples")
    return {key: str(write_example(find_layout(*layout), base / key)) for key, layout in EXAMPLES.items()}


@pytest.fixture(scope="module")
def models():
    built: dict[str, object] = {}

    def get(name: str):
        if name not in built:
            built[name] = create_model(name, device="cpu")
        return built[name]

    return get


def planned(model: str, task: str, data_dirs, **spec):
    (item,) = plan(RunSpec(model=model, tasks=[task], data_dirs=data_dirs, **spec), TaskIndex(), warn=lambda m: None)
    return item


def inputs(adapter, item) -> dict[str, str]:
    """Sample id → the text the model read, generating one token per request with the task's settings."""
    settings = GenerationSettings(**{**item.generation.to_dict(), **ONE_TOKEN, "temperature": 0.0})
    answers = adapter.generate(item.requests, settings)
    return {r.sample.id: a.model_input for r, a in zip(item.requests, answers)}


def decoding(settings: GenerationSettings) -> dict:
    """The settings as upstream's ``generate`` call records them."""
    return {
        "do_sample": settings.sampling,
        "temperature": settings.temperature,
        "max_new_tokens": settings.max_new_tokens,
    }


def upstream_decoding(recorded: dict) -> dict:
    return {k: recorded[k] for k in ("do_sample", "temperature", "max_new_tokens")}


LLAVA_FAMILY = [("vip-llava-tiny", VIP_LLAVA), ("llava-1.5-tiny", LLAVA)]


@pytest.mark.parametrize("model,reference", LLAVA_FAMILY, ids=["vip-llava", "llava-1.5"])
@pytest.mark.parametrize("setting", ["random", "popular", "adversarial"])
def test_pope_input_is_pope_sh(model, reference, setting, data_dirs, models):
    item = planned(model, f"pope-{setting}", data_dirs)
    upstream = {str(i["fixture_question_id"]): i for i in reference["pope"]["items"] if i["setting"] == setting}
    got = inputs(models(model), item)
    assert got and set(got) == set(upstream)
    assert {k: v for k, v in got.items()} == {k: u["prompt"] for k, u in upstream.items()}
    assert decoding(item.generation) == upstream_decoding(reference["pope"]["decoding"])
    assert item.provenance.protocol == "official" and item.provenance.deviations == []
    assert item.provenance.follows.startswith("haotian-liu/LLaVA@c121f04 scripts/v1_5/eval/pope.sh")


@pytest.mark.parametrize("setting", ["random", "popular", "adversarial"])
def test_osprey_pope_input_is_pope_eval_py(setting, data_dirs, models):
    item = planned("osprey-tiny", f"pope-{setting}", data_dirs)
    upstream = OSPREY["pope"]["settings"][setting]
    got = inputs(models("osprey-tiny"), item)
    assert got == {str(i["question_id"]): i["prompt"] for i in upstream["items"]}
    assert decoding(item.generation) == upstream_decoding(upstream["decoding"])


@pytest.mark.parametrize("model,reference", LLAVA_FAMILY, ids=["vip-llava", "llava-1.5"])
def test_llava_bench_wild_input_is_llavabench_sh(model, reference, data_dirs, models):
    item = planned(model, "llava-bench-wild", data_dirs)
    got = inputs(models(model), item)
    upstream = reference["llava_bench_wild"]
    assert list(got.values()) == [i["prompt"] for i in upstream["items"]]
    assert decoding(item.generation) == upstream_decoding(upstream["decoding"])


def test_llava_bench_coco_input_is_llavabench_sh(data_dirs, models):
    item = planned("llava-1.5-tiny", "llava-bench-coco", data_dirs)
    got = inputs(models("llava-1.5-tiny"), item)
    upstream = LLAVA["llava_bench_coco"]
    assert list(got.values()) == [i["prompt"] for i in upstream["items"]]
    assert decoding(item.generation) == upstream_decoding(upstream["decoding"])


@pytest.mark.parametrize("split", ["bbox", "human"])
@pytest.mark.parametrize("model", ["vip-llava-tiny", "llava-1.5-tiny"])
def test_vip_bench_input_is_vipbench_sh(model, split, data_dirs, models):
    item = planned(model, f"vip-bench-{split}", data_dirs)
    got = inputs(models(model), item)
    upstream = VIP_LLAVA[f"vip_bench_{split}"]
    assert list(got.values()) == [i["prompt"] for i in upstream["items"]]
    assert decoding(item.generation) == upstream_decoding(upstream["decoding"])


def test_osprey_refcocog_input_is_refcocog_eval_py(data_dirs, models):
    item = planned("osprey-tiny", "refcocog-val", data_dirs)
    got = inputs(models("osprey-tiny"), item)
    upstream = OSPREY["refcocog"]
    assert list(got.values()) == [i["prompt"] for i in upstream["items"]]
    assert [list(r.sample.references) for r in item.requests] == [[i["reference"]] for i in upstream["items"]]
    assert decoding(item.generation) == upstream_decoding(upstream["decoding"])
    assert [clean(case["output"], item.generation.postprocess) for case in upstream["post_processing"]] == [
        case["caption"] for case in upstream["post_processing"]
    ]


@pytest.mark.parametrize("model", ["vip-llava-tiny", "llava-1.5-tiny"])
def test_llava_refcocog_input_is_lmms_eval_refcocog_bbox(model, data_dirs, models):
    """No LLaVA-family RefCOCOg script: lmms-eval's box task (its llava model, which is LLaVA-1.5's vicuna_v1
    ``<image>\n`` + question). The picture has lmms-eval's marker: the pixels it changes, their bounds and colour."""
    import numpy as np

    from vipbench.imaging import load_rgb
    from vipbench.prompting import request_image

    item = planned(model, "refcocog-val", data_dirs)
    upstream = LMMS["refcocog_bbox_val"]["items"]
    vicuna = LLAVA["llava_bench_wild"]["items"][0]["prompt"]  # LLaVA's own vicuna_v1 prompt, around a question
    before, after = vicuna.split("<image>\n")[0] + "<image>\n", " ASSISTANT:"
    got = inputs(models(model), item)
    assert list(got.values()) == [before + i["prompt"] + after for i in upstream]
    assert [list(r.sample.references) for r in item.requests] == [i["references"] for i in upstream]
    for request, reference in zip(item.requests, upstream):
        a = np.asarray(load_rgb(request.image_path)).astype(int)
        b = np.asarray(request_image(request)).astype(int)
        changed = np.argwhere((a != b).any(axis=2))
        ys, xs = changed[:, 0], changed[:, 1]
        assert len(changed) == reference["bbox_visual"]["changed_pixels"]
        assert [xs.min(), ys.min(), xs.max(), ys.max()] == reference["bbox_visual"]["bbox_xyxy"]
        assert sorted({tuple(b[y, x]) for y, x in changed}) == [tuple(c) for c in reference["bbox_visual"]["colours"]]
    settings = LMMS["refcocog_bbox_val"]["generation_kwargs"]
    assert settings == {"until": ["ASSISTANT:"]}  # the rest are lmms-eval's llava defaults: greedy, 1024 tokens
    assert decoding(item.generation) == {"do_sample": False, "temperature": 0.0, "max_new_tokens": 1024}
    assert item.provenance.deviations == [] and "lmms-eval@75571cf" in item.provenance.follows


@pytest.mark.parametrize(
    "task,key", [("v7w", "v7w"), ("pointqa-twice", "pointqa"), ("vcr-qa", "vcr_qa"), ("vcr-qar", "vcr_qar")]
)
def test_vip_llava_loader_template_and_decoding(task, key, data_dirs, models):
    """Around the question (which upstream words at random), the text is model_vqa_loader_vip.py's; the decoding
    and the image preprocessing are its script's."""
    item = planned("vip-llava-tiny", task, data_dirs)
    got = list(inputs(models("vip-llava-tiny"), item).values())
    upstream = VIP_LLAVA[key]
    prompts = [i["script_run"]["prompt"] for i in upstream["items"]]
    assert len(got) == len(prompts)
    for ours, theirs in zip(got, prompts):
        head, tail = theirs.split("<image>\n")[0] + "<image>\n", " ASSISTANT:"
        assert ours.startswith(head) and ours.endswith(tail)
        assert ours.splitlines()[-1].split(" ASSISTANT:")[0] == theirs.splitlines()[-1].split(" ASSISTANT:")[0]
    assert decoding(item.generation) == upstream_decoding(upstream["decoding"])
    resize = upstream["flags"].get("--image_aspect_ratio") == "resize"
    assert item.generation.image_preprocess == ("resize" if resize else "pad")
