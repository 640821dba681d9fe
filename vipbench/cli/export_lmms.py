"""``vipbench export-lmms DIR``: vipbench tasks as an lmms-eval task folder (``lmms-eval --include_path DIR``)."""

from __future__ import annotations

import argparse

from vipbench.cli.common import add_include_path_option, positive_int

EXPORT_EXAMPLES = """\
examples:
  vipbench export-lmms lmms_tasks --tasks vip-synth,pope --data-dir pope=~/data/POPE
  lmms-eval --model vipbench --model_args model=vip-llava-7b --tasks vipbench_vip_synth --include_path lmms_tasks
  lmms-eval --model llava_hf --model_args pretrained=llava-hf/llava-1.5-7b-hf --tasks vipbench_all \\
      --include_path lmms_tasks

Each task becomes vipbench_<name> (pope-random: vipbench_pope_random), tagged vipbench_all and with its vipbench
groups (vipbench_pope). Its samples are loaded now, through vipbench's loaders, into DIR/<name>.jsonl; the hooks in
DIR/utils.py render them and score the answers with vipbench's own metric (or judge) and scorer, on vipbench's
0-100 scale. lmms-eval and vipbench must be installed in the same environment: pip install 'vipbench[lmms]'.
"""


def cmd_export(args: argparse.Namespace) -> int:
    from vipbench.cli.run import _parse_data_dirs
    from vipbench.lmms.export import export_tasks
    from vipbench.tasks import TaskIndex

    index = TaskIndex(args.include_path)
    names = index.resolve(args.tasks)
    record = export_tasks(
        args.dir,
        ",".join(names),
        data_dirs=_parse_data_dirs(args.data_dir, index, names),
        include_paths=args.include_path,
        region_mode=args.region_mode,
        limit=args.limit,
        judge_model=args.judge,
        judge_runs=args.runs,
        judge_base_url=args.base_url,
    )
    for name in names:
        task = next(t for t in record.tasks.values() if t.task == name)
        print(
            f"{task.lmms_task}: {task.samples} samples ({task.source}), regions as {task.region_mode}, "
            f"{task.scoring.grader} → {', '.join(task.numbers)}"
        )
    print(f"written to {args.dir.resolve()}; run with lmms-eval --include_path {args.dir} --tasks vipbench_all ...")
    return 0


def add_parser(sub) -> None:
    from pathlib import Path

    p = sub.add_parser(
        "export-lmms",
        help="write vipbench tasks as lmms-eval task YAML (lmms-eval --include_path DIR)",
        description="Write vipbench tasks into DIR as lmms-eval tasks: YAML, the samples as JSON lines, and hooks "
        "that call back into vipbench to render regions and score answers. Tasks already in DIR are kept.",
        epilog=EXPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="folder to write (created if missing)")
    p.add_argument("--tasks", default="vip-synth", help="task or group names, comma-separated (default: vip-synth)")
    p.add_argument(
        "--data-dir",
        action="append",
        default=[],
        metavar="[KEY=]PATH",
        help="local dataset folder in the official layout, as for vipbench run (default: the Hugging Face Hub)",
    )
    p.add_argument(
        "--region-mode",
        choices=["overlay", "mask", "box", "coords", "point"],
        help="how the exported text and image give the regions (default: each task's first mode, overlay: drawn "
        "on the image, which any lmms-eval model can read). lmms-eval's vipbench model re-renders each doc in a "
        "mode its adapter reads",
    )
    p.add_argument("--limit", type=positive_int, help="only the first N samples of each task")
    p.add_argument("--judge", metavar="MODEL", help="judge model for judge-scored tasks (default: each task's own)")
    p.add_argument("--runs", type=positive_int, help="judge runs per answer (default: each task's own)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for the judge (default: OpenAI)")
    add_include_path_option(p)
    p.set_defaults(handler=cmd_export)
