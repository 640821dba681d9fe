"""``vipbench judge``: predictions.jsonl → judgements.jsonl → scores.json / scores.csv.

Every scored unit is graded by its task's scorer: an LLM judge (cached, concurrent, retried) or a local
metric. Grades already in judgements.jsonl under the same grade key are reused without a request; every
other judge call goes through the reply cache, so re-scoring pays only for what is new.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vipbench.errors import VipbenchError
from vipbench.judging.cache import JudgeCache, call_key, default_cache_path
from vipbench.judging.client import ClientStats, JudgeClient
from vipbench.judging.config import load_judge
from vipbench.judging.pricing import cost, estimate_tokens, load_prices, price_for
from vipbench.judging.protocol import Judge, grade
from vipbench.judging.template import load_template
from vipbench.metrics import get_metric
from vipbench.records import Judgement, PredictionRecord, Usage, stable_hash
from vipbench.scoring import RunScores, UnitScores, scores_csv, summarize
from vipbench.store import RunStore, append_jsonl, now, read_jsonl_records, write_atomic, write_json
from vipbench.tasks import TaskIndex


@dataclass
class JudgeOptions:
    judge_model: str | None = None
    """Overrides the judge config's model (the paper's judge, e.g. gpt-4-0613)."""
    base_url: str | None = None
    runs: int | None = None
    """Overrides the task's number of judge runs."""
    concurrency: int = 64
    """Requests in flight. At a fixed latency the speed-up over a serial loop cannot exceed this, so 64 is
    what it takes to grade 50× faster than the official grader's serial loop (benchmarks/judge_throughput.py)."""
    template: Path | None = None
    cost_limit: float | None = None
    prices: Path | None = None
    timeout: float = 60.0
    max_retries: int = 6
    backoff_initial: float = 1.0
    cache_path: Path | None = None
    include_paths: Sequence[Path] = ()


@dataclass
class GradeOutcome:
    scores: RunScores
    failed: int
    stats: ClientStats = field(default_factory=ClientStats)
    cost_usd: float | None = None


@dataclass
class _Job:
    record: PredictionRecord
    run: int
    key: str
    judge: Judge


def _grade_key(scorer: str, settings: dict, record: PredictionRecord, run: int) -> str:
    return stable_hash(
        {
            "scorer": scorer,
            **settings,
            "run": run,
            "task": record.task,
            "sample": record.sample_id,
            "style": record.prompt_style,
            "prediction": record.prediction,
            "references": record.references,
        }
    )


def _build_judge(name: str, options: JudgeOptions) -> Judge:
    config = load_judge(name)
    template = load_template(options.template or config.template)
    return Judge(config, template, options.judge_model or config.model, options.base_url)


def _judge_settings(judge: Judge) -> dict:
    c = judge.config
    return {
        "model": judge.model,
        "base_url": judge.base_url,
        "template": judge.template.sha256,
        "system": c.system,
        "temperature": c.temperature,
        "max_tokens": c.max_tokens,
        "reask": [c.reask.attempts, c.reask.temperature_step, c.reask.suffix],
        "parser": c.parser,
        "scale": c.scale,
    }


