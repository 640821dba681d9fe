"""``vipbench judge`` and the end of ``vipbench run``: a run's predictions → judgements.jsonl → scores.json.

Each unit is graded from the scoring spec its run recorded in the manifest (``vipbench.scoring.spec``), by a
metric on the spot or by its task's own LLM judge (cached, concurrent, retried), then scored by its scorer.
Grades already in judgements.jsonl under the same grade key are reused without a request, and every judge call
goes through the reply cache, so re-scoring pays only for what is new.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vipbench.chat.batch import BatchJob, BatchRequest
from vipbench.chat.cache import ReplyCache, call_key, default_cache_path
from vipbench.chat.client import DEFAULT_TIMEOUT, ChatClient, ClientStats, describe_error
from vipbench.chat.pricing import BATCH_DISCOUNT, Price, cost, estimate_tokens, load_prices, price_for, usage_cost
from vipbench.errors import VipbenchError
from vipbench.progress import live_detail, progress_bar
from vipbench.records import (
    Judgement,
    JudgeSpec,
    Manifest,
    MetricSpec,
    PredictionRecord,
    ScorerSpec,
    TemplateSpec,
    Usage,
    sha256_text,
    stable_hash,
    unit_name,
)
from vipbench.scoring.aggregate import Row, Summary, stat, summarise, summarise_group
from vipbench.scoring.base import METRICS, build_scorer, load_versioned
from vipbench.scoring.judge.batching import BatchOutcome, drive
from vipbench.scoring.judge.protocol import Judge, grade
from vipbench.scoring.judge.template import load_template
from vipbench.scoring.record import GroupScores, RunScores, SampleGrades, ScoredBy, UnitScores, scores_csv
from vipbench.scoring.spec import differences, scoring_spec
from vipbench.store import RunStore, append_jsonl, now, read_jsonl_records, run_status, write_atomic, write_json


@dataclass
class JudgeOptions:
    judge_model: str | None = None
    """Overrides every task's judge model."""
    base_url: str | None = None
    runs: int | None = None
    """Overrides every judge-scored task's number of judge runs."""
    concurrency: int = 64
    """The most requests in flight. At a fixed latency the speed-up over a serial loop cannot exceed this, so 64
    is what it takes to grade 50× faster than the official grader's serial loop (benchmarks/judge_throughput.py)."""
    adaptive: bool = True
    """Start below ``concurrency`` and adapt to the endpoint's rate limit (vipbench.chat.limiter)."""
    template: Path | None = None
    cost_limit: float | None = None
    prices: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    """Seconds a request waits for its answer to start; an endpoint that never answered stops the judge after one."""
    max_retries: int = 6
    backoff_initial: float = 1.0
    cache_path: Path | None = None
    include_paths: Sequence[Path] = ()
    """Task folders to look in for the current task YAML (to report changes, or to rescore with it)."""
    rescore_with_current_task: bool = False
    """Grade with the current task YAML instead of the spec the run recorded."""
    failed_grade: Literal["exclude", "zero"] = "exclude"
    """``zero`` counts a grade that stayed unparseable as 0, as the official ViP-Bench grader does."""
    judge_calls: bool = True
    """False at the end of ``vipbench run``: score only what needs no judge call."""
    swap_check: bool = False
    """Grade pairwise reviews again with the two answers swapped, and report the judge's position bias."""
    allow_partial: bool = False
    """Score a run that is not complete (killed, failed or still running); every number is marked partial."""
    batch: bool = False
    """Send the first ask of each grade still needed through OpenAI's Batch API (half price, within 24 hours);
    grade once the batch has ended."""
    wait: bool = False
    """With ``batch``: poll until the batch has ended, instead of leaving it to a later command."""
    poll: float = 30.0
    """Seconds between two looks at a batch."""
    allow_failures: bool = False
    """Write scores less complete than the run's current scores.json (never scores without a single grade)."""


@dataclass
class GradeOutcome:
    scores: RunScores | None
    """None while a batch is pending: nothing is scored until it has ended."""
    failed: int
    waiting: list[str] = field(default_factory=list)
    """Judge-scored units left for ``vipbench judge`` (when judge calls were not allowed)."""
    stats: ClientStats = field(default_factory=ClientStats)
    cost_usd: float | None = None
    batch: BatchOutcome | None = None
    kept: bool = False
    """The run's scores.json was more complete than these scores, and was left as it was."""


