"""A SQLite (WAL) cache of chat replies, one row per HTTP call.

The key hashes the model, the endpoint, the rendered messages, the sampling settings and the run index, so a
re-score replays the same conversation from disk and pays nothing; a new judge, template or run count only calls
for what is new. Rows are committed as they arrive, so a killed judge (or API-model run) keeps every reply.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vipbench.records import Usage
from vipbench.store import now


@dataclass(frozen=True)
class Reply:
    content: str
    model: str | None
    usage: Usage
    cached: bool = False


def call_key(
    model: str,
    base_url: str | None,
    messages: list[dict[str, Any]],
    temperature: float,
    max_tokens: int,
    run: int,
    attempt: int = 0,
) -> str:
    """A call's cache key. A re-ask (``attempt`` 1, 2, ...) is its own call even when it repeats the last one's
    messages and temperature, so asking again never just replays the reply that could not be parsed."""
    payload = {
        "model": model,
        "base_url": base_url,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "run": run,
    }
    if attempt:
        payload["attempt"] = attempt
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def default_cache_path(name: str = "judge-cache.sqlite") -> Path:
    from vipbench.resources import cache_dir

    return cache_dir() / name


class ReplyCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, content TEXT NOT NULL, model TEXT, "
            "prompt_tokens INTEGER, completion_tokens INTEGER, created TEXT)"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(replies)")}
        if "batch" not in columns:  # caches written before the Batch API: every reply was live
            self._db.execute("ALTER TABLE replies ADD COLUMN batch INTEGER NOT NULL DEFAULT 0")

    def get(self, key: str) -> Reply | None:
        row = self._db.execute(
            "SELECT content, model, prompt_tokens, completion_tokens, batch FROM replies WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        prompt, completion = row[2] or 0, row[3] or 0
        usage = (
            Usage(batch_prompt_tokens=prompt, batch_completion_tokens=completion)
            if row[4]
            else Usage(prompt_tokens=prompt, completion_tokens=completion)
        )
        return Reply(row[0], row[1], usage, cached=True)

    def put(self, key: str, reply: Reply, batch: bool = False) -> None:
        """Keep a reply; ``batch`` when it came through the Batch API (so it is priced at the batch rate)."""
        u = reply.usage
        self._db.execute(
            "INSERT OR REPLACE INTO replies (key, content, model, prompt_tokens, completion_tokens, created, batch) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                reply.content,
                reply.model,
                u.prompt_tokens + u.batch_prompt_tokens,
                u.completion_tokens + u.batch_completion_tokens,
                now(),
                int(batch),
            ),
        )

    def __contains__(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM replies WHERE key = ?", (key,)).fetchone() is not None

    def close(self) -> None:
        self._db.close()
