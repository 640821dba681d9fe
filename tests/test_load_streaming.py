"""Loading streams the weights: a 7B must load in about its own size of host memory (issue 25), so the loaders read
a checkpoint tensor by tensor into a model built in its final dtype, and merge a LoRA one weight at a time, instead
of holding a state dict (or a float32 model) beside it.

Each family's tiny checkpoint is built here with a wider, deeper language model (a few hundred MB in float32, in
the official multi-shard layout, with the LoRA still wrapped for PerceptionGPT) and loaded in float16 in a process
of its own, which reports how far its resident memory rose above what it held before the load (``VmHWM`` reset
through ``/proc/self/clear_refs``). A loader that holds the whole checkpoint, or builds the model in float32 first,
rises by two to five times the weights' float16 size; a streaming one by about one."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

#: A language model big enough for its memory to stand out of the interpreter's noise (~85 M parameters).
WIDER_LLAMA = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 2048}
#: The rise allowed while loading, as a multiple of the loaded model's weights at 16 bits (the issue's target).
BOUND = 1.3

pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc")


def _build(family: str, out: Path) -> Path:
    from vipbench.models import tiny

    with pytest.MonkeyPatch.context() as patch:
        for key, value in WIDER_LLAMA.items():
            patch.setitem(tiny.TINY_LLAMA, key, value)
        if family == "osprey":
            from vipbench.models.tiny.osprey import build_tiny_osprey

            return build_tiny_osprey(out)
        from vipbench.models.tiny.perceptiongpt import build_tiny_perceptiongpt

        return build_tiny_perceptiongpt(out, layout="peft")


@pytest.mark.parametrize("family, model", [("osprey", "osprey-7b"), ("perceptiongpt", "perceptiongpt-7b")])
def test_loading_holds_about_one_model_not_a_state_dict_beside_it(tmp_path, family, model):
    pytest.importorskip("torch")
    folder = _build(family, tmp_path / family)
    on_disk = sum(p.stat().st_size for p in folder.glob("pytorch_model-*.bin"))
    assert on_disk > 300e6 and len(list(folder.glob("pytorch_model-*.bin"))) == 2
    done = subprocess.run([sys.executable, __file__, model, str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["same_as_the_files"], row
    assert row["rise"] <= BOUND * row["weights16"], (
        f"loading rose {row['rise'] / 1e6:.0f} MB for {row['weights16'] / 1e6:.0f} MB of float16 weights "
        f"({row['rise'] / row['weights16']:.2f}×, bound {BOUND}×): the loader holds more than one model's worth"
    )


# ------------------------------------------------------------------------------------------- the child


def _child(model: str, folder: Path) -> None:
    """Load ``folder`` in float16, then print the rise in resident memory, the weights' float16 size, and whether
    the language model holds the files' values."""
    import transformers.models.clip.modeling_clip  # noqa: F401  (imports are not the loader's memory)
    import transformers.models.llama.modeling_llama  # noqa: F401

    import vipbench.models.osprey
    import vipbench.models.perceptiongpt  # noqa: F401
    from vipbench.models import create_model

    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status("VmRSS")
    adapter = create_model(model, model_path=str(folder), device="cpu", dtype="float16")
    rise = _status("VmHWM") - before
    tensors = [*adapter.model.parameters(), *adapter.model.buffers()]
    weights16 = 2 * sum(t.numel() for t in tensors)
    print(json.dumps({"rise": rise, "weights16": weights16, "same_as_the_files": _same(adapter.model, folder)}))


def _same(model, folder: Path) -> bool:
    """The language model's weights are the shards' (the peft layout's LoRA merged), in float16."""
    import torch

    files = {}
    for shard in sorted(folder.glob("pytorch_model-*.bin")):
        files |= torch.load(shard, weights_only=True)
    files = {k.replace("base_model.model.", "").replace(".base_layer.", "."): v for k, v in files.items()}
    for name, tensor in model.llm.state_dict().items():
        expected = files[name]
        lora = [files.get(name.replace(".weight", f".lora_{w}.default.weight")) for w in "AB"]
        if lora[0] is not None:
            expected = expected + (64.0 / lora[0].shape[0]) * (lora[1] @ lora[0])
        if not torch.equal(tensor, expected.half()):
            return False
    return True


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
