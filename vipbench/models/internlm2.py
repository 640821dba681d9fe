"""InternLM2 (``internlm/internlm2-chat-7b``, OMG-LLaVA's language model) as transformers' ``LlamaForCausalLM``.

InternLM2 is Llama with grouped-query attention under other names, and with q, k and v fused into one matrix. Its
checkpoints need ``trust_remote_code`` to load in transformers; mapping them onto Llama's modules instead runs the
same computation with no code from the checkpoint folder. The facts, from InternLM2's ``modeling_internlm2.py``:

- ``attention.wqkv`` holds, for each of the ``num_key_value_heads`` groups in turn, the rows of its
  ``num_attention_heads / num_key_value_heads`` query heads, then its key head, then its value head
  (``head_dim`` rows each); query head ``g * group + j`` is the ``j``-th query of group ``g``;
- ``attention.wo`` → ``o_proj``; ``feed_forward.w1`` / ``w3`` / ``w2`` → ``gate_proj`` / ``up_proj`` /
  ``down_proj`` (``w2(silu(w1 x) * w3 x)``); ``attention_norm`` / ``ffn_norm`` → the two RMSNorms;
  ``model.tok_embeddings`` → ``embed_tokens``; ``output`` → ``lm_head``;
- rotary embeddings in Llama's rotate-half form with ``rope_theta``, and ``rope_scaling`` (``dynamic`` NTK or
  ``linear``) as in its config, which transformers' Llama implements with the same formulas.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vipbench.errors import VipbenchError

LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
#: InternLM2's per-layer module names → Llama's (the fused ``attention.wqkv`` is split apart, see ``split_wqkv``).
RENAMES = {
    "attention.wo": "self_attn.o_proj",
    "feed_forward.w1": "mlp.gate_proj",
    "feed_forward.w3": "mlp.up_proj",
    "feed_forward.w2": "mlp.down_proj",
    "attention_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
}
TOP = {"model.tok_embeddings": "model.embed_tokens", "model.norm": "model.norm", "output": "lm_head"}


def llama_config(config: Mapping[str, Any], vocab_size: int | None = None):
    """A ``LlamaConfig`` that computes what InternLM2's config describes; ``vocab_size`` overrides the config's
    (OMG-LLaVA resizes the embeddings after adding its tokens)."""
    from transformers import LlamaConfig

    if config.get("model_type") not in (None, "internlm2"):
        raise VipbenchError(f"expected an InternLM2 config (model_type internlm2), got {config.get('model_type')!r}")
    missing = [
        k for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size") if k not in config
    ]
    if missing:
        raise VipbenchError(f"InternLM2's config.json lacks {', '.join(missing)}")
    heads = config["num_attention_heads"]
    scaling = config.get("rope_scaling")
    if scaling is not None and scaling.get("type", scaling.get("rope_type")) not in ("dynamic", "linear"):
        raise VipbenchError(f"InternLM2 supports rope_scaling dynamic or linear, not {scaling!r}")
    return LlamaConfig(
        vocab_size=vocab_size or config["vocab_size"],
        hidden_size=config["hidden_size"],
        intermediate_size=config["intermediate_size"],
        num_hidden_layers=config["num_hidden_layers"],
        num_attention_heads=heads,
        num_key_value_heads=config.get("num_key_value_heads") or heads,
        hidden_act=config.get("hidden_act", "silu"),
        max_position_embeddings=config.get("max_position_embeddings", 2048),
        rms_norm_eps=config.get("rms_norm_eps", 1e-6),
        rope_theta=config.get("rope_theta", 10000),
        rope_scaling=dict(scaling) if scaling else None,
        attention_bias=bool(config.get("bias", False)),
        mlp_bias=False,
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        bos_token_id=config.get("bos_token_id", 1),
        eos_token_id=config.get("eos_token_id", 2),
        pad_token_id=config.get("pad_token_id", 0),
    )


def split_wqkv(wqkv, heads: int, kv_heads: int):
    """(q, k, v) rows of a fused ``wqkv`` weight (or bias): per key-value group, its query heads, key, value."""
    group = heads // kv_heads
    head_dim = _head_dim(wqkv.shape[0], heads, kv_heads)
    grouped = wqkv.reshape(kv_heads, group + 2, head_dim, *wqkv.shape[1:])
    rest = wqkv.shape[1:]
    q = grouped[:, :group].reshape(heads * head_dim, *rest)
    k = grouped[:, group].reshape(kv_heads * head_dim, *rest)
    v = grouped[:, group + 1].reshape(kv_heads * head_dim, *rest)
    return q.contiguous(), k.contiguous(), v.contiguous()


def wqkv_shapes(shape: tuple[int, ...], heads: int, kv_heads: int) -> tuple[tuple[int, ...], ...]:
    """The shapes ``split_wqkv`` gives a fused weight of ``shape``, known before it is read."""
    head_dim, rest = _head_dim(shape[0], heads, kv_heads), tuple(shape[1:])
    return (heads * head_dim, *rest), (kv_heads * head_dim, *rest), (kv_heads * head_dim, *rest)


def _head_dim(rows: int, heads: int, kv_heads: int) -> int:
    head_dim = rows // (heads + 2 * kv_heads)
    if head_dim * (heads + 2 * kv_heads) != rows:
        raise VipbenchError(f"attention.wqkv has {rows} rows, not a multiple of {heads} + 2 × {kv_heads} heads")
    return head_dim


def to_llama(state: Mapping[str, Any], heads: int, kv_heads: int, where: Path | str) -> dict[str, Any]:
    """InternLM2 tensors (``model.tok_embeddings.weight``, ``model.layers.N.attention.wqkv.weight``, ...) under
    ``LlamaForCausalLM``'s names; a key InternLM2 does not have is an error that names it. A fused ``wqkv`` still in
    its file (``weights.Stored``) is split as it is read: its parts are ``weights.Split``'s."""
    out: dict[str, Any] = {}
    unexpected = []
    for key, tensor in state.items():
        name, _, kind = key.rpartition(".")  # kind: weight or bias
        layer = LAYER.match(name)
        if layer and layer[2] == "attention.wqkv":
            prefix = f"model.layers.{layer[1]}.self_attn"
            for proj, part in zip(("q_proj", "k_proj", "v_proj"), _split(tensor, heads, kv_heads)):
                out[f"{prefix}.{proj}.{kind}"] = part
        elif layer and layer[2] in RENAMES:
            out[f"model.layers.{layer[1]}.{RENAMES[layer[2]]}.{kind}"] = tensor
        elif name in TOP:
            out[f"{TOP[name]}.{kind}"] = tensor
        else:
            unexpected.append(key)
    if unexpected:
        raise VipbenchError(f"{where}: unexpected InternLM2 key(s): {', '.join(sorted(unexpected)[:5])}")
    return out