def grade_run(store: RunStore, options: JudgeOptions, console=None) -> GradeOutcome:
    manifest = store.manifest()
    predictions = store.predictions()
    if not predictions:
        raise VipbenchError(f"run {store.run_id} has no predictions yet; run or resume it first")
    index = TaskIndex(options.include_paths)
    existing = {j.grade_key: j for j in read_jsonl_records(store.judgements_path, Judgement)}

    units: dict[str, list[PredictionRecord]] = {}
    for record in predictions:
        units.setdefault(record.unit, []).append(record)

    judges: dict[str, Judge] = {}
    keys: dict[str, list[list[str]]] = {}  # unit → per record → grade key per run
    jobs: list[_Job] = []
    fresh: list[Judgement] = []
    for unit, records in units.items():
        config = index.task(records[0].task).config
        if config.scorer.judge:
            judge = judges.get(config.scorer.judge) or _build_judge(config.scorer.judge, options)
            judges[config.scorer.judge] = judge
            runs = options.runs or config.scorer.runs
            settings = _judge_settings(judge)
            keys[unit] = []
            for record in records:
                row = [_grade_key(judge.scorer, settings, record, r) for r in range(runs)]
                keys[unit].append(row)
                jobs += [
                    _Job(record, r, k, judge)
                    for r, k in enumerate(row)
                    if existing.get(k) is None or existing[k].status != "ok"
                ]
        else:
            metric = get_metric(config.scorer.metric or "")
            scorer = f"metric:{config.scorer.metric}"
            keys[unit] = []
            for record in records:
                key = _grade_key(scorer, {}, record, 0)
                keys[unit].append([key])
                if key not in existing:
                    fresh.append(
                        Judgement(
                            grade_key=key,
                            task=record.task,
                            sample_id=record.sample_id,
                            prompt_style=record.prompt_style,
                            run=0,
                            scorer=scorer,
                            status="ok",
                            score=metric(record),
                            created=now(),
                        )
                    )
    append_jsonl(store.judgements_path, fresh)
    existing.update((j.grade_key, j) for j in fresh)

    stats = ClientStats()
    price = None
    if jobs:
        models = {j.judge.model for j in jobs}
        if len(models) > 1:  # one command, one judge model: keeps cost accounting and the report honest
            raise VipbenchError(
                f"these tasks ask for different judge models ({', '.join(sorted(models))}); "
                "judge them with --judge MODEL"
            )
        model = models.pop()
        price = price_for(model, load_prices(options.prices))
        cache = JudgeCache(options.cache_path or default_cache_path())
        try:
            _preflight_cost(jobs, cache, options, price, model)
            client = JudgeClient(
                model,
                cache,
                base_url=options.base_url,
                concurrency=options.concurrency,
                timeout=options.timeout,
                max_retries=options.max_retries,
                backoff_initial=options.backoff_initial,
                price=price,
                cost_limit=options.cost_limit,
            )
            for judgement in asyncio.run(_run_jobs(jobs, client, store, console)):
                existing[judgement.grade_key] = judgement
            stats = client.stats
        finally:
            cache.close()

    scores = RunScores(run_id=store.run_id, model=manifest.spec.model, units={})
    failed = 0
    for unit, records in units.items():
        config = index.task(records[0].task).config
        judgements = [[existing.get(k) for k in row] for row in keys[unit]]
        items = [
            (r.metadata, [j.score if j is not None and j.status == "ok" else None for j in row])
            for r, row in zip(records, judgements)
        ]
        runs = len(keys[unit][0])
        total, breakdowns, combos = summarize(items, runs, config.breakdowns, config.combinations, config.labels)
        unit_failed = sum(1 for row in judgements for j in row if j is None or j.status != "ok")
        failed += unit_failed
        flat = [j for row in judgements for j in row if j is not None]
        usage = sum((j.usage for j in flat), Usage())
        judge = judges.get(config.scorer.judge or "")
        scorer = {
            "kind": "judge" if judge else "metric",
            "name": config.scorer.judge or config.scorer.metric,
            "runs": runs,
        }
        if judge:
            scorer.update(
                judge_model=judge.model,
                base_url=judge.base_url,
                template=str(judge.template.source),
                template_hash=judge.template.sha256,
                reported_models=sorted({j.reported_model for j in flat if j.reported_model}),
            )
        provenance = manifest.tasks.get(records[0].task)
        scores.units[unit] = UnitScores(
            unit=unit,
            task=records[0].task,
            prompt_style=records[0].prompt_style,
            region_mode=records[0].region_mode,
            scorer=scorer,
            dataset_hash=provenance.dataset_hash if provenance else "",
            prompt_hash=provenance.prompt_hash if provenance else "",
            n=len(records),
            expected_grades=len(records) * runs,
            failed=unit_failed,
            total=total,
            breakdowns=breakdowns,
            combinations=combos,
            usage={**usage.model_dump(), "cost_usd": cost(usage.prompt_tokens, usage.completion_tokens, price)},
        )
    write_json(store.scores_path, scores.model_dump(mode="json"))
    write_atomic(store.scores_csv_path, scores_csv(scores))
    total_cost = cost(stats.usage.prompt_tokens, stats.usage.completion_tokens, price) if jobs else None
    return GradeOutcome(scores, failed, stats, total_cost)


def _preflight_cost(jobs: list[_Job], cache: JudgeCache, options: JudgeOptions, price, model: str) -> None:
    """Refuse to start when the grades still to pay for would cost more than ``--cost-limit``."""
    if options.cost_limit is None:
        return
    if price is None:
        raise VipbenchError(f"--cost-limit needs a price for {model!r}; give one with --prices FILE")
    estimate = 0.0
    for job in jobs:
        messages = job.judge.messages(job.record)
        config = job.judge.config
        if (
            cache.get(call_key(model, options.base_url, messages, config.temperature, config.max_tokens, job.run))
            is None
        ):
            estimate += cost(estimate_tokens(messages), config.max_tokens, price) or 0.0
    if estimate > options.cost_limit:
        raise VipbenchError(
            f"judging the {len(jobs)} remaining grades would cost about ${estimate:.2f}, over "
            f"--cost-limit ${options.cost_limit:.2f}; nothing was sent"
        )


async def _run_jobs(jobs: list[_Job], client: JudgeClient, store: RunStore, console) -> list[Judgement]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    results: list[Judgement] = []
    failures = 0
    columns = (
        TextColumn("[bold]judging"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("judge", total=len(jobs), info="")

        async def one(job: _Job) -> None:
            nonlocal failures
            judgement = await grade(job.judge, client, job.record, job.run, job.key)
            append_jsonl(store.judgements_path, [judgement], sync=False)  # kept as soon as it is known
            results.append(judgement)
            failures += judgement.status != "ok"
            s = client.stats
            progress.update(bar, advance=1, info=f"{s.requests} requests · {s.cache_hits} cached · {failures} failed")

        try:
            # One grade alone first: an endpoint that refuses the key or the model fails on one request,
            # not on a whole wave of them.
            await one(jobs[0])
            tasks = [asyncio.ensure_future(one(job)) for job in jobs[1:]]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        finally:
            await client.close()
    return results
