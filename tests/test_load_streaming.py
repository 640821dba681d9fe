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
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: A language model big enough for its memory to stand out of the interpreter's noise (~85 M parameters).
WIDER_LLAMA = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 2048}
#: The rise allowed while loading, as a multiple of the loaded model's weights at 16 bits (the issue's target).
BOUND = 1.3
#: glibc's malloc serves an allocation under its threshold (raised as large blocks are freed, up to 32 MB) from
#: heaps that keep what is freed, scattered; every tensor of a 7B is tens of MB, each mapped apart and returned when
#: freed, but this checkpoint's are a few MB. A fixed threshold makes them allocate as a 7B's do, so the figure is
#: what the loader holds, not how the allocator keeps its free space.
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}

pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc")


def _build(family: str, out: Path) -> Path:
    from vipbench.models import tiny
    from vipbench.models.tiny import omg_llava

    with pytest.MonkeyPatch.context() as patch:
        for key, value in WIDER_LLAMA.items():
            patch.setitem(tiny.TINY_LLAMA, key, value)
        if family == "osprey":
            from vipbench.models.tiny.osprey import build_tiny_osprey

            return build_tiny_osprey(out)
        if family == "perceptiongpt":
            from vipbench.models.tiny.perceptiongpt import build_tiny_perceptiongpt

            return build_tiny_perceptiongpt(out, layout="peft")
        wider = omg_llava.internlm2_config  # InternLM2's sizes are arguments there, not TINY_LLAMA
        sizes = {"hidden": 768, "intermediate": 2048, "layers": 16, "heads": 12, "kv_heads": 4}
        patch.setattr(omg_llava, "internlm2_config", lambda *args, **kw: wider(*args, **(kw | sizes)))
        return omg_llava.build_tiny_omg_llava(out)


#: family → (model name, the files its language model is in, relative to the checkpoint).
FAMILIES = {
    "osprey": ("osprey-7b", "pytorch_model-*.bin"),
    "perceptiongpt": ("perceptiongpt-7b", "pytorch_model-*.bin"),
    "omg-llava": ("omg-llava-7b", "internlm2-chat-7b/model-*.safetensors"),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_loading_holds_about_one_model_not_a_state_dict_beside_it(tmp_path, family):
    pytest.importorskip("torch")
    model, shards = FAMILIES[family]
    folder = _build(family, tmp_path / family)
    files = list(folder.glob(shards))
    assert sum(p.stat().st_size for p in files) > 300e6 and len(files) == 2
    child = [sys.executable, __file__, family, str(folder)]
    done = subprocess.run(child, capture_output=True, text=True, env=os.environ | ALLOCATOR)
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["same_as_the_files"], row
    assert row["rise"] <= BOUND * row["weights16"], (
        f"loading rose {row['rise'] / 1e6:.0f} MB for {row['weights16'] / 1e6:.0f} MB of float16 weights "
        f"({row['rise'] / row['weights16']:.2f}×, bound {BOUND}×): the loader holds more than one model's worth"
    )


# ------------------------------------------------------------------------------------------- the child


def _child(family: str, folder: Path) -> None:
    """Load ``folder`` in float16, then print the rise in resident memory, the weights' float16 size, and whether
    the language model holds the files' values."""
    import transformers.models.clip.modeling_clip  # noqa: F401  (imports are not the loader's memory)
    import transformers.models.llama.modeling_llama  # noqa: F401

    import vipbench.models.omg_llava
    import vipbench.models.osprey
    import vipbench.models.perceptiongpt  # noqa: F401
    from vipbench.models import create_model

    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status("VmRSS")
    adapter = create_model(FAMILIES[family][0], model_path=str(folder), device="cpu", dtype="float16")
    rise = _status("VmHWM") - before
    tensors = [*adapter.model.parameters(), *adapter.model.buffers()]
    weights16 = 2 * sum(t.numel() for t in tensors)
    same = _same(adapter.model.llm, _expected_llm(family, folder))
    print(json.dumps({"rise": rise, "weights16": weights16, "same_as_the_files": same}))


def _expected_llm(family: str, folder: Path) -> dict:
    """The language model's weights, read the plain way: every file whole, the LoRA merged by hand."""
    import torch

    from vipbench.models import internlm2
    from vipbench.models.weights import read_tensors

    if family != "omg-llava":
        files = read_tensors(folder, "the shards")
        files = {k.replace("base_model.model.", "").replace(".base_layer.", "."): v for k, v in files.items()}
        return _merged(files, 64.0)
    files = read_tensors(folder / "internlm2-chat-7b", "the base")
    finetune = torch.load(folder / "omg_llava_7b_finetune_8gpus.pth", weights_only=True)
    prefix = "llm.base_model.model."
    files |= {k.removeprefix(prefix).replace(".base_layer.", "."): v for k, v in finetune.items() if prefix in k}
    config = json.loads((folder / "internlm2-chat-7b" / "config.json").read_text())
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    return internlm2.to_llama(_merged(files, 256.0), heads, kv_heads, folder)


def _merged(files: dict, alpha: float) -> dict:
    out = {}
    for key, tensor in files.items():
        if ".lora_" in key:
            continue
        a, b = (files.get(key.replace(".weight", f".lora_{w}.default.weight")) for w in "AB")
        out[key] = tensor if a is None else tensor + (alpha / a.shape[0]) * (b @ a)
    return out


def _same(llm, expected: dict) -> bool:
    import torch

    return all(torch.equal(tensor, expected[name].half()) for name, tensor in llm.state_dict().items())


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


if __name__ == "__main__":
    _child(sys.argv[1], Path(sys.argv[2]))
