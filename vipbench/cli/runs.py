"""``vipbench runs``: the runs of a results folder at a glance, and ``vipbench runs show RUN`` for one of them."""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from dataclasses import asdict

from vipbench.cli.common import add_results_option, stdout_console, warn

RUNS_EXAMPLES = """\
examples:
  vipbench runs                          # id, model, status (and protocol), n/N, judge, each task's headline
  vipbench runs --format markdown        # the same as a Markdown table (csv and json too)
  vipbench runs show RUN_ID              # one run: its manifest in short, and its score tables

In Python: vipbench.results.load_runs("results") and load_scores("results") give pandas DataFrames.
"""


def _score_text(unit: str, score: dict | None) -> str:
    if score is None:
        return f"{unit} not scored"
    value = "–"
    if score["mean"] is not None:
        value = f"{score['mean']:.1f}" + (f" ± {score['std']:.1f}" if score["runs"] > 1 else "")
    partial = f" (partial {score['n']}/{score['planned']})" if score["partial"] else ""
    finetuned = " (fine-tuned)" if score["finetuned"] else ""
    return f"{unit} {score['label']} {value}{partial}{finetuned}"


def _rows(summaries, full: bool = False) -> list[dict[str, str]]:
    """One row per run, as the table, CSV and Markdown formats show it: each task with its headline score. A
    ``--limit`` smoke run says so in its status (``complete, limit 5/400``), and the status names the protocol:
    ``official``, or ``deviates (N)`` with N settings off the official protocol (``full``: the CSV's
    ``deviations`` column lists them; ``vipbench runs show`` too)."""
    from vipbench.results import deviation_text

    rows = []
    for s in summaries:
        units = list(s.scores) + [t for t in s.tasks if not any(u.split("@")[0] == t for u in s.scores)]
        rows.append(
            {
                "run": s.run_id,
                "model": s.model,
                "status": ", ".join([s.status, *([f"limit {s.limit}"] if s.limit else []), s.protocol_label]),
                "n/N": f"{s.predictions}/{s.planned}",
                "judge": ", ".join(s.graders),
                "tasks and scores": "; ".join(_score_text(u, s.scores.get(u)) for u in units),
            }
        )
        if full:
            rows[-1]["deviations"] = deviation_text(s.deviations)
    return rows


def _cmd_runs(args: argparse.Namespace) -> int:
    from vipbench.results import run_summaries

    summaries = run_summaries(args.results, warn)
    if args.format == "json":
        print(json.dumps([asdict(s) for s in summaries], indent=2, ensure_ascii=False))
        return 0
    rows = _rows(summaries, full=args.format == "csv")
    if args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["run"])
        writer.writeheader()
        writer.writerows(rows)
    elif args.format == "markdown":
        print(_markdown(rows))
    else:
        _print_table(rows, args)
    return 0


def _markdown(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "no runs"
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(cell(v) for v in row.values()) + " |" for row in rows]
    return "\n".join(lines)


_BREAKS = re.compile(r"(?<=[-_/,;\s])(?=\S)|(?=@)")
"""Where a cell may wrap: after - _ / , ; or a space, and before @ (a judge's host), never inside a word."""


class Wrapped:
    """A table cell that wraps only where a name allows it (``demo-vip-``/``llava-tiny``, never ``demo-vip-lla``/
    ``va-tiny``) and shortens a piece wider than its column with an ellipsis. The full text is in csv and json."""

    def __init__(self, text: str, style: str = ""):
        self.text, self.style = text, style
        self.pieces = [_BREAKS.split(line) for line in text.split("\n")]

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        widest = max(len(p.rstrip()) for line in self.pieces for p in line)
        longest = max(len(line) for line in self.text.split("\n"))
        return Measurement(min(widest, options.max_width), min(longest, options.max_width))

    def lines(self, width: int) -> list[str]:
        out = []
        for pieces in self.pieces:
            line = ""
            for piece in pieces:
                if line and len(line + piece.rstrip()) > width:
                    out.append(line.rstrip())
                    line = ""
                line += piece
            out.append(line.rstrip())
        return [line if len(line) <= width else line[: max(width - 1, 0)] + "…" for line in out]

    def __rich_console__(self, console, options):
        from rich.text import Text

        yield Text("\n".join(self.lines(options.max_width)), style=self.style, no_wrap=True, overflow="ellipsis")


