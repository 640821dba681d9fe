"""Generation throughput of ``vipbench run`` against raw ``model.generate`` on the same inputs.

    python benchmarks/gpu_generate.py                       # a random-weight ViP-LLaVA-7B on the GPU
    python benchmarks/gpu_generate.py --samples 400         # vip-synth's 400 items (the end-to-end target)
    python benchmarks/gpu_generate.py --smoke               # the tiny model on the CPU (CI keeps it alive)

It builds a random-weight model of the real architecture from the real config classes (7.08 B parameters, CLIP
ViT-L/14 at 336 px; random weights never stop early, so every sample generates ``--new-tokens``), saves it, and
runs ``vipbench run`` on vip-synth at batch 1, the default batch and ``auto``. For each it prints samples/s,
tokens/s, peak GPU memory, the whole command's time and where it went, and the ratio of vipbench's generate step
to raw ``model.generate`` at the same batch size on the same prepared inputs (target ≥ 90 %). It also prints the
agreement of greedy answers between batch 1 and the default batch (identical on the CPU; on a GPU, reported).
Absolute figures vary between machine starts: compare the rows of one run only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from vipbench.models import create_model
from vipbench.models.tiny.llava import build_tiny
from vipbench.planning import plan
from vipbench.records import RunSpec
from vipbench.runner import run
from vipbench.tasks import TaskIndex

#: llava-hf/vip-llava-7b-hf's sizes: Vicuna-7B and CLIP ViT-L/14-336.
VIP_LLAVA_7B = {
    "text": {
        "vocab_size": 32064,
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "intermediate_size": 11008,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
    },
    "vision": {
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
        "projection_dim": 768,
    },
    "image_size": 336,
    "patch_size": 14,
}


def build(out: Path, smoke: bool) -> Path:
    if smoke:
        return build_tiny(out, "vipllava")
    started = time.perf_counter()
    sizes = VIP_LLAVA_7B
    build_tiny(
        out,
        "vipllava",
        image_size=sizes["image_size"],
        patch_size=sizes["patch_size"],
        text=sizes["text"],
        vision=sizes["vision"],
        dtype=torch.float16,
        device="cuda",
    )
    print(f"built a random-weight ViP-LLaVA-7B in {time.perf_counter() - started:.0f} s", flush=True)
    return out


def raw_generate(checkpoint: Path, samples: int, batch: int, new_tokens: int, device: str) -> float:
    """Samples/s of ``model.generate`` alone, on inputs prepared beforehand exactly as vipbench prepares them."""
    adapter = create_model("vip-llava-7b", model_path=str(checkpoint), device=device)
    (planned,) = plan(RunSpec(model="vip-llava-7b", tasks=["vip-synth"], limit=samples), TaskIndex(), print)
    requests = planned.requests[:samples]
    inputs = [adapter.inputs(requests[i : i + batch]) for i in range(0, len(requests), batch)]
    pad = adapter.processor.tokenizer.pad_token_id
    kwargs = {"max_new_tokens": new_tokens, "do_sample": False, "pad_token_id": pad}  # as the adapter asks
    adapter.model.generate(**inputs[0], **kwargs)  # warm-up, as vipbench's first batch is
    _sync(device)
    started = time.perf_counter()
    with torch.inference_mode():
        for batch_inputs in inputs:
            adapter.model.generate(**batch_inputs, **kwargs)
    _sync(device)
    elapsed = time.perf_counter() - started
    del adapter
    _free(device)
    return len(requests) / elapsed


def vipbench_run(checkpoint: Path, results: Path, samples: int, batch, new_tokens: int, device: str, name: str):
    spec = RunSpec(
        model="vip-llava-7b",
        tasks=["vip-synth"],
        limit=samples,
        model_options={"model_path": str(checkpoint)},
        generation={"max_new_tokens": new_tokens},
    )
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    store = run(spec, results_dir=results, run_id=f"batch-{name}", batch_size=batch, device=device, warn=print)
    whole = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0
    _free(device)
    return store, whole, peak


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _free(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="the tiny model on the CPU, in seconds")
    parser.add_argument("--samples", type=int, help="vip-synth items per run (default: 128; smoke: 8)")
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens generated per sample (default: 64)")
    parser.add_argument("--batches", default="1,default,auto", help="batch sizes to run (default: 1,default,auto)")
    args = parser.parse_args()
    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no GPU here: run with --smoke for the CPU smoke test")
    samples = args.samples or (8 if args.smoke else 128)
    work = Path(tempfile.mkdtemp(prefix="vipbench-gpu-"))
    try:
        checkpoint = build(work / "model", args.smoke)
        default = 1 if args.smoke else "auto"
        rows, answers = [], {}
        for name in args.batches.split(","):
            batch = default if name == "default" else ("auto" if name == "auto" else int(name))
            store, whole, peak = vipbench_run(
                checkpoint, work / "results", samples, batch, args.new_tokens, device, name
            )
            manifest = store.manifest()
            used = manifest.batch["largest_used"]
            generate = manifest.timings["generate_s"]
            raw = raw_generate(checkpoint, samples, used, args.new_tokens, device)
            rate = samples / generate
            rows.append(
                f"batch {name:>7} (used {used:>3}): {rate:7.2f} samples/s  {rate * args.new_tokens:8.0f} tokens/s  "
                f"peak {peak:5.1f} GiB  raw generate {raw:7.2f} samples/s  vipbench/raw {rate / raw:6.1%}  "
                f"whole command {whole:6.1f} s (load {manifest.timings['load_s']:.1f} s, "
                f"data {manifest.timings['plan_s']:.1f} s, write {manifest.timings['write_s']:.1f} s)"
            )
            answers[name] = [p.prediction for p in store.predictions()]
        print(f"\n{samples} vip-synth samples × {args.new_tokens} new tokens on {_device_name(device)}")
        print("\n".join(rows))
        if "1" in answers and "default" in answers:
            same = sum(a == b for a, b in zip(answers["1"], answers["default"]))
            print(f"greedy answers identical between batch 1 and the default batch: {same}/{samples}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device.startswith("cuda") else "the CPU (tiny model: a smoke test)"


if __name__ == "__main__":
    main()
