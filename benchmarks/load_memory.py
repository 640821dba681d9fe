"""Peak host memory (RSS) of loading each model family's 7B through vipbench's own adapter, on the CPU.

    python benchmarks/load_memory.py                        # every family at 2 and 4 decoder layers
    python benchmarks/load_memory.py --layers 2,4,8         # deeper, for a better fit
    python benchmarks/load_memory.py --quick                # ViP-LLaVA at 1 and 2 layers, in a minute or two

For each family it writes a random-weight checkpoint in the family's official on-disk layout with the real 7B
sizes (hidden 4096, the real vocabulary, the real vision tower and heads, OMG-LLaVA's rank-512 LoRA) but only a
few decoder layers, saved in float16 as the releases are; then loads it with
``create_model(name, model_path=..., device="cpu", dtype=...)`` in a fresh process and reads that process's
peak RSS (``VmHWM``). A straight line over depth, extrapolated to the LLM's 32 layers, gives the full 7B's
figure; the ratio is peak RSS over the loaded model's weights at 16 bits. Every build and load runs in a process
of its own, so one family's memory never counts in another's. The checkpoint's vision side is the real one
(CLIP ViT-L/14, ConvNeXt-L, OMG-Seg's head), but the open_clip file holds only the ConvNeXt trunk the loaders
read, not open_clip's whole model.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FULL_DEPTH = 32  # Vicuna-7B, LLaMA-7B and InternLM2-7B all have 32 decoder layers
#: Vicuna-7B / LLaMA-7B's decoder sizes (the vocabulary is each family's own).
LLAMA_7B = {
    "hidden_size": 4096,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "intermediate_size": 11008,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5,
}
#: CLIP ViT-L/14's vision tower (LLaVA-1.5 and ViP-LLaVA at 336 px, PerceptionGPT at 224 px).
CLIP_L_VISION = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "projection_dim": 768,
}
#: family → (vipbench model name, builder name).
FAMILIES = {
    "vip-llava": ("vip-llava-7b", "build_llava"),
    "llava-1.5": ("llava-1.5-7b", "build_llava"),
    "osprey": ("osprey-7b", "build_osprey"),
    "omg-llava": ("omg-llava-7b", "build_omg_llava"),
    "perceptiongpt": ("perceptiongpt-7b", "build_perceptiongpt"),
}


# ------------------------------------------------------------------------------------------- builders


def build_llava(out: Path, family: str, layers: int) -> None:
    """ViP-LLaVA / LLaVA-1.5 7B (llava-hf layout: ``save_pretrained`` safetensors, processor)."""
    import torch

    from vipbench.models.tiny.llava import build_tiny

    build_tiny(
        out,
        "vipllava" if family == "vip-llava" else "llava",
        image_size=336,
        patch_size=14,
        text={**LLAMA_7B, "vocab_size": 32064, "num_hidden_layers": layers},
        vision=CLIP_L_VISION,
        dtype=torch.float16,
    )


def build_osprey(out: Path, family: str, layers: int) -> None:
    """Osprey-7b's layout (as ``vipbench.models.tiny.osprey``): config.json, two ``.bin`` shards with their index,
    the tokenizer, and the ConvNeXt-L trunk in ``open_clip_pytorch_model.bin``; the real geometry (512 px)."""
    import torch

    from vipbench.models.osprey_modeling import OspreyModel
    from vipbench.models.tiny import save_two_shards, tiny_tokenizer

    vocab, tokenizer = tiny_tokenizer()
    config = {
        "model_type": "osprey",
        "architectures": ["OspreyLlamaForCausalLM"],
        **LLAMA_7B,
        "vocab_size": 32003,
        "num_hidden_layers": layers,
        "bos_token_id": vocab["<s>"],
        "eos_token_id": vocab["</s>"],
        "pad_token_id": vocab["<pad>"],
        "mm_vision_tower": "/data/osprey/open_clip_pytorch_model.bin",
        "mm_projector_type": "mlp2x_gelu",
    }
    with _default_dtype(torch.float16):
        model = OspreyModel(config).eval()
    official, clip = {}, {"visual.head.mlp.fc1.weight": torch.zeros(2, 2), "logit_scale": torch.ones(())}
    for name, tensor in model.state_dict().items():
        if name.startswith("vision."):
            clip["visual.trunk." + name.removeprefix("vision.")] = tensor
        elif name.startswith("projector."):
            official["model.mm_projector." + name.removeprefix("projector.")] = tensor
        else:
            official[name.removeprefix("llm.")] = tensor
    del model
    out.mkdir(parents=True, exist_ok=True)
    save_two_shards(official, out)
    del official
    torch.save({k: v.clone() for k, v in clip.items()}, out / "open_clip_pytorch_model.bin")
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(out)


def build_omg_llava(out: Path, family: str, layers: int) -> None:
    """zhangtao-whu/OMG-LLaVA's layout (as ``vipbench.models.tiny.omg_llava``): InternLM2-chat-7B's base weights
    in safetensors shards, the fine-tune ``.pth`` with a rank-512 LoRA pair on every linear layer and the resized
    embeddings and ``output`` in full, OMG-Seg's head file, the class embeddings and the ConvNeXt-L trunk."""
    import torch

    from vipbench.models import internlm2
    from vipbench.models.omg_llava_modeling import (
        ADDED_TOKENS,
        CLASSES_FILE,
        FINETUNE_FILE,
        HEAD_FILE,
        LLM_FOLDER,
        PEFT_PREFIX,
        Geometry,
        OMGLLaVAModel,
    )
    from vipbench.models.tiny import save_two_shards, tiny_tokenizer
    from vipbench.models.tiny.omg_llava import CHAT_TOKENS, LORA_MODULES, from_llama, internlm2_config

    rank, classes = 512, (133, 1, 768)  # upstream's LoRA rank; COCO panoptic's classes
    _, tokenizer = tiny_tokenizer()
    tokenizer.add_tokens(CHAT_TOKENS, special_tokens=True)
    vocab = 92544
    config = internlm2_config(
        tokenizer, vocab, hidden=4096, intermediate=14336, layers=layers, heads=32, kv_heads=8, max_positions=32768
    )
    (out / LLM_FOLDER).mkdir(parents=True, exist_ok=True)
    with _default_dtype(torch.float16):
        model = OMGLLaVAModel(Geometry(), internlm2.llama_config(config, vocab + len(ADDED_TOKENS)), classes)
    state = model.state_dict()
    del model
    llm = from_llama({k.removeprefix("llm."): state.pop(k) for k in list(state) if k.startswith("llm.")}, 32, 8)
    finetune: dict = {}
    base: dict = {}
    for key in list(llm):
        tensor = llm.pop(key)
        module = key.removesuffix(".weight")
        if module == "output" or module.endswith(LORA_MODULES):  # random pairs: only their size matters here
            finetune[f"{PEFT_PREFIX}{module}.lora_A.default.weight"] = torch.randn(rank, tensor.shape[1]) * 0.02
            finetune[f"{PEFT_PREFIX}{module}.lora_B.default.weight"] = torch.zeros(tensor.shape[0], rank)
            for which in ("A", "B"):
                name = f"{PEFT_PREFIX}{module}.lora_{which}.default.weight"
                finetune[name] = finetune[name].half()
        if module in ("output", "model.tok_embeddings"):  # trained in full after the resize: in the fine-tune
            name = f"{module}.base_layer.weight" if module == "output" else key
            finetune[PEFT_PREFIX + name] = tensor
            base[key] = tensor[:vocab].clone()  # the original, smaller vocabulary
        else:
            base[key] = tensor
    finetune |= {k: v for k, v in state.items() if k.startswith(("projector.", "projector_text2vision."))}
    torch.save(finetune, out / FINETUNE_FILE)
    del finetune
    save_two_shards(base, out / LLM_FOLDER, fmt="safetensors")
    del base
    (out / LLM_FOLDER / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(out / LLM_FOLDER)
    head = {"panoptic_head." + k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")}
    torch.save({"meta": {}, "state_dict": head}, out / HEAD_FILE)
    clip = {"visual.trunk." + k.removeprefix("trunk."): v for k, v in state.items() if k.startswith("trunk.")}
    clip |= {"visual.trunk.norm_pre.weight": torch.ones(1536), "logit_scale": torch.ones(())}
    torch.save(clip, out / "open_clip_pytorch_model.bin")
    torch.save(torch.nn.functional.normalize(torch.randn(*classes), dim=-1), out / CLASSES_FILE)


def build_perceptiongpt(out: Path, family: str, layers: int) -> None:
    """PerceptionGPT as upstream saves it (as ``vipbench.models.tiny.perceptiongpt``, merged layout): config.json,
    two ``.bin`` shards, the tokenizer, and the whole CLIP ViT-L/14 (``clip-vit-large-patch14``) beside them."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from vipbench.models.perceptiongpt_modeling import ADDED_TOKENS, PerceptionGPTModel
    from vipbench.models.tiny import save_two_shards, tiny_tokenizer
    from vipbench.models.tiny.perceptiongpt import _official, _save_clip

    _, tokenizer = tiny_tokenizer()
    tokenizer.add_tokens(list(ADDED_TOKENS), special_tokens=True)
    text = {"vocab_size": 49408, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12}
    text |= {"intermediate_size": 3072, "max_position_embeddings": 77}
    vision = {k: v for k, v in CLIP_L_VISION.items() if k != "projection_dim"} | {"image_size": 224, "patch_size": 14}
    with _default_dtype(torch.float16):
        clip = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=768)).eval()
    config = {
        "model_type": "shikra",
        "architectures": ["PerceptionGPT"],
        **LLAMA_7B,
        "vocab_size": 32000 + len(ADDED_TOKENS),
        "num_hidden_layers": layers,
        "use_cache": False,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "mm_vision_tower": "openai/clip-vit-large-patch14",
        "mm_hidden_size": 1024,
        "mm_vision_select_layer": -2,
        "mm_use_im_start_end": True,
        "use_mm_proj": True,
        "vipbench_random_weights": True,
    }
    with _default_dtype(torch.float16):
        model = PerceptionGPTModel(config, clip.config.vision_config)
    official = _official(model)
    del model
    out.mkdir(parents=True, exist_ok=True)
    save_two_shards(official, out)
    del official
    (out / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(out)
    _save_clip(clip, out / "clip-vit-large-patch14")


class _default_dtype:
    """Build modules straight in ``dtype``: a 7B's layers in float32 would double the builder's memory."""

    def __init__(self, dtype):
        self.dtype = dtype

    def __enter__(self):
        import torch

        self.saved = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)

    def __exit__(self, *exc):
        import torch

        torch.set_default_dtype(self.saved)


# ------------------------------------------------------------------------------------------- the children


def _child_build(family: str, layers: int, out: Path) -> None:
    globals()[FAMILIES[family][1]](out, family, layers)


def _child_load(family: str, folder: Path, dtype: str) -> None:
    """Load as a user would, then print this process's peak RSS and the loaded weights' size, as JSON."""
    import torch  # noqa: F401  (imported before the baseline is read: the interpreter's own share)

    from vipbench.models import create_model

    before = _status("VmRSS")
    started = time.perf_counter()
    adapter = create_model(FAMILIES[family][0], model_path=str(folder), device="cpu", dtype=dtype)
    seconds = time.perf_counter() - started
    model = adapter.model
    numel = sum(t.numel() for t in model.parameters()) + sum(t.numel() for t in model.buffers())
    peak = _status("VmHWM")
    with torch.no_grad():  # read every weight, as a forward pass or a move to the GPU does: mmapped pages count now
        for t in [*model.parameters(), *model.buffers()]:
            t.sum()  # in its own dtype: no float32 copy of the tensor, which would count as the load's memory
    touched = _status("VmHWM")
    print(json.dumps({"peak": peak, "touched": touched, "before": before, "numel": numel, "s": seconds}))


def _status(field: str) -> int:
    """A ``/proc/self/status`` figure in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


# ------------------------------------------------------------------------------------------- the parent


def measure(family: str, layers: int, work: Path, dtype: str) -> dict:
    folder = work / f"{family}-{layers}"
    started = time.perf_counter()
    _run("--child-build", family, str(layers), str(folder))
    built = time.perf_counter() - started
    row = json.loads(_run("--child-load", family, str(folder), dtype).strip().splitlines()[-1])
    disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    shutil.rmtree(folder, ignore_errors=True)
    row |= {"family": family, "layers": layers, "disk": disk, "weights16": row["numel"] * 2, "build_s": built}
    print(
        f"  {family:13} {layers:2} layers: peak {_gb(row['peak'])} GB, weights read {_gb(row['touched'])} GB "
        f"(before load {_gb(row['before'])}), "
        f"weights {_gb(row['weights16'])} GB, disk {_gb(disk)} GB; build {built:.0f} s, load {row['s']:.0f} s",
        flush=True,
    )
    return row


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _fit(rows: list[dict], key: str) -> float:
    """``key`` at FULL_DEPTH, on the straight line through the rows (least squares over depth)."""
    xs = [r["layers"] for r in rows]
    ys = [r[key] for r in rows]
    if len(rows) == 1:
        return float("nan")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my + slope * (FULL_DEPTH - mx)


def _gb(n: float) -> str:
    return f"{n / 1e9:6.2f}"


def table(results: dict[str, list[dict]], dtype: str) -> str:
    head = f"{'family':13} {'layers':>6} {'peak RSS GB':>11} {'read GB':>8} {'weights GB':>10} {'disk GB':>8} "
    head += f"{'peak/weights':>12} {'read/weights':>12}"
    lines = [
        f"peak host RSS loading on the CPU (dtype {dtype}); read = the peak once every weight has been read "
        "(mmapped safetensors count only then); weights = the loaded model at 16 bits",
        head,
    ]
    for family, rows in results.items():
        for r in rows:
            lines.append(
                f"{family:13} {r['layers']:>6} {_gb(r['peak']):>11} {_gb(r['touched']):>8} {_gb(r['weights16']):>10} "
                f"{_gb(r['disk']):>8} {r['peak'] / r['weights16']:>11.2f}× {r['touched'] / r['weights16']:>11.2f}×"
            )
        if len(rows) > 1:
            peak, read, weights, disk = (_fit(rows, k) for k in ("peak", "touched", "weights16", "disk"))
            lines.append(
                f"{family:13} {str(FULL_DEPTH) + '*':>6} {_gb(peak):>11} {_gb(read):>8} {_gb(weights):>10} "
                f"{_gb(disk):>8} {peak / weights:>11.2f}× {read / weights:>11.2f}×"
            )
    lines.append(f"* extrapolated to {FULL_DEPTH} decoder layers by a straight line over depth")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-build":
        return _child_build(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    if len(sys.argv) > 1 and sys.argv[1] == "--child-load":
        return _child_load(sys.argv[2], Path(sys.argv[3]), sys.argv[4])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated (default: all five)")
    parser.add_argument("--layers", default="2,4", help="decoder depths to build (default: 2,4)")
    parser.add_argument("--dtype", default="float16", help="the dtype to load in (default: float16)")
    parser.add_argument("--quick", action="store_true", help="ViP-LLaVA at 1 and 2 layers only")
    args = parser.parse_args()
    families = ["vip-llava"] if args.quick else args.families.split(",")
    depths = [1, 2] if args.quick else [int(n) for n in args.layers.split(",")]
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        raise SystemExit(f"error: unknown famil(ies) {unknown}; choose from {', '.join(FAMILIES)}")
    work = Path(tempfile.mkdtemp(prefix="vipbench-loadmem-"))
    results: dict[str, list[dict]] = {}
    try:
        for family in families:
            for layers in depths:
                try:
                    results.setdefault(family, []).append(measure(family, layers, work, args.dtype))
                except RuntimeError as err:
                    print(f"  {family} at {layers} layers: not measured: {err}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table({f: rows for f, rows in results.items() if rows}, args.dtype))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
