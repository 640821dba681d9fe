"""The ViP-LLaVA adapter on a tiny random checkpoint loaded through the same path as a real one."""

from __future__ import annotations

import os

import numpy as np
import pytest
from adapter_contract import AdapterContract
from PIL import Image

pytest.importorskip("torch")

from vipbench.models import create_model  # noqa: E402
from vipbench.models.base import GenerationSettings  # noqa: E402
from vipbench.models.llava import VipLlavaAdapter  # noqa: E402
from vipbench.tasks import TaskIndex  # noqa: E402
from vipbench.types import Request, Sample  # noqa: E402


@pytest.fixture(scope="module")
def adapter(tiny_checkpoint):
    return create_model("vip-llava-7b", model_path=str(tiny_checkpoint), device="cpu")


@pytest.fixture(scope="module")
def requests(vip_bench_dir):
    index = TaskIndex()
    out = []
    for name in ("vip-bench-bbox", "vip-bench-human"):
        task = index.task(name)
        out += [task.build_request(s, "overlay") for s in task.load_samples(vip_bench_dir)]
    return out  # 16 requests: images of 8 sizes, questions of many lengths


class TestVipLlavaContract(AdapterContract):
    pass


def test_defaults_follow_the_official_recipe(adapter):
    assert adapter.template is None and adapter.image_preprocess is None  # each task's protocol decides
    assert adapter.generation_defaults == GenerationSettings(max_new_tokens=1024, temperature=0.0, num_beams=1)
    assert adapter.prompt("Q?") == (
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the human's questions. USER: <image>\nQ? ASSISTANT:"
    )
    assert set(VipLlavaAdapter.templates) == {"llava_v1", "vicuna_v1", "hf"}


def test_pad_to_square_keeps_prompts_at_the_edges(adapter, tmp_path):
    """A prompt drawn at the far right of a wide image survives padding; the HF centre crop would cut it."""
    image = Image.new("RGB", (300, 100), (0, 0, 0))
    image.paste((255, 0, 0), (290, 40, 300, 60))  # red mark at the right edge
    path = tmp_path / "wide.png"
    image.save(path)
    request = Request("t", Sample("s", path, "q", ("a",)), "q", path, "overlay")
    padded = adapter.preprocess(request)
    assert padded.size == (300, 300)
    assert padded.getpixel((0, 0)) == adapter.fill == (122, 116, 104)  # CLIP mean colour

    processor = adapter.processor.image_processor

    def red_pixels(img: Image.Image) -> int:
        values = processor(img, return_tensors="np")["pixel_values"][0]
        rgb = values * np.array(processor.image_std)[:, None, None] + np.array(processor.image_mean)[:, None, None]
        return int(((rgb[0] > 0.6) & (rgb[1] < 0.3) & (rgb[2] < 0.3)).sum())

    assert red_pixels(padded) > 0  # what the model sees still shows the prompt
    assert red_pixels(image) == 0  # the processor's own centre crop would have cut it off


def test_sampling_settings_reach_generate(adapter, requests):
    sampled = adapter.generate(requests[:2], GenerationSettings(max_new_tokens=5, temperature=1.5, top_p=0.9))
    assert len(sampled) == 2


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("VIPBENCH_VIP_LLAVA_7B"),
    reason="set VIPBENCH_VIP_LLAVA_7B to a local llava-hf/vip-llava-7b-hf checkpoint to run the real-weights check",
)
def test_real_vip_llava_7b_reads_red_boxes(tmp_path):
    """The released 7B model must answer colour questions about boxed objects far above the blind baseline."""
    from vipbench.cli import main

    for model in ("vip-llava-7b", "blind"):
        argv = ["run", "--model", model, "--tasks", "vip-synth", "--results", str(tmp_path), "--run-id", model]
        if model == "vip-llava-7b":
            argv += ["--model-path", os.environ["VIPBENCH_VIP_LLAVA_7B"]]
        assert main(argv) == 0
        assert main(["judge", model, "--results", str(tmp_path)]) == 0
    import json

    real = json.loads((tmp_path / "vip-llava-7b" / "scores.json").read_text())["units"]["vip-synth"]
    blind = json.loads((tmp_path / "blind" / "scores.json").read_text())["units"]["vip-synth"]
    colour_real = real["breakdowns"]["question_type"]["color"]["mean"]
    colour_blind = blind["breakdowns"]["question_type"]["color"]["mean"]
    assert colour_real >= colour_blind + 30


@pytest.fixture()
def region_pair(tmp_path):
    from adapter_contract import make_region_pair

    return make_region_pair(tmp_path, "overlay")
