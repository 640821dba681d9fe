"""``vipbench example-data`` and ``vipbench judge-server``: try vipbench with no download and no API key."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_example_data(args: argparse.Namespace) -> int:
    from vipbench.examples import LAYOUTS, find_layout, write_example

    if args.list:
        for layout in LAYOUTS:
            print(f"{layout.dataset:<17} {layout.name:<10} {layout.description}")
        return 0
    if not args.dataset or not args.folder:
        from vipbench.errors import VipbenchError

        raise VipbenchError("give a dataset and a folder: vipbench example-data DATASET DIR (--list shows them)")
    layout = find_layout(_dataset_key(args.dataset), args.layout)
    folder = write_example(layout, Path(args.folder))
    tasks = _tasks_reading(layout.dataset)
    print(f"wrote a tiny {layout.dataset} example ({layout.description}) to {folder}")
    print(f"try: vipbench run --model oracle --tasks {tasks} --data-dir {layout.dataset}={folder}")
    return 0


def _dataset_key(name: str) -> str:
    """A dataset key as given, or the key of the dataset a task of that name reads."""
    from vipbench.examples import LAYOUTS
    from vipbench.tasks import TaskIndex

    if any(layout.dataset == name for layout in LAYOUTS):
        return name
    configs = TaskIndex().configs
    config = configs.get(name.strip().lower().replace("_", "-"))
    return config.dataset.key if config is not None else name


def _tasks_reading(dataset: str) -> str:
    """What ``--tasks`` runs every task that reads ``dataset``: a group of exactly those tasks, else their names."""
    from vipbench.tasks import TaskIndex

    index = TaskIndex()
    tasks = sorted(name for name, config in index.configs.items() if config.dataset.key == dataset)
    groups = sorted((name for name, members in index.groups.items() if sorted(members) == tasks), key=len)
    return groups[0] if groups and len(tasks) > 1 else ",".join(tasks)


def _cmd_judge_server(args: argparse.Namespace) -> int:
    from vipbench.judge_server import DEFAULT_PORT, serve

    return serve(args.host, DEFAULT_PORT if args.port is None else args.port)


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "example-data",
        help="write a tiny example of a dataset's on-disk layout (to try a task, or to see the layout)",
        description="Write a tiny example of DATASET in the layout vipbench reads from --data-dir, into DIR (new or "
        "empty). DATASET is a dataset key (what --data-dir KEY=PATH names) or a task name.",
    )
    p.add_argument("dataset", nargs="?", metavar="DATASET")
    p.add_argument("folder", nargs="?", metavar="DIR")
    p.add_argument("--layout", help="one of the dataset's layouts (default: the first --list shows)")
    p.add_argument("--list", action="store_true", help="list every dataset and layout")
    p.set_defaults(handler=_cmd_example_data)
    p = sub.add_parser(
        "judge-server",
        help="a local stub judge (string rules, NOT a real judge) to try vipbench judge without an API key",
        description="Serve an OpenAI-compatible endpoint on this machine that grades by fixed string rules, so "
        "vipbench judge can be tried with no API key. Its grades are recorded under the model name "
        "'vipbench-stub-judge (not a real judge)': never compare them with a real judge's.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, help="port (default 8765; 0 picks a free one)")
    p.set_defaults(handler=_cmd_judge_server)
