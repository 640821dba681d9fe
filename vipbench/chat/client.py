"""One chat endpoint behind a cache, a concurrency bound, retries and a spending guard; each call names its
model, so the tasks of one run can each be graded by their own judge. The LLM judge and API models share it.

The endpoint is anything that speaks the OpenAI chat-completions API (OpenAI, Azure's v1 endpoint, vLLM,
SGLang, Ollama). Transient failures — 429 (honouring ``Retry-After``), 5xx, timeouts, dropped connections and
replies with no choices — are retried with exponential backoff and jitter. An endpoint that rejects the key
or the model, or that cannot be reached at all, stops the whole command with one clear error instead of failing
every call.

Every request has a deadline: ``timeout`` seconds for the first byte of the answer (and between any two bytes),
``CONNECT_SECONDS`` at most to connect. Until the endpoint has answered anything, a request that times out stops
the command like an unreachable endpoint (a server that accepts connections and never answers is as dead as one
that refuses them), so it fails in one deadline instead of one per retry; once it has answered, a timeout is a
transient fault and retried.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from vipbench.chat.cache import Reply, ReplyCache, call_key
from vipbench.chat.limiter import AdaptiveLimit, FixedLimit
from vipbench.chat.pricing import Price, cost, estimate_tokens, usage_cost
from vipbench.errors import VipbenchError
from vipbench.records import Usage

log = logging.getLogger("vipbench.chat")

DEFAULT_TIMEOUT = 30.0
"""Seconds a request waits for the first byte of its answer: enough for a judge's grade or a few hundred tokens,
short enough that a silent endpoint fails within a minute."""
CONNECT_SECONDS = 10.0
"""Seconds to open a connection (a firewall that drops packets), at most ``timeout``."""


class EmptyReply(Exception):
    """The endpoint answered 200 with no choices or no message content."""


class CostLimitReached(Exception):
    pass


class EndpointError(VipbenchError):
    """The endpoint refuses every request (bad key, unknown model, unreachable): nothing can go on."""


def _retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(
        exc,
        (
            openai.RateLimitError,
            openai.InternalServerError,
            openai.APITimeoutError,
            openai.APIConnectionError,
            EmptyReply,
        ),
    ):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def _retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class _RetryAfterOrBackoff:
    """Wait what the server's ``Retry-After`` asks (capped), else exponential backoff with jitter."""

    def __init__(self, initial: float, maximum: float):
        self.backoff = wait_exponential_jitter(initial=initial, max=maximum, jitter=initial)
        self.maximum = maximum

    def __call__(self, retry_state) -> float:
        asked = _retry_after(retry_state.outcome.exception() if retry_state.outcome else None)
        return min(asked, self.maximum) if asked is not None else self.backoff(retry_state)


@dataclass
class ClientStats:
    requests: int = 0
    """HTTP requests sent, retries included."""
    cache_hits: int = 0
    retries: int = 0
    timeouts: int = 0
    """Requests that met their deadline before an answer came."""
    rate_limited: int = 0
    """Requests answered 429."""
    usage: Usage = field(default_factory=Usage)
    spent_usd: float = 0.0


