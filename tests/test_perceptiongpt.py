"""PerceptionGPT, native: a tiny random model saved as upstream's code would save it (two .bin shards and their
index, the CLIP apart; or with its LoRA still wrapped by peft) and loaded back through the real loader. No
PerceptionGPT weights are public, so every result here is labelled architecture-only."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from adapter_contract import AdapterContract, make_region_pair, vip_bench_requests
from sentencepiece_models import LLAMA, train_sentencepiece

torch = pytest.importorskip("torch")

from forcing import LocForcingPerceptionGPT, bias_towards, register  # noqa: E402
from judge_server import JudgeServer  # noqa: E402

from vipbench.cli import main  # noqa: E402
from vipbench.errors import VipbenchError  # noqa: E402
from vipbench.models import create_model  # noqa: E402
from vipbench.models.base import GenerationSettings  # noqa: E402
from vipbench.models.perceptiongpt import ARCHITECTURE_ONLY, USER_CHECKPOINT  # noqa: E402
from vipbench.models.perceptiongpt_modeling import BoxFeedback  # noqa: E402
from vipbench.models.tiny.perceptiongpt import build_tiny_perceptiongpt  # noqa: E402
from vipbench.scoring.metrics import box_iou  # noqa: E402
from vipbench.types import Region, Request  # noqa: E402

SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_tiny_perceptiongpt(tmp_path_factory.mktemp("perceptiongpt") / "perceptiongpt-7b")


def load(folder, **options):
    return create_model("perceptiongpt-7b", model_path=str(folder), device="cpu", **options)


@pytest.fixture(scope="module")
def adapter(checkpoint):
    return load(checkpoint)


@pytest.fixture(scope="module")
def requests(vip_bench_dir):
    return vip_bench_requests(vip_bench_dir, "box")


@pytest.fixture()
def region_pair(tmp_path):
    return make_region_pair(tmp_path, "box")


class TestPerceptionGPTContract(AdapterContract):
    pass


def test_the_prompt_is_vicuna_v1_1_with_the_image_as_its_tokens(adapter, requests):
    two = next(r for r in requests if len(r.regions) == 2)
    image = "<im_start>" + "<im_patch>" * 16 + "<im_end>"  # the tiny CLIP: 64 px, patch 16 → 16 tokens
    assert adapter.prompt(two) == (
        f"{SYSTEM} USER: {image} Where is the object <loc> relative to the object <loc>? ASSISTANT:"
    )
    ids = adapter.input_ids(two)
    assert ids[0] == adapter.tokenizer.bos_token_id
    assert ids.count(adapter.patch_id) == 16 and ids.count(adapter.loc_id) == 2
    start = ids.index(adapter.start_id)
    assert ids[start + 17] == adapter.end_id  # the patches sit between <im_start> and <im_end>


def test_boxes_are_normalised_on_the_padded_square(adapter, region_pair):
    # 96 × 64 pads to 96 × 96, the image 16 px down: (8, 6, 42, 32) → (8, 22, 42, 48) / 96
    assert adapter.boxes(region_pair[0]) == [pytest.approx([0.083, 0.229, 0.438, 0.5], abs=1e-3)]
    assert adapter.boxes(region_pair[1]) == [pytest.approx([0.604, 0.521, 0.938, 0.792], abs=1e-3)]
    pixels = adapter.pixels(region_pair[0])
    white = (torch.ones(3) - torch.tensor((0.48145466, 0.4578275, 0.40821073))) / torch.tensor(
        (0.26862954, 0.26130258, 0.27577711)
    )
    assert torch.allclose(pixels[:, 0, 14], white, atol=1e-3)  # the top band is the white padding


def test_a_mask_is_read_as_its_bounding_box(adapter, requests):
    masked = next(r for r in requests if r.regions and r.regions[0].polygons)
    xs = [x for x, _ in masked.regions[0].polygons[0]]
    ys = [y for _, y in masked.regions[0].polygons[0]]
    as_box = Request(
        masked.task,
        masked.sample,
        masked.text,
        masked.image_path,
        "box",
        regions=(Region((min(xs), min(ys), max(xs), max(ys))),),
    )
    assert adapter.boxes(masked) == adapter.boxes(as_box)


def test_the_box_embeddings_and_image_features_are_spliced_in(adapter, region_pair):
    """What the model reads at each <loc> is bbox_encoder of the box, and at the patches the image features."""
    request = region_pair[0]
    model = adapter.model
    with torch.inference_mode():
        embeds = adapter.embed(request)
        ids = torch.tensor(adapter.input_ids(request))
        box = model.bbox_encoder(torch.tensor(adapter.boxes(request)))
        image = model.image_features(adapter.pixels(request).unsqueeze(0))[0]
        own_row = model.llm.get_input_embeddings()(torch.tensor([adapter.loc_id]))
    assert torch.allclose(embeds[ids == adapter.loc_id], box)
    assert not torch.allclose(embeds[ids == adapter.loc_id], own_row)
    assert torch.allclose(embeds[ids == adapter.patch_id], image)


def test_the_fusion_mixes_every_hidden_state_but_the_last(checkpoint, region_pair):
    """merge_coef_lower weighs CLIP's hidden states before the last one (upstream: embeddings and layers 1-23):
    pushing all the weight onto one state gives that state's patch tokens, projected."""
    adapter = load(checkpoint)
    model = adapter.model
    pixels = adapter.pixels(region_pair[0]).unsqueeze(0)
    with torch.no_grad():
        states = model.vision(pixels, output_hidden_states=True).hidden_states
        assert len(states) == 3 and model.merge_coef_lower.shape == (2,)  # embeddings, layer 1, layer 2
        for k in range(2):
            model.merge_coef_lower.copy_(torch.tensor([50.0, 0.0] if k == 0 else [0.0, 50.0]))
            expected = model.projector(states[k][:, 1:])
            assert torch.allclose(model.image_features(pixels), expected, atol=1e-5)
        assert not torch.allclose(model.image_features(pixels), model.projector(states[2][:, 1:]), atol=1e-3)


