"""``vipbench run``: a model on tasks → predictions, resumable."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from vipbench import distributed
from vipbench.cli.common import (
    add_include_path_option,
    add_results_option,
    non_negative_float,
    positive_int,
    stderr_console,
    stdout_console,
    warn,
)
from vipbench.errors import VipbenchError

RUN_EXAMPLES = """\
examples:
  vipbench run --model vip-llava-7b --tasks vip-bench --data-dir ~/data/ViP-Bench
  vipbench run --model vip-llava-7b --tasks vip-bench-bbox --limit 10          # data from the HF Hub
  vipbench run --model vip-llava-7b --tasks vip-bench --prompt-style arrow,ellipse
  vipbench run --resume                                                          # continue the latest run
"""


def _parse_data_dirs(values: Sequence[str], index, task_names: Sequence[str]) -> dict[str, str]:
    """``KEY=PATH`` pairs, each KEY a dataset the chosen tasks read; a bare PATH when they read exactly one."""
    datasets = {index.task(t).config.dataset.key: index.task(t).config.dataset for t in task_names}
    keys = {key for key, dataset in datasets.items() if not dataset.generated}
    dirs: dict[str, str] = {}
    for value in values:
        key, sep, path = value.partition("=")
        if not sep or os.sep in key:
            if len(keys) != 1:
                raise VipbenchError(
                    f"--data-dir {value}: these tasks read several datasets "
                    f"({', '.join(sorted(keys)) or 'none'}); write --data-dir KEY=PATH"
                )
            key, path = next(iter(keys)), value
        if key not in keys:
            raise VipbenchError(f"--data-dir {key}=...: {_not_a_dataset(key, keys, datasets, index)}")
        dirs[key] = str(Path(path).expanduser().resolve())
    return dirs


def _not_a_dataset(key: str, keys: set[str], datasets: dict, index) -> str:
    from vipbench.errors import UnknownNameError

    if key in datasets:
        return f"the {key} data is generated; it reads no folder"
    if not keys:
        return "the chosen tasks read no data folder"
    if key in index.configs:
        dataset = index.configs[key].dataset.key
        return f"{key} is a task; the dataset it reads is {dataset!r} (--data-dir {dataset}=PATH)"
    return f"{UnknownNameError('dataset', key, keys)} (of the chosen tasks)"


def batch_size(text: str) -> int | str:
    return "auto" if text == "auto" else positive_int(text)


def _where_the_time_went(manifest) -> str:
    t, batch = manifest.timings, manifest.batch
    parts = [f"{name} {t[key]:.1f} s" for name, key in (("data", "plan_s"), ("model load", "load_s")) if key in t]
    parts += [f"generate {t.get('generate_s', 0):.1f} s", f"write {t.get('write_s', 0):.1f} s"]
    return f"time: {' · '.join(parts)}; batch size {batch.get('requested')} (largest used {batch.get('largest_used')})"


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _prompt_styles(text: str | None) -> list[str]:
    styles = [s.strip() for s in text.split(",") if s.strip()] if text else []
    if styles:
        from vipbench.prompting import SHAPES

        bad = [s for s in styles if s not in SHAPES]
        if bad:
            raise VipbenchError(f"unknown prompt style(s) {', '.join(bad)}; choose from {', '.join(SHAPES)}")
    return styles


def _spec_fields(args: argparse.Namespace, index) -> dict:
    """The run settings the command line gives: a new run's spec, or what a resumed run must agree with."""
    shortcuts = {
        k: getattr(args, k)
        for k in ("model_path", "dtype", "conv_template", "image_preprocess", "kv_cache")
        if getattr(args, k) is not None
    }
    return {
        "model": args.model,
        "tasks": index.resolve(args.tasks) if args.tasks else None,
        "limit": args.limit,
        "region_mode": args.region_mode,
        "prompt_styles": _prompt_styles(args.prompt_style),
        "model_options": _model_options(args, shortcuts),
        "generation": {
            k: getattr(args, k) for k in ("max_new_tokens", "temperature", "seed") if getattr(args, k) is not None
        },
        "protocol": args.protocol,
        "finetuned_on": index.resolve(args.finetuned_on) if args.finetuned_on else [],
    }


