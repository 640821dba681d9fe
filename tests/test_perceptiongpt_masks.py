"""PerceptionGPT decodes a mask beside each <loc>'s box and answers RES with the first, end to end through
``vipbench run``: the tiny model's output head is biased towards <loc> (the test's only hand on it), so a random
model segments; each mask is read from the hidden state that chose its <loc>, through the mask branch loaded from
the checkpoint, un-padded onto the original image, recorded beside the decoded box and graded from
predictions.jsonl alone."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from adapter_contract import make_region_pair
from pycocotools import mask as coco_mask

torch = pytest.importorskip("torch")

from forcing import LocForcingPerceptionGPT, register  # noqa: E402
from test_perceptiongpt import _edit_shards  # noqa: E402

from vipbench import rle  # noqa: E402
from vipbench.cli import main  # noqa: E402
from vipbench.examples.refcoco import RLE_SIZE, write_refcoco_rle  # noqa: E402
from vipbench.models import create_model  # noqa: E402
from vipbench.models.base import GenerationSettings  # noqa: E402
from vipbench.models.perceptiongpt_masks import (  # noqa: E402
    fine_hidden_states,
    masks_to_image,
    upstream_positions,
)
from vipbench.models.perceptiongpt_modeling import BoxFeedback  # noqa: E402
from vipbench.models.tiny.perceptiongpt import build_tiny_perceptiongpt  # noqa: E402
from vipbench.scoring.masks import truth_rle  # noqa: E402

W, H = RLE_SIZE  # 480 × 320: pads to 480 × 480, the image 80 px down


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_tiny_perceptiongpt(tmp_path_factory.mktemp("perceptiongpt-masks") / "perceptiongpt-7b")


@pytest.fixture(scope="module")
def run(checkpoint, tmp_path_factory):
    """refcoco-res-val run by the <loc>-forced tiny PerceptionGPT on RLE truths (480 × 320), two tokens each."""
    register("perceptiongpt-locs", LocForcingPerceptionGPT)
    base = tmp_path_factory.mktemp("perceptiongpt-res")
    data = write_refcoco_rle(base / "RefCOCO")
    args = ["run", "--model", "perceptiongpt-locs", "--model-path", str(checkpoint), "--tasks", "refcoco-res-val"]
    args += ["--data-dir", f"refcoco={data}", "--max-new-tokens", "2", "--results", str(base), "--run-id", "res"]
    assert main(args) == 0
    return base / "res"


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def forcing(checkpoint, **options) -> LocForcingPerceptionGPT:
    return LocForcingPerceptionGPT(model_path=str(checkpoint), device="cpu", **options)


# ------------------------------------------------------------------------------------------- end to end


def test_res_grades_the_mask_of_the_first_loc(run):
    records = {r["sample_id"]: r for r in lines(run / "predictions.jsonl")}
    grades = {g["sample_id"]: g["values"] for g in lines(run / "judgements.jsonl")}
    manifest = json.loads((run / "manifest.json").read_text())["tasks"]["refcoco-res-val"]
    assert manifest["family"] == "perceptiongpt" and manifest["input_region"] == "none"
    assert manifest["follows"].startswith("pipilurj/perceptionGPT@fd8e3eb config/_base_/dataset/DEFAULT_TEST_RES")
    total_i = total_u = 0
    ious, shares = [], []
    for sample_id, record in records.items():
        expression = record["metadata"]["expression"]
        question = f"Please provide the segmentation mask for <obj_text_s>{expression}<obj_text_e>. ASSISTANT:"
        assert question in record["model_input"] and "<im_end> Please" in record["model_input"]
        regions = record["output_regions"]
        assert len(regions) == 2 and all(r["mask"]["size"] == [H, W] for r in regions)  # one mask per <loc>
        # Each region's box is its <loc>'s decoded box, the padding (80 px above) undone.
        for region, written in zip(regions, record["model_metadata"]["boxes"]):
            x1, y1, x2, y2 = written["box_normalized"]
            expected = [x1 * W, min(max(y1 * W - 80, 0), H), x2 * W, min(max(y2 * W - 80, 0), H)]
            assert region["box"] == pytest.approx(expected, abs=0.6)
        mask = rle.decode(regions[0]["mask"])
        truth = coco_mask.decode(truth_rle(record["metadata"]["segmentation"], W, H)).astype(bool)
        inter, union = int((mask & truth).sum()), int((mask | truth).sum())
        grade = grades[sample_id]
        assert (grade["intersection"], grade["union"], grade["parsed"]) == (inter, union, True)
        assert grade["iou"] == pytest.approx(inter / union)
        total_i, total_u = total_i + inter, total_u + union
        ious.append(inter / union)
        shares.append(mask.mean())
    assert any(0 < s < 1 for s in shares), "the random masks are neither all empty nor all full"
    unit = json.loads((run / "scores.json").read_text())["units"]["refcoco-res-val"]
    assert unit["total"]["mean"] == pytest.approx(round(100 * total_i / total_u, 1))
    assert unit["secondary"]["giou"]["mean"] == pytest.approx(round(100 * sum(ious) / len(ious), 1))


def test_a_changed_expression_changes_the_mask(run):
    """Two expressions of one object in one image: the same pixels, another question, another mask."""
    records = {r["sample_id"]: r for r in lines(run / "predictions.jsonl")}
    first, second = records["val-1-0"], records["val-1-1"]
    assert first["image"] == second["image"]
    assert first["metadata"]["expression"] != second["metadata"]["expression"]
    assert first["output_regions"][0]["mask"] != second["output_regions"][0]["mask"]


def test_the_leaderboard_shows_each_decoded_mask_with_its_pixels(run):
    from vipbench.leaderboard import build_site

    site = build_site(run.parent).parent
    pages = " ".join(p.read_text(errors="ignore") for p in site.rglob("*") if p.suffix in (".html", ".json", ".js"))
    for grade in lines(run / "judgements.jsonl"):
        assert f"({grade['values']['intersection']} / {grade['values']['union']} pixels)" in pages


# ------------------------------------------------------------------------------------------- the mask path


def test_the_mask_is_read_from_the_state_that_chose_the_loc(checkpoint, tmp_path):
    """The first <loc>'s mask: the final norm's state at the prompt's last position (what chose the <loc>, the
    state bbox_decoder reads), through decoder_mapping and mask_decoder against the merge_coef_higher features of
    the image, un-padded from the square onto the 96 × 64 image."""
    adapter = forcing(checkpoint)
    request = make_region_pair(tmp_path, "box")[0]
    answer = adapter.generate([request], GenerationSettings(max_new_tokens=1))[0]
    model = adapter.model
    with torch.inference_mode():
        embeds = adapter.embed(request)
        state = model.llm.model(inputs_embeds=embeds[None]).last_hidden_state[0, -1]
        with BoxFeedback(model, adapter.loc_id) as feedback:
            tokens = model.llm.generate(inputs_embeds=embeds[None], max_new_tokens=1, do_sample=False)
        feedback.boxes(tokens)
        assert torch.allclose(feedback.states[(0, 0)], state, atol=1e-5)
        features = model.mask_features(adapter.pixels(request)[None])
        logits = model.mask_logits(feedback.states[(0, 0)][None], features)
    assert logits.shape == (1, 64, 64)  # the tiny grid (64 px / 8 = 8) upscaled 8×
    expected = masks_to_image(logits, (96, 64))[0].numpy()
    (region,) = answer.regions
    assert region.mask["size"] == [64, 96] and np.array_equal(rle.decode(region.mask), expected)
    assert 0 < expected.mean() < 1


def test_decode_masks_false_keeps_the_boxes(checkpoint, tmp_path):
    adapter = forcing(checkpoint, decode_masks=False)
    request = make_region_pair(tmp_path, "box")[0]
    (region,) = adapter.generate([request], GenerationSettings(max_new_tokens=1))[0].regions
    assert region.box is not None and region.mask is None
    assert adapter.describe()["decode_masks"] is False


@pytest.mark.parametrize(
    "size, rows, cols",
    [
        ((96, 64), (10 - 16, 30 - 16), (20, 40)),  # landscape: side 96, 16 rows of padding above
        ((64, 96), (10, 30), (20 - 16, 40 - 16)),  # portrait: 16 columns of padding on the left
        ((96, 61), (10 - 17, 30 - 17), (20, 40)),  # (96 - 61) // 2 = 17 rows above, 18 below
    ],
)
def test_masks_are_unpadded_from_the_square_by_hand(size, rows, cols):
    """Logits on the 96 × 96 square (so no resizing), positive on rows 10–29 and columns 20–39 of the square:
    the image's mask is that rectangle less the padding above or on the left, cut to the image."""
    logits = torch.full((1, 96, 96), -5.0)
    logits[0, 10:30, 20:40] = 5.0
    w, h = size
    expected = np.zeros((h, w), dtype=bool)
    expected[max(rows[0], 0) : rows[1], cols[0] : cols[1]] = True
    assert np.array_equal(masks_to_image(logits, size)[0].numpy(), expected)


