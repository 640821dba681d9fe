"""The ``vipbench`` command. Only argparse loads at start-up; each handler imports what it needs, so
``vipbench --help`` stays fast and never imports torch."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from vipbench.errors import VipbenchError

DEFAULT_RESULTS = Path(os.environ.get("VIPBENCH_RESULTS", "results"))

RUN_EXAMPLES = """\
examples:
  vipbench run --model vip-llava-7b --tasks vip-bench --data-dir ~/data/ViP-Bench
  vipbench run --model vip-llava-7b --tasks vip-bench-bbox --limit 10          # data from the HF Hub
  vipbench run --model vip-llava-7b --tasks vip-bench --prompt-style arrow,ellipse
  vipbench run --resume                                                          # continue the latest run
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _stdout():
    from rich.console import Console

    return Console()


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------------- run


def _parse_data_dirs(values: Sequence[str], index, task_names: Sequence[str]) -> dict[str, str]:
    """``KEY=PATH`` pairs; a bare PATH is allowed when the chosen tasks need exactly one dataset."""
    keys = {index.task(t).config.dataset.key for t in task_names if index.task(t).config.dataset.hf_id}
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
        dirs[key] = str(Path(path).expanduser().resolve())
    return dirs


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _cmd_run(args: argparse.Namespace) -> int:
    from vipbench.records import RunSpec
    from vipbench.runner import run
    from vipbench.tasks import TaskIndex

    model_options = {
        k: getattr(args, k)
        for k in ("model_path", "dtype", "conv_template", "image_preprocess")
        if getattr(args, k) is not None
    }
    generation = {k: getattr(args, k) for k in ("max_new_tokens", "temperature") if getattr(args, k) is not None}
    styles = [s.strip() for s in args.prompt_style.split(",") if s.strip()] if args.prompt_style else []
    if styles:
        from vipbench.prompting import SHAPES

        bad = [s for s in styles if s not in SHAPES]
        if bad:
            raise VipbenchError(f"unknown prompt style(s) {', '.join(bad)}; choose from {', '.join(SHAPES)}")
    index = TaskIndex(args.include_path)
    spec = None
    overrides: dict = {}
    if args.resume is None:
        if not args.model or not args.tasks:
            raise VipbenchError("vipbench run needs --model and --tasks (or --resume RUN_ID)")
        from vipbench.models import MODELS

        MODELS.entry(args.model)  # an unknown name fails here, before any data is read
        tasks = index.resolve(args.tasks)
        spec = RunSpec(
            model=args.model,
            tasks=tasks,
            limit=args.limit,
            region_mode=args.region_mode,
            prompt_styles=styles,
            data_dirs=_parse_data_dirs(args.data_dir, index, tasks),
            model_options=model_options,
            generation=generation,
        )
    else:
        tasks = index.resolve(args.tasks) if args.tasks else None
        overrides = {
            "model": args.model,
            "tasks": tasks,
            "limit": args.limit,
            "region_mode": args.region_mode,
            "prompt_styles": styles or None,
            "model_options": model_options or None,
            "generation": generation or None,
        }
    import signal

    signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` stops as cleanly as Ctrl-C
    console = _console()
    try:
        store = run(
            spec,
            results_dir=args.results,
            resume=args.resume,
            run_id=args.run_id,
            overrides=overrides,
            include_paths=args.include_path,
            batch_size=args.batch_size,
            device=args.device,
            command=["vipbench", *args.argv],
            console=console,
            warn=_warn,
        )
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted[/]: finished predictions are saved; continue with [bold]vipbench run --resume[/]"
        )
        return 130
    console.print(f"[green]done[/]: {store.path}  (next: [bold]vipbench judge {store.run_id}[/])", soft_wrap=True)
    return 0


def _add_run(sub) -> None:
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
    p.add_argument("--model-path", help="local checkpoint folder in Hugging Face format, instead of the hub id")
    p.add_argument("--limit", type=_positive_int, help="only the first N samples of each task (smoke runs)")
    p.add_argument(
        "--batch-size", type=_positive_int, help="requests per generate call (default: 8 on a GPU, 1 on a CPU)"
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        help="weights' dtype (default: bfloat16 on a GPU, float32 on a CPU)",
    )
    p.add_argument("--conv-template", help="conversation template (ViP-LLaVA default: llava_v1, as the paper)")
    p.add_argument(
        "--image-preprocess",
        choices=["pad", "crop", "resize"],
        help="pad to square with the CLIP mean colour (default, as the paper), HF centre crop, or squash",
    )
    p.add_argument(
        "--max-new-tokens", type=_positive_int, help="override the task's generation length (ViP-Bench: 1024)"
    )
    p.add_argument(
        "--temperature", type=_non_negative_float, help="0 is greedy (the default of every supported recipe)"
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
    p.add_argument("--run-id", help="name of the run folder (default: <timestamp>_<model>)")
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="RUN_ID",
        help="continue a run (default: the latest); only missing samples are generated",
    )
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default: ./results)")
    p.add_argument(
        "--include-path", action="append", type=Path, default=[], metavar="DIR", help="extra folder of task YAML files"
    )
    p.set_defaults(handler=_cmd_run)


# -------------------------------------------------------------------------------------------------- judge

JUDGE_EXAMPLES = """\
examples:
  vipbench judge                                   # the latest run, the paper's judge (gpt-4-0613), OPENAI_API_KEY
  vipbench judge RUN_ID --judge gpt-4o-2024-08-06 --runs 5
  vipbench judge RUN_ID --base-url http://localhost:8000/v1 --judge Qwen/Qwen2.5-72B-Instruct
  vipbench judge RUN_ID --judge-template ~/ViP-LLaVA/scripts/eval/vip-bench_evaluator.py

The API key is read from OPENAI_API_KEY and never written anywhere. Every reply is cached
(~/.cache/vipbench/judge-cache.sqlite, or $VIPBENCH_CACHE), so running the same command again is free.
"""


def _cmd_judge(args: argparse.Namespace) -> int:
    from vipbench.grading import JudgeOptions, grade_run
    from vipbench.report import print_scores
    from vipbench.store import RunStore

    store = RunStore.open(args.results, args.run)
    options = JudgeOptions(
        judge_model=args.judge,
        base_url=args.base_url,
        runs=args.runs,
        concurrency=args.concurrency,
        template=args.judge_template,
        cost_limit=args.cost_limit,
        prices=args.prices,
        timeout=args.timeout,
        max_retries=args.max_retries,
        backoff_initial=args.backoff,
        cache_path=args.cache,
        include_paths=args.include_path,
    )
    console = _console()
    outcome = grade_run(store, options, console=console)
    print_scores(outcome, _stdout())  # the report on stdout, progress and errors on stderr
    if outcome.failed and not args.allow_failures:
        console.print(
            f"[red]{outcome.failed} grade(s) failed[/] (reasons in judgements.jsonl); run the command "
            "again to retry them, or pass --allow-failures to accept scores over the graded items only"
        )
        return 1
    return 0


def _add_judge(sub) -> None:
    p = sub.add_parser(
        "judge",
        help="grade a run's predictions (LLM judge or metric) and write scores",
        description="Grade a run's predictions with each task's scorer: an OpenAI-compatible LLM "
        "judge on a 0-10 scale (cached, concurrent, retried) or a local metric. Writes "
        "judgements.jsonl, scores.json and scores.csv into the run folder.",
        epilog=JUDGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", nargs="?", help="run id or folder (default: the latest run)")
    p.add_argument("--judge", metavar="MODEL", help="judge model (default: the paper's, gpt-4-0613 for ViP-Bench)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (OpenAI, Azure /openai/v1, vLLM, SGLang, Ollama)")
    p.add_argument(
        "--runs", type=_positive_int, help="independent judge runs per item (default: the task's; ViP-Bench: 5)"
    )
    p.add_argument(
        "--concurrency",
        type=_positive_int,
        default=64,
        help="requests in flight at once (default: 64; lower it if your endpoint rate-limits hard)",
    )
    p.add_argument(
        "--judge-template",
        type=Path,
        metavar="PATH",
        help="jinja2 template, or the official grader script (its prompt string is used)",
    )
    p.add_argument(
        "--allow-failures",
        action="store_true",
        help="exit 0 even if some grades failed after their retries (they are still reported)",
    )
    p.add_argument(
        "--cost-limit", type=_non_negative_float, metavar="USD", help="refuse to spend more than this on judge calls"
    )
    p.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help="YAML/JSON price table: model: {input: $, output: $} per million tokens",
    )
    p.add_argument("--timeout", type=_non_negative_float, default=60.0, help="seconds per request before it is retried")
    p.add_argument(
        "--max-retries", type=_non_negative_int, default=6, help="retries per request on 429, 5xx and timeouts"
    )
    p.add_argument(
        "--backoff",
        type=_non_negative_float,
        default=1.0,
        metavar="SECONDS",
        help="first wait before a retry; it doubles each time, with jitter (a Retry-After header wins)",
    )
    p.add_argument("--cache", type=Path, metavar="FILE", help="judge reply cache (SQLite)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default: ./results)")
    p.add_argument(
        "--include-path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="extra folder of task YAML files (for runs of tasks defined outside vipbench)",
    )
    p.set_defaults(handler=_cmd_judge)


# -------------------------------------------------------------------------------------- leaderboard, demo


def _cmd_leaderboard_build(args: argparse.Namespace) -> int:
    from vipbench.leaderboard import build_site

    index = build_site(args.results, args.out)
    print(f"leaderboard: {index}  (open it in a browser, or publish the folder as-is)")
    return 0


def _add_leaderboard(sub) -> None:
    p = sub.add_parser("leaderboard", help="build the static leaderboard site from every scored run")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = actions.add_parser(
        "build",
        help="write a static site (no server, no network) from results/",
        description="Turn every scored run in the results folder into a static website: "
        "score tables, charts, a sample browser and model comparison. It never calls "
        "a judge or loads a model; open index.html from disk or publish the folder.",
    )
    b.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default: ./results)")
    b.add_argument("--out", type=Path, help="output folder (default: <results>/leaderboard)")
    b.set_defaults(handler=_cmd_leaderboard_build)


DEMO_MODELS = ("oracle", "blind", "vip-llava-tiny")


def _cmd_demo(args: argparse.Namespace) -> int:
    """The whole pipeline offline: vip-synth on the baselines (and the tiny ViP-LLaVA when the [models] extra
    is installed), scored, then the leaderboard. Run it again and finished steps are skipped."""
    import importlib.util

    from vipbench.grading import JudgeOptions, grade_run
    from vipbench.leaderboard import build_site
    from vipbench.records import RunSpec
    from vipbench.report import print_scores
    from vipbench.runner import run
    from vipbench.store import RunStore

    console = _console()
    models = [m for m in DEMO_MODELS if m != "vip-llava-tiny" or importlib.util.find_spec("torch")]
    if "vip-llava-tiny" not in models:
        console.print(
            "[yellow]note[/]: torch is not installed, so the tiny ViP-LLaVA is left out "
            "(pip install 'vipbench[models]')"
        )
    for model in models:
        run_id = f"demo-{model}"
        exists = (args.results / run_id / "manifest.json").is_file()
        spec = RunSpec(model=model, tasks=["vip-synth"], limit=args.limit)
        store = run(
            None if exists else spec,
            results_dir=args.results,
            resume=run_id if exists else None,
            run_id=run_id,
            console=console,
            warn=_warn,
        )
        print_scores(grade_run(RunStore(store.path), JudgeOptions(), console=console), _stdout())
    index = build_site(args.results, args.out)
    console.print(f"[green]leaderboard[/]: {index}")
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline offline on the built-in vip-synth suite",
        description="Run vip-synth (generated offline) on the oracle and blind baselines, and on a "
        "tiny random ViP-LLaVA when torch is installed; score the runs; build the "
        "leaderboard. Needs no download and no API key.",
    )
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default: ./results)")
    p.add_argument("--out", type=Path, help="leaderboard folder (default: <results>/leaderboard)")
    p.add_argument("--limit", type=_positive_int, help="only the first N samples (quicker)")
    p.set_defaults(handler=_cmd_demo)


# ------------------------------------------------------------------------------------------ tasks, models


def _cmd_tasks(args: argparse.Namespace) -> int:
    from rich.table import Table

    from vipbench.tasks import TaskIndex

    index = TaskIndex(args.include_path)
    table = Table(title="tasks")
    for column in ("task", "groups", "data", "scored by"):
        table.add_column(column, no_wrap=True)
    table.add_column("description")
    for name, config in sorted(index.configs.items()):
        scorer = config.scorer
        scored = f"judge {scorer.judge} ×{scorer.runs}" if scorer.judge else f"metric {scorer.metric}"
        table.add_row(name, ", ".join(config.groups), config.dataset.hf_id or "generated", scored, config.description)
    console = _stdout()
    console.print(table)
    for group, members in sorted(index.groups.items()):
        console.print(f"group [bold]{group}[/]: {', '.join(members)}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from rich.table import Table

    from vipbench.models import MODELS

    table = Table(title="models")
    for column in ("model", "checkpoint"):
        table.add_column(column, no_wrap=True)
    table.add_column("description")
    for entry in MODELS:
        table.add_row(entry.name, str(entry.options.get("checkpoint", "")), entry.description)
    _stdout().print(table)
    return 0


def _add_listings(sub) -> None:
    p = sub.add_parser("tasks", help="list registered tasks and groups")
    p.add_argument("--include-path", action="append", type=Path, default=[], metavar="DIR")
    p.set_defaults(handler=_cmd_tasks)
    p = sub.add_parser("models", help="list registered models")
    p.set_defaults(handler=_cmd_models)


# ------------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    from vipbench import __version__

    parser = argparse.ArgumentParser(
        prog="vipbench",
        description="Evaluate region-level multimodal models: run a model on region benchmarks, grade the answers "
        "with a cached LLM judge, and build a static leaderboard.",
        epilog="pipeline: vipbench run → vipbench judge → vipbench leaderboard build",
    )
    parser.add_argument("--version", action="version", version=f"vipbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(sub)
    _add_run(sub)
    _add_judge(sub)
    _add_leaderboard(sub)
    _add_listings(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except VipbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
