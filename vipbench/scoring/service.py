"""The grading service: make the grades a plan still needs and return them by grade key.

Metric grades are made on the spot; judge grades are asked live through the cached, concurrent, retried
ChatClient, or (``JudgeEndpoint.batch``) their first asks through OpenAI's Batch API and the rest live once the
batch has ended. Every grade goes to the caller's sink as soon as it is known (``vipbench judge``: the run's
judgements.jsonl; the lmms-eval hooks: a list), so a killed grading loses nothing it paid for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vipbench.chat.batch import BatchJob, BatchRequest
from vipbench.chat.cache import ReplyCache, call_key, default_cache_path
from vipbench.chat.client import ChatClient, ClientStats, describe_error
from vipbench.chat.pricing import BATCH_DISCOUNT, Price, cost, estimate_tokens, load_prices, price_for, usage_cost
from vipbench.errors import VipbenchError
from vipbench.progress import live_detail, progress_bar
from vipbench.records import Judgement
from vipbench.scoring.judge.batching import BatchOutcome, drive
from vipbench.scoring.judge.protocol import grade
from vipbench.scoring.options import JudgeEndpoint
from vipbench.scoring.plan import Job, JudgeJob, MetricJob
from vipbench.store import now

Sink = Callable[[Sequence[Judgement]], None]
"""Where each grade goes as soon as it is made."""


@dataclass
class Graded:
    """What one grading made."""

    grades: dict[str, Judgement] = field(default_factory=dict)
    """The grades made, by grade key."""
    stats: ClientStats = field(default_factory=ClientStats)
    spent: float | None = None
    """Dollars spent on live calls and collected batches; None when a judge model has no price."""
    batch: BatchOutcome | None = None

    @property
    def pending(self) -> bool:
        """A batch is still running: its grades (and the scores) wait for it."""
        return bool(self.batch and self.batch.pending)


def grade_jobs(
    jobs: Sequence[Job],
    sink: Sink | None = None,
    endpoint: JudgeEndpoint | None = None,
    batch_folder: Path | None = None,
    console=None,
) -> Graded:
    """Make every job's grade: the metric grades first, then the judge calls at ``endpoint`` (a run's batch
    state lives in ``batch_folder``). Each grade also goes to ``sink`` as soon as it is made."""
    sink = sink or _nowhere
    metric_jobs = [job for job in jobs if isinstance(job, MetricJob)]
    judge_jobs = [job for job in jobs if isinstance(job, JudgeJob)]
    made = [metric_grade(job) for job in metric_jobs]
    sink(made)
    graded = Graded(grades={j.grade_key: j for j in made})
    if judge_jobs:
        if endpoint is None:
            raise ValueError("judge jobs need a judge endpoint")
        _judge(judge_jobs, endpoint, sink, batch_folder, console, graded)
    return graded


def _nowhere(made: Sequence[Judgement]) -> None:
    pass


def metric_grade(job: MetricJob) -> Judgement:
    """One metric grade; a metric that raises fails that grade, visibly, and never the whole grading."""
    record = job.record
    try:
        values, failure, error = dict(job.metric(record, **job.args)), None, None
    except Exception as exc:  # noqa: BLE001 - a metric that raises on one item fails that grade, visibly
        values, failure, error = {}, "metric", describe_error(exc)
    return Judgement(
        grade_key=job.key,
        task=record.task,
        sample_id=record.sample_id,
        prompt_style=record.prompt_style,
        run=0,
        grader=job.grader,
        version=job.metric.version,
        status="failed" if failure else "ok",
        values=values,
        failure=failure,
        error=error,
        created=now(),
    )


# ------------------------------------------------------------------------------------------------ judging


def _judge(
    jobs: list[JudgeJob], endpoint: JudgeEndpoint, sink: Sink, batch_folder: Path | None, console, graded: Graded
) -> None:
    """Run the judge calls (after a batch of their first asks, with ``endpoint.batch``) into ``graded``."""
    prices = load_prices(endpoint.prices, endpoint.base_url)

    def price_of(model: str) -> Price | None:
        return price_for(model, prices)

    cache = ReplyCache(endpoint.cache_path or default_cache_path())
    limit = endpoint.cost_limit
    try:
        if endpoint.batch:
            if batch_folder is None:
                raise ValueError("a batch needs a folder to keep its state in")
            graded.batch = _batch(jobs, endpoint, batch_folder, cache, price_of, console)
            if graded.batch.pending:
                return
            batch_spent = sum(_batch_cost(state, price_of) or 0.0 for state in graded.batch.ended)
            limit = None if limit is None else max(0.0, limit - batch_spent)
        _check_cost(_first_asks(jobs, endpoint.base_url, cache), limit, price_of)
        client = ChatClient(cache, prices=price_of, cost_limit=limit, **endpoint.client_settings())
        made = asyncio.run(_run_live(jobs, client, sink, console))
    finally:
        cache.close()
    graded.grades.update((j.grade_key, j) for j in made)
    graded.stats = client.stats
    batches = graded.batch.ended if graded.batch else []
    if all(price_of(model) for model in {job.judge.spec.model for job in jobs}):
        graded.spent = client.stats.spent_usd + sum(_batch_cost(state, price_of) or 0.0 for state in batches)


def _batch(
    jobs: list[JudgeJob],
    endpoint: JudgeEndpoint,
    folder: Path,
    cache: ReplyCache,
    price_of: Callable[[str], Price | None],
    console,
) -> BatchOutcome:
    def check(requests) -> None:
        _check_cost(requests, endpoint.cost_limit, price_of, share=BATCH_DISCOUNT, rate=" at the batch rate")

    job = BatchJob(folder, endpoint.base_url, endpoint.timeout)
    requests = _first_asks(jobs, endpoint.base_url, cache)
    return drive(job, requests, cache, check, endpoint.wait, endpoint.poll, console)


def _batch_cost(state, price_of: Callable[[str], Price | None]) -> float | None:
    prices = {price_of(model) for model in state.models}
    return usage_cost(state.usage, prices.pop()) if len(prices) == 1 else None


def _first_asks(jobs: list[JudgeJob], base_url: str | None, cache: ReplyCache) -> list[BatchRequest]:
    """The first ask of each grade, as a request keyed like the live call, for those not in the cache."""
    requests = []
    for job in jobs:
        spec = job.judge.spec
        messages = job.judge.messages(job.record)
        key = call_key(spec.model, base_url, messages, spec.temperature, spec.max_tokens, job.run)
        if key not in cache:
            body = {"model": spec.model, "messages": messages, "temperature": spec.temperature}
            requests.append(BatchRequest(key, {**body, "max_tokens": spec.max_tokens}))
    return requests


def _check_cost(
    requests: list[BatchRequest],
    limit: float | None,
    price_of: Callable[[str], Price | None],
    share: float = 1.0,
    rate: str = "",
) -> None:
    """Refuse to start when the calls still to pay for would cost more than ``--cost-limit`` (``share`` of the
    live price: the Batch API's discount)."""
    if limit is None or not requests:
        return
    estimate = 0.0
    for request in requests:
        body = request.body
        price = price_of(body["model"])
        if price is None:
            raise VipbenchError(f"--cost-limit needs a price for {body['model']!r}; give one with --prices FILE")
        estimate += share * (cost(estimate_tokens(body["messages"]), body["max_tokens"], price) or 0.0)
    if estimate > limit:
        raise VipbenchError(
            f"judging the {len(requests)} remaining grades would cost about ${estimate:.2f}{rate}, over "
            f"--cost-limit ${limit:.2f}; nothing was sent"
        )


async def _run_live(jobs: list[JudgeJob], client: ChatClient, sink: Sink, console) -> list[Judgement]:
    results: list[Judgement] = []
    failures = 0
    # The client's timeouts, retries and 429s show as they happen, not only when a grade is done.
    with live_detail(client.activity), progress_bar(console) as progress:
        bar = progress.add_task("judging", total=len(jobs), detail="")

        async def one(job: JudgeJob) -> None:
            nonlocal failures
            judgement = await grade(job.judge, client, job.record, job.run, job.key)
            sink([judgement])  # kept as soon as it is known
            results.append(judgement)
            failures += judgement.status != "ok"
            progress.update(bar, advance=1, detail=f"{failures} failed" if failures else "")

        try:
            # One grade alone first: an endpoint that refuses the key or the model, or never answers, fails on
            # one request, not on a whole wave of them.
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