def test_the_threshold_is_upstreams_0_35_and_logits_are_resized_to_the_square():
    """sigmoid(-0.5) = 0.38 is in, sigmoid(-0.7) = 0.33 out. Logits 5 | -5 (2 × 2) resized bilinearly to the
    96-px square: column i samples u = (i + 0.5) / 48 - 0.5 between the two, its logit 5 - 10u, in while above
    logit(0.35) = -0.619, so while u < 0.5619: columns 0-50 (at 0.5 it would stop at 47)."""
    assert masks_to_image(torch.full((1, 4, 4), -0.5), (30, 20)).all()
    assert not masks_to_image(torch.full((1, 4, 4), -0.7), (30, 20)).any()
    halves = masks_to_image(torch.tensor([[[5.0, -5.0], [5.0, -5.0]]]), (96, 96))[0].numpy()
    assert halves[:, :51].all() and not halves[:, 51:].any()


def test_the_fine_clip_pass_at_clips_own_patch_is_clips_pass(checkpoint, tmp_path):
    """The finer pass resizes the patch kernel and the position embeddings to the new grid: at CLIP's own patch
    (16 px in the tiny) both resizings are the identity and it is CLIP's own forward; at 8 px its grid is 8 × 8."""
    adapter = create_model("perceptiongpt-7b", model_path=str(checkpoint), device="cpu")
    model = adapter.model
    pixels = adapter.pixels(make_region_pair(tmp_path, "box")[0])[None]
    with torch.no_grad():
        own = model.vision(pixels, output_hidden_states=True).hidden_states
        same = fine_hidden_states(model.vision, pixels, patch=16)
        fine = fine_hidden_states(model.vision, pixels)
        assert len(same) == len(own) == 3
        for a, b in zip(same, own):
            assert torch.allclose(a, b, atol=1e-4)
        assert fine[0].shape == (1, 1 + 64, 32)
        # merge_coef_higher mixes the finer pass's states but the last: all the weight on one gives that one.
        for k in range(2):
            model.merge_coef_higher.copy_(torch.tensor([50.0, 0.0] if k == 0 else [0.0, 50.0]))
            assert torch.allclose(model.mask_features(pixels), fine[k][:, 1:], atol=1e-5)


