"""OMG-LLaVA, native: a tiny random model saved in the layout of ``zhangtao-whu/OMG-LLaVA`` (a fused-qkv InternLM2
folder, the OMG-Seg head file, the class embeddings, the fine-tuned .pth with peft's LoRA pairs, the open_clip
trunk) and loaded back through the real loader; the pieces that have a simpler form are checked against it."""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import replace

import pytest
from adapter_contract import AdapterContract, make_region_pair, vip_bench_requests
from sentencepiece_models import train_sentencepiece  # noqa: E402

torch = pytest.importorskip("torch")
F = torch.nn.functional

from judge_server import JudgeServer  # noqa: E402

from vipbench.cli import main  # noqa: E402
from vipbench.errors import VipbenchError  # noqa: E402
from vipbench.models import create_model  # noqa: E402
from vipbench.models.base import GenerationSettings  # noqa: E402
from vipbench.models.internlm2 import split_wqkv  # noqa: E402
from vipbench.models.omg_llava import clean_caption  # noqa: E402
from vipbench.models.omg_llava_modeling import FINETUNE_FILE, HEAD_FILE, LLM_FOLDER, masks_to_input  # noqa: E402
from vipbench.models.omg_seg import deepest_points, ms_deform_attn  # noqa: E402
from vipbench.models.tiny.omg_llava import LORA_ALPHA, build_tiny_omg_llava, fuse_wqkv  # noqa: E402
from vipbench.models.weights import read_tensors  # noqa: E402
from vipbench.types import Region  # noqa: E402

