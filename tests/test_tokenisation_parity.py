"""The LLaVA-family adapters give the model upstream's token ids, whatever the tokenizer's ``legacy`` setting.

Upstream LLaVA (``llava/mm_utils.py: tokenizer_image_token``) tokenizes the text on each side of ``<image>`` on its
own, so the text after the image starts with SentencePiece's ``▁``: ``… USER:``, ``▁``, image, ``▁``, ``\\n``,
question. A Llama tokenizer with ``legacy=False`` tokenizing the whole prompt drops that ``▁``. The test trains a
small SentencePiece model with Llama's options, under both settings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
spm = pytest.importorskip("sentencepiece")
pytest.importorskip("google.protobuf")  # transformers reads a .model file through protobuf

from PIL import Image  # noqa: E402
from sentencepiece_models import LLAMA, train_sentencepiece  # noqa: E402

from vipbench.models import create_model  # noqa: E402
from vipbench.models.base import GenerationSettings  # noqa: E402
from vipbench.models.tiny.llava import build_tiny  # noqa: E402
from vipbench.records import ids_hash  # noqa: E402
from vipbench.types import Request, Sample  # noqa: E402

CORPUS = [
    "A chat between a curious human and an artificial intelligence assistant.",
    "USER: <image>\nWhat is within the red rectangle? ASSISTANT: a dog",
    "What colour is the box? 12 apples and 3 pears.",
    "The assistant gives helpful, detailed, and polite answers to the human's questions.",
    "Is there a cat in the image?\nAnswer the question using a single word or phrase.",
]


@pytest.fixture(scope="module")
def sentencepiece_model(tmp_path_factory) -> Path:
    return train_sentencepiece(CORPUS * 20, tmp_path_factory.mktemp("sp"), 400, **LLAMA)


def checkpoint_with(model: Path, legacy: bool, out: Path) -> Path:
    from transformers import AutoTokenizer

    folder = out / "tokenizer"
    folder.mkdir(parents=True)
    (folder / "tokenizer.model").write_bytes(model.read_bytes())
    config = {"tokenizer_class": "LlamaTokenizer", "legacy": legacy, "add_bos_token": True}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    tokenizer = AutoTokenizer.from_pretrained(folder, extra_special_tokens={"image_token": "<image>"})
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    assert tokenizer.legacy is legacy
    return build_tiny(out / "model", "vipllava", tokenizer=tokenizer)


def upstream_ids(model: Path, prompt: str, bos: int, image: list[int]) -> list[int]:
    """What upstream's tokenizer_image_token gives, from the SentencePiece model itself."""
    sp = spm.SentencePieceProcessor(model_file=str(model))
    before, after = prompt.split("<image>")
    return [bos, *sp.encode(before), *image, *sp.encode(after)]


@pytest.mark.parametrize("legacy", [True, False])
def test_the_ids_are_upstreams_whatever_the_legacy_setting(sentencepiece_model, legacy, tmp_path):
    adapter = create_model("vip-llava-7b", model_path=str(checkpoint_with(sentencepiece_model, legacy, tmp_path)))
    tokenizer = adapter.processor.tokenizer
    prompt = adapter.prompt("What is within the red rectangle?")
    image = [adapter.image_token_id] * adapter.image_tokens
    expected = upstream_ids(sentencepiece_model, prompt, tokenizer.bos_token_id, image)

    ids = adapter.input_ids(prompt)
    assert ids == expected
    after = tokenizer.convert_ids_to_tokens(ids[ids.index(adapter.image_token_id) + len(image) :][:2])
    assert after == ["▁", "<0x0A>"]  # the ▁ after the image is kept

    picture = tmp_path / "blank.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture)
    whole = adapter.processor(images=[Image.open(picture)], text=[prompt])["input_ids"][0]
    assert (whole == expected) is legacy  # the processor's own ids lose the ▁ when legacy=False

    sample = Sample("s", picture, "What is within the red rectangle?", ("a dog",))
    request = Request("t", sample, sample.question, picture, "overlay")
    (answer,) = adapter.generate([request], GenerationSettings(max_new_tokens=2))
    assert answer.input_ids_hash == ids_hash(expected)  # and these are the ids the model is given