@dataclass
class _Job:
    record: PredictionRecord
    run: int
    key: str
    judge: Judge


@dataclass
class _Unit:
    """One scored unit's records, its spec, and the grade key of each (record, judge run)."""

    spec: ScorerSpec
    records: list[PredictionRecord]
    keys: list[list[str]]
    grader_version: int
    judge: Judge | None = None


@dataclass
class _Plan:
    units: dict[str, _Unit] = field(default_factory=dict)
    jobs: list[_Job] = field(default_factory=list)
    fresh: list[Judgement] = field(default_factory=list)
    """Metric grades made while planning."""
    waiting: list[str] = field(default_factory=list)
    swapped: dict[str, _Unit] = field(default_factory=dict)
    """Per pairwise-judged unit, its grades with the two answers shown the other way round (``--swap-check``)."""


def grade_key(grader: Mapping[str, Any], record: PredictionRecord, run: int) -> str:
    """What decides one grade: the grader (name, version, arguments or judge settings), the run index, and the
    prediction with everything the grader may read of its sample."""
    return stable_hash(
        {
            **grader,
            "run": run,
            "task": record.task,
            "sample": record.sample_id,
            "style": record.prompt_style,
            "prediction": record.prediction,
            "references": record.references,
            "doc": record.doc_hash,
        }
    )


def grade_run(
    store: RunStore, options: JudgeOptions, console=None, warn: Callable[[str], None] = print
) -> GradeOutcome:
    manifest = store.manifest()
    predictions = store.predictions()
    if not predictions:
        raise VipbenchError(f"run {store.run_id} has no predictions yet; run or resume it first")
    status = run_status(store, manifest)
    if status != "complete" and not options.allow_partial:
        raise VipbenchError(_incomplete(store.run_id, status, len(predictions), manifest.planned))
    warn = _once(warn)
    specs = task_specs(manifest, options, warn)
    _check_judge_options(specs, options, warn)
    existing = {j.grade_key: j for j in read_jsonl_records(store.judgements_path, Judgement)}
    plan = _plan(predictions, specs, options, existing, warn)
    append_jsonl(store.judgements_path, plan.fresh)
    existing.update((j.grade_key, j) for j in plan.fresh)
    judged = _Judged()
    if plan.jobs:
        judged = _judge(plan.jobs, options, store, console)
        if judged.batch and judged.batch.pending:
            return GradeOutcome(None, 0, plan.waiting, batch=judged.batch)
        existing.update((j.grade_key, j) for j in judged.judgements)
    scores = _scores(store.run_id, manifest, plan, existing, options)
    scores.status, scores.predictions = status, len(predictions)
    scores.finetuned_on = manifest.spec.finetuned_on
    kept = not _write_scores(store, scores, options.allow_failures, warn)
    failed = sum(u.failed for u in scores.units.values())
    return GradeOutcome(scores, failed, plan.waiting, judged.stats, judged.spent, judged.batch, kept)


def _write_scores(store: RunStore, scores: RunScores, less_complete: bool, warn: Callable[[str], None]) -> bool:
    """Replace scores.json and scores.csv, each atomically, unless the scores already there are more complete (more
    good grades, and a larger share of those asked for): a grading whose requests failed (a dead judge, a wrong
    --base-url) must never turn good numbers into "–". ``less_complete`` lets less complete scores through, never
    scores without a single grade. Says so, in one line, when it keeps the file."""
    old = _current_scores(store)
    if old is not None:
        (good, asked), (had, had_asked) = scores.grades, old.grades
        emptier = good == 0 and had > 0
        fewer = good < had and good * had_asked < had * asked
        if emptier or (fewer and not less_complete):
            kept = f"kept run {store.run_id}'s scores.json ({had}/{had_asked} grades): "
            if not asked:
                warn(kept + "nothing was graded this time")
            else:
                got = f"none of its {asked} grades" if good == 0 else f"only {good}/{asked} grades"
                allow = "" if emptier else " (--allow-failures writes these scores anyway)"
                warn(kept + f"this grading got {got}; vipbench judge {store.run_id} retries the failed ones{allow}")
            return False
    write_json(store.scores_path, scores.model_dump(mode="json"))
    write_atomic(store.scores_csv_path, scores_csv(scores))
    return True


