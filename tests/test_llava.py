"""The LLaVA-1.5 baseline on a tiny random checkpoint built from transformers' real Llava config classes: the
drawn-prompt adapter and the coordinate one."""

from __future__ import annotations

import json

import pytest
from adapter_contract import AdapterContract, make_region_pair

pytest.importorskip("torch")

from vipbench.cli import main  # noqa: E402
from vipbench.models import create_model  # noqa: E402
from vipbench.models.base import GenerationSettings  # noqa: E402
from vipbench.tasks import TaskIndex  # noqa: E402


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    from vipbench.models.tiny.llava import build_tiny

    return build_tiny(tmp_path_factory.mktemp("ckpt") / "tiny-llava", "llava")


@pytest.fixture(scope="module")
def adapter(tiny_llava):
    return create_model("llava-1.5-7b", model_path=str(tiny_llava), device="cpu")


@pytest.fixture(scope="module")
def requests(vip_bench_dir):
    task = TaskIndex().task("vip-bench-bbox")
    return [task.build_request(s, "overlay", "rectangle") for s in task.load_samples(vip_bench_dir)]


@pytest.fixture()
def region_pair(tmp_path):
    return make_region_pair(tmp_path, "overlay")


class TestLlavaContract(AdapterContract):
    pass


class TestLlavaCoordsContract(AdapterContract):
    @pytest.fixture()
    def region_pair(self, tmp_path):
        return make_region_pair(tmp_path, "coords")

    @pytest.fixture(scope="class")
    def adapter(self, tiny_llava):
        return create_model("llava-1.5-7b-coords", model_path=str(tiny_llava), device="cpu")

    @pytest.fixture(scope="class")
    def requests(self, vip_bench_dir):
        task = TaskIndex().task("vip-bench-bbox")
        return [task.build_request(s, "coords") for s in task.load_samples(vip_bench_dir)]


def test_llava_runs_the_official_recipe(adapter):
    assert type(adapter.model).__name__ == "LlavaForConditionalGeneration"
    assert adapter.template is None and adapter.image_preprocess is None  # each task's protocol decides
    assert adapter.prompt("Q?").endswith(" USER: <image>\nQ? ASSISTANT:")
    vicuna = adapter.prompt("Q?", GenerationSettings(conv_template="vicuna_v1"))
    assert vicuna.startswith("A chat between a curious user ") and "answers to the user's questions." in vicuna


def test_coordinate_baseline_gets_regions_as_text(tmp_path, vip_bench_dir, tiny_llava):
    args = ["run", "--model", "llava-1.5-7b-coords", "--model-path", str(tiny_llava), "--tasks", "vip-bench-bbox"]
    args += ["--data-dir", str(vip_bench_dir), "--max-new-tokens", "3", "--results", str(tmp_path), "--run-id", "c"]
    assert main(args) == 0
    record = json.loads((tmp_path / "c" / "predictions.jsonl").read_text().splitlines()[0])
    assert record["region_mode"] == "coords" and record["overlays"] == []
    assert (
        record["prompt"] == "What is the value of x in the equation [0.250, 0.375, 1.000, 1.125]?"
        or "[0." in record["prompt"]
    )


def test_a_vipllava_folder_is_not_a_llava_one(tmp_path, tiny_checkpoint):
    args = ["run", "--model", "llava-1.5-7b", "--model-path", str(tiny_checkpoint), "--tasks", "vip-synth"]
    assert main([*args, "--results", str(tmp_path)]) == 2