def _split(wqkv, heads: int, kv_heads: int) -> tuple[Any, ...]:
    from vipbench.models.weights import Split, Stored

    if not isinstance(wqkv, Stored):
        return split_wqkv(wqkv, heads, kv_heads)
    shapes = wqkv_shapes(tuple(wqkv.shape), heads, kv_heads)
    return tuple(Split(wqkv, lambda whole: split_wqkv(whole, heads, kv_heads), shapes).parts)


# ------------------------------------------------------------------------------------------- the tokenizer


class InternLM2Tokens:
    """InternLM2's tokenizer, without its remote code: what the adapter needs of it.

    ``tokenizer.model`` (InternLM2's own files) is read with SentencePiece, as its ``InternLM2Tokenizer`` does:
    the text is split at the special and added tokens (``tokenizer_config.json``'s ``added_tokens_decoder`` and
    those ``add`` registers), and each piece between them is encoded by SentencePiece on its own. A folder with a
    ``tokenizer.json`` (the tiny test checkpoint, or a converted tokenizer) is read with transformers instead."""

    def __init__(self, folder: Path):
        import json

        self.folder = folder
        config_path = folder / "tokenizer_config.json"
        self.config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        self._fast = None
        self._sp = None
        self.special: dict[str, int] = {}
        if (folder / "tokenizer.json").is_file():
            from transformers import PreTrainedTokenizerFast

            self._fast = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
            self.size = len(self._fast)
            self.special = {t.content: i for i, t in self._fast.added_tokens_decoder.items() if t.special}
        elif (folder / "tokenizer.model").is_file():
            try:
                import sentencepiece
            except ImportError:
                raise VipbenchError(
                    "InternLM2's tokenizer (tokenizer.model) needs SentencePiece: pip install sentencepiece"
                ) from None
            self._sp = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
            self.size = self._sp.get_piece_size()
        else:
            raise VipbenchError(f"{folder}: no tokenizer (tokenizer.model or tokenizer.json)")
        for key, entry in (self.config.get("added_tokens_decoder") or {}).items():
            if entry.get("special", True):
                self.special[entry["content"]] = int(key)
        self.added: dict[str, int] = {}
        self.bos_token_id = self._named("bos_token", "<s>")
        self.eos_token_id = self._named("eos_token", "</s>")
        pad = self._named("pad_token", None)
        self.pad_token_id = self.eos_token_id if pad is None else pad
        self._split = None

    def _named(self, key: str, default: str | None) -> int | None:
        value = self.config.get(key, default)
        if isinstance(value, dict):
            value = value.get("content")
        return None if value is None else self.token_id(value)

    def token_id(self, token: str) -> int:
        if token in self.added:
            return self.added[token]
        if token in self.special:
            return self.special[token]
        found = self._fast.convert_tokens_to_ids(token) if self._fast else self._sp.piece_to_id(token)
        unk = self._fast.unk_token_id if self._fast else self._sp.unk_id()
        if found is None or (found == unk and token not in ("<unk>",)):
            raise VipbenchError(f"{self.folder}: the tokenizer has no {token} token")
        return found

    def add(self, tokens: list[str]) -> None:
        """Register new special tokens at the next ids, as ``tokenizer.add_tokens(..., special_tokens=True)``."""
        for token in tokens:
            if token not in self.added:
                self.added[token] = self.size + len(self.added)
        self._split = None

    def __len__(self) -> int:
        return self.size + len(self.added)

    def _pattern(self):
        if self._split is None:
            tokens = sorted({*self.special, *self.added}, key=len, reverse=True)
            self._split = re.compile("(" + "|".join(re.escape(t) for t in tokens) + ")")
        return self._split

    def encode(self, text: str, bos: bool = False) -> list[int]:
        """The ids of ``text``: the special and added tokens as themselves, each piece between them encoded alone."""
        ids = [self.bos_token_id] if bos else []
        for i, piece in enumerate(self._pattern().split(text)):
            if i % 2:
                ids.append(self.token_id(piece))
            elif piece:
                ids += self._fast(piece, add_special_tokens=False).input_ids if self._fast else self._sp.encode(piece)
        return ids

    def decode(self, ids: list[int]) -> str:
        """The text of ``ids`` with every special and added token left out (``skip_special_tokens``)."""
        skip = {*self.special.values(), *self.added.values()}
        kept = [i for i in ids if i not in skip and i < self.size]
        if self._fast:
            return self._fast.decode(kept, skip_special_tokens=True)
        return self._sp.decode(kept)
