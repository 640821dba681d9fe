"""Osprey, native: a tiny random model saved in the official checkpoint layout (two .bin shards and their index,
the vision trunk in a separate open_clip file) and loaded back through the real loader."""

from __future__ import annotations

import json
import shutil

import pytest
from adapter_contract import AdapterContract, make_region_pair, vip_bench_requests

torch = pytest.importorskip("torch")

from vipbench.cli import main  # noqa: E402
from vipbench.errors import VipbenchError  # noqa: E402
from vipbench.models import create_model  # noqa: E402
from vipbench.models.base import GenerationSettings  # noqa: E402
from vipbench.models.tiny.osprey import build_tiny_osprey  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_tiny_osprey(tmp_path_factory.mktemp("osprey") / "Osprey-7b")


@pytest.fixture(scope="module")
def adapter(checkpoint):
    return create_model("osprey-7b", model_path=str(checkpoint), device="cpu")


@pytest.fixture(scope="module")
def requests(vip_bench_dir):
    return vip_bench_requests(vip_bench_dir, "mask")


@pytest.fixture()
def region_pair(tmp_path):
    return make_region_pair(tmp_path, "mask")


class TestOspreyContract(AdapterContract):
    pass


def test_regions_become_masks_and_region_tokens(adapter, requests):
    two = next(r for r in requests if len(r.regions) == 2)
    assert (
        adapter.question(two) == "Where is the object region1 <mask><pos> relative to the object region2 <mask><pos>?"
    )
    assert adapter.prompt(two).endswith(
        "USER: <image>\n.\nThis provides an overview of the picture.\nWhere is the object region1 <mask><pos> relative "
        "to the object region2 <mask><pos>? ASSISTANT:"
    )
    masks = adapter.masks(two)
    assert masks.shape[0] == 2 and set(masks.unique().tolist()) == {0.0, 1.0}
    box_only = next(r for r in requests if r.regions and not r.regions[0].polygons)
    x1, y1, x2, y2 = (round(v) for v in box_only.regions[0].box)
    filled = adapter.masks(box_only)[0]
    assert filled[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1].all() and filled.sum() < filled.numel()  # a filled rectangle


def test_two_masks_give_two_answers_paths(adapter, region_pair):
    """The mask path is wired into what the model reads: the mask and position tokens differ, so do the logits."""
    first, second = (adapter.masks(r) for r in region_pair)
    assert not torch.equal(first, second)
    logits = adapter.next_token_logits(region_pair)
    assert (logits[0] - logits[1]).abs().max() > 1e-4


def test_defaults_are_recorded(adapter):
    described = adapter.describe()
    assert described["prefix"] is None and described["prefix_text"] is None  # each task's protocol decides
    assert described["image_preprocess"] == "warp to 64x64"  # the tiny model's; Osprey's is 512
    assert adapter.generation_defaults == GenerationSettings(max_new_tokens=1024, temperature=0.0)


def test_a_trunk_saved_in_the_shards_loads_without_the_clip_file(tmp_path, adapter, requests):
    folder = build_tiny_osprey(tmp_path / "with-trunk", trunk_in_shards=True)
    assert not (folder / "open_clip_pytorch_model.bin").exists()
    other = create_model("osprey-7b", model_path=str(folder), device="cpu")
    same = GenerationSettings(max_new_tokens=5)
    assert other.generate(requests[:2], same) == adapter.generate(requests[:2], same)  # same seed, same weights


def _break(folder, edit):
    index = json.loads((folder / "pytorch_model.bin.index.json").read_text())
    shard = folder / sorted(set(index["weight_map"].values()))[0]
    state = torch.load(shard, weights_only=True)
    edit(state)
    torch.save(state, shard)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.pop(next(k for k in s if k.startswith("mask_extractor.res3"))), "missing mask_extractor.res3"),
        (lambda s: s.update({"model.extra_head.weight": torch.zeros(1)}), "unexpected llm.model.extra_head.weight"),
        (lambda s: s.update({k: torch.zeros(3) for k in list(s) if k.endswith("feat_linear.bias")}), "wrong shape"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused_by_name(checkpoint, tmp_path, edit, message, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    _break(broken, edit)
    with pytest.raises(VipbenchError, match=message):
        create_model("osprey-7b", model_path=str(broken), device="cpu")


def test_a_missing_clip_file_is_one_clear_line(checkpoint, tmp_path, capsys):
    folder = tmp_path / "no-clip"
    shutil.copytree(checkpoint, folder)
    (folder / "open_clip_pytorch_model.bin").unlink()
    args = ["run", "--model", "osprey-7b", "--model-path", str(folder), "--tasks", "vip-synth", "--limit", "1"]
    assert main([*args, "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Osprey's vision tower weights not found") and "clip_path=FILE" in err


def test_vipbench_run_with_osprey_on_vip_bench(checkpoint, tmp_path, vip_bench_dir):
    args = ["run", "--model", "osprey-7b", "--model-path", str(checkpoint), "--tasks", "vip-bench-bbox"]
    args += ["--data-dir", str(vip_bench_dir), "--max-new-tokens", "4", "--results", str(tmp_path), "--run-id", "o"]
    assert main(args) == 0
    records = [json.loads(line) for line in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 8 and {r["region_mode"] for r in records} == {"mask"}
    assert all(r["regions"] and r["regions"][0]["mask"]["counts"] for r in records)
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    # No Osprey script for ViP-Bench: the evaluation scripts' prefix, as the model read it.
    from vipbench.models.osprey import PREFIXES

    assert all(PREFIXES["eval"] in r["model_input"] for r in records)
    assert manifest["model"]["clip_path"].endswith("open_clip_pytorch_model.bin")
