"""``vipbench judge``: a run's predictions → grades and scores."""

from __future__ import annotations

import argparse
from pathlib import Path

from vipbench.cli.common import (
    add_include_path_option,
    add_results_option,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    stderr_console,
    stdout_console,
    warn,
)
from vipbench.errors import VipbenchError

JUDGE_EXAMPLES = """\
examples:
  vipbench judge                                   # the latest run, the paper's judge (gpt-4-0613), OPENAI_API_KEY
  vipbench judge RUN_ID --judge gpt-4o-2024-08-06 --runs 5
  vipbench judge RUN_ID --base-url http://localhost:8000/v1 --judge Qwen/Qwen2.5-72B-Instruct
  vipbench judge RUN_ID --judge-template ~/ViP-LLaVA/scripts/eval/vip-bench_evaluator.py
  vipbench judge RUN_ID --judge-template 'llava-bench-*=~/LLaVA/llava/eval/table/rule.json'
  vipbench judge RUN_ID --judge-prompt vipbench    # offline, without upstream's files: a labelled deviation
  vipbench judge RUN_ID --batch                    # OpenAI's Batch API at half the price; again to collect
  vipbench judge --batch-status                    # where every pending batch stands

The judges' official prompts are upstream's prose, read from upstream's files: your copy
(--judge-template), or downloaded once at the pinned commit, sha256-checked and cached in
~/.cache/vipbench/upstream. The API key is read from OPENAI_API_KEY and never written anywhere. Every reply is cached
(judge-cache.sqlite in ~/.cache/vipbench, or in the folder $VIPBENCH_CACHE names), so running the same
command again is free.
"""


def cmd_judge(args: argparse.Namespace) -> int:
    from vipbench.scoring.grade import grade_run
    from vipbench.scoring.judge.batching import describe
    from vipbench.scoring.options import GradingPolicy, JudgeEndpoint, JudgeOverrides
    from vipbench.scoring.report import print_scores
    from vipbench.store import RunStore

    if args.batch_status:
        return _batch_status(args)
    if args.wait and not args.batch:
        raise VipbenchError("--wait waits for a batch: give it with --batch")
    store = RunStore.open(args.results, args.run)
    policy = GradingPolicy(
        overrides=JudgeOverrides(
            model=args.judge,
            runs=args.runs,
            templates=tuple(args.judge_template or ()),
            rules=args.judge_rules,
            **({"prompt": args.judge_prompt} if args.judge_prompt else {}),
        ),
        include_paths=args.include_path,
        rescore_with_current_task=args.rescore_with_current_task,
        failed_grade=args.failed_grade,
        swap_check=args.swap_check,
        allow_partial=args.allow_partial,
        allow_failures=args.allow_failures,
    )
    endpoint = JudgeEndpoint(
        base_url=args.base_url,
        concurrency=args.concurrency,
        adaptive=not args.fixed_concurrency,
        timeout=args.timeout,
        max_retries=args.max_retries,
        backoff_initial=args.backoff,
        cache_path=args.cache,
        prices=args.prices,
        cost_limit=args.cost_limit,
        batch=args.batch,
        wait=args.wait,
        poll=args.poll,
    )
    console, out = stderr_console(), stdout_console()
    outcome = grade_run(store, policy, endpoint, console=console, warn=warn)
    for state in outcome.batch.ended if outcome.batch else ():
        out.print(describe(state, store.run_id), soft_wrap=True)
    if outcome.scores is None:  # a batch is pending
        out.print(describe(outcome.batch.pending, store.run_id), soft_wrap=True)
        return 0
    if not outcome.kept:  # else scores.json still holds an earlier, more complete grading: it is what counts
        print_scores(outcome, out)  # the report on stdout, progress and errors on stderr
    if outcome.failed and not args.allow_failures:
        console.print(
            f"[red]{outcome.failed} grade(s) failed[/] (reasons in judgements.jsonl); run the command "
            "again to retry them, or pass --allow-failures to accept scores over the graded items only"
        )
        return 1
    return 0


def _task_template(value: str) -> tuple[str | None, Path]:
    """``TASK=PATH`` (TASK a glob of task names) or a plain ``PATH``; a path with a ``=`` of its own stays whole."""
    task, sep, path = value.partition("=")
    if sep and task and "/" not in task and not Path(value).exists():
        return task, Path(path)
    return None, Path(value)


