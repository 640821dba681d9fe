"""OMG-LLaVA's [SEG] masks: a tiny random model in the official layout (its projector_text2vision, and optionally
the require_omg_decoder copy) decodes the mask of each [SEG] it generates onto the original image, as upstream's
RefCOCO tool does (lxtGH/OMG-Seg@1ae2e7d omg_llava/omg_llava/tools/refcoco_omg_seg_llava.py)."""

from __future__ import annotations

import shutil
from functools import partial

import numpy as np
import pytest
from PIL import Image, ImageDraw

torch = pytest.importorskip("torch")

from vipbench import rle  # noqa: E402
from vipbench.errors import VipbenchError  # noqa: E402
from vipbench.models import create_model  # noqa: E402
from vipbench.models.base import GenerationSettings  # noqa: E402
from vipbench.models.omg_llava import tight_box  # noqa: E402
from vipbench.models.omg_llava_modeling import FINETUNE_FILE, masks_to_image  # noqa: E402
from vipbench.models.tiny.omg_llava import build_tiny_omg_llava  # noqa: E402
from vipbench.types import Request, Sample  # noqa: E402

QUESTION = "Please segment {} in this image."
SIZE = (90, 52)  # a landscape image: the model's square is padded above and below


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_tiny_omg_llava(tmp_path_factory.mktemp("omg-seg") / "OMG-LLaVA")


def load(folder):
    return create_model("omg-llava-7b", model_path=str(folder), device="cpu")


@pytest.fixture(scope="module")
def adapter(checkpoint):
    return load(checkpoint)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    picture = Image.new("RGB", SIZE, (90, 120, 150))
    ImageDraw.Draw(picture).ellipse((8, 6, 40, 30), fill=(240, 200, 40))
    ImageDraw.Draw(picture).rectangle((55, 20, 85, 48), fill=(30, 30, 200))
    path = tmp_path_factory.mktemp("img") / "res.png"
    picture.save(path)
    return path


def res_request(image, expression: str) -> Request:
    text = QUESTION.format(expression)
    sample = Sample("s-" + expression, image, text, (), template=text, metadata={"expression": expression})
    return Request("refcoco-res-val", sample, text, image, "mask")


class Forced:
    """A logits processor that makes generation write ``tokens``, one per step (then the last one again)."""

    def __init__(self, tokens: list[int]):
        self.tokens = tokens

    def __call__(self, input_ids, scores):
        step = min(input_ids.shape[1], len(self.tokens) - 1)
        forced = torch.full_like(scores, float("-inf"))
        forced[:, self.tokens[step]] = 0.0
        return forced


def force(monkeypatch, adapter, tokens: list[int]) -> None:
    """Constrain the adapter's generation to ``tokens`` (the test's only hand on the model: the weights, the
    prompt and the decoding of the masks are the adapter's own)."""
    from transformers import LogitsProcessorList

    llm = adapter.model.llm
    generate = type(llm).generate.__get__(llm)
    monkeypatch.setattr(llm, "generate", partial(generate, logits_processor=LogitsProcessorList([Forced(tokens)])))


def word(adapter) -> int:
    (token,) = adapter.tokenizer.encode("it")
    return token


def answer_tokens(adapter) -> list[int]:
    """ "it [SEG] it [SEG]<|im_end|>": two [SEG]s, then the stop token."""
    return [word(adapter), adapter.seg_id, word(adapter), adapter.seg_id, adapter.stop_id]


# ------------------------------------------------------------------------------------------- end to end


def test_generate_decodes_each_seg_into_a_mask_of_the_original_image(monkeypatch, adapter, image):
    force(monkeypatch, adapter, answer_tokens(adapter))
    (answer,) = adapter.generate([res_request(image, "the yellow ball")], GenerationSettings(max_new_tokens=8))
    assert answer.text.split() == ["it", "it"]  # the added tokens are left out of the text, as every answer's
    assert len(answer.regions) == 2  # one per [SEG], in the answer's order
    width, height = SIZE
    for region in answer.regions:
        assert region.mask["size"] == [height, width] and region.source == "decoded"
        mask = rle.decode(region.mask)
        assert 0 < mask.sum() < mask.size  # the random tiny model draws a real (partial) mask
        ys, xs = np.nonzero(mask)
        assert region.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    # The two [SEG]s have different hidden states (different contexts), so different masks.
    assert answer.regions[0].mask != answer.regions[1].mask


