"""OpenAI's Files and Batches endpoints for the loopback judge server, following the documented schemas
(https://platform.openai.com/docs/api-reference/batch): upload a JSONL file (purpose ``batch``), create a batch on
``/v1/chat/completions``, poll it, download its output and error files.

Each request of a batch is answered by the server's own chat answer (markers and all), a share of them on each
poll of the batch (``polls`` polls to finish). A reply that is not a 200 goes to the error file with its status,
as OpenAI does. Faults a test can ask for:

* ``expire_after=K``: the batch expires once K requests are answered; the rest go to the error file as
  ``batch_expired``;
* ``pause_at``: ``"create"`` holds a batch-create request before the batch exists and then drops it (a process
  killed between upload and create); ``"created"`` holds the reply after the batch exists (a process killed
  between create and its reply); ``"content"`` holds a file download. ``paused`` is set when the request is held,
  and ``release`` lets it go.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

Answer = Callable[[dict], tuple[int, dict, dict]]
"""The server's chat answer to one request body: (status, headers, json body)."""


class Dropped(Exception):
    """A held request that is never answered (its client was killed)."""


class BatchAPI:
    def __init__(self, answer: Answer, polls: int = 2, expire_after: int | None = None, pause_at: str | None = None):
        self.answer, self.polls, self.expire_after = answer, polls, expire_after
        self.pause_at = pause_at
        self.paused, self.release = threading.Event(), threading.Event()
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, list[dict]] = {}
        """Per batch, the request lines not answered yet."""
        self._lines: dict[tuple[str, str], list[dict]] = {}
        """Per (batch, output or error), the lines of the file it will have."""
        self.answered: Counter[str] = Counter()
        """How many times each custom_id was answered, over all batches."""
        self.uploads = self.creates = 0
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict, bytes | dict]:
        """(status, headers, json body or raw bytes) for a request under ``/v1``."""
        parts = path.split("?")[0].strip("/").split("/")[1:]  # drop "v1"
        match method, parts:
            case "POST", ["files"]:
                return self._upload(headers.get("Content-Type", ""), body)
            case "GET", ["files", file_id]:
                return self._found(self.files.get(file_id))
            case "GET", ["files", file_id, "content"]:
                self._hold("content")
                data = self.contents.get(file_id)
                return (200, {"Content-Type": "application/octet-stream"}, data) if data is not None else _missing()
            case "POST", ["batches"]:
                if self._hold("create"):
                    raise Dropped  # the batch is never made
                return self._create(json.loads(body or b"{}"))
            case "GET", ["batches"]:
                newest_first = list(reversed(self.batches.values()))
                return 200, {}, {"object": "list", "data": newest_first, "has_more": False}
            case "GET", ["batches", batch_id]:
                batch = self.batches.get(batch_id)
                return (200, {}, self._advance(batch)) if batch else _missing()
        return _missing()

    def _hold(self, step: str) -> bool:
        """Hold the request when it is the step to pause at; whether it was held."""
        if self.pause_at != step:
            return False
        self.pause_at = None
        self.paused.set()
        self.release.wait(30)
        return True

    def _upload(self, content_type: str, body: bytes) -> tuple[int, dict, dict]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        fields = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        if "file" not in fields or "purpose" not in fields:
            return 400, {}, {"error": {"message": "file and purpose are required", "type": "invalid_request_error"}}
        data = fields["file"].get_payload(decode=True)
        with self._lock:
            self.uploads += 1
            file = self._file(fields["file"].get_filename() or "upload.jsonl", data, fields["purpose"].get_content())
        return 200, {}, file

    def _file(self, name: str, data: bytes, purpose: str) -> dict[str, Any]:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": name,
            "purpose": purpose.strip(),
            "status": "processed",
        }
        self.contents[file_id] = data
        return self.files[file_id]

    def _create(self, request: dict) -> tuple[int, dict, dict]:
        file_id = request.get("input_file_id")
        if file_id not in self.files or request.get("endpoint") != "/v1/chat/completions":
            return 400, {}, {"error": {"message": "bad input_file_id or endpoint", "type": "invalid_request_error"}}
        lines = [json.loads(line) for line in self.contents[file_id].decode().splitlines() if line.strip()]
        with self._lock:
            self.creates += 1
            batch_id = f"batch_{len(self.batches) + 1}"
            self.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": request["endpoint"],
                "input_file_id": file_id,
                "completion_window": request.get("completion_window", "24h"),
                "status": "validating",
                "created_at": int(time.time()),
                "output_file_id": None,
                "error_file_id": None,
                "metadata": request.get("metadata"),
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            }
            self._pending[batch_id] = lines
        self._hold("created")
        return 200, {}, self.batches[batch_id]

    def _advance(self, batch: dict[str, Any]) -> dict[str, Any]:
        """One poll: validate, then answer a share of the requests, then finish (or expire)."""
        with self._lock:
            if batch["status"] == "validating":
                batch["status"] = "in_progress"
                return batch
            if batch["status"] != "in_progress":
                return batch
            pending, counts = self._pending[batch["id"]], batch["request_counts"]
            share = -(-counts["total"] // max(1, self.polls))
            done = counts["completed"] + counts["failed"]
            if self.expire_after is not None:
                share = min(share, max(0, self.expire_after - done))
            for line in pending[:share]:
                self._answer(batch, line)
            del pending[:share]
            expired = self.expire_after is not None and pending and done + share >= self.expire_after
            if pending and not expired:
                return batch
            for line in pending:
                message = "This request could not be executed before the completion window expired."
                self._error(batch, line, None, {"code": "batch_expired", "message": message})
            pending.clear()
            self._finish(batch, "expired" if expired else "completed")
            return batch

    def _answer(self, batch: dict[str, Any], line: dict) -> None:
        self.answered[line["custom_id"]] += 1
        status, _, payload = self.answer(line["body"])
        response = {"status_code": status, "request_id": f"req_{line['custom_id'][:8]}", "body": payload}
        if status == 200:
            out = {"id": "batch_req", "custom_id": line["custom_id"], "response": response, "error": None}
            self._lines.setdefault((batch["id"], "output"), []).append(out)
            batch["request_counts"]["completed"] += 1
        else:
            self._error(batch, line, response, None)

    def _error(self, batch: dict[str, Any], line: dict, response: dict | None, error: dict | None) -> None:
        self._lines.setdefault((batch["id"], "error"), []).append(
            {"id": "batch_req", "custom_id": line["custom_id"], "response": response, "error": error}
        )
        batch["request_counts"]["failed"] += 1

    def _finish(self, batch: dict[str, Any], status: str) -> None:
        for kind in ("output", "error"):
            lines = self._lines.pop((batch["id"], kind), [])
            if lines:
                data = "".join(json.dumps(line) + "\n" for line in lines).encode()
                batch[f"{kind}_file_id"] = self._file(f"{batch['id']}_{kind}.jsonl", data, "batch_output")["id"]
        batch["status"] = status
        batch[f"{status}_at"] = int(time.time())


def _missing() -> tuple[int, dict, dict]:
    return 404, {}, {"error": {"message": "not found", "type": "invalid_request_error"}}
