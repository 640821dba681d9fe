"""``vipbench tasks`` and ``vipbench models``."""

from __future__ import annotations

import argparse

from vipbench.cli.common import add_include_path_option, hanging, stdout_console


def _cmd_tasks(args: argparse.Namespace) -> int:
    """One entry per task: its name, data, scorer and groups, then its description indented (a table would squeeze
    the descriptions to nothing in an 80-column terminal). Wrapped lines keep their indent."""
    from rich.markup import escape
    from rich.text import Text

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
        line = Text.from_markup(f"[bold]{escape(name)}[/] · data {escape(data)} · {grader}, scorer {sc.name}{groups}")
        console.print(hanging(line, console.width), soft_wrap=True)
        if config.description:
            console.print(hanging(Text(config.description, style="dim"), console.width, 4, 4), soft_wrap=True)
    console.print()
    for group, members in sorted(index.groups.items()):
        line = Text.from_markup(f"group [bold]{escape(group)}[/]: {escape(', '.join(members))}")
        console.print(hanging(line, console.width), soft_wrap=True)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    """One entry per model: checkpoint, the region modes it reads and its generation defaults, then what it is.
    Wrapped lines keep their indent."""
    from rich.markup import escape
    from rich.text import Text

    from vipbench.models import MODELS

    console = stdout_console()
    for entry in MODELS:
        cls = entry.load()
        g = cls.generation_defaults
        decoding = "greedy" if g.temperature == 0 else f"temperature {g.temperature}"
        checkpoint = f" · {escape(str(entry.options['checkpoint']))}" if "checkpoint" in entry.options else ""
        line = f"regions {', '.join(cls.region_modes)} · {decoding}, {g.max_new_tokens} new tokens"
        name = f"{entry.name}<model>" if entry.name.endswith(":") else entry.name
        console.print(
            hanging(Text.from_markup(f"[bold]{escape(name)}[/]{checkpoint} · {line}"), console.width), soft_wrap=True
        )
        console.print(hanging(Text(entry.description, style="dim"), console.width, 4, 4), soft_wrap=True)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("tasks", help="list registered tasks and groups")
    add_include_path_option(p)
    p.set_defaults(handler=_cmd_tasks)
    p = sub.add_parser("models", help="list registered models")
    p.set_defaults(handler=_cmd_models)