def test_the_seg_hidden_state_is_the_one_generation_computed_at_the_seg_token(monkeypatch, adapter, image):
    """Upstream takes generation's last-layer state at the [SEG] token (the step that reads it), not the state that
    predicted it; the adapter's single pass over prompt and answer gives the same numbers."""
    tokens = answer_tokens(adapter)
    force(monkeypatch, adapter, tokens)
    request = res_request(image, "the yellow ball")
    with torch.inference_mode():
        embeds, attention = adapter.batch([request])
        out = adapter.model.llm.generate(
            inputs_embeds=embeds,
            attention_mask=attention,
            max_new_tokens=len(tokens),
            do_sample=False,
            output_hidden_states=True,
            return_dict_in_generate=True,
            pad_token_id=adapter.tokenizer.pad_token_id,
        )
        assert out.sequences[0].tolist() == tokens
        # hidden_states[k] is step k; step k + 1 reads generated token k.
        generated = torch.stack([out.hidden_states[p + 1][-1][0, -1] for p in (1, 3)])
        mine, _ = adapter.seg_hidden_states(request, tokens, [1, 3])
    assert torch.allclose(mine, generated, atol=1e-5)
    predicting = out.hidden_states[1][-1][0, -1]  # the state that predicted the first [SEG]
    assert not torch.allclose(mine[0], predicting, atol=1e-3)


def test_a_changed_expression_changes_the_decoded_mask(monkeypatch, adapter, image):
    force(monkeypatch, adapter, answer_tokens(adapter))
    settings = GenerationSettings(max_new_tokens=8)
    ball, box = adapter.generate([res_request(image, "the yellow ball"), res_request(image, "the blue box")], settings)
    assert ball.regions and box.regions
    assert rle.decode(ball.regions[0].mask).shape == rle.decode(box.regions[0].mask).shape == SIZE[::-1]
    assert ball.regions[0].mask != box.regions[0].mask


def test_a_seg_cut_by_the_token_limit_has_no_mask_and_no_seg_no_region(monkeypatch, adapter, image):
    """As upstream's tool: the last generated token has no hidden state of its own (nothing read it)."""
    force(monkeypatch, adapter, [word(adapter), adapter.seg_id])
    (cut,) = adapter.generate([res_request(image, "the yellow ball")], GenerationSettings(max_new_tokens=2))
    assert cut.text == "it" and cut.regions == []
    force(monkeypatch, adapter, [word(adapter), adapter.stop_id])
    (none,) = adapter.generate([res_request(image, "the yellow ball")], GenerationSettings(max_new_tokens=4))
    assert none.regions == []


# ------------------------------------------------------------------------------------------- un-padding


def test_unpadding_maps_the_padded_square_back_to_the_right_pixels():
    """Hand-checked: logits drawn on the padded square (at its own side, so the resize is the identity) come back
    on the original image's pixels, the padding cut as expand2square put it ((side - h) // 2 above/left)."""
    # Landscape 8 × 5 (W × H): side 8, 3 rows of padding, 1 above and 2 below.
    square = torch.full((1, 8, 8), -10.0)
    square[0, 1, 2:4] = 10.0  # the first image row, columns 2 and 3
    square[0, 5, 7] = 10.0  # the last image row, last column
    square[0, 0, :] = 10.0  # padding above: cut
    square[0, 6:, :] = 10.0  # padding below: cut
    mask = masks_to_image(square, (8, 5))[0].numpy()
    assert mask.shape == (5, 8)
    assert sorted(zip(*np.nonzero(mask))) == [(0, 2), (0, 3), (4, 7)]
    assert tight_box(mask) == (2.0, 0.0, 8.0, 5.0)
    # Portrait 3 × 8: side 8, 5 columns of padding, 2 left and 3 right.
    square = torch.full((1, 8, 8), -10.0)
    square[0, 4, 2] = 10.0  # row 4, the first image column
    square[0, :, :2] = 10.0  # left padding: cut
    square[0, :, 5:] = 10.0  # right padding: cut
    mask = masks_to_image(square, (3, 8))[0].numpy()
    assert mask.shape == (8, 3) and sorted(zip(*np.nonzero(mask))) == [(4, 0)]
    assert tight_box(mask) == (0.0, 4.0, 1.0, 5.0)
    assert tight_box(np.zeros((4, 4), dtype=bool)) is None


