"""A local stand-in for an OpenAI-compatible judge, so ``vipbench judge`` can be tried end to end with no API key
and no GPU: ``vipbench judge-server`` (or ``python -m vipbench.judge_server``), then ``vipbench judge RUN --base-url
http://127.0.0.1:8765/v1``.

It is **not a judge**: it reads no meaning, it applies a fixed string rule, the one the test suite's loopback
server grades by (``tests/judge_server.py``). Every reply reports the model ``REPORTED_MODEL``, which vipbench
records with each grade (``reported_models`` in scores.json), so its numbers cannot pass for GPT-4's.

- ViP-Bench's MM-Vet-style prompt (the last table row is ``question | ground truth | prediction |``): 1.0 when
  the prediction contains one ``<OR>`` alternative of the ground truth, the share of ``<AND>`` parts it contains
  (to 0.1), else 0.0.
- LLaVA-Bench's pairwise review (``[Assistant 1]`` ... ``[Assistant 2]``): each answer scores 1 + 9 × the share
  of the other answer's distinct words it contains, rounded: an answer that repeats the reference scores 10.
- Any other request is refused (HTTP 400) with a line saying what this server grades.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from vipbench.errors import VipbenchError

REPORTED_MODEL = "vipbench-stub-judge (not a real judge)"
DEFAULT_PORT = 8765
_WORD = re.compile(r"\w+")


def grade_rule(ground_truth: str, prediction: str) -> float:
    """The MM-Vet-style grade, 0.0–1.0, by string containment (case-insensitive)."""
    gt, pred = ground_truth.strip().lower(), prediction.strip().lower()
    if " <and> " in gt:
        parts = [p.strip() for p in gt.split(" <and> ")]
        return round(sum(p in pred for p in parts) / len(parts), 1)
    alternatives = [a.strip() for a in gt.split(" <or> ")]
    return 1.0 if any(a and a in pred for a in alternatives) else 0.0


def last_row(content: str) -> list[str] | None:
    """The last table row of a grading prompt (the one to grade), split into its cells."""
    for line in reversed(content.splitlines()):
        cells = line.split(" | ")
        if len(cells) >= 4:
            return cells
    return None


def review_answers(content: str) -> tuple[str, str] | None:
    """The two answers of a pairwise review prompt, or None when it is not one."""
    if "[Assistant 1]" not in content or "[Assistant 2]" not in content:
        return None
    first = content.split("[Assistant 1]", 1)[1].split("[End of Assistant 1]", 1)[0]
    second = content.split("[Assistant 2]", 1)[1].split("[End of Assistant 2]", 1)[0]
    return first, second


def review_scores(first: str, second: str) -> tuple[float, float]:
    """Each answer's 1–10 score: 1 + 9 × the share of the other's distinct words it contains."""
    words = [set(_WORD.findall(text.lower())) for text in (first, second)]

    def score(mine: set[str], other: set[str]) -> float:
        return float(round(1 + 9 * len(mine & other) / len(other))) if other else 10.0

    return score(words[0], words[1]), score(words[1], words[0])


def reply(body: dict) -> tuple[int, dict]:
    """(HTTP status, JSON body) answering one chat-completions request."""
    messages = body.get("messages") or []
    content = messages[-1].get("content") if messages and isinstance(messages[-1], dict) else None
    if not isinstance(content, str):
        return 400, _error("vipbench's stub judge reads text judge prompts only (no images, no content parts)")
    pair = review_answers(content)
    if pair is not None:
        s1, s2 = review_scores(*pair)
        return 200, completion(f"{s1:g} {s2:g}\nScored by vipbench's stub judge: word overlap, not a real review.")
    row = last_row(content)
    if row is None:
        return 400, _error(
            "vipbench's stub judge grades ViP-Bench's table prompt (question | ground truth | prediction |) and "
            "LLaVA-Bench's pairwise review only"
        )
    return 200, completion(f"{grade_rule(row[-3], row[-2]):.1f}")


def completion(content: str) -> dict:
    return {
        "id": "chatcmpl-vipbench-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": REPORTED_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _error(message: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error"}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else keep-alive replies stall ~40 ms on delayed ACKs

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, {"object": "list", "data": [{"id": REPORTED_MODEL, "object": "model"}]})
        else:
            self._send(404, _error(f"no route {self.path}"))

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, _error(f"no route {self.path}; this server answers /v1/chat/completions"))
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            self._send(400, _error(f"the request body is not JSON ({exc.msg})"))
            return
        self._send(*reply(body if isinstance(body, dict) else {}))

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up

    def log_message(self, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the judge sends dozens of requests at once; the default of 5 resets connections
    daemon_threads = True


class StubJudgeServer:
    """The server on ``host``:``port`` (0: any free port), in a thread while used as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT):
        self._server = _Server((host, port), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> StubJudgeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def _say(line: str) -> None:
    print(line, flush=True)  # flushed: a script that started the server reads its URL from the first line


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, say: Callable[[str], None] = _say) -> int:
    """Serve until interrupted, having said where and how to point ``vipbench judge`` at it."""
    try:
        server = StubJudgeServer(host, port)
    except OSError as exc:
        raise VipbenchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port") from None
    say(server.url)
    say(f"vipbench's stub judge: string rules, NOT a real judge; its grades are recorded as {REPORTED_MODEL!r}")
    say(f"try: vipbench judge RUN --base-url {server.url}    (Ctrl-C stops the server)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say("stopped")
    finally:
        server._server.server_close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vipbench.judge_server", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free one")
    args = parser.parse_args(argv)
    try:
        return serve(args.host, args.port)
    except VipbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
