"""``vipbench leaderboard build`` and ``vipbench demo``."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from vipbench.cli.common import (
    add_results_option,
    positive_int,
    stderr_console,
    warn,
)


def _cmd_leaderboard_build(args: argparse.Namespace) -> int:
    from vipbench.leaderboard import build_site

    index = build_site(args.results, args.out, warn=warn)
    print(f"leaderboard: {index}  (open it in a browser, or publish the folder as-is)")
    return 0


def add_leaderboard_parser(sub) -> None:
    p = sub.add_parser("leaderboard", help="build the static leaderboard site from every scored run")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = actions.add_parser(
        "build",
        help="write a static site (no server, no network) from results/",
        description="Turn every scored run in the results folder into a static website: "
        "score tables, charts, a sample browser and model comparison. It never calls "
        "a judge or loads a model; open index.html from disk or publish the folder.",
    )
    add_results_option(b)
    b.add_argument("--out", type=Path, help="output folder (default: <results>/leaderboard)")
    b.set_defaults(handler=_cmd_leaderboard_build)


DEMO_MODELS = ("oracle", "blind", "vip-llava-tiny")


def _cmd_demo(args: argparse.Namespace) -> int:
    """The whole pipeline offline: vip-synth on the baselines (and the tiny ViP-LLaVA when the [models] extra
    is installed), scored, then the leaderboard. Run it again and finished steps are skipped."""
    import importlib.util

    from vipbench.cli.run import score_finished_run
    from vipbench.leaderboard import build_site
    from vipbench.records import RunSpec
    from vipbench.runner import run

    console = stderr_console()
    models = [m for m in DEMO_MODELS if m != "vip-llava-tiny" or importlib.util.find_spec("torch")]
    if "vip-llava-tiny" not in models:
        console.print(
            "[yellow]note[/]: torch is not installed, so the tiny ViP-LLaVA is left out "
            "(pip install 'vipbench[models]')"
        )
    for model in models:
        run_id = f"demo-{model}"
        spec = RunSpec(model=model, tasks=["vip-synth"], limit=args.limit)
        exists = _reuse_demo_run(args.results / run_id, spec, console)
        store = run(
            None if exists else spec,
            results_dir=args.results,
            resume=run_id if exists else None,
            run_id=run_id,
            command=["vipbench", *args.argv],
            console=console,
            warn=warn,
        )
        score_finished_run(store, console)
    index = build_site(args.results, args.out, warn=warn)
    console.print(f"[green]leaderboard[/]: {index}")
    return 0


def _reuse_demo_run(folder: Path, spec, console) -> bool:
    """Whether the demo run in ``folder`` can be continued: one made with other settings (another --limit) is
    made again, since the demo's own runs hold nothing but what the demo generates."""
    from vipbench.store import RunStore

    if not (folder / "manifest.json").is_file():
        return False
    made = RunStore(folder).manifest().spec
    if made == spec:
        return True
    before = "all items" if made.limit is None else f"--limit {made.limit}"
    now = "all items" if spec.limit is None else f"--limit {spec.limit}"
    console.print(f"{folder.name} was made with {before}; making it again with {now}")
    shutil.rmtree(folder)
    return False


def add_demo_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline offline on the built-in vip-synth suite",
        description="Run vip-synth (generated offline) on the oracle and blind baselines, and on a "
        "tiny random ViP-LLaVA when torch is installed; score the runs; build the "
        "leaderboard. Needs no download and no API key.",
    )
    add_results_option(p)
    p.add_argument("--out", type=Path, help="leaderboard folder (default: <results>/leaderboard)")
    p.add_argument("--limit", type=positive_int, help="only the first N samples (quicker)")
    p.set_defaults(handler=_cmd_demo)
