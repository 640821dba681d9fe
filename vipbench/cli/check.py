"""``vipbench check``: a regression gate for CI, and the agreement of two judges."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from vipbench.cli.common import add_results_option, non_negative_float, positive_int, stdout_console

CHECK_EXAMPLES = """\
examples:
  vipbench check RUN --baseline baselines/scores.json            # fails (exit 1) on a significant drop > 1 point
  vipbench check RUN --baseline OTHER_RUN --tolerance 0.5 --alpha 0.01
  vipbench check GPT4_RUN --baseline LOCAL_JUDGE_RUN --agreement    # the same predictions, two judges

Exit status:
  0  no regression
  1  a regression
  2  an error (runs that cannot be compared, a missing file)
  3  too little compared to pass: no task in common with at least --min-samples samples, or fewer than
     --min-coverage of the baseline's samples (a wrong baseline must not turn CI green)
"""

#: Exit status of a check that compared too little to pass (see CHECK_EXAMPLES).
TOO_LITTLE_COMPARED = 3


def cmd_check(args: argparse.Namespace) -> int:
    from vipbench.regression import agreement, check, read_scores_file

    baseline = read_scores_file(args.baseline, args.results)
    current = read_scores_file(args.run, args.results)
    if args.agreement:
        report = agreement(baseline, current)
    else:
        report = check(
            baseline,
            current,
            tolerance=args.tolerance,
            alpha=args.alpha,
            resamples=args.resamples,
            seed=args.seed,
            allow_mismatch=args.allow_mismatch,
            min_samples=args.min_samples,
            min_coverage=args.min_coverage,
        )
    console = stdout_console()
    if args.format == "json":
        summary = {"regressions": len(report.regressions)}
        if not args.agreement:
            summary |= {"coverage": round(report.coverage, 4), "too_little_compared": report.too_little}
        console.print_json(json.dumps(asdict(report) | summary))
    elif args.agreement:
        _print_agreement(report, console)
    else:
        _print_check(report, console)
    if report.regressions:
        return 1
    return TOO_LITTLE_COMPARED if not args.agreement and report.too_little else 0


def _print_check(report, console) -> None:
    from rich import box
    from rich.table import Table

    for line in report.mismatches:
        console.print(f"[yellow]not comparable[/] (allowed): {line}", soft_wrap=True)
    console.print(
        f"{report.current} against {report.baseline}: tolerance {report.tolerance:g} points, "
        f"{1 - report.alpha:.0%} paired-bootstrap intervals",
        soft_wrap=True,
    )
    units: dict[str, list] = {}
    for d in report.differences:
        units.setdefault(d.unit, []).append(d)
    for unit, differences in units.items():
        table = Table(title=f"{unit} (n={differences[0].n})", title_justify="left", box=box.SIMPLE_HEAD)
        table.add_column("score")
        for name in ("base", "now"):
            table.add_column(name, justify="right")
        table.add_column("Δ [interval]", justify="right", no_wrap=True)
        table.add_column("verdict")  # wraps: a long verdict must not squeeze the numbers out at 80 columns
        for d in differences:
            interval = f" [{d.low:+.1f}, {d.high:+.1f}]" if d.low is not None and d.high is not None else ""
            verdict = f"[red bold]{d.verdict}[/]" if d.verdict.startswith("regression") else d.verdict
            table.add_row(d.number, _fmt(d.baseline), _fmt(d.current), _signed(d.delta) + interval, verdict)
        console.print(table)
    if report.not_compared:
        console.print(f"on one side only, not compared: {', '.join(report.not_compared)}", soft_wrap=True)
    console.print(
        f"compared {report.compared_samples} of the baseline's {report.baseline_samples} samples "
        f"({report.coverage:.0%})",
        soft_wrap=True,
    )
    count = len(report.regressions)
    if count:
        console.print(f"[red bold]{count} regression(s)[/]")
    elif report.too_little:
        console.print(f"[red bold]not passed[/]: {report.too_little}", soft_wrap=True)
    else:
        console.print("[green]no regression[/]")


def _print_agreement(report, console) -> None:
    from rich.table import Table

    table = Table(title=f"judge agreement: {report.current} and {report.baseline}", title_justify="left")
    for name, justify in (("unit", "left"), ("score", "left"), ("n", "right")):
        table.add_column(name, justify=justify)
    table.add_column("mean |Δ| per sample (0–100)", justify="right")
    table.add_column("Pearson r", justify="right")
    for a in report.agreements:
        r = "–" if a.correlation is None else f"{a.correlation:.3f}"
        table.add_row(a.unit, a.number, str(a.n), _fmt(a.mean_abs_difference), r)
    console.print(table)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check",
        help="compare a run's scores with a baseline: fails on a significant drop (for CI)",
        description="Compare every task and capability score of RUN with BASELINE (a run id, a run folder or a "
        "scores.json). Each difference gets a paired-bootstrap confidence interval over the samples both graded, "
        "so the same drop counts for more on 3,000 samples than on 30; a drop fails the check (exit 1) only when "
        "it is larger than --tolerance and its whole interval is below zero. Runs whose data, prompts, scorer or "
        "judge differ are refused unless --allow-mismatch. A check that compared too little of the baseline fails "
        "(exit 3): a wrong baseline is not a pass. With --agreement, the two sides are the same predictions graded "
        "by two judges, and the report is how closely the judges agree.",
        epilog=CHECK_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", help="the run to check: run id, run folder or scores.json")
    p.add_argument("--baseline", required=True, help="run id, run folder or scores.json to compare with")
    p.add_argument(
        "--tolerance",
        type=non_negative_float,
        default=1.0,
        metavar="POINTS",
        help="a drop of at most this many points (on the 0-100 scale) never fails (default: 1.0)",
    )
    p.add_argument(
        "--alpha", type=_alpha, default=0.05, help="1 - the confidence of the intervals (default: 0.05, 95%%)"
    )
    p.add_argument("--resamples", type=positive_int, default=1000, help="bootstrap draws (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="the bootstrap's seed (default: 0): the same check, same CIs")
    p.add_argument(
        "--min-samples",
        type=positive_int,
        default=10,
        metavar="N",
        help="a number compared on fewer samples gets no verdict ('too few samples'); a check in which no number "
        "reaches N fails with exit 3 (default: 10)",
    )
    p.add_argument(
        "--min-coverage",
        type=_share,
        default=0.9,
        metavar="SHARE",
        help="the share of the baseline's samples that must be compared (graded on both sides, in tasks both have), "
        "else the check fails with exit 3; 0 allows checking a subset of the baseline's tasks (default: 0.9)",
    )
    p.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="compare even when data, prompts, scorer or judge differ (the differences are listed)",
    )
    p.add_argument(
        "--agreement",
        action="store_true",
        help="the two sides are the same predictions graded by two judges: report their agreement (mean absolute "
        "difference and Pearson r, overall and per capability) instead of a regression check",
    )
    p.add_argument("--format", choices=["table", "json"], default="table", help="output format (default: table)")
    add_results_option(p)
    p.set_defaults(handler=cmd_check)


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _alpha(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value