def test_defaults_are_recorded(adapter):
    described = adapter.describe()
    assert described["weights"] == ARCHITECTURE_ONLY
    assert described["checkpoint_layout"] == "merged" and described["decode_boxes"] is True
    assert described["image_tokens"] == "<im_start> + 16 × <im_patch> + <im_end>"
    assert described["clip_path"].endswith("clip-vit-large-patch14")
    assert adapter.generation_defaults == GenerationSettings(max_new_tokens=1024, temperature=0.0)


def test_a_user_checkpoint_is_labelled_as_such(checkpoint, tmp_path):
    folder = tmp_path / "trained"
    shutil.copytree(checkpoint, folder)
    config = json.loads((folder / "config.json").read_text())
    del config["vipbench_random_weights"]
    (folder / "config.json").write_text(json.dumps(config))
    assert load(folder).describe()["weights"] == USER_CHECKPOINT


def forcing_loc(checkpoint):
    """An adapter whose every next token is <loc>: its lm_head gets a large bias on that row."""
    adapter = load(checkpoint)
    bias_towards(adapter.model.llm, adapter.loc_id)
    return adapter


def test_generated_loc_tokens_are_decoded_into_boxes(checkpoint, region_pair):
    adapter = forcing_loc(checkpoint)
    answer = adapter.generate(region_pair[:1], GenerationSettings(max_new_tokens=3))[0]
    boxes = answer.metadata["boxes"]
    assert [b["token"] for b in boxes] == [0, 1, 2] and len(answer.regions) == 3
    side, dy = 96, 16  # 96 × 64 pads to 96 × 96, the image 16 px down
    for b, region in zip(boxes, answer.regions):
        assert all(0 <= v <= 1 for v in b["box_normalized"]) and region.source == "decoded"
        x1, y1, x2, y2 = region.box  # in the 96 × 64 image's pixels: the padding undone, clamped
        assert 0 <= x1 <= 96 and 0 <= x2 <= 96 and 0 <= y1 <= 64 and 0 <= y2 <= 64
        nx1, ny1, _, ny2 = b["box_normalized"]
        assert x1 == pytest.approx(min(nx1 * side, 96), abs=0.1)
        assert y1 == pytest.approx(min(max(ny1 * side - dy, 0), 64), abs=0.1)
        assert y2 == pytest.approx(min(max(ny2 * side - dy, 0), 64), abs=0.1)
    off = load(checkpoint, decode_boxes=False).generate(region_pair[:1], GenerationSettings(max_new_tokens=3))[0]
    assert off.metadata == {} and off.regions == []