def _current_scores(store: RunStore) -> RunScores | None:
    """The run's scores.json, or None when there is none or it does not read (a file cut short is replaced)."""
    try:
        return RunScores.model_validate_json(store.scores_path.read_bytes())
    except (OSError, ValueError):
        return None


def _check_judge_options(specs: Mapping[str, ScorerSpec], options: JudgeOptions, warn: Callable[[str], None]) -> None:
    """Options for the LLM judge say so when no task of the run is graded by one, instead of being ignored."""
    given = [
        flag
        for flag, value in (
            ("--judge", options.judge_model),
            ("--judge-template", options.template),
            ("--runs", options.runs),
            ("--base-url", options.base_url),
        )
        if value
    ]
    if given and options.judge_calls and not any(spec.judge for spec in specs.values()):
        warn(f"no task of this run is graded by an LLM judge; {', '.join(given)} changes nothing")


def _incomplete(run_id: str, status: str, done: int, planned: int) -> str:
    if status == "running":
        return (
            f"run {run_id} is still running ({done}/{planned} predictions so far); wait for it to finish, or pass "
            "--allow-partial to score what is there"
        )
    return (
        f"run {run_id} has {done}/{planned} predictions ({status}); finish it with vipbench run --resume {run_id}, "
        "or pass --allow-partial to score what is there"
    )


def _once(warn: Callable[[str], None]) -> Callable[[str], None]:
    """``warn``, saying each message once (a task scored under several prompt styles is one task)."""
    said: set[str] = set()

    def once(message: str) -> None:
        if message not in said:
            said.add(message)
            warn(message)

    return once


# ------------------------------------------------------------------------------------------- the specs


def task_specs(manifest: Manifest, options: JudgeOptions, warn: Callable[[str], None]) -> dict[str, ScorerSpec]:
    """Each task's spec as the run recorded it (or, with ``rescore_with_current_task``, as its YAML says now),
    with the command line's overrides. A task whose YAML changed since the run is reported in one line."""
    specs = {task: provenance.scoring for task, provenance in manifest.tasks.items()}
    for task, current in _current_specs(specs, options).items():
        changed = differences(specs[task], current)
        if not changed:
            continue
        if options.rescore_with_current_task:
            specs[task] = current
            warn(f"scoring {task} with its current task YAML ({', '.join(changed)} changed since the run)")
        else:
            warn(
                f"the scoring of {task} changed since run {manifest.run_id} ({', '.join(changed)}); grading with the "
                "run's own record (--rescore-with-current-task uses the current one)"
            )
    template = load_template(options.template) if options.template else None
    return {task: _with_overrides(spec, options, template) for task, spec in specs.items()}


def _current_specs(recorded: Mapping[str, ScorerSpec], options: JudgeOptions) -> dict[str, ScorerSpec]:
    """The specs the tasks' current YAML gives. Only a rescore needs them: otherwise a task that is not installed
    here, or whose YAML no longer loads, is simply graded from its record."""
    from vipbench.tasks import TaskIndex

    def refuse(exc: VipbenchError) -> None:
        if options.rescore_with_current_task:
            raise VipbenchError(f"cannot rescore with the current task YAML: {exc}") from None

    try:
        index = TaskIndex(options.include_paths)
    except VipbenchError as exc:
        refuse(exc)
        return {}
    current = {}
    for task in recorded:
        try:
            current[task] = scoring_spec(index.task(task).config)
        except VipbenchError as exc:
            refuse(exc)
    return current


def _with_overrides(spec: ScorerSpec, options: JudgeOptions, template: TemplateSpec | None) -> ScorerSpec:
    if spec.judge is None:
        return spec
    updates: dict[str, Any] = {}
    if options.judge_model:
        updates["model"] = options.judge_model
    if options.runs:
        updates["runs"] = options.runs
    if template:
        updates["template"] = template
    return spec.model_copy(update={"judge": spec.judge.model_copy(update=updates)})


# ---------------------------------------------------------------------------------------------- planning


