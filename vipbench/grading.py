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
from vipbench.progress import progress_bar
from vipbench.records import Judgement, Manifest, PredictionRecord, Usage, stable_hash
from vipbench.scoring import RunScores, UnitScores, scores_csv, summarize
from vipbench.store import RunStore, append_jsonl, now, read_jsonl_records, write_atomic, write_json
from vipbench.taskconfig import TaskConfig
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


@dataclass
class _Plan:
    """What grading a run takes: per unit, the grade key of each (record, run); the judge calls still to make;
    metric grades computed on the spot."""

    judges: dict[str, Judge] = field(default_factory=dict)
    keys: dict[str, list[list[str]]] = field(default_factory=dict)
    jobs: list[_Job] = field(default_factory=list)
    fresh: list[Judgement] = field(default_factory=list)


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

    plan = _plan(units, index, options, existing)
    append_jsonl(store.judgements_path, plan.fresh)
    existing.update((j.grade_key, j) for j in plan.fresh)
    stats, price = ClientStats(), None
    if plan.jobs:
        stats, price, judged = _judge(plan.jobs, options, store, console)
        existing.update((j.grade_key, j) for j in judged)

    scores = RunScores(run_id=store.run_id, model=manifest.spec.model, units={})
    for unit, records in units.items():
        rows = [[existing.get(k) for k in row] for row in plan.keys[unit]]
        config = index.task(records[0].task).config
        scores.units[unit] = _unit_scores(
            unit, records, rows, config, plan.judges.get(config.scorer.judge or ""), manifest, price
        )
    write_json(store.scores_path, scores.model_dump(mode="json"))
    write_atomic(store.scores_csv_path, scores_csv(scores))
    failed = sum(u.failed for u in scores.units.values())
    spent = cost(stats.usage.prompt_tokens, stats.usage.completion_tokens, price) if plan.jobs else None
    return GradeOutcome(scores, failed, stats, spent)


def _plan(
    units: dict[str, list[PredictionRecord]], index: TaskIndex, options: JudgeOptions, existing: dict[str, Judgement]
) -> _Plan:
    plan = _Plan()
    for unit, records in units.items():
        config = index.task(records[0].task).config
        plan.keys[unit] = []
        if config.scorer.judge:
            judge = plan.judges.get(config.scorer.judge) or _build_judge(config.scorer.judge, options)
            plan.judges[config.scorer.judge] = judge
            settings = _judge_settings(judge)
            for record in records:
                row = [_grade_key(judge.scorer, settings, record, r) for r in range(options.runs or config.scorer.runs)]
                plan.keys[unit].append(row)
                plan.jobs += [
                    _Job(record, r, k, judge)
                    for r, k in enumerate(row)
                    if existing.get(k) is None or existing[k].status != "ok"
                ]
            continue
        metric, scorer = get_metric(config.scorer.metric or ""), f"metric:{config.scorer.metric}"
        for record in records:
            key = _grade_key(scorer, {}, record, 0)
            plan.keys[unit].append([key])
            if key not in existing:
                plan.fresh.append(
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
    return plan


def _judge(
    jobs: list[_Job], options: JudgeOptions, store: RunStore, console
) -> tuple[ClientStats, tuple[float, float] | None, list[Judgement]]:
    """Run the judge calls; return (client stats, the model's price, the new judgements)."""
    models = {j.judge.model for j in jobs}
    if len(models) > 1:  # one command, one judge model: keeps cost accounting and the report honest
        raise VipbenchError(
            f"these tasks ask for different judge models ({', '.join(sorted(models))}); judge them with --judge MODEL"
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
        judged = asyncio.run(_run_jobs(jobs, client, store, console))
        return client.stats, price, judged
    finally:
        cache.close()


def _unit_scores(
    unit: str,
    records: list[PredictionRecord],
    rows: list[list[Judgement | None]],
    config: TaskConfig,
    judge: Judge | None,
    manifest: Manifest,
    price: tuple[float, float] | None,
) -> UnitScores:
    """Aggregate one unit's grades; a missing or failed grade is left out of the means and counted."""
    runs = len(rows[0])
    items = [
        (r.metadata, [j.score if j is not None and j.status == "ok" else None for j in row])
        for r, row in zip(records, rows)
    ]
    total, breakdowns, combos = summarize(items, runs, config.breakdowns, config.combinations, config.labels)
    graded = [j for row in rows for j in row if j is not None]
    usage = sum((j.usage for j in graded), Usage())
    scorer = {"kind": "judge" if judge else "metric", "name": config.scorer.judge or config.scorer.metric, "runs": runs}
    if judge:
        scorer.update(
            judge_model=judge.model,
            base_url=judge.base_url,
            template=str(judge.template.source),
            template_hash=judge.template.sha256,
            reported_models=sorted({j.reported_model for j in graded if j.reported_model}),
        )
    provenance = manifest.tasks.get(records[0].task)
    return UnitScores(
        unit=unit,
        task=records[0].task,
        prompt_style=records[0].prompt_style,
        region_mode=records[0].region_mode,
        scorer=scorer,
        dataset_hash=provenance.dataset_hash if provenance else "",
        prompt_hash=provenance.prompt_hash if provenance else "",
        n=len(records),
        expected_grades=len(records) * runs,
        failed=sum(1 for row in rows for j in row if j is None or j.status != "ok"),
        total=total,
        breakdowns=breakdowns,
        combinations=combos,
        usage={**usage.model_dump(), "cost_usd": cost(usage.prompt_tokens, usage.completion_tokens, price)},
    )


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
    results: list[Judgement] = []
    failures = 0
    with progress_bar(console) as progress:
        bar = progress.add_task("judging", total=len(jobs), detail="")

        async def one(job: _Job) -> None:
            nonlocal failures
            judgement = await grade(job.judge, client, job.record, job.run, job.key)
            append_jsonl(store.judgements_path, [judgement], sync=False)  # kept as soon as it is known
            results.append(judgement)
            failures += judgement.status != "ok"
            s = client.stats
            progress.update(bar, advance=1, detail=f"{s.requests} requests · {s.cache_hits} cached · {failures} failed")

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
