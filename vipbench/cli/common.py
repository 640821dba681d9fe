"""What every subcommand shares: option types, consoles, the results folder."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_RESULTS = Path(os.environ.get("VIPBENCH_RESULTS", "results"))


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value}")
    return value


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def stdout_console():
    from rich.console import Console

    return Console()


def hanging(text, width: int, first: int = 0, rest: int = 2):
    """``text`` (a rich Text) wrapped at spaces to ``width`` columns, its first line indented by ``first`` and the
    lines after it by ``rest``, so that a continued line never starts at column 0 as a terminal's own wrap does. A
    word longer than a line stays whole (a name is never split)."""
    from rich.text import Text

    plain, start, room, lines = text.plain, 0, width - first, []
    while len(plain) - start > room:
        cut = plain.rfind(" ", start, start + room + 1)
        if cut <= start:
            cut = plain.find(" ", start + room)
            if cut == -1:
                break
        lines.append(text[start:cut])
        start, room = cut + 1, width - rest
        while plain.startswith(" ", start):
            start += 1
    lines.append(text[start:])
    return Text("\n").join(Text(" " * (rest if i else first)) + line for i, line in enumerate(lines))


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def add_results_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results folder (default: ./results)")


def add_include_path_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--include-path",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="extra folder of task YAML files (tasks defined outside vipbench)",
    )
