"""Prompt-stability snapshots: the exact input each adapter gives its model, frozen per task and region mode.

For two fixture samples of every task, in every region mode each adapter reads, ``tests/snapshots/<adapter>.json``
holds the full templated text the model read under the task's official protocol, the hash of its token ids, and
hashes of the image as the model was shown it (visual prompts drawn) and of the regions it was given. A change to a
loader, a prompt, the drawing, a
template or a tokenizer that alters any of them fails here, until the snapshot is rewritten on purpose:

    python -m pytest tests/test_prompt_snapshots.py --update-snapshots
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path

import fixture_region_tasks as fx
import pytest

from vipbench.models import create_model
from vipbench.planning import plan
from vipbench.prompting import request_image
from vipbench.records import RunSpec, stable_hash
from vipbench.tasks import TaskIndex

pytest.importorskip("torch")

SNAPSHOTS = Path(__file__).parent / "snapshots"
TASKS = [
    "vip-bench-bbox",
    "vip-bench-human",
    "vip-synth",
    "pope-random",
    "refcocog-val",
    "vcr-qa",
    "vcr-qar",
    "v7w",
    "pointqa-twice",
    "llava-bench-wild",
    "llava-bench-coco",
]
#: (snapshot name, registry name that plans the requests, how to build the adapter)
ADAPTERS = {
    "vip-llava": ("vip-llava-tiny", lambda: create_model("vip-llava-tiny", device="cpu")),
    "llava-1.5": ("llava-1.5-tiny", lambda: create_model("llava-1.5-tiny", device="cpu")),
    "osprey": ("osprey-tiny", lambda: create_model("osprey-tiny", device="cpu")),
    "perceptiongpt": ("perceptiongpt-tiny", lambda: create_model("perceptiongpt-tiny", device="cpu")),
    "omg-llava": ("omg-llava-tiny", lambda: create_model("omg-llava-tiny", device="cpu")),
}
#: Each task's own settings (its official protocol: template, prefix, ...), generating one greedy token.
ONE_TOKEN = {"max_new_tokens": 1, "temperature": 0.0}


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory, vip_bench_dir) -> dict[str, str]:
    base = tmp_path_factory.mktemp("snapshot-data")
    return {
        "vip-bench": str(vip_bench_dir),
        "pope": str(fx.write_pope_parquet(base / "POPE")),
        "refcocog": str(fx.write_refcocog(base / "RefCOCOg")),
        "vcr": str(fx.write_vcr_official(base / "VCR")),
        "v7w": str(fx.write_v7w_vip_llava(base / "V7W")),
        "pointqa": str(fx.write_pointqa_vip_llava(base / "PointQA")),
        "llava-bench-wild": str(fx.write_llava_bench_wild(base / "wild")),
        "llava-bench-coco": str(fx.write_llava_bench_coco(base / "coco")),
    }


def image_hash(request) -> str:
    image = request_image(request)
    return hashlib.sha256(f"{image.mode}{image.size}".encode() + image.tobytes()).hexdigest()


def take(name: str, data_dirs: dict[str, str]) -> dict[str, list[dict]]:
    registry_name, build = ADAPTERS[name]
    adapter = build()
    index, taken = TaskIndex(), {}
    for task in TASKS:
        for mode in adapter.region_modes:
            if mode not in index.task(task).config.region_modes:
                continue
            spec = RunSpec(model=registry_name, tasks=[task], limit=2, region_mode=mode, data_dirs=data_dirs)
            (planned,) = plan(spec, index, warn=lambda message: None)
            requests = planned.requests[:2]
            answers = adapter.generate(requests, planned.generation.merged(ONE_TOKEN))
            taken[f"{task}@{mode}"] = [
                {
                    "sample": r.sample.id,
                    "model_input": a.model_input,
                    "input_ids": a.input_ids_hash,
                    "image": image_hash(r),
                    "regions": stable_hash([region.__dict__ for region in r.regions]),
                }
                for r, a in zip(requests, answers)
            ]
    return taken


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_the_model_input_is_what_the_snapshot_froze(name, data_dirs, request):
    taken = take(name, data_dirs)
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(taken, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if request.config.getoption("--update-snapshots"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no snapshot for {name}: run pytest {__file__} --update-snapshots"
    frozen = path.read_text(encoding="utf-8")
    if frozen != text:
        diff = "".join(difflib.unified_diff(frozen.splitlines(True), text.splitlines(True), "frozen", "now", n=1))
        pytest.fail(
            f"the input {name} gives its model changed; if that is intended, rewrite the snapshot with "
            f"--update-snapshots and commit it\n{diff[:6000]}"
        )
    assert len(taken) >= len(TASKS) and all(len(rows) == 2 for rows in taken.values())