def _print_table(rows: list[dict[str, str]], args: argparse.Namespace) -> None:
    from rich.table import Table

    console = stdout_console()
    if not rows:
        console.print(f"no runs in {args.results}; start one with vipbench run")
        return
    table = Table(title=f"runs in {args.results}", title_justify="left")
    for column in rows[0]:
        table.add_column(column, no_wrap=column == "n/N")
    colours = {"complete": "green", "running": "cyan", "interrupted": "yellow", "failed": "red"}
    for row in rows:
        status = colours.get(row["status"].split(",")[0], "white")
        cells = {**row, "status": row["status"].replace(", ", ",\n")}  # a line each: state, limit, protocol
        table.add_row(*(Wrapped(v, status if k == "status" else "") for k, v in cells.items()))
    console.print(table)


def _cmd_show(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from vipbench.results import BrokenRun, read_manifest, read_scores, summary_of, task_limits
    from vipbench.scoring.report import print_run_scores
    from vipbench.store import RunStore

    store = RunStore.open(args.results, args.run)
    manifest = read_manifest(store)
    try:
        scores, broken = read_scores(store, manifest), None
    except BrokenRun as exc:
        scores, broken = None, exc
    summary, limits = summary_of(store, manifest, scores), task_limits(manifest)
    console = stdout_console()
    smoke = f"[yellow]limit {summary.limit}[/] (a --limit smoke run, not a result) · " if summary.limit else ""
    console.print(
        f"[bold]run {escape(store.run_id)}[/] · model {escape(summary.model)} · {summary.status} · {smoke}"
        f"{summary.predictions}/{summary.planned} predictions",
        soft_wrap=True,
    )
    env = manifest.environment
    git = env.get("git") or {}
    console.print(f"  created {manifest.created}, updated {manifest.updated}", soft_wrap=True)
    if manifest.command:
        console.print(f"  command: {escape(' '.join(manifest.command))}", soft_wrap=True)
    console.print(f"  model: {escape(json.dumps(manifest.model))}", soft_wrap=True)
    console.print(
        f"  vipbench {env.get('vipbench', '?')}"
        + (f", git {str(git.get('commit', ''))[:10]}{' (dirty)' if git.get('dirty') else ''}" if git else ""),
        soft_wrap=True,
    )
    for task, p in manifest.tasks.items():
        scoring = p.scoring
        grader = f"judge {scoring.judge.model} ×{scoring.judge.runs}" if scoring.judge else scoring.grader
        samples = f"{p.samples} samples" + (f" (limit {limits[task]})" if task in limits else "")
        console.print(
            f"  {escape(task)} · {escape(p.source)} · {samples}, {sum(p.requests.values())} requests · "
            f"dataset {p.dataset_hash[:8]} · prompts {p.prompt_hash[:8]} · {escape(grader)} → {scoring.name}",
            soft_wrap=True,
        )
        _print_protocol(console, task, p, scores)
    if broken is not None:
        raise broken
    if scores is None:
        console.print(f"not scored yet: vipbench judge {store.run_id}")
    else:
        print_run_scores(scores, console)
    return 0


def _print_protocol(console, task: str, provenance, scores) -> None:
    """A task's protocol under its line: the script it follows (and why that one), then every deviation, in
    generation (the manifest's) and in scoring (each scored unit's), or that it has none."""
    from rich.markup import escape

    from vipbench.results import protocol_label

    if provenance.protocol is None:
        console.print("    protocol not recorded (a run made before vipbench recorded protocols)", soft_wrap=True)
        return
    family = f", {provenance.family} family" if provenance.family else ""
    follows = f": follows {provenance.follows}" if provenance.follows else ""
    note = f" ({provenance.protocol_note})" if provenance.protocol_note and not provenance.follows else ""
    found = list(provenance.deviations)
    units = [u for u in scores.units.values() if u.task == task] if scores else []
    found += [f"{d} ({u.unit} scoring)" for u in units for d in u.scored_by.deviations]
    label = protocol_label(found)
    style = "yellow" if found else "green"
    console.print(
        f"    protocol {provenance.protocol}{family}{escape(follows)}{escape(note)} · [{style}]{label}[/]",
        soft_wrap=True,
    )
    for deviation in found:
        console.print(f"      deviates: {escape(deviation)}", soft_wrap=True)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "runs",
        help="list the runs in the results folder (status, n/N, judge, scores); 'runs show RUN' for one",
        description="List every run in the results folder: id, model, tasks, real status (a killed run reads "
        "interrupted), predictions of those planned, its judge and headline scores.",
        epilog=RUNS_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--format", choices=["table", "csv", "markdown", "json"], default="table", help="output format (default: table)"
    )
    add_results_option(p)
    p.set_defaults(handler=_cmd_runs)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="one run: its manifest in short, and its score tables")
    show.add_argument("run", nargs="?", help="run id or folder (default: the latest run)")
    add_results_option(show)
    show.set_defaults(handler=_cmd_show)
