"""OpenAI's Batch API: many chat requests sent as one job, answered within 24 hours at half the price.

A batch only fills the reply cache: each request is keyed exactly as the live call it replaces
(``vipbench.chat.cache.call_key``) and sent with that key as its ``custom_id``, so once the batch is collected
the live path finds every reply it needs in the cache and grades, re-asks and scores exactly as it would have.
A request that failed inside the batch, or that the batch did not reach before it expired, is simply not in the
cache: the live path asks it.

A batch's state is a JSON file in the run folder, written after every step (the request file written, then
uploaded, then the batch created, then each status seen), so a process killed at any point resumes where it
stopped. A batch whose creation was sent but whose reply was lost is found again among the account's recent
batches by its input file, so no request is ever sent twice.
"""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from vipbench.chat.cache import Reply, ReplyCache
from vipbench.chat.client import DEFAULT_TIMEOUT, api_key, deadline, describe_error, unreachable
from vipbench.errors import VipbenchError
from vipbench.records import Usage
from vipbench.store import now, write_atomic

ENDPOINT = "/v1/chat/completions"
#: Batch statuses after which nothing more will come (https://platform.openai.com/docs/guides/batch).
ENDED = {"completed", "failed", "expired", "cancelled"}


@dataclass(frozen=True)
class BatchRequest:
    """One chat call for the batch: its cache key (also its ``custom_id``) and its request body."""

    key: str
    body: dict[str, Any]


class BatchState(BaseModel):
    """Where a run's batch stands."""

    model_config = {"extra": "forbid"}

    created: str
    requests: int
    models: list[str] = Field(default_factory=list)
    """The judge models asked (for the price)."""
    input_file_id: str | None = None
    batch_id: str | None = None
    status: str = "prepared"
    """``prepared`` (the request file written here), ``uploaded``, then the batch's own status."""
    counts: dict[str, int] = Field(default_factory=dict)
    """The batch's request counts: total, completed, failed."""
    output_file_id: str | None = None
    error_file_id: str | None = None
    collected: int = 0
    """Replies put into the cache once the batch ended."""
    errors: dict[str, int] = Field(default_factory=dict)
    """Why requests failed inside the batch (error code or HTTP status → count)."""
    usage: Usage = Field(default_factory=Usage)
    """The tokens of the collected replies, billed at the batch rate."""

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def done(self) -> int:
        return self.counts.get("completed", 0) + self.counts.get("failed", 0)