def _plan(
    predictions: list[PredictionRecord],
    specs: Mapping[str, ScorerSpec],
    options: JudgeOptions,
    existing: Mapping[str, Judgement],
    warn: Callable[[str], None],
) -> _Plan:
    plan = _Plan()
    by_unit: dict[str, list[PredictionRecord]] = {}
    for record in predictions:
        by_unit.setdefault(record.unit, []).append(record)
    for unit, records in by_unit.items():
        spec = specs[records[0].task]
        if spec.metric is not None:
            plan.units[unit] = _plan_metric(spec, spec.metric, records, existing, plan.fresh, warn)
            continue
        assert spec.judge is not None
        planned, missing = _plan_judge(spec, spec.judge, records, options, existing)
        if options.swap_check and spec.judge.assistants:
            swapped = spec.judge.model_copy(update={"swapped": True})
            plan.swapped[unit], more = _plan_judge(spec, swapped, records, options, existing)
            missing += more
        if missing and not options.judge_calls:
            plan.waiting.append(unit)
            plan.swapped.pop(unit, None)
            continue
        plan.units[unit] = planned
        plan.jobs += missing
    return plan


def _plan_judge(
    spec: ScorerSpec, judge_spec: JudgeSpec, records: list[PredictionRecord], options: JudgeOptions, existing
) -> tuple[_Unit, list[_Job]]:
    """A judge unit's grade keys, and the judge calls of those not graded yet."""
    judge = Judge(judge_spec, options.base_url)
    grader = judge.key()
    keys = [[grade_key(grader, r, run) for run in range(judge_spec.runs)] for r in records]
    missing = [
        _Job(record, run, key, judge)
        for record, row in zip(records, keys)
        for run, key in enumerate(row)
        if key not in existing or existing[key].status != "ok"
    ]
    return _Unit(spec, records, keys, judge_spec.version, judge), missing


def _plan_metric(
    spec: ScorerSpec,
    metric_spec: MetricSpec,
    records: list[PredictionRecord],
    existing: Mapping[str, Judgement],
    fresh: list[Judgement],
    warn: Callable[[str], None],
) -> _Unit:
    """Grade every record the metric has not graded yet, under its current version."""
    metric = load_versioned(METRICS, metric_spec.name)
    if metric.version != metric_spec.version:
        warn(
            f"metric {metric_spec.name} is version {metric.version} now (the run recorded {metric_spec.version}): "
            f"{records[0].task} is graded again"
        )
    grader = {"grader": f"metric:{metric_spec.name}", "version": metric.version, "args": metric_spec.args}
    keys = [[grade_key(grader, record, 0)] for record in records]
    for record, (key,) in zip(records, keys):
        if key in existing:
            continue
        try:
            values, failure, error = dict(metric(record, **metric_spec.args)), None, None
        except Exception as exc:  # noqa: BLE001 - a metric that raises on one item fails that grade, visibly
            values, failure, error = {}, "metric", describe_error(exc)
        fresh.append(
            Judgement(
                grade_key=key,
                task=record.task,
                sample_id=record.sample_id,
                prompt_style=record.prompt_style,
                run=0,
                grader=grader["grader"],
                version=metric.version,
                status="failed" if failure else "ok",
                values=values,
                failure=failure,
                error=error,
                created=now(),
            )
        )
    return _Unit(spec, records, keys, metric.version)


# ------------------------------------------------------------------------------------------------ judging


@dataclass
class _Judged:
    stats: ClientStats = field(default_factory=ClientStats)
    spent: float | None = None
    """Dollars spent on live calls and collected batches; None when a judge model has no price."""
    judgements: list[Judgement] = field(default_factory=list)
    batch: BatchOutcome | None = None


def _judge(jobs: list[_Job], options: JudgeOptions, store: RunStore, console) -> _Judged:
    """Run the judge calls (after a batch of their first asks, with ``--batch``)."""
    prices = load_prices(options.prices, options.base_url)

    def price_of(model: str) -> Price | None:
        return price_for(model, prices)

    cache = ReplyCache(options.cache_path or default_cache_path())
    judged, limit = _Judged(), options.cost_limit
    try:
        if options.batch:
            judged.batch = _batch(jobs, options, store, cache, price_of, console)
            if judged.batch.pending:
                return judged
            batch_spent = sum(_batch_cost(state, price_of) or 0.0 for state in judged.batch.ended)
            limit = None if limit is None else max(0.0, limit - batch_spent)
        _check_cost(_first_asks(jobs, options.base_url, cache), limit, price_of)
        settings = ("base_url", "concurrency", "timeout", "max_retries", "backoff_initial", "adaptive")
        client = ChatClient(
            cache, prices=price_of, cost_limit=limit, **{name: getattr(options, name) for name in settings}
        )
        judged.judgements = asyncio.run(_run_jobs(jobs, client, store, console))
    finally:
        cache.close()
    judged.stats = client.stats
    batches = judged.batch.ended if judged.batch else []
    if all(price_of(model) for model in {job.judge.spec.model for job in jobs}):
        judged.spent = client.stats.spent_usd + sum(_batch_cost(state, price_of) or 0.0 for state in batches)
    return judged


