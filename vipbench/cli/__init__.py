"""The ``vipbench`` command, one module per subcommand. Only argparse loads at start-up; each handler imports
what it needs, so ``vipbench --help`` stays fast and never imports torch."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vipbench.cli import check, export_lmms, judge, listings, run, runs, sandbox, site
from vipbench.errors import VipbenchError


def build_parser() -> argparse.ArgumentParser:
    from vipbench import __version__
    from vipbench.cli.common import Parser

    parser = Parser(
        prog="vipbench",
        description="Evaluate region-level multimodal models: run a model on region benchmarks, grade the answers "
        "with a cached LLM judge, and build a static leaderboard.",
        epilog="pipeline: vipbench run → vipbench judge → vipbench leaderboard build",
    )
    parser.add_argument("--version", action="version", version=f"vipbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    site.add_demo_parser(sub)
    run.add_parser(sub)
    judge.add_parser(sub)
    site.add_leaderboard_parser(sub)
    runs.add_parser(sub)
    check.add_parser(sub)
    export_lmms.add_parser(sub)
    listings.add_parsers(sub)
    sandbox.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        argv = list(sys.argv[1:] if argv is None else argv)
        args = parser.parse_args(argv)
        args.argv = argv
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        code = args.handler(args)
        sys.stdout.flush()  # a reader that went away is found here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        return _reader_gone()
    except SystemExit as exc:  # rich meets a closed pipe by sending stdout to /dev/null and exiting 1
        if exc.code == 1 and _stdout_is_devnull():
            return 128 + 13
        raise
    except VipbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file system refusal no check foresaw (permissions, a full disk): still one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _stdout_is_devnull() -> bool:
    import os

    try:
        return os.path.samestat(os.fstat(sys.stdout.fileno()), os.stat(os.devnull))
    except (OSError, ValueError):
        return False


def _reader_gone() -> int:
    """stdout's reader closed the pipe (``vipbench runs | head``): end quietly, as a tool killed by SIGPIPE does
    (exit 141), with what is still buffered sent nowhere so that Python's exit prints no error either."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file descriptor (captured): nothing is left to flush
        pass
    return 128 + 13


if __name__ == "__main__":
    raise SystemExit(main())