class BatchJob:
    """One run's batch: ``<run>/judge-batch.json`` (its state) and ``<run>/judge-batch.jsonl`` (its requests).
    An ended batch's state is kept as ``judge-batch-<id>.json``."""

    def __init__(self, folder: Path, base_url: str | None, timeout: float = DEFAULT_TIMEOUT):
        self.folder, self.base_url, self.timeout = folder, base_url, timeout
        self.state_path, self.input_path = folder / "judge-batch.json", folder / "judge-batch.jsonl"
        self._client = None
        self._reached = False

    @property
    def client(self):
        """openai's client, with the live judge's deadline. Until the endpoint has answered once it is asked once
        (a silent or unreachable endpoint fails in one deadline, not one per retry); after, with retries."""
        retries = 2 if self._reached else 0
        if self._client is None or self._client.max_retries != retries:
            from openai import OpenAI

            key = api_key("judge", self.base_url)
            self._client = OpenAI(
                api_key=key, base_url=self.base_url, timeout=deadline(self.timeout), max_retries=retries
            )
        return self._client

    @property
    def endpoint(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

    def state(self) -> BatchState | None:
        if not self.state_path.exists():
            return None
        return BatchState.model_validate_json(self.state_path.read_text(encoding="utf-8"))

    def ended(self) -> list[BatchState]:
        """The run's ended batches, oldest first."""
        paths = sorted(self.folder.glob("judge-batch-*.json"), key=lambda p: p.stat().st_mtime)
        return [BatchState.model_validate_json(p.read_text(encoding="utf-8")) for p in paths]

    def _save(self, state: BatchState) -> BatchState:
        write_atomic(self.state_path, state.model_dump_json(indent=2) + "\n")
        return state

    def prepare(self, requests: Sequence[BatchRequest]) -> BatchState:
        """Write the request file and the state, before anything is sent."""
        lines = [json.dumps({"custom_id": r.key, "method": "POST", "url": ENDPOINT, "body": r.body}) for r in requests]
        write_atomic(self.input_path, "\n".join(lines) + "\n")
        models = sorted({r.body["model"] for r in requests})
        return self._save(BatchState(created=now(), requests=len(lines), models=models))

    def keys(self) -> set[str]:
        """The cache keys the batch asks for."""
        with self.input_path.open(encoding="utf-8") as lines:
            return {json.loads(line)["custom_id"] for line in lines if line.strip()}

    def advance(self, state: BatchState) -> BatchState:
        """One step further, whatever the last process got to: upload, create, or look at the batch."""
        import openai

        try:
            if state.input_file_id is None:
                data = self.input_path.read_bytes()
                uploaded = self.client.files.create(file=(self.input_path.name, io.BytesIO(data)), purpose="batch")
                state = self._save(state.model_copy(update={"input_file_id": uploaded.id, "status": "uploaded"}))
            if state.batch_id is None:
                batch = self._created(state.input_file_id) or self.client.batches.create(
                    input_file_id=state.input_file_id, endpoint=ENDPOINT, completion_window="24h"
                )
            else:
                batch = self.client.batches.retrieve(state.batch_id)
        except Exception as exc:  # noqa: BLE001 - an API error at any step is the user's to see, in one line
            if not self._reached and isinstance(exc, openai.APIConnectionError):  # timeouts included
                raise unreachable(f"the Batch API at {self.endpoint}", exc, self.timeout) from None
            if getattr(exc, "status_code", None) == 404 and state.batch_id is None:
                raise VipbenchError(
                    f"the endpoint {self.base_url} has no Batch API (404); a local server (vLLM, SGLang, Ollama) "
                    "grades live: leave out --batch"
                ) from None
            raise VipbenchError(
                f"the Batch API at {self.endpoint} failed a step ({describe_error(exc)}); "
                "nothing is lost: run the command again"
            ) from None
        self._reached = True
        counts = batch.request_counts.model_dump() if batch.request_counts else {}
        update = {
            "batch_id": batch.id,
            "status": batch.status,
            "counts": counts,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
        }
        return self._save(state.model_copy(update=update))

    def _created(self, input_file_id: str):
        """The batch already made from this input file (its creation sent by a process that died before the reply
        came), among the account's most recent batches."""
        return next((b for b in self.client.batches.list(limit=100).data if b.input_file_id == input_file_id), None)

    def collect(self, state: BatchState, cache: ReplyCache) -> BatchState:
        """Put every reply of an ended batch into the cache, marked as batch replies (half price). The requests
        it failed or never reached stay out, for the live path to ask."""
        usage, collected, errors = Usage(), 0, Counter()
        for line in self._lines(state.output_file_id):
            reply = _reply(line)
            if reply is None:
                errors[_reason(line)] += 1
                continue
            cache.put(line["custom_id"], reply, batch=True)
            usage, collected = usage + reply.usage, collected + 1
        for line in self._lines(state.error_file_id):
            errors[_reason(line)] += 1
        billed = Usage(batch_prompt_tokens=usage.prompt_tokens, batch_completion_tokens=usage.completion_tokens)
        return self._save(state.model_copy(update={"collected": collected, "errors": dict(errors), "usage": billed}))

    def _lines(self, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        try:
            text = self.client.files.content(file_id).text
        except Exception as exc:  # noqa: BLE001
            raise VipbenchError(
                f"cannot download the batch's file {file_id} ({describe_error(exc)}); run the command again"
            ) from None
        return [json.loads(raw) for raw in text.splitlines() if raw.strip()]

    def finish(self, state: BatchState) -> None:
        """Keep the ended batch's record under its id, so the next ``--batch`` starts a new one."""
        write_atomic(self.folder / f"judge-batch-{state.batch_id}.json", state.model_dump_json(indent=2) + "\n")
        self.state_path.unlink()
        self.input_path.unlink(missing_ok=True)

    def wait(self, state: BatchState, poll: float, shown: Callable[[BatchState], None]) -> BatchState:
        """Poll until the batch ends. Safe to interrupt: the state on disk is the last one seen."""
        shown(state)
        while not state.ended:
            time.sleep(poll)
            state = self.advance(state)
            shown(state)
        return state


def _reply(line: dict[str, Any]) -> Reply | None:
    """An output line's reply, or None for a request that did not get one."""
    response = line.get("response") or {}
    body = response.get("body") or {}
    choices = body.get("choices") or []
    content = (choices[0].get("message") or {}).get("content") if choices else None
    if response.get("status_code") != 200 or content is None:
        return None
    used = body.get("usage") or {}
    usage = Usage(prompt_tokens=used.get("prompt_tokens") or 0, completion_tokens=used.get("completion_tokens") or 0)
    return Reply(content, body.get("model"), usage)


def _reason(line: dict[str, Any]) -> str:
    error = line.get("error") or {}
    if error.get("code"):
        return str(error["code"])
    status = (line.get("response") or {}).get("status_code")
    return f"HTTP {status}" if status and status != 200 else "empty reply"
