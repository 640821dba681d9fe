"""``vipbench tasks`` and ``vipbench models``."""

from __future__ import annotations

import argparse

from vipbench.cli.common import (
    add_include_path_option,
    stdout_console,
)


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
    console = stdout_console()
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
    stdout_console().print(table)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("tasks", help="list registered tasks and groups")
    add_include_path_option(p)
    p.set_defaults(handler=_cmd_tasks)
    p = sub.add_parser("models", help="list registered models")
    p.set_defaults(handler=_cmd_models)
