"""What every subcommand shares: option types, consoles, the results folder."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

DEFAULT_RESULTS = Path(os.environ.get("VIPBENCH_RESULTS", "results"))


class Parser(argparse.ArgumentParser):
    """argparse without two surprises: an option is never taken for the longer one it abbreviates (``--task`` is
    not ``--tasks``), and an unknown option is named in one line with the closest known one. Subcommands' parsers
    are of this class too (argparse makes them of the parent's class)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            _refuse_unknown(_chosen_parser(self, namespace), extras)
        return namespace


def _chosen_parser(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command's parser the arguments went to: the options an unknown one is compared with are its own."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(namespace, action.dest, None) or "")
            if chosen is not None:
                return _chosen_parser(chosen, namespace)
    return parser


def _refuse_unknown(parser: argparse.ArgumentParser, extras: list[str]) -> None:
    """``error: unknown option --limt; did you mean --limit?`` and exit 2 (argparse's own message names no option
    that exists, and prints the whole usage first)."""
    unknown = [arg.partition("=")[0] for arg in extras if arg.startswith("-")]
    if not unknown:
        parser.exit(2, f"error: unexpected argument(s) {' '.join(extras)}; see: {parser.prog} --help\n")
    known = [option for action in parser._actions for option in action.option_strings]
    hints = [(option, difflib.get_close_matches(option, known, n=1, cutoff=0.6)) for option in unknown]
    if len(hints) == 1 and hints[0][1]:
        message = f"unknown option {hints[0][0]}; did you mean {hints[0][1][0]}?"
    else:
        named = ", ".join(f"{option} (did you mean {close[0]}?)" if close else option for option, close in hints)
        message = f"unknown option{'s' if len(hints) > 1 else ''} {named}; see: {parser.prog} --help"
    parser.exit(2, f"error: {message}\n")


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