def test_stride_four_logits_are_resized_to_the_originals_square_then_thresholded():
    """Upstream resizes the stride-4 logits (bilinear) straight to max(w, h), not to the 1024 input first; a
    block of positive logits keeps its place: on a 4 × 4 grid for a 16 × 12 image, block rows 1–2 (of the square's
    0–3) → square rows 4–11 → image rows 2–9 (2 rows of padding above)."""
    logits = torch.full((1, 4, 4), -10.0)
    logits[0, 1:3, 0:2] = 10.0
    mask = masks_to_image(logits, (16, 12))[0].numpy()
    assert mask.shape == (12, 16)
    assert tight_box(mask) == (0.0, 2.0, 8.0, 10.0)


# ------------------------------------------------------------------------------------------- the checkpoint


def _edit_finetune(folder, edit):
    state = torch.load(folder / FINETUNE_FILE, weights_only=True)
    edit(state)
    torch.save(state, folder / FINETUNE_FILE)


@pytest.mark.parametrize(
    "key",
    [
        "projector_text2vision.model.2.bias",
        "projector_text2vision.model.0.weight",
    ],
)
def test_a_missing_segmentation_key_is_one_line_naming_it(checkpoint, tmp_path, key):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    _edit_finetune(broken, lambda s: s.pop(key))
    with pytest.raises(VipbenchError) as error:
        load(broken)
    message = str(error.value)
    assert f"missing {FINETUNE_FILE}: {key}" in message and "\n" not in message


def test_the_seg_decoder_copy_is_loaded_strictly_and_decodes_the_masks(tmp_path, image):
    """Upstream's referring-segmentation fine-tune (require_omg_decoder) saves transformer_decoder_llm and
    mask_embed_llm: [SEG] queries go through them, and the panoptic image tokens do not; keys upstream never reads
    at inference (additional_ffn) are skipped; a missing one of the copy is named."""
    folder = build_tiny_omg_llava(tmp_path / "refseg", seg_decoder=True)
    adapter = load(folder)
    assert adapter.describe()["checkpoint_layout"]["seg_decoder"] == "transformer_decoder_llm"
    request = res_request(image, "the yellow ball")
    tokens = answer_tokens(adapter)
    before = adapter.decode_masks(request, tokens[:2], [1])
    logits_before = adapter.next_token_logits([request])
    with torch.no_grad():
        adapter.model.head.mask_embed_llm[4].bias.add_(5.0)  # every [SEG] logit up by 5 × the feature sum
        adapter.model.head.mask_embed_llm[4].weight.mul_(-1.0)
    assert not np.array_equal(before, adapter.decode_masks(request, tokens[:2], [1]))
    assert torch.equal(adapter.next_token_logits([request]), logits_before)

    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    key = "visual_encoder.panoptic_head.mask_embed_llm.4.weight"
    _edit_finetune(broken, lambda s: s.pop(key))
    with pytest.raises(VipbenchError, match=f"missing {FINETUNE_FILE}: {key}"):
        load(broken)


def test_the_8gpu_fine_tune_decodes_with_the_panoptic_decoder(adapter):
    """Its config sets require_omg_decoder=False: no decoder copy is saved, and [SEG] queries use the head's own."""
    assert not hasattr(adapter.model.head, "transformer_decoder_llm")
    assert adapter.describe()["checkpoint_layout"]["seg_decoder"] == "the panoptic decoder"
    assert "projector_text2vision" in adapter.describe()["segmentation"]