def test_a_generated_box_is_fed_back_through_bbox_encoder(checkpoint, region_pair):
    """The step after a <loc> reads bbox_encoder(bbox_decoder(the state that chose it)), not <loc>'s own row."""
    adapter = forcing_loc(checkpoint)
    model, llm = adapter.model, adapter.model.llm
    with torch.inference_mode():
        embeds, attention = adapter.batch(region_pair[:1])
        with BoxFeedback(model, adapter.loc_id) as feedback:
            tokens = llm.generate(inputs_embeds=embeds, attention_mask=attention, max_new_tokens=2, do_sample=False)
        ((_, first), (_, second)) = feedback.boxes(tokens)[0]
        expected_first = model.bbox_decoder(llm.model(inputs_embeds=embeds).last_hidden_state[:, -1])[0]
        fed = torch.cat([embeds, model.bbox_encoder(torch.tensor([first]))[:, None]], dim=1)
        plain = torch.cat([embeds, llm.get_input_embeddings()(torch.tensor([[adapter.loc_id]]))], dim=1)
        after_fed = model.bbox_decoder(llm.model(inputs_embeds=fed).last_hidden_state[:, -1])[0]
        after_plain = model.bbox_decoder(llm.model(inputs_embeds=plain).last_hidden_state[:, -1])[0]
    assert first == pytest.approx(expected_first.tolist(), abs=1e-5)
    assert second == pytest.approx(after_fed.tolist(), abs=1e-5)
    assert (torch.tensor(second) - after_plain).abs().max() > 1e-3


def test_beam_search_is_refused_while_boxes_are_decoded(adapter, region_pair):
    with pytest.raises(VipbenchError, match="decode_boxes=false"):
        adapter.generate(region_pair[:1], GenerationSettings(max_new_tokens=2, num_beams=2))


@pytest.mark.parametrize("legacy", [True, False])
def test_the_ids_are_those_of_upstreams_slow_tokenizer(legacy, tmp_path, region_pair):
    """Upstream tokenizes the prompt in one call with transformers 4.28's slow LlamaTokenizer, which splits the
    text at the added tokens, strips the whitespace beside them and encodes each piece with SentencePiece on its
    own. The ids are checked against SentencePiece itself, for a tokenizer of either ``legacy`` setting."""
    spm = pytest.importorskip("sentencepiece")
    pytest.importorskip("google.protobuf")
    from transformers import AutoTokenizer

    corpus = [SYSTEM, "USER: What is in the picture? ASSISTANT: a dog", "Where is the object relative to it?"]
    train_sentencepiece(corpus * 20, tmp_path, 300, **LLAMA)
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.model").write_bytes((tmp_path / "sp.model").read_bytes())
    config = {"tokenizer_class": "LlamaTokenizer", "legacy": legacy, "add_bos_token": True}
    (tmp_path / "tok" / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tok")
    adapter = load(build_tiny_perceptiongpt(tmp_path / "ckpt", tokenizer=tokenizer))

    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
    prompt = adapter.prompt(region_pair[0])
    before, rest = prompt.split("<im_start>")
    question = rest.split("<im_end>")[1]
    what, after = question.split("<loc>")
    expected = [1, *sp.encode(before.rstrip()), adapter.start_id, *[adapter.patch_id] * 16, adapter.end_id]
    expected += [*sp.encode(what.strip()), adapter.loc_id, *sp.encode(after.lstrip())]
    ids = adapter.input_ids(region_pair[0])
    assert ids == expected
    assert adapter.tokenizer.convert_ids_to_tokens(ids[ids.index(adapter.loc_id) + 1])[0] == "▁"  # "▁?", as upstream


# ------------------------------------------------------------------------------------------- the loader


def test_upstreams_training_save_with_its_lora_loads_merged(checkpoint, tmp_path, region_pair):
    """Upstream saves the model with peft's wrapper still on (model.base_model.model.*, lora_A/lora_B): the
    loader merges the LoRA (alpha / r) and gets the same model, under both of peft's names for the base weight."""
    peft = build_tiny_perceptiongpt(tmp_path / "peft", layout="peft")
    index = json.loads((peft / "pytorch_model.bin.index.json").read_text())
    assert any(".lora_A.default.weight" in k for k in index["weight_map"])
    top_level = ("lm_head", "merge_coef", "bbox_", "mask_", "decoder_", "visual_")
    assert all(k.startswith(("model.base_model.model.", *top_level)) for k in index["weight_map"])
    reference = load(checkpoint).next_token_logits(region_pair)
    wrapped = load(peft)
    assert wrapped.describe()["checkpoint_layout"] == "peft"
    assert torch.allclose(wrapped.next_token_logits(region_pair), reference, atol=1e-4)
    assert not torch.allclose(load(peft, lora_alpha=16.0).next_token_logits(region_pair), reference, atol=1e-4)
    _edit_shards(peft, lambda s: {k.replace(".base_layer.weight", ".weight"): v for k, v in s.items()})  # peft < 0.7
    assert torch.allclose(load(peft).next_token_logits(region_pair), reference, atol=1e-4)


def _edit_shards(folder, edit):
    index = json.loads((folder / "pytorch_model.bin.index.json").read_text())
    weight_map = {}
    for shard in sorted(set(index["weight_map"].values())):
        state = edit(torch.load(folder / shard, weights_only=True))
        torch.save(state, folder / shard)
        weight_map |= {k: shard for k in state}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))