ONE = GenerationSettings(max_new_tokens=1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_tiny_omg_llava(tmp_path_factory.mktemp("omg") / "OMG-LLaVA")


def load(folder, **options):
    return create_model("omg-llava-7b", model_path=str(folder), device="cpu", **options)


@pytest.fixture(scope="module")
def adapter(checkpoint):
    return load(checkpoint)


@pytest.fixture(scope="module")
def requests(vip_bench_dir):
    return vip_bench_requests(vip_bench_dir, "mask")


@pytest.fixture()
def region_pair(tmp_path):
    return make_region_pair(tmp_path, "mask")


class TestOMGLLaVAContract(AdapterContract):
    pass


# ------------------------------------------------------------------------------------------- InternLM2


def test_wqkv_is_split_per_key_value_group():
    """Rows of the fused matrix: for each of the 2 groups, its 2 query heads, its key head, its value head."""
    heads, kv_heads, head_dim, hidden = 4, 2, 3, 5
    rows = torch.arange((heads + 2 * kv_heads) * head_dim, dtype=torch.float32)[:, None].expand(-1, hidden)
    q, k, v = split_wqkv(rows, heads, kv_heads)
    block = 4 * head_dim  # one group: 2 queries + key + value
    assert q[:, 0].tolist() == [*range(0, 6), *range(block, block + 6)]  # query heads 0, 1 | 2, 3
    assert k[:, 0].tolist() == [*range(6, 9), *range(block + 6, block + 9)]
    assert v[:, 0].tolist() == [*range(9, 12), *range(block + 9, block + 12)]
    assert torch.equal(fuse_wqkv(q, k, v, heads, kv_heads), rows)


def _internlm2_reference(tensors, lora, config, ids):
    """InternLM2's forward, written from its modeling file: fused wqkv read per group, rotate-half RoPE, GQA,
    SwiGLU, RMSNorm; every LoRA layer computed unmerged, y = W x + alpha / r · B A x."""
    heads, kv, hidden = config["num_attention_heads"], config["num_key_value_heads"], config["hidden_size"]
    head_dim, group, eps = hidden // heads, heads // kv, config["rms_norm_eps"]

    def linear(x, name):
        y = x @ tensors[f"{name}.weight"].T
        if name in lora:
            a, b = lora[name]
            y = y + (LORA_ALPHA / a.shape[0]) * (x @ a.T) @ b.T
        return y

    def rms(x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * tensors[f"{name}.weight"]

    def rotate(x):
        half = x.shape[-1] // 2
        return torch.cat([-x[..., half:], x[..., :half]], dim=-1)

    n = len(ids)
    inv = 1.0 / config["rope_theta"] ** (torch.arange(0, head_dim, 2).float() / head_dim)
    angles = torch.outer(torch.arange(n).float(), inv)
    cos, sin = torch.cat([angles, angles], -1).cos()[:, None], torch.cat([angles, angles], -1).sin()[:, None]
    h = tensors["model.tok_embeddings.weight"][torch.tensor(ids)]
    causal = torch.full((n, n), float("-inf")).triu(1)
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}"
        qkv = linear(rms(h, f"{p}.attention_norm"), f"{p}.attention.wqkv").view(n, kv, group + 2, head_dim)
        q, k, v = qkv[:, :, :group].reshape(n, heads, head_dim), qkv[:, :, group], qkv[:, :, group + 1]
        q, k = q * cos + rotate(q) * sin, k * cos + rotate(k) * sin
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(head_dim) + causal
        attended = torch.einsum("hqk,khd->qhd", scores.softmax(-1), v).reshape(n, hidden)
        h = h + linear(attended, f"{p}.attention.wo")
        x = rms(h, f"{p}.ffn_norm")
        h = h + linear(
            F.silu(linear(x, f"{p}.feed_forward.w1")) * linear(x, f"{p}.feed_forward.w3"), f"{p}.feed_forward.w2"
        )
    return linear(rms(h, "model.norm"), "output")


def test_the_merged_llama_equals_internlm2_with_its_lora_unmerged(checkpoint, adapter):
    """The official files read the slow way (fused wqkv, LoRA applied beside each layer) give the logits of the
    loaded LlamaForCausalLM: the split, the renames and the merge are right."""
    config = json.loads((checkpoint / LLM_FOLDER / "config.json").read_text())
    tensors = dict(read_tensors(checkpoint / LLM_FOLDER, "base"))
    lora: dict = {}
    for key, value in torch.load(checkpoint / FINETUNE_FILE, weights_only=True).items():
        name = key.removeprefix("llm.base_model.model.")
        if ".lora_" in name:
            module, which = name.split(".lora_")
            lora.setdefault(module, [None, None])["AB".index(which[0])] = value
        elif key.startswith("llm."):
            tensors[name.replace(".base_layer.", ".")] = value
    assert {"output", "model.layers.1.attention.wqkv", "model.layers.0.feed_forward.w2"} <= set(lora)
    ids = [1, 120, 9, 10, 11, 12, 13, 121, 14, 15]
    expected = _internlm2_reference(tensors, lora, config, ids)
    with torch.inference_mode():
        got = adapter.model.llm(input_ids=torch.tensor([ids])).logits[0]
    assert got.shape == expected.shape == (len(ids), config["vocab_size"] + 4)  # resized for [SEG], <p>, </p>, <region>
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()
    unmerged_base = _internlm2_reference(tensors, {}, config, ids)
    assert not torch.allclose(got, unmerged_base, atol=1e-3)  # the LoRA matters


def test_internlm2s_sentencepiece_tokenizer_is_read_without_its_remote_code(tmp_path):
    """tokenizer.model and tokenizer_config.json, as the Hub's internlm2-chat-7b holds them: the text is split at
    the special tokens and at OMG-LLaVA's added ones (ids after the vocabulary, <mark> last), each piece encoded
    by SentencePiece alone, as InternLM2's slow tokenizer does."""
    spm = pytest.importorskip("sentencepiece")
    pytest.importorskip("google.protobuf")
    from vipbench.models.internlm2 import InternLM2Tokens
    from vipbench.models.omg_llava_modeling import ADDED_TOKENS

    chat = ["<|im_start|>", "<|im_end|>"]
    corpus = ["What is the region in the picture?", "a dog on the grass"] * 30
    train_sentencepiece(corpus, tmp_path, 300, user_defined_symbols=chat)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
    folder = tmp_path / "internlm2-chat-7b"
    folder.mkdir()
    (folder / "tokenizer.model").write_bytes((tmp_path / "sp.model").read_bytes())
    specials = {sp.piece_to_id(t): t for t in ["<unk>", "<s>", "</s>", *chat]}
    config = {
        "tokenizer_class": "InternLM2Tokenizer",
        "auto_map": {"AutoTokenizer": ["tokenization_internlm2.InternLM2Tokenizer", None]},
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "</s>",
        "added_tokens_decoder": {str(i): {"content": t, "special": True} for i, t in specials.items()},
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    tokens = InternLM2Tokens(folder)
    tokens.add(list(ADDED_TOKENS))
    tokens.add(["<mark>"])
    size = sp.get_piece_size()
    assert tokens.token_id("<mark>") == size + 4 and len(tokens) == size + 5
    start, end = sp.piece_to_id("<|im_start|>"), sp.piece_to_id("<|im_end|>")
    ids = tokens.encode("<|im_start|>user\nWhat is region1 <mark>?<|im_end|>\n", bos=True)
    expected = [1, start, *sp.encode("user\nWhat is region1 "), size + 4, *sp.encode("?"), end, *sp.encode("\n")]
    assert ids == expected and tokens.eos_token_id == tokens.pad_token_id == 2
    assert tokens.decode([*ids, 2]) == sp.decode([i for i in ids if i not in specials and i < size])


def test_lora_alpha_is_applied(checkpoint, adapter, region_pair):
    reference = adapter.next_token_logits(region_pair[:1])
    assert adapter.describe()["checkpoint_layout"]["lora_pairs"] == 11  # 5 per layer × 2 layers + output
    assert not torch.allclose(
        load(checkpoint, lora_alpha=128.0).next_token_logits(region_pair[:1]), reference, atol=1e-4
    )


# ------------------------------------------------------------------------------------------- OMG-Seg


def _bilinear_reference(value, shapes, locations, weights):
    """Multi-scale deformable attention one sample at a time: bilinear reads of the four neighbours of
    (x · W - 0.5, y · H - 0.5), zero outside the map."""
    b_, _, heads, d = value.shape
    q_, points = locations.shape[1], locations.shape[4]
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    out = torch.zeros(b_, q_, heads, d)
    for b in range(b_):
        for q in range(q_):
            for m in range(heads):
                for lv, (h, w) in enumerate(shapes):
                    for p in range(points):
                        x = float(locations[b, q, m, lv, p, 0]) * w - 0.5
                        y = float(locations[b, q, m, lv, p, 1]) * h - 0.5
                        x0, y0 = math.floor(x), math.floor(y)
                        sample = torch.zeros(d)
                        for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                            if 0 <= yy < h and 0 <= xx < w:
                                weight = (1 - abs(x - xx)) * (1 - abs(y - yy))
                                sample += weight * value[b, starts[lv] + yy * w + xx, m]
                        out[b, q, m] += weights[b, q, m, lv, p] * sample
    return out.reshape(b_, q_, heads * d)


def test_grid_sample_deformable_attention_matches_a_bilinear_loop():
    torch.manual_seed(0)
    shapes = [(3, 4), (2, 2)]
    value = torch.randn(2, sum(h * w for h, w in shapes), 2, 3)
    locations = torch.rand(2, 5, 2, 2, 3, 2) * 1.4 - 0.2  # some samples fall outside the maps
    weights = torch.rand(2, 5, 2, 2, 3).softmax(-1)
    expected = _bilinear_reference(value, shapes, locations, weights)
    assert torch.allclose(ms_deform_attn(value, shapes, locations, weights), expected, atol=1e-5)


def test_pixel_queries_match_upstreams_resize_sigmoid_resize(adapter):
    """The shortcut (only the rows and columns the downsizing reads) gives upstream's numbers: the mask logits
    resized to the input, sigmoid, weighted by the class score, resized to the grid."""
    torch.manual_seed(1)
    model, size = adapter.model, adapter.geometry.image_size
    classes, masks, queries = torch.randn(12, 7), torch.randn(12, size // 4, size // 4) * 3, torch.randn(12, 64)
    pixel_queries, valid = model._assign(classes, masks, queries, size)
    score = classes.softmax(-1)[:, :-1].max(-1).values * 0.5 + 0.5
    up = F.interpolate(masks[None], size=(size, size), mode="bilinear", align_corners=False)[0].sigmoid()
    grid = adapter.geometry.grid
    down = F.interpolate((score[:, None, None] * up)[None], size=(grid, grid), mode="bilinear", align_corners=False)[0]
    assert torch.allclose(pixel_queries, down.softmax(0).permute(1, 2, 0).reshape(-1, 12) @ queries, atol=1e-5)
    assert valid.tolist() == [bool((down.argmax(0) == q).any()) for q in range(12)]


def test_a_regions_point_is_its_deepest_pixel():
    masks = torch.zeros(2, 40, 40)
    masks[0, 10:31, 5:16] = 1  # 21 rows × 11 columns: the ridge is the middle column
    masks[1, 0:40, 0:8] = 1  # an L: a tall bar and a wide, thicker foot
    masks[1, 24:40, 0:40] = 1
    (x0, y0), (x1, y1) = deepest_points(masks).tolist()
    assert x0 == 10 and 15 <= y0 <= 25
    assert masks[1, int(y1), int(x1)] == 1 and y1 >= 28  # inside, in the foot (16 rows thick, not 8)


# ------------------------------------------------------------------------------------------- the adapter


def test_the_prompt_and_its_ids(adapter, requests):
    two = next(r for r in requests if len(r.regions) == 2)
    assert adapter.prompt(two) == (
        "<|im_start|>user\n<image>\nWhere is the object region1 <mark> relative to the object region2 <mark>?"
        "<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = adapter.input_ids(two)
    tokens = adapter.tokenizer
    assert ids[:2] == [tokens.bos_token_id, tokens.token_id("<|im_start|>")]
    assert ids.count(-200) == 1 and ids.count(adapter.mark_id) == 2
    assert adapter.mark_id == len(tokens) - 1 == adapter.model.llm.config.vocab_size  # added after the resize
    assert ids[-3:-1] == [tokens.token_id("<|im_end|>"), tokens.token_id("<|im_start|>")]


def test_masks_and_boxes_are_padded_to_a_square_like_the_image(adapter, tmp_path):
    mask_req, point_req = (make_region_pair(tmp_path, m)[0] for m in ("mask", "point"))
    side = adapter.geometry.image_size  # 128: the 96 × 64 image sits 16 px down on a 96 px square
    mask = adapter.masks(mask_req)[0]
    scale = side / 96
    y1, y2 = (16 + 6) * scale, (16 + 32) * scale
    rows = mask.any(1).nonzero()[:, 0]
    assert abs(rows.min() - y1) <= 2 and abs(rows.max() - y2) <= 2
    triangle = Region.from_polygon(((10.0, 10.0), (40.0, 10.0), (10.0, 30.0)))
    as_mask, as_box = (replace(mask_req, region_mode=m, regions=(triangle,)) for m in ("mask", "box"))
    assert 0.4 < adapter.masks(as_mask).sum() / adapter.masks(as_box).sum() < 0.6  # box mode: its rectangle
    assert torch.equal(adapter.masks(as_box), adapter.masks(replace(as_mask, regions=(Region(triangle.box),))))
    assert adapter.points(point_req).tolist() == [pytest.approx([25 * scale, (16 + 19) * scale])]
    pixels = adapter.pixels(mask_req)
    pad = (torch.tensor([122, 116, 104]) / 255 - torch.tensor([0.4814, 0.4578, 0.4082])) / torch.tensor(
        [0.2686, 0.2613, 0.2757]
    )
    assert torch.allclose(pixels[:, 2, side // 2], pad, atol=1e-3)  # the top band is the mean-colour padding
    square = masks_to_input(torch.ones(1, 4, 6), 6)[0]
    assert square[0].sum() == 0 and square[1:5].all()


def test_every_region_mode_reaches_the_model(adapter, tmp_path):
    for mode in ("box", "point"):
        logits = adapter.next_token_logits(make_region_pair(tmp_path, mode))
        assert (logits[0] - logits[1]).abs().max() > 1e-5, mode


def test_images_give_different_numbers_of_tokens_and_batching_pads_them(adapter, requests):
    lengths = {adapter.embed(r).shape[0] for r in requests[:8]}
    assert len(lengths) > 1  # the valid object queries depend on the image
    embeds, attention = adapter.batch(requests[:8])
    assert sorted(set(attention.sum(1).tolist())) == sorted(lengths) and attention[:, -1].all()


def test_defaults_are_recorded(adapter):
    described = adapter.describe()
    assert described["postprocess"].startswith("auto (") and described["lora_alpha"] == 256.0
    assert described["finetune"] == "omg_llava_7b_finetune_8gpus.pth" and described["stop"] == "<|im_end|>"
    assert described["image_preprocess"] == "pad to square (122, 116, 104), bicubic resize to 128x128"
    assert adapter.generation_defaults == GenerationSettings(max_new_tokens=300, temperature=0.0)


def test_captions_are_cleaned_as_the_official_tool_does(adapter, region_pair):
    assert clean_caption("Region1: a dog [SEG] <p>on</p>\n the  grass.") == "a dog on the grass."
    settings = GenerationSettings(max_new_tokens=4)
    raw = load(adapter.source, postprocess="none").generate(region_pair[:1], settings)
    cleaned = load(adapter.source, postprocess="region_caption").generate(region_pair[:1], settings)
    assert raw[0].text != "" and clean_caption(raw[0].text) == cleaned[0].text
    # By default only RefCOCOg's captions are cleaned: elsewhere the cleaning would eat "10:30".
    assert adapter.cleans("refcocog-val") and not adapter.cleans("vip-bench-bbox") and not adapter.cleans("pope")


# ------------------------------------------------------------------------------------------- the loader


def test_other_official_layouts_load_the_same_model(checkpoint, adapter, tmp_path, region_pair):
    """The trunk saved in omg_seg_convl.pth (backbone.layerN), and peft < 0.7's name for the LoRA'd output."""
    reference = adapter.next_token_logits(region_pair)
    other = load(build_tiny_omg_llava(tmp_path / "a", trunk_in_head_file=True, peft_base_layer=False))
    assert not (tmp_path / "a" / "open_clip_pytorch_model.bin").exists()
    assert other.describe()["checkpoint_layout"]["trunk"].startswith(HEAD_FILE)
    assert torch.allclose(other.next_token_logits(region_pair), reference, atol=1e-5)


def _edit(folder, file, edit):
    path = folder / file
    state = torch.load(path, weights_only=True)
    inner = state["state_dict"] if "state_dict" in state else state
    edit(inner)
    torch.save(state, path)


PEFT = "llm.base_model.model."


@pytest.mark.parametrize(
    "file, edit, message",
    [
        (FINETUNE_FILE, lambda s: s.pop("projector.model.seperate_embed.weight"), "missing .*seperate_embed"),
        (FINETUNE_FILE, lambda s: s.update({PEFT + "model.extra.weight": torch.zeros(1)}), "unexpected .*model.extra"),
        (
            FINETUNE_FILE,
            lambda s: s.pop(PEFT + "model.layers.0.attention.wo.lora_B.default.weight"),
            "LoRA of model.layers.0.attention.wo has no lora_B",
        ),
        (
            FINETUNE_FILE,
            lambda s: s.update({PEFT + "model.layers.0.attention.wo.lora_A.default.weight": torch.zeros(4, 7)}),
            "LoRA of model.layers.0.attention.wo .* does not fit",
        ),
        (
            HEAD_FILE,
            lambda s: s.pop("panoptic_head.pos_linear.weight"),
            "missing omg_seg_convl.pth: panoptic_head.pos_linear",
        ),
        (HEAD_FILE, lambda s: s.update({"neck.conv.weight": torch.zeros(1)}), "unexpected key.*neck.conv.weight"),
        (HEAD_FILE, lambda s: s.update({"panoptic_head.query_feat.weight": torch.zeros(3, 32)}), "wrong shape"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused_by_name(checkpoint, tmp_path, file, edit, message):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    _edit(broken, file, edit)
    with pytest.raises(VipbenchError, match=message):
        load(broken)


def test_missing_files_are_one_clear_line(checkpoint, tmp_path, capsys):
    folder = tmp_path / "no-clip"
    shutil.copytree(checkpoint, folder)
    (folder / "open_clip_pytorch_model.bin").unlink()
    args = ["run", "--model", "omg-llava-7b", "--model-path", str(folder), "--tasks", "vip-synth", "--limit", "1"]
    assert main([*args, "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: OMG-LLaVA's vision trunk weights not found") and "clip_path=FILE" in err
    assert "\n" not in err
    (folder / FINETUNE_FILE).rename(folder / "other.pth")
    with pytest.raises(VipbenchError, match=f"{FINETUNE_FILE} not found"):
        load(folder)


# ------------------------------------------------------------------------------------------- end to end


def test_vipbench_run_judge_and_leaderboard(checkpoint, tmp_path, vip_bench_dir):
    from fixture_region_tasks import write_refcocog

    refcocog = write_refcocog(tmp_path / "RefCOCOg")
    results = tmp_path / "results"
    args = ["run", "--model", "omg-llava-7b", "--model-path", str(checkpoint), "--tasks", "vip-bench-bbox,refcocog-val"]
    args += ["--data-dir", f"vip-bench={vip_bench_dir}", "--data-dir", f"refcocog={refcocog}"]
    assert main([*args, "--max-new-tokens", "3", "--results", str(results), "--run-id", "o"]) == 0
    records = [json.loads(line) for line in (results / "o" / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 8 + 3 and {r["region_mode"] for r in records} == {"mask"}
    assert all("<mark>" in r["model_input"] for r in records if r["regions"])
    manifest = json.loads((results / "o" / "manifest.json").read_text())
    assert manifest["model"]["postprocess"].startswith("auto") and manifest["model"]["lora_alpha"] == 256.0
    with JudgeServer() as server:
        judge = ["judge", "o", "--results", str(results), "--base-url", server.url, "--runs", "1"]
        assert main([*judge, "--max-retries", "0"]) == 0
    assert main(["leaderboard", "build", "--results", str(results)]) == 0
    html = (results / "leaderboard" / "index.html").read_text()
    data = json.loads(re.search(r'<script id="vipbench-data" type="application/json">(.*?)</script>', html, re.S)[1])
    assert {"vip-bench-bbox", "refcocog-val"} <= {u["unit"] for u in data["units"]}


def test_the_tiny_alias_runs_offline(tmp_path):
    args = ["run", "--model", "omg-llava-tiny", "--tasks", "vip-synth", "--limit", "4", "--max-new-tokens", "3"]
    assert main([*args, "--region-mode", "point", "--results", str(tmp_path), "--run-id", "t"]) == 0
    records = [json.loads(line) for line in (tmp_path / "t" / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["region_mode"] for r in records} == {"point"}
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert manifest["model"]["checkpoint"] == "tiny" and manifest["status"] == "complete"