def cmd_run(args: argparse.Namespace) -> int:
    from vipbench.records import RunSpec
    from vipbench.tasks import TaskIndex

    index = TaskIndex(args.include_path)
    fields = _spec_fields(args, index)
    spec, overrides = None, {}
    if args.resume is None:
        if not args.model or not args.tasks:
            raise VipbenchError("vipbench run needs --model and --tasks (or --resume RUN_ID)")
        fields["protocol"] = fields["protocol"] or "official"
        spec = RunSpec(**fields, data_dirs=_parse_data_dirs(args.data_dir, index, fields["tasks"]))
    else:
        overrides = {k: v or None for k, v in fields.items()}  # given again, each must agree with the run's own
        if args.data_dir:
            from vipbench.store import RunStore

            tasks = RunStore.open(args.results, args.resume).manifest().spec.tasks
            overrides["data_dirs"] = _parse_data_dirs(args.data_dir, index, tasks)
    import signal

    signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` stops as cleanly as Ctrl-C
    console = stderr_console()
    world = distributed.current()  # under torchrun: this process's rank (the process group is joined here)
    try:
        return _run_and_score(args, spec, overrides, index, console, world)
    finally:
        world.close()


def _run_and_score(args: argparse.Namespace, spec, overrides: dict, index, console, world: distributed.World) -> int:
    from vipbench.runner import run

    try:
        store = run(
            spec,
            results_dir=args.results,
            resume=args.resume,
            run_id=args.run_id,
            overrides=overrides,
            index=index,
            batch_size=args.batch_size,
            device=args.device,
            command=["vipbench", *args.argv],
            console=console,
            warn=warn,
            world=world,
        )
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted[/]: finished predictions are saved; continue with [bold]vipbench run --resume[/]"
        )
        return 130
    if not world.leader:
        return 0  # rank 0 reports for every process
    console.print(f"[green]done[/]: {store.path}", soft_wrap=True)
    console.print(_where_the_time_went(store.manifest()), soft_wrap=True)
    return score_finished_run(store, console)


def score_finished_run(store, console) -> int:
    """Score what needs no judge call at once (metric tasks), as lm-evaluation-harness does, and say what waits
    for ``vipbench judge``."""
    from vipbench.scoring.grade import grade_run
    from vipbench.scoring.options import GradingPolicy
    from vipbench.scoring.report import print_scores

    outcome = grade_run(store, GradingPolicy(), console=console, warn=warn)  # no endpoint: no judge call
    if outcome.scores.units and not outcome.kept:  # kept: scores.json holds an earlier, more complete scoring
        print_scores(outcome, stdout_console())
    if outcome.waiting:
        console.print(
            f"{', '.join(outcome.waiting)}: graded by an LLM judge; next: [bold]vipbench judge {store.run_id}[/]",
            soft_wrap=True,
        )
    return 1 if outcome.failed else 0


def _model_options(args: argparse.Namespace, shortcuts: dict) -> dict:
    """--model-args, then the shortcut flags (which win), checked against the model's adapter."""
    if not args.model:
        if args.model_args:
            raise VipbenchError("--model-args needs --model")
        return shortcuts  # a resumed run checks them against its own
    from vipbench.models import check_model_options, parse_model_args

    options = {**(parse_model_args(args.model, args.model_args) if args.model_args else {}), **shortcuts}
    check_model_options(args.model, options)
    return options


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a model on tasks and write predictions",
        description="Run a model on tasks. Predictions are appended to results/<run-id>/"
        "predictions.jsonl as each batch finishes; a killed run continues with --resume.",
        epilog=RUN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", help="registered model name (see: vipbench models)")
    p.add_argument("--tasks", help="comma-separated task or group names, or 'all' (see: vipbench tasks)")
    p.add_argument(
        "--data-dir",
        action="append",
        default=[],
        metavar="[KEY=]PATH",
        help="local dataset folder in the official layout, e.g. vip-bench=~/ViP-Bench "
        "(default: download from the Hugging Face Hub)",
    )
    p.add_argument(
        "--model-args",
        metavar="KEY=VALUE,...",
        help="keyword arguments of the model's adapter, e.g. dtype=float16,conv_template=hf "
        "(an unknown key is refused with the list of valid ones)",
    )
    p.add_argument("--model-path", help="local checkpoint folder in Hugging Face format, instead of the hub id")
    p.add_argument("--limit", type=positive_int, help="only the first N samples of each task (smoke runs)")
    p.add_argument(
        "--batch-size",
        type=batch_size,
        metavar="N|auto",
        help="requests per generate call. auto (the default on a GPU) starts at 128 and halves after an "
        "out-of-memory error, retrying the same requests; the manifest records the largest used. Default on a "
        "CPU: 1",
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        help="weights' dtype. Default on a GPU, the precision of each model's own evaluation: float16 for ViP-LLaVA, "
        "LLaVA-1.5, OMG-LLaVA; bfloat16 for Osprey, PerceptionGPT; on a CPU: float32",
    )
    p.add_argument(
        "--kv-cache",
        choices=["dynamic", "static"],
        help="LLaVA family: static preallocates the KV cache so transformers compiles the decoding step on a GPU. "
        "Measured on an H100 (7B): about 2x faster per batch at batch 1 and 8, after a 35-53 s compile for each "
        "new batch shape; it pays off only on long runs (default: dynamic)",
    )
    p.add_argument(
        "--protocol",
        choices=["official", "vipbench"],
        help="official (default): each task as the model family's own evaluation script runs it (template, "
        "question, image preprocessing, decoding); vipbench: vipbench's own settings (greedy everywhere), each "
        "difference recorded as a deviation",
    )
    p.add_argument(
        "--conv-template",
        help="conversation template, for every task (default: each task's protocol: vicuna_v1 for POPE and "
        "LLaVA-Bench, llava_v1 for ViP-LLaVA's scripts); a deviation where it differs",
    )
    p.add_argument(
        "--image-preprocess",
        choices=["pad", "crop", "resize"],
        help="pad to square with the CLIP mean colour, HF centre crop, or squash (default: each task's protocol: "
        "pad, resize for VCR); a deviation where it differs",
    )
    p.add_argument("--max-new-tokens", type=positive_int, help="override the task's generation length (a deviation)")
    p.add_argument(
        "--temperature",
        type=non_negative_float,
        help="0 is greedy (default: each task's protocol; ViP-LLaVA's VCR, V7W and PointQA scripts sample at 0.2)",
    )
    p.add_argument(
        "--seed",
        type=int,
        help="base seed of sampled decoding; each sample is sampled with its own seed drawn from it (default 0)",
    )
    p.add_argument(
        "--region-mode",
        choices=["overlay", "mask", "box", "coords", "point"],
        help="how regions reach the model (default: the first mode both model and task support)",
    )
    p.add_argument(
        "--prompt-style",
        metavar="SHAPE[,SHAPE...]",
        help="redraw regions from the source annotations in these shapes (rectangle, ellipse, point, "
        "triangle, mask, 'mask contour', arrow, scribble) and score each shape separately",
    )
    p.add_argument(
        "--finetuned-on",
        metavar="TASK[,TASK...]",
        help="tasks or groups the checkpoint was fine-tuned on (e.g. vcr for vip-llava-7b-base-vcr-ft): their "
        "scores are labelled fine-tuned and never ranked with zero-shot results",
    )
    p.add_argument("--run-id", help="name of the run folder (default: <timestamp>_<model>)")
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="RUN_ID",
        help="continue a run (default: the latest); only missing samples are generated",
    )
    add_results_option(p)
    add_include_path_option(p)
    p.set_defaults(handler=cmd_run)
