"""A real OpenAI-compatible chat-completions server on 127.0.0.1, for tests and the throughput benchmark.

It grades by a fixed rule that a test can compute by hand, reading the last table row of the prompt
(``question | ground truth | prediction |``):

* 1.0 when the prediction contains one ``<OR>`` alternative of the ground truth (or the whole of it);
* the fraction of ``<AND>`` parts it contains, to one decimal, for ``<AND>`` ground truths;
* 0.0 otherwise.

Faults are injected by markers in the prediction, counted per prediction text:

* ``[[429:N]]`` first N requests get 429 with ``Retry-After`` (``retry_after`` seconds)
* ``[[500:N]]`` first N requests get 500
* ``[[hang:N]]`` first N requests sleep ``hang_seconds`` (past the client's timeout) before answering
* ``[[empty:N]]`` first N requests get 200 with no choices
* ``[[garbage:N]]`` first N replies are unparseable text; ``[[garbage]]`` always
* ``[[flip]]`` alternates 1.0 and 0.0 on successive requests (to make judge runs disagree)
* ``[[400]]`` always 400 (a request the endpoint rejects)

A request whose message holds an image (content parts, as a vision model is asked) is answered from
``vision_answers`` (question text → answer), else "I see an image."; ``images`` keeps every image received.

A pairwise review (``[Assistant 1]`` ... ``[Assistant 2]``, LLaVA-Bench) is answered "<s1> <s2>" and an explanation:
an answer scores the N of a ``[[review:N]]`` marker in it, else 8; ``first_bonus`` is added to the answer shown
first (a judge with a position bias); ``[[review:garbage]]`` in either answer gives a reply with no scores.

The Files and Batches endpoints (``batch_api.BatchAPI``, at ``server.batch``) answer each request of a batch with the
same answer, without the rate limit, and count it apart (``server.batch.answered``).

``hang_requests`` makes the chat requests of those arrival numbers (1 is the first) sleep ``hang_seconds`` whatever
they ask: an endpoint that goes silent after it has answered. ``reject_every=N`` answers every Nth chat request 400
(1: all of them). ``SilentServer`` accepts connections and never answers at all.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from batch_api import BatchAPI, Dropped

from vipbench.judge_server import grade_rule, last_row  # the rule `vipbench judge-server` grades by

_MARKER = re.compile(r"\[\[(\w+)(?::(\d+))?\]\]")


class JudgeServer:
    def __init__(
        self,
        latency: float = 0.0,
        retry_after: float = 0.05,
        hang_seconds: float = 3.0,
        reported_model: str | None = None,
        api_key: str | None = None,
        known_models: set[str] | None = None,
        vision_answers: dict[str, str] | None = None,
        first_bonus: float = 0.0,
        rate_limit: float | None = None,
        batch_polls: int = 2,
        batch_expire_after: int | None = None,
        batch_pause_at: str | None = None,
        hang_requests: set[int] | None = None,
        reject_every: int | None = None,
    ):
        self.latency, self.retry_after, self.hang_seconds = latency, retry_after, hang_seconds
        self.reported_model, self.api_key, self.known_models = reported_model, api_key, known_models
        self.hang_requests, self.reject_every = hang_requests or set(), reject_every
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[dict] = []
        self.vision_answers = vision_answers or {}
        self.first_bonus = first_bonus
        self.rate_limit = rate_limit
        """Requests per second a token bucket (a second's burst) lets through; beyond, 429 with Retry-After."""
        self._tokens, self._filled = rate_limit or 0.0, time.monotonic()
        self.rate_limited = 0
        self.images: list[str] = []
        """The data URLs of the images received, in order."""
        self.authorization: set[str] = set()
        self.batch = BatchAPI(self.answer, batch_polls, batch_expire_after, batch_pause_at)
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> JudgeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset_count(self) -> None:
        with self._lock:
            self.requests = 0
            self.rate_limited = 0
            self.max_in_flight = 0
            self.bodies.clear()

    def respond(self, body: dict, authorization: str) -> tuple[int, dict, dict]:
        """(status, headers, json body) for one request."""
        with self._lock:
            self.requests += 1
            self.bodies.append(body)
            self.authorization.add(authorization)
            nth = self.requests
        if nth in self.hang_requests:
            time.sleep(self.hang_seconds)
        if self.reject_every and nth % self.reject_every == 0:
            return 400, {}, {"error": {"message": "bad request", "type": "invalid_request_error"}}
        wait = self._take_token()
        if wait:
            return 429, {"Retry-After": f"{wait:.3f}"}, {"error": {"message": "rate limited", "type": "rate_limit"}}
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return 401, {}, {"error": {"message": "invalid api key", "type": "invalid_request_error"}}
        return self.answer(body)

    def answer(self, body: dict) -> tuple[int, dict, dict]:
        """The chat answer to one request body, live or in a batch."""
        model = body.get("model", "")
        if self.known_models is not None and model not in self.known_models:
            return 404, {}, {"error": {"message": f"model {model} not found", "type": "invalid_request_error"}}
        content = body["messages"][-1]["content"]
        if isinstance(content, list):  # a vision model's request: image and text parts
            text = "".join(part.get("text", "") for part in content if part.get("type") == "text")
            with self._lock:
                self.images += [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]
            return 200, {}, self._completion(model, self.vision_answers.get(text, "I see an image."))
        if "[Assistant 1]" in content:
            return 200, {}, self._completion(model, self._review(content))
        row = last_row(content) or ["", "", "", ""]
        prediction = row[-2]
        with self._lock:
            self._seen[prediction] += 1
            nth = self._seen[prediction]
        for name, count in _MARKER.findall(prediction):
            limit = int(count) if count else None
            active = limit is None or nth <= limit
            if name == "429" and active:
                return 429, {"Retry-After": str(self.retry_after)}, {"error": {"message": "rate limited"}}
            if name == "500" and active:
                return 500, {}, {"error": {"message": "internal error"}}
            if name == "400":
                return 400, {}, {"error": {"message": "bad request", "type": "invalid_request_error"}}
            if name == "hang" and active:
                time.sleep(self.hang_seconds)
            if name == "empty" and active:
                return 200, {}, self._completion(model, None)
            if name == "garbage" and active:
                return 200, {}, self._completion(model, "Sure! I would rate it highly")
            if name == "flip":
                return 200, {}, self._completion(model, "1.0" if nth % 2 else "0.0")
        score = grade_rule(row[-3], prediction)
        return 200, {}, self._completion(model, f"{score:.1f}")

    def _take_token(self) -> float:
        """0 when the request may pass the rate limit, else the seconds until it could."""
        if not self.rate_limit:
            return 0.0
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate_limit, self._tokens + (now - self._filled) * self.rate_limit)
            self._filled = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            self.rate_limited += 1
            return (1 - self._tokens) / self.rate_limit

    def _review(self, content: str) -> str:
        first = content.split("[Assistant 1]", 1)[1].split("[End of Assistant 1]", 1)[0]
        second = content.split("[Assistant 2]", 1)[1].split("[End of Assistant 2]", 1)[0]
        if "[[review:garbage]]" in first + second:
            return "Both answers are quite good."

        def score(text: str) -> float:
            match = re.search(r"\[\[review:(\d+(?:\.\d+)?)\]\]", text)
            return float(match.group(1)) if match else 8.0

        pair = (min(10.0, score(first) + self.first_bonus), score(second))
        return f"{pair[0]:g} {pair[1]:g}\nAssistant 1 is more complete; Assistant 2 misses details."

    def _completion(self, model: str, content: str | None) -> dict:
        choices = (
            []
            if content is None
            else [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
        )
        return {
            "id": "chatcmpl-loopback",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.reported_model or f"{model}-loopback",
            "choices": choices,
            "usage": {"prompt_tokens": 100, "completion_tokens": 2, "total_tokens": 102},
        }

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else keep-alive replies stall ~40 ms on delayed ACKs

            def do_GET(self) -> None:  # noqa: N802
                self._serve("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST")

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length) if length else b""
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.latency:
                        time.sleep(server.latency)
                    status, headers, payload = self._route(method, raw)
                except Dropped:
                    self.close_connection = True
                    return
                finally:
                    with server._lock:
                        server.in_flight -= 1
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def _route(self, method: str, raw: bytes) -> tuple[int, dict, bytes | dict]:
                if self.path == "/stats":  # the counts, for a server running in another process
                    stats = {"requests": server.requests, "max_in_flight": server.max_in_flight}
                    return 200, {}, {**stats, "rate_limited": server.rate_limited}
                if self.path == "/reset":
                    server.reset_count()
                    return 200, {}, {}
                if self.path.rstrip("/").endswith("/chat/completions") and method == "POST":
                    return server.respond(json.loads(raw or b"{}"), self.headers.get("Authorization", ""))
                return server.batch.handle(method, self.path, self.headers, raw)

            def log_message(self, *args) -> None:
                pass

        return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default of 5 resets connections under concurrent load
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients that time out or are killed drop their connections; that is expected here


class SilentServer:
    """A socket on 127.0.0.1 that accepts every connection, reads what is sent, and never answers: a server hung
    after start-up, or a port forward to nothing. ``connections`` counts the connections accepted."""

    def __init__(self):
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/v1"
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self.connections = 0

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    def __enter__(self) -> SilentServer:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._closed.set()
        try:
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the thread
        except OSError:
            pass
        self._socket.close()
        for conn in self._held:
            conn.close()


if __name__ == "__main__":  # a server in its own process (the throughput benchmark), until killed
    import argparse

    parser = argparse.ArgumentParser(description="loopback OpenAI-compatible judge server")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=float, help="requests per second; beyond, 429 with Retry-After")
    args = parser.parse_args()
    with JudgeServer(latency=args.latency, rate_limit=args.rate_limit) as srv:
        print(srv.url, flush=True)
        threading.Event().wait()
