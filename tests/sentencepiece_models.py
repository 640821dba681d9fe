"""Small SentencePiece models trained in a test, so tokenizer tests read real ``tokenizer.model`` files offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Llama's tokenizer options (its ``tokenizer.model``'s trainer spec), on top of the common ones below.
LLAMA = {
    "split_digits": True,
    "add_dummy_prefix": True,
    "allow_whitespace_only_pieces": True,
    "character_coverage": 1.0,
}


def train_sentencepiece(corpus: list[str], folder: Path, vocab_size: int, **options: Any) -> Path:
    """A byte-fallback BPE model (unk 0, bos 1, eos 2, no pad) trained on ``corpus``; returns the ``.model`` file."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.txt").write_text("\n".join(corpus))
    spm.SentencePieceTrainer.train(
        input=str(folder / "corpus.txt"),
        model_prefix=str(folder / "sp"),
        vocab_size=vocab_size,
        model_type="bpe",
        byte_fallback=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        minloglevel=2,
        **options,
    )
    return folder / "sp.model"