def _batch(
    jobs: list[_Job],
    options: JudgeOptions,
    store: RunStore,
    cache: ReplyCache,
    price_of: Callable[[str], Price | None],
    console,
) -> BatchOutcome:
    def check(requests) -> None:
        _check_cost(requests, options.cost_limit, price_of, share=BATCH_DISCOUNT, rate=" at the batch rate")

    job = BatchJob(store.path, options.base_url, options.timeout)
    return drive(job, _first_asks(jobs, options.base_url, cache), cache, check, options.wait, options.poll, console)


def _batch_cost(state, price_of: Callable[[str], Price | None]) -> float | None:
    prices = {price_of(model) for model in state.models}
    return usage_cost(state.usage, prices.pop()) if len(prices) == 1 else None


def _first_asks(jobs: list[_Job], base_url: str | None, cache: ReplyCache) -> list[BatchRequest]:
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


async def _run_jobs(jobs: list[_Job], client: ChatClient, store: RunStore, console) -> list[Judgement]:
    results: list[Judgement] = []
    failures = 0
    # The client's timeouts, retries and 429s show as they happen, not only when a grade is done.
    with live_detail(client.activity), progress_bar(console) as progress:
        bar = progress.add_task("judging", total=len(jobs), detail="")

        async def one(job: _Job) -> None:
            nonlocal failures
            judgement = await grade(job.judge, client, job.record, job.run, job.key)
            append_jsonl(store.judgements_path, [judgement], sync=False)  # kept as soon as it is known
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


# ------------------------------------------------------------------------------------------------ scoring


def _values(judgement: Judgement | None, failed_grade: str) -> dict[str, Any] | None:
    """A grade's values for the scorer: None when it is missing or failed, unless an unparseable judge grade
    is to count as 0."""
    if judgement is None:
        return None
    if judgement.status == "ok":
        return judgement.values
    return {"score": 0.0} if failed_grade == "zero" and judgement.failure == "unparseable" else None


def _scores(
    run_id: str, manifest: Manifest, plan: _Plan, grades: Mapping[str, Judgement], options: JudgeOptions
) -> RunScores:
    scores = RunScores(
        run_id=run_id, model=manifest.spec.model, status="complete", predictions=0, planned=manifest.planned, units={}
    )
    prices = load_prices(options.prices, options.base_url)
    summaries: dict[str, tuple[list[Row], Summary]] = {}
    for name, unit in plan.units.items():
        rows, summary = _summarise_unit(unit, grades, options)
        summaries[name] = (rows, summary)
        scores.units[name] = _unit_scores(name, unit, summary, grades, manifest, options, prices)
        scores.units[name].samples = _sample_grades(rows, unit)
        if name in plan.swapped:
            _add_position_bias(scores.units[name], summary, _summarise_unit(plan.swapped[name], grades, options)[1])
    scores.groups = _group_scores(manifest, summaries, {u: p.spec.runs for u, p in plan.units.items()})
    return scores


def _summarise_unit(unit: _Unit, grades: Mapping[str, Judgement], options: JudgeOptions) -> tuple[list[Row], Summary]:
    rows: list[Row] = [
        (record, [_values(grades.get(k), options.failed_grade) for k in keys])
        for record, keys in zip(unit.records, unit.keys)
    ]
    spec = unit.spec
    scorer = build_scorer(spec.name, spec.args)
    return rows, summarise(scorer, rows, spec.runs, spec.breakdowns, spec.combinations, spec.labels)