def _pop(prefix):
    return lambda s: {k: v for k, v in s.items() if not k.startswith(prefix)}


@pytest.mark.parametrize(
    "edit, message",
    [
        (_pop("bbox_encoder.layers.1."), "missing bbox_encoder.layers.1.bias, bbox_encoder.layers.1.weight"),
        (_pop("model.mm_projector."), "missing model.mm_projector.bias"),
        (lambda s: {**s, "model.extra_head.weight": torch.zeros(1)}, "unexpected key.*model.extra_head.weight"),
        (lambda s: {k: torch.zeros(3) if k == "merge_coef_lower" else v for k, v in s.items()}, "wrong shape"),
        (
            lambda s: {**s, "model.layers.0.self_attn.q_proj.lora_A.default.weight": torch.zeros(2, 32)},
            "LoRA of model.layers.0.self_attn.q_proj has no lora_B",
        ),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused_by_name(checkpoint, tmp_path, edit, message):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    _edit_shards(broken, edit)
    with pytest.raises(VipbenchError, match=message):
        load(broken)


@pytest.mark.parametrize("b_shape", [(1, 4), (32, 3)], ids=["B-of-one-row", "ranks-differ"])
def test_a_lora_pair_of_the_wrong_shape_is_one_line_naming_it(checkpoint, tmp_path, b_shape, capsys):
    """A B of one row broadcast over the whole q_proj (a different model, loaded without a word); ranks that differ
    failed inside the matmul with a traceback. Both are refused, in one line naming the module and the shapes."""
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    module = "model.layers.0.self_attn.q_proj"
    a, b = torch.ones(4, 32), torch.ones(b_shape)
    _edit_shards(broken, lambda s: {**s, f"{module}.lora_A.default.weight": a, f"{module}.lora_B.default.weight": b})
    args = ["run", "--model", "perceptiongpt-7b", "--model-path", str(broken), "--tasks", "vip-synth", "--limit", "1"]
    assert main([*args, "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert f"the LoRA of {module} (A (4, 32), B {b_shape}) does not fit its weight (32, 32)" in err


def test_a_missing_vision_tower_is_one_clear_line(checkpoint, tmp_path, capsys):
    folder = tmp_path / "no-clip"
    shutil.copytree(checkpoint, folder)
    shutil.rmtree(folder / "clip-vit-large-patch14")
    args = ["run", "--model", "perceptiongpt-7b", "--model-path", str(folder), "--tasks", "vip-synth"]
    assert main([*args, "--limit", "1", "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "PerceptionGPT's vision tower 'openai/clip-vit-large-patch14'" in err
    assert "clip_path=DIR" in err and "\n" not in err


def test_without_a_checkpoint_the_7b_entry_says_there_is_none(tmp_path, capsys):
    args = ["run", "--model", "perceptiongpt-7b", "--tasks", "vip-synth", "--limit", "1"]
    assert main([*args, "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no public checkpoint" in err and "--model-path" in err and "\n" not in err


def test_vipbench_models_labels_it_architecture_only(capsys):
    assert main(["models"]) == 0
    entries = re.split(r"\n(?=\S+ · .*regions )", capsys.readouterr().out)  # each: its line, then its description
    for name in ("perceptiongpt-7b", "perceptiongpt-tiny"):
        entry = " ".join(next(e for e in entries if e.startswith(name + " ")).split())
        assert "regions box" in entry and ARCHITECTURE_ONLY in entry, entry


# ------------------------------------------------------------------------------------------- end to end


def test_vipbench_run_judge_and_leaderboard(checkpoint, tmp_path, vip_bench_dir):
    from fixture_region_tasks import write_refcocog

    refcocog = write_refcocog(tmp_path / "RefCOCOg")
    results = tmp_path / "results"
    args = ["run", "--model", "perceptiongpt-7b", "--model-path", str(checkpoint), "--tasks", "vip-bench,refcocog-val"]
    args += ["--data-dir", f"vip-bench={vip_bench_dir}", "--data-dir", f"refcocog={refcocog}"]
    assert main([*args, "--max-new-tokens", "4", "--results", str(results), "--run-id", "p"]) == 0
    records = [json.loads(line) for line in (results / "p" / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 16 + 3 and {r["region_mode"] for r in records} == {"box"}
    assert all("<loc>" in r["model_input"] and "boxes" in r["model_metadata"] for r in records)
    manifest = json.loads((results / "p" / "manifest.json").read_text())
    assert manifest["model"]["weights"] == ARCHITECTURE_ONLY
    with JudgeServer() as server:
        judge = ["judge", "p", "--results", str(results), "--base-url", server.url, "--runs", "1"]
        assert main([*judge, "--max-retries", "0"]) == 0
    assert main(["leaderboard", "build", "--results", str(results)]) == 0
    html = (results / "leaderboard" / "index.html").read_text()
    data = json.loads(re.search(r'<script id="vipbench-data" type="application/json">(.*?)</script>', html, re.S)[1])
    cells = [c for c in re.findall(r'<td class="model".*?</td>', html, re.S) if "perceptiongpt-7b" in c]
    assert len(cells) >= 3 and all(f'<span class="tag tag-warn">{ARCHITECTURE_ONLY}</span>' in c for c in cells)
    assert {"vip-bench-bbox", "vip-bench-human", "refcocog-val"} <= {u["unit"] for u in data["units"]}


def test_the_tiny_alias_runs_offline(tmp_path):
    args = ["run", "--model", "perceptiongpt-tiny", "--tasks", "vip-synth", "--limit", "2", "--max-new-tokens", "3"]
    assert main([*args, "--results", str(tmp_path), "--run-id", "t"]) == 0
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert manifest["model"]["weights"] == ARCHITECTURE_ONLY and manifest["model"]["checkpoint"] == "tiny"


# ------------------------------------------------------------------------------------------- REC: boxes out


def test_rec_end_to_end_scores_the_decoded_box(checkpoint, tmp_path):
    """PerceptionGPT answers REC with the box its first <loc> decodes to: asked upstream's REC question, the box
    recorded as the prediction's output region (original-image pixels) and graded from it (source "decoded"); a
    changed expression on the same image changes the box."""
    from vipbench.examples.refcoco import write_refcoco

    register("perceptiongpt-locs", LocForcingPerceptionGPT)
    data = write_refcoco(tmp_path / "RefCOCO")
    args = ["run", "--model", "perceptiongpt-locs", "--model-path", str(checkpoint), "--tasks", "refcoco-rec-val"]
    args += ["--data-dir", f"refcoco={data}", "--max-new-tokens", "2", "--results", str(tmp_path), "--run-id", "r"]
    assert main(args) == 0
    run = tmp_path / "r"
    records = {r["sample_id"]: r for r in map(json.loads, (run / "predictions.jsonl").read_text().splitlines())}
    first = records["val-1-0"]
    assert "USER: " in first["model_input"] and "Where is man on the left? ASSISTANT:" in first["model_input"]
    assert len(first["output_regions"]) == 2 and first["output_regions"][0]["source"] == "decoded"
    assert [b["token"] for b in first["model_metadata"]["boxes"]] == [0, 1]
    box = first["output_regions"][0]["box"]
    assert all(0 <= v <= 400 for v in box)
    # Same image, another expression ("guy in the red shirt"): another box.
    assert records["val-1-1"]["output_regions"][0]["box"] != box
    grades = {g["sample_id"]: g["values"] for g in map(json.loads, (run / "judgements.jsonl").read_text().splitlines())}
    grade = grades["val-1-0"]
    assert grade["source"] == "decoded" and grade["box"] == pytest.approx([v / 400 for v in box])
    assert grade["iou"] == pytest.approx(box_iou([0.1, 0.2, 0.5, 0.5], [v / 400 for v in box]))
    manifest = json.loads((run / "manifest.json").read_text())
    task = manifest["tasks"]["refcoco-rec-val"]
    assert task["family"] == "perceptiongpt" and task["follows"].startswith("pipilurj/perceptionGPT@fd8e3eb")
    unit = json.loads((run / "scores.json").read_text())["units"]["refcoco-rec-val"]
    hits = sum(g["iou"] >= 0.5 for g in grades.values())
    assert unit["total"]["mean"] == round(100 * hits / 5, 1) and unit["secondary"]["no_box"]["mean"] == 0.0
