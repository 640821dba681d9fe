"""``vipbench judge`` and the end of ``vipbench run``: a run's predictions → judgements.jsonl → scores.json.

Orchestration only: read the run, plan the grades it still needs (``plan``), make them (``service``), assemble
scores.json from the grades (``record``) and write it. Each task is graded from the scoring spec its run recorded
(``spec``); grades already in judgements.jsonl under the same grade key are reused without a request, and every
judge call goes through the reply cache, so re-scoring pays only for what is new.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from vipbench.chat.client import ClientStats
from vipbench.chat.pricing import load_prices
from vipbench.errors import VipbenchError
from vipbench.records import Judgement, ScorerSpec
from vipbench.scoring.assemble import assemble
from vipbench.scoring.judge.batching import BatchOutcome
from vipbench.scoring.options import GradingPolicy, JudgeEndpoint
from vipbench.scoring.plan import plan_run
from vipbench.scoring.record import RunScores, scores_csv
from vipbench.scoring.service import grade_jobs
from vipbench.scoring.spec import graded_specs
from vipbench.store import RunStore, append_jsonl, read_jsonl_records, run_status, write_atomic, write_json


@dataclass
class GradeOutcome:
    scores: RunScores | None
    """None while a batch is pending: nothing is scored until it has ended."""
    failed: int
    waiting: list[str] = field(default_factory=list)
    """Judge-scored units left for ``vipbench judge`` (when no judge endpoint was given)."""
    stats: ClientStats = field(default_factory=ClientStats)
    cost_usd: float | None = None
    batch: BatchOutcome | None = None
    kept: bool = False
    """The run's scores.json was more complete than these scores, and was left as it was."""


def grade_run(
    store: RunStore,
    policy: GradingPolicy,
    endpoint: JudgeEndpoint | None = None,
    console=None,
    warn: Callable[[str], None] = print,
) -> GradeOutcome:
    """Grade what the run still needs and write its scores. Without ``endpoint`` no judge is asked: judge-scored
    units whose grades are not all made yet are left ``waiting``."""
    manifest = store.manifest()
    predictions = store.predictions()
    if not predictions:
        raise VipbenchError(f"run {store.run_id} has no predictions yet; run or resume it first")
    status = run_status(store, manifest)
    if status != "complete" and not policy.allow_partial:
        raise VipbenchError(_incomplete(store.run_id, status, len(predictions), manifest.planned))
    warn = _once(warn)
    specs = graded_specs(
        manifest,
        policy.overrides,
        warn,
        policy.rescore_with_current_task,
        policy.include_paths,
        fetch=endpoint is not None,
    )
    _check_judge_options(specs, policy, endpoint, warn)
    grades = {j.grade_key: j for j in read_jsonl_records(store.judgements_path, Judgement)}
    base_url = endpoint.base_url if endpoint else None
    plan = plan_run(predictions, specs, grades, base_url, policy.swap_check, judge_calls=endpoint is not None)
    for note in plan.notes:
        warn(note)

    def keep(made: Sequence[Judgement]) -> None:
        append_jsonl(store.judgements_path, made, sync=False)  # each grade kept as soon as it is known

    graded = grade_jobs(plan.jobs, keep, endpoint, store.path, console)
    if graded.pending:
        return GradeOutcome(None, 0, plan.waiting, batch=graded.batch)
    grades.update(graded.grades)
    prices = load_prices(endpoint.prices if endpoint else None, base_url)
    scores = assemble(
        store.run_id,
        manifest,
        plan,
        grades,
        status=status,
        predictions=len(predictions),
        failed_grade=policy.failed_grade,
        base_url=base_url,
        prices=prices,
    )
    kept = not _write_scores(store, scores, policy.allow_failures, warn)
    failed = sum(u.failed for u in scores.units.values())
    return GradeOutcome(scores, failed, plan.waiting, graded.stats, graded.spent, graded.batch, kept)


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


def _check_judge_options(
    specs: Mapping[str, ScorerSpec], policy: GradingPolicy, endpoint: JudgeEndpoint | None, warn: Callable[[str], None]
) -> None:
    """Options for the LLM judge say so when no task of the run is graded by one, instead of being ignored."""
    given = policy.overrides.flags() + (["--base-url"] if endpoint and endpoint.base_url else [])
    if given and endpoint and not any(spec.judge for spec in specs.values()):
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