def _sample_grades(rows: list[Row], unit: _Unit) -> list[SampleGrades]:
    spec = unit.spec
    keys = [*spec.breakdowns, *([spec.combinations] if spec.combinations else [])]
    return [
        SampleGrades(
            id=record.sample_id,
            prediction=sha256_text(record.prediction)[:12],
            meta={k: record.metadata[k] for k in keys if k in record.metadata},
            values=list(values),
            keys=grade_keys,
        )
        for (record, values), grade_keys in zip(rows, unit.keys)
    ]


def _add_position_bias(unit: UnitScores, shown: Summary, swapped: Summary) -> None:
    """The headline with the answers swapped, and the difference: above 0, the judge favours whichever answer it
    reads first (it scores the model higher when the model is shown first)."""
    name, label = unit.headline, unit.total.label or unit.headline
    first = [(s.get(name), n.get(name)) for s, n in zip(swapped.per_run, shown.per_run)]
    unit.secondary[f"{name}_swapped"] = stat([s for s, _ in first], unit.n, f"{label}, answers swapped")
    bias = [None if s is None or n is None else s - n for s, n in first]
    unit.secondary["position_bias"] = stat(bias, unit.n, "Position bias (swapped − shown)")


def _unit_scores(
    name: str,
    unit: _Unit,
    summary: Summary,
    grades: Mapping[str, Judgement],
    manifest: Manifest,
    options: JudgeOptions,
    prices: Mapping[str, Price],
) -> UnitScores:
    first = unit.records[0]
    made = [grades.get(k) for row in unit.keys for k in row]
    graded = [j for j in made if j is not None]
    failed = [j for j in made if j is None or j.status != "ok"]
    usage = sum((j.usage for j in graded), Usage())
    price = price_for(unit.judge.spec.model, prices) if unit.judge else None
    provenance = manifest.tasks[first.task]
    return UnitScores(
        unit=name,
        task=first.task,
        prompt_style=first.prompt_style,
        region_mode=first.region_mode,
        scored_by=_scored_by(unit, graded, options),
        dataset_hash=provenance.dataset_hash,
        prompt_hash=provenance.prompt_hash,
        n=len(unit.records),
        planned=provenance.requests.get(name, len(unit.records)),
        expected_grades=len(made),
        failed=len(failed),
        zeroed=sum(1 for j in failed if _values(j, options.failed_grade) is not None),
        headline=summary.headline,
        total=summary.total,
        secondary=summary.secondary,
        breakdowns=summary.breakdowns,
        combinations=summary.combinations,
        usage={**usage.model_dump(), "cost_usd": usage_cost(usage, price)},
    )


def _scored_by(unit: _Unit, graded: list[Judgement], options: JudgeOptions) -> ScoredBy:
    by = ScoredBy(
        scorer=unit.spec.name,
        scorer_version=unit.spec.version,
        grader=unit.spec.grader,
        grader_version=unit.grader_version,
        runs=unit.spec.runs,
        failed_grade=options.failed_grade,
        scorer_args=unit.spec.args,
    )
    if unit.spec.metric:
        by.args = unit.spec.metric.args
    if unit.judge:
        judge = unit.judge.spec
        by.judge_model, by.base_url = judge.model, options.base_url
        by.template, by.template_hash = judge.template.source, judge.template.sha256
        by.reported_models = sorted({j.reported_model for j in graded if j.reported_model})
    return by


def _group_scores(
    manifest: Manifest, summaries: Mapping[str, tuple[list[Row], Summary]], runs: Mapping[str, int]
) -> dict[str, GroupScores]:
    """Each recorded group's score, once per prompt style that every member task was scored in."""
    groups: dict[str, GroupScores] = {}
    styles = list(dict.fromkeys(rows[0][0].prompt_style for rows, _ in summaries.values() if rows))
    for spec in manifest.groups.values():
        scorer = build_scorer(spec.scorer, spec.args, group=True)
        for style in styles:
            units = {task: unit_name(task, style) for task in spec.tasks}
            if not all(u in summaries for u in units.values()):
                continue
            members = {task: summaries[u] for task, u in units.items()}
            total, secondary = summarise_group(scorer, members, min(runs[u] for u in units.values()))
            groups[unit_name(spec.group, style)] = GroupScores(
                group=spec.group,
                prompt_style=style,
                tasks=spec.tasks,
                scorer=spec.scorer,
                scorer_version=scorer.version,
                headline=scorer.headline,
                total=total,
                secondary=secondary,
            )
    return groups