class ChatClient:
    def __init__(
        self,
        cache: ReplyCache,
        *,
        base_url: str | None = None,
        concurrency: int = 64,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 6,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        prices: Callable[[str], Price | None] = lambda model: None,
        cost_limit: float | None = None,
        who: str = "judge",
        model_flag: str = "--judge",
        timeout_flag: str = "--timeout",
        adaptive: bool = True,
    ):
        """``who`` names the client's user in errors ("the judge endpoint ..."), ``model_flag`` the option
        that picks the model, ``timeout_flag`` the one that sets the deadline."""
        self.base_url, self.cache = base_url, cache
        self.who, self.model_flag, self.timeout_flag = who, model_flag, timeout_flag
        self.timeout, self.max_retries = timeout, max_retries
        self.wait = _RetryAfterOrBackoff(backoff_initial, backoff_max)
        self.prices, self.cost_limit = prices, cost_limit
        self.stats = ClientStats()
        self.limit = AdaptiveLimit(concurrency) if adaptive else FixedLimit(concurrency)
        self._reserved = 0.0
        self._reached = False
        """Whether the endpoint has answered anything yet."""
        self._stopped: EndpointError | None = None
        """The error that stopped the command: the calls still waiting for a slot raise it instead of sending."""
        self._client = None

    def _openai(self):
        if self._client is None:
            from openai import AsyncOpenAI

            key = api_key(self.who, self.base_url)
            self._client = AsyncOpenAI(
                api_key=key, base_url=self.base_url, timeout=deadline(self.timeout), max_retries=0
            )
        return self._client

    async def complete(
        self,
        model: str,
        messages: list[dict[str, Any]],
        temperature: float,
        max_tokens: int,
        run: int,
        attempt: int = 0,
    ) -> Reply:
        key = call_key(model, self.base_url, messages, temperature, max_tokens, run, attempt)
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            return cached
        price = self.prices(model)
        # Calls in flight reserve their estimated cost, so concurrent calls cannot overshoot --cost-limit together.
        estimate = cost(estimate_tokens(messages), max_tokens, price) or 0.0
        if self.cost_limit is not None and self.stats.spent_usd + self._reserved + estimate > self.cost_limit:
            raise CostLimitReached(f"cost limit ${self.cost_limit:.2f} reached")
        self._reserved += estimate
        try:
            reply = await self._send(model, messages, temperature, max_tokens)
        finally:
            self._reserved -= estimate
        self.cache.put(key, reply)
        self.stats.usage = self.stats.usage + reply.usage
        self.stats.spent_usd += usage_cost(reply.usage, price) or 0.0
        return reply

    @property
    def endpoint(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

    def _retryable(self, exc: BaseException) -> bool:
        """Transient faults are retried; a connection that never worked is not: a wrong --base-url, a server
        that is down or silent, a name that does not resolve or a TLS failure stops the judge on the first
        request."""
        import openai

        unreachable = isinstance(exc, openai.APIConnectionError)  # timeouts included
        return _retryable(exc) and not (unreachable and not self._reached)

    def _unreachable(self, exc: BaseException) -> EndpointError:
        return unreachable(f"the {self.who} endpoint {self.endpoint}", exc, self.timeout, self.timeout_flag)

    def _stop(self, error: EndpointError) -> EndpointError:
        """The endpoint is of no use to any call: the first such error is what every later call raises."""
        self._stopped = self._stopped or error
        return self._stopped

    async def _send(self, model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int) -> Reply:
        import openai

        client = self._openai()
        retrying = AsyncRetrying(
            retry=retry_if_exception(self._retryable),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self.wait,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._request(client, model, messages, temperature, max_tokens)
                    if not response.choices or response.choices[0].message.content is None:
                        raise EmptyReply("the endpoint returned no choices")
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            refused = EndpointError(f"the {self.who} endpoint {self.endpoint} refused the API key ({exc.status_code})")
            raise self._stop(refused) from None
        except openai.NotFoundError as exc:
            raise EndpointError(
                f"the {self.who} endpoint {self.endpoint} does not serve model {model!r} ({exc.status_code}); "
                f"check {self.model_flag} and the base URL"
            ) from None
        except openai.APIConnectionError as exc:
            if self._reached:
                raise
            raise self._stop(self._unreachable(exc)) from None
        usage = response.usage
        return Reply(
            content=response.choices[0].message.content,
            model=response.model,
            usage=Usage(
                prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            ),
        )

    async def _request(self, client, model: str, messages: list, temperature: float, max_tokens: int):
        """One HTTP request, holding a slot of the concurrency limit only while it is in flight (not while a retry
        waits), and telling the limit how it went."""
        import openai

        started = await self.limit.acquire()
        if self._stopped is not None:
            self.limit.release(started, succeeded=False)
            raise self._stopped
        self.stats.requests += 1
        try:
            response = await client.chat.completions.create(
                model=model, messages=messages, temperature=temperature, max_tokens=max_tokens
            )
        except openai.RateLimitError as exc:
            self._reached = True
            self.stats.rate_limited += 1
            self.limit.release(started, rate_limited=True, retry_after=_retry_after(exc) or 0.0)
            raise
        except openai.APIStatusError:
            self._reached = True  # it answered, if only with an error
            self.limit.release(started, succeeded=False)
            raise
        except openai.APITimeoutError:
            self.stats.timeouts += 1
            self.limit.release(started, succeeded=False)
            raise
        except BaseException:
            self.limit.release(started, succeeded=False)
            raise
        self._reached = True
        self.limit.release(started)
        return response

    def _before_sleep(self, retry_state) -> None:
        self.stats.retries += 1
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        log.info(
            "%s call failed (%s); retry %d in %.1fs",
            self.who,
            type(exc).__name__,
            retry_state.attempt_number,
            retry_state.next_action.sleep if retry_state.next_action else 0,
        )

    def activity(self) -> str:
        """What the requests met so far, troubles first, as it happens: the progress bar's live detail (a bar can
        wait a whole batch, or a whole deadline, before it moves)."""
        s = self.stats
        parts = [_count(s.timeouts, "timeout"), _count(s.retries, "retry", "retries")]
        parts += [f"{s.rate_limited / s.requests:.0%} 429" if s.rate_limited else ""]
        parts += [_count(s.requests, "request"), f"{s.cache_hits} cached" if s.cache_hits else ""]
        if self.limit.peak > 1:  # what was really in flight at once, not the limit (which may never be reached)
            parts.append(f"peak {self.limit.peak} in flight")
        return " · ".join(part for part in parts if part and not part.startswith("0 "))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


def api_key(who: str, base_url: str | None) -> str:
    """OPENAI_API_KEY; any key for a local server, which does not check it (vLLM, Ollama)."""
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if base_url is None:
        raise VipbenchError(
            f"the {who} needs an API key: set OPENAI_API_KEY (or give a base URL for a local OpenAI-compatible server)"
        )
    return "EMPTY"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def deadline(timeout: float):
    """openai's timeout for one request: ``timeout`` seconds for the first byte (and between two), at most
    ``CONNECT_SECONDS`` of them to connect."""
    from openai import Timeout

    return Timeout(timeout, connect=min(timeout, CONNECT_SECONDS))


def unreachable(where: str, exc: BaseException, timeout: float, timeout_flag: str = "--timeout") -> EndpointError:
    """The one line for an endpoint that never answered: refused, unresolved, TLS, or silent."""
    import openai

    if not isinstance(exc, openai.APITimeoutError):
        return EndpointError(f"cannot reach {where}: {root_cause(exc)}")
    if _connect_timeout(exc):
        return EndpointError(
            f"cannot reach {where}: no answer to the connection in {min(timeout, CONNECT_SECONDS):g} s"
        )
    return EndpointError(
        f"{where} accepted the connection but sent nothing in {timeout:g} s; if it is still loading its "
        f"model, or answers this slowly, raise {timeout_flag}"
    )


def _connect_timeout(exc: BaseException) -> bool:
    """Whether a timeout came while connecting (nothing there answered the handshake), not while waiting for
    the answer."""
    seen: BaseException | None = exc
    while seen is not None:
        if type(seen).__name__ == "ConnectTimeout":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def root_cause(exc: BaseException) -> str:
    """The innermost cause of a wrapped error, as one line ("[Errno 111] Connection refused")."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_error(exc: BaseException) -> str:
    """A one-line reason for a grade that failed after its retries."""
    status = getattr(exc, "status_code", None)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}{f' {status}' if status else ''}: {text}"[:300]
