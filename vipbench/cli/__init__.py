"""The ``vipbench`` command, one module per subcommand. Only argparse loads at start-up; each handler imports
what it needs, so ``vipbench --help`` stays fast and never imports torch."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vipbench.cli import check, export_lmms, judge, listings, run, runs, site
from vipbench.errors import VipbenchError


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
    site.add_demo_parser(sub)
    run.add_parser(sub)
    judge.add_parser(sub)
    site.add_leaderboard_parser(sub)
    runs.add_parser(sub)
    check.add_parser(sub)
    export_lmms.add_parser(sub)
    listings.add_parsers(sub)
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
    except OSError as exc:  # a file system refusal no check foresaw (permissions, a full disk): still one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
