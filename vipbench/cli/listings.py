"""``vipbench tasks`` and ``vipbench models``."""

from __future__ import annotations

import argparse

from vipbench.cli.common import (
    add_include_path_option,
    stdout_console,
)


def _cmd_tasks(args: argparse.Namespace) -> int:
    """One entry per task: its name, data, scorer and groups on one line, its description on the next (a table
    would squeeze the descriptions to nothing in an 80-column terminal)."""
    from rich.markup import escape

    from vipbench.tasks import TaskIndex

    index = TaskIndex(args.include_path)
    console = stdout_console()
    for name, config in sorted(index.configs.items()):
        sc = config.scorer
        grader = f"judge {sc.judge}" + (f" ({sc.judge_model})" if sc.judge_model else "") + f" ×{sc.runs}"
        if sc.metric:
            grader = f"metric {sc.metric}"
        data = "generated" if config.dataset.generated else config.dataset.hf_id or "--data-dir only"
        groups = f" · groups {', '.join(config.groups)}" if config.groups else ""
        console.print(f"[bold]{name}[/] · data {escape(data)} · {grader}, scorer {sc.name}{groups}", soft_wrap=True)
        if config.description:
            console.print(f"    {escape(config.description)}", style="dim")
    console.print()
    for group, members in sorted(index.groups.items()):
        console.print(f"group [bold]{group}[/]: {', '.join(members)}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    """One entry per model: checkpoint, the region modes it reads and its generation defaults, then what it is."""
    from rich.markup import escape

    from vipbench.models import MODELS

    console = stdout_console()
    for entry in MODELS:
        cls = entry.load()
        g = cls.generation_defaults
        decoding = "greedy" if g.temperature == 0 else f"temperature {g.temperature}"
        checkpoint = f" · {escape(str(entry.options['checkpoint']))}" if "checkpoint" in entry.options else ""
        line = f"regions {', '.join(cls.region_modes)} · {decoding}, {g.max_new_tokens} new tokens"
        name = f"{entry.name}<model>" if entry.name.endswith(":") else entry.name
        console.print(f"[bold]{escape(name)}[/]{checkpoint} · {line}", soft_wrap=True)
        console.print(f"    {escape(entry.description)}", style="dim")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("tasks", help="list registered tasks and groups")
    add_include_path_option(p)
    p.set_defaults(handler=_cmd_tasks)
    p = sub.add_parser("models", help="list registered models")
    p.set_defaults(handler=_cmd_models)