def test_the_positions_are_laid_out_as_upstreams_code_lays_them():
    """Upstream builds its sine table with the grid as channels and the width as columns, then permutes it: the
    key at row y, column x gets, in channel c, the table's entry [x, y, c]. For a 4 × 4 grid (one frequency, 1):
    column 0 → sin(c), 1 → cos(c), 2 → sin(y), 3 → cos(y)."""
    pe = upstream_positions(4, 8).reshape(4, 4, 8)  # [y, x, c]
    for y in range(4):
        for c in range(8):
            got = pe[y, :, c].tolist()
            assert got == pytest.approx([math.sin(c), math.cos(c), math.sin(y), math.cos(y)], abs=1e-6)


# ------------------------------------------------------------------------------------------- the loader


def test_the_mask_branch_is_in_the_checkpoint_under_upstreams_names(checkpoint):
    keys = json.loads((checkpoint / "pytorch_model.bin.index.json").read_text())["weight_map"]
    for key in (
        "merge_coef_higher",
        "decoder_mapping.weight",
        "visual_adaptor.shortcut.weight",
        "visual_adaptor.linear2.bias",
        "mask_decoder.transformer.layers.1.cross_attn_image_to_token.out_proj.weight",
        "mask_decoder.transformer.final_attn_token_to_image.q_proj.weight",
        "mask_decoder.transformer.norm_final_attn.weight",
        "mask_decoder.output_upscaling.layer1.0.weight",
        "mask_decoder.output_upscaling.layer3.1.bias",
        "mask_decoder.output_upscaling.conv.weight",
        "mask_decoder.output_hypernetworks_mlp.layers.2.weight",
        "mask_encoder.conv1.weight",
    ):
        assert key in keys, key


def test_a_missing_mask_key_is_one_line_naming_it(checkpoint, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    key = "mask_decoder.transformer.norm_final_attn.weight"
    _edit_shards(broken, lambda s: {k: v for k, v in s.items() if k != key})
    args = ["run", "--model", "perceptiongpt-7b", "--model-path", str(broken), "--tasks", "vip-synth", "--limit", "1"]
    assert main([*args, "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and f"missing {key}" in err


def test_mask_encoder_is_not_read(checkpoint, tmp_path):
    """Inference never uses mask_encoder (upstream feeds the boxes' embeddings, never its output): a checkpoint
    without it loads, one with it loads the same model."""
    bare = tmp_path / "bare"
    shutil.copytree(checkpoint, bare)
    _edit_shards(bare, lambda s: {k: v for k, v in s.items() if not k.startswith("mask_encoder.")})
    with_it = create_model("perceptiongpt-7b", model_path=str(checkpoint), device="cpu").model.state_dict()
    without = create_model("perceptiongpt-7b", model_path=str(bare), device="cpu").model.state_dict()
    assert with_it.keys() == without.keys() and all(torch.equal(with_it[k], without[k]) for k in with_it)