def _batch_status(args: argparse.Namespace) -> int:
    """Where the batch of one run (or of every run with one) stands, looked up without moving it on."""
    from vipbench.chat.batch import BatchJob
    from vipbench.scoring.judge.batching import describe
    from vipbench.store import RunStore, list_runs

    stores = [RunStore.open(args.results, args.run)] if args.run else list_runs(args.results)
    out, shown = stdout_console(), 0
    for store in stores:
        job = BatchJob(store.path, args.base_url, args.timeout)
        state = job.state()
        if state is None:
            ended = job.ended()
            if args.run and ended:
                out.print(f"{store.run_id}: no batch pending; the last one: {describe(ended[-1], store.run_id)}")
                shown += 1
            continue
        if state.batch_id and not state.ended:
            state = job.advance(state)
        out.print(f"{store.run_id}: {describe(state, store.run_id)}", soft_wrap=True)
        shown += 1
    if not shown:
        out.print(f"no batch pending{f' for run {args.run}' if args.run else f' in {args.results}'}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "judge",
        help="grade a run's predictions (LLM judge or metric) and write scores",
        description="Grade a run's predictions as the run recorded each task's scoring: with the task's own "
        "OpenAI-compatible LLM judge on a 0-10 scale (cached, concurrent, retried) or a local metric. Writes "
        "judgements.jsonl, scores.json and scores.csv into the run folder.",
        epilog=JUDGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", nargs="?", help="run id or folder (default: the latest run)")
    p.add_argument(
        "--judge",
        metavar="MODEL",
        help="judge model for every task (default: each task's own, the paper's: gpt-4-0613 for ViP-Bench)",
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (OpenAI, Azure /openai/v1, vLLM, SGLang, Ollama)")
    p.add_argument(
        "--runs", type=positive_int, help="independent judge runs per item (default: the task's; ViP-Bench: 5)"
    )
    p.add_argument(
        "--concurrency",
        type=positive_int,
        default=64,
        help="the most requests in flight (default: 64). vipbench starts lower and adapts to the endpoint's rate "
        "limit: more while requests succeed, fewer after a 429",
    )
    p.add_argument(
        "--fixed-concurrency",
        action="store_true",
        help="keep --concurrency requests in flight from the start, whatever the endpoint's rate limit",
    )
    p.add_argument(
        "--batch",
        action="store_true",
        help="send the grades still needed through OpenAI's Batch API: half the price, answered within 24 hours. "
        "Run the same command again to see how far it got, and to grade once it has ended",
    )
    p.add_argument("--wait", action="store_true", help="with --batch: poll until the batch has ended, then grade")
    p.add_argument(
        "--poll", type=positive_float, default=30.0, metavar="SECONDS", help="seconds between looks at a batch"
    )
    p.add_argument(
        "--batch-status",
        action="store_true",
        help="say where the run's batch stands (every run's, without a run id), and change nothing",
    )
    p.add_argument(
        "--judge-template",
        type=_task_template,
        action="append",
        metavar="[TASK=]PATH",
        help="your copy of upstream's prompt file: ViP-LLaVA's scripts/eval/vip-bench_evaluator.py (ViP-Bench) or "
        "LLaVA's llava/eval/table/rule.json (LLaVA-Bench), each used only for the tasks whose judge reads it; or "
        "a jinja2 template (every judged task). TASK=PATH (a glob) names the tasks. Repeatable. Default: "
        "upstream's file as cached, else downloaded at its pinned commit and sha256",
    )
    p.add_argument(
        "--judge-prompt",
        choices=["official", "vipbench"],
        help="the judges' prompt when no --judge-template is given: upstream's own (official, the default; "
        "$VIPBENCH_JUDGE_PROMPT sets another default) or vipbench's own wording (no download needed; a "
        "deviation, shown next to the scores)",
    )
    p.add_argument(
        "--allow-failures",
        action="store_true",
        help="exit 0 even if some grades failed after their retries (they are still reported), and write these "
        "scores even over a scores.json that has more grades (never scores without a single grade)",
    )
    p.add_argument(
        "--cost-limit", type=non_negative_float, metavar="USD", help="refuse to spend more than this on judge calls"
    )
    p.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help="YAML/JSON price table: model: {input: $, output: $} per million tokens",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="seconds a request waits for its answer to start (default: 30). An endpoint that has not answered "
        "anything yet stops the judge after one such wait (it accepts connections but is silent); once it has "
        "answered, a request that times out is retried",
    )
    p.add_argument(
        "--max-retries", type=non_negative_int, default=6, help="retries per request on 429, 5xx and timeouts"
    )
    p.add_argument(
        "--backoff",
        type=non_negative_float,
        default=1.0,
        metavar="SECONDS",
        help="first wait before a retry; it doubles each time, with jitter (a Retry-After header wins)",
    )
    p.add_argument("--cache", type=Path, metavar="FILE", help="judge reply cache (SQLite)")
    p.add_argument(
        "--failed-grade",
        choices=["rule", "exclude", "zero"],
        default="rule",
        help="a grade still unparseable after its re-asks: counted as its judge's rules say (default: officially "
        "ViP-Bench's 0.0 and LLaVA-Bench's [-1, -1], kept in the mean; vipbench's rules leave it out), left out of "
        "every number, or counted as 0. Either way the table says how many failed and how they were counted",
    )
    p.add_argument(
        "--judge-rules",
        choices=["official", "vipbench"],
        help="how judge replies are read, re-asked and failed: the upstream grader's (official; the default unless "
        "the run used --protocol vipbench) or vipbench's (a tolerant, range-checked reading, every re-ask read, an "
        "unparseable grade left out): a deviation, shown next to the scores",
    )
    p.add_argument(
        "--swap-check",
        action="store_true",
        help="pairwise reviews (LLaVA-Bench) are graded again with the two answers swapped; the report adds the "
        "swapped relative score and the judge's position bias",
    )
    p.add_argument(
        "--allow-partial",
        action="store_true",
        help="score a run that is not complete (killed, failed or still running); scores.json, the tables and the "
        "leaderboard mark the result as partial, with its n",
    )
    p.add_argument(
        "--rescore-with-current-task",
        action="store_true",
        help="grade with the tasks' current YAML (scorer, metric, judge, breakdowns) instead of the spec the run "
        "recorded when it was made",
    )
    add_results_option(p)
    add_include_path_option(p)
    p.set_defaults(handler=cmd_judge)
