"""``vipbench judge --batch``: send a run's judge calls through OpenAI's Batch API, then grade from the cache.

Only the first ask of each grade still needed goes into a batch: re-asks depend on the reply before them, so they,
and every request the batch failed or did not reach, are asked live once the batch has ended. Every command
moves the run's batch as far as it can (upload, create, look, collect) and says where it stands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vipbench.chat.batch import BatchJob, BatchRequest, BatchState
from vipbench.chat.cache import ReplyCache
from vipbench.progress import progress_bar

#: The most requests OpenAI takes in one batch.
MAX_REQUESTS = 50_000


@dataclass
class BatchOutcome:
    pending: BatchState | None = None
    """The batch still running, if any: grading waits for it."""
    ended: list[BatchState] = field(default_factory=list)
    """The batches this command collected."""


def drive(
    job: BatchJob,
    requests: Sequence[BatchRequest],
    cache: ReplyCache,
    check_cost: Callable[[Sequence[BatchRequest]], None],
    wait: bool = False,
    poll: float = 30.0,
    console=None,
) -> BatchOutcome:
    """Move the run's batch on until it is pending, or until every first ask has a reply or was tried in a batch.

    ``requests`` are the first asks of the grades still needed; those already in the cache are not sent.
    A batch left by an earlier command is moved on (and collected) first, whatever it asked."""
    outcome, tried = BatchOutcome(), set()
    while True:
        state = job.state()
        if state is None:
            todo = list({r.key: r for r in requests if r.key not in tried and r.key not in cache}.values())
            if not todo:
                return outcome
            check_cost(todo)
            state = job.prepare(todo[:MAX_REQUESTS])  # the rest go in the next batch
        state = job.advance(state)
        if wait and not state.ended:
            state = _wait(job, state, poll, console)
        if not state.ended:
            outcome.pending = state
            return outcome
        tried |= job.keys()
        state = job.collect(state, cache)
        job.finish(state)
        outcome.ended.append(state)


def _wait(job: BatchJob, state: BatchState, poll: float, console) -> BatchState:
    with progress_bar(console) as progress:
        bar = progress.add_task(f"batch {state.batch_id}", total=state.requests, detail="")

        def shown(s: BatchState) -> None:
            failed = s.counts.get("failed", 0)
            progress.update(bar, completed=s.done, detail=f"{s.status} · {failed} failed")

        try:
            return job.wait(state, poll, shown)
        except KeyboardInterrupt:
            progress.stop()
            if console is not None:
                console.print(f"the batch {state.batch_id} goes on; run the same command again to collect it")
            raise


def describe(state: BatchState, run_id: str) -> str:
    """One line on a batch: where it stands, and what to do next."""
    if not state.ended:
        return (
            f"batch {state.batch_id or '(not created yet)'} {state.status}: {state.done}/{state.requests} requests "
            f"done, {state.counts.get('failed', 0)} failed. Run vipbench judge {run_id} --batch again to collect it "
            "once it has ended (within 24 hours), or add --wait"
        )
    missing = state.requests - state.collected
    why = ", ".join(f"{reason} {n}" for reason, n in sorted(state.errors.items()))
    return (
        f"batch {state.batch_id} {state.status}: {state.collected}/{state.requests} replies collected at the batch "
        f"rate" + (f"; {missing} not answered ({why}) are asked live" if missing else "")
    )
