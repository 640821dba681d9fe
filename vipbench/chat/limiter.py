"""How many chat requests may be in flight: a fixed number, or one that adapts to the endpoint's rate limit.

``AdaptiveLimit`` is additive increase, multiplicative decrease, as TCP congestion control: it starts at 16 and
doubles every round trip while requests succeed (slow start); after the first 429 it grows by half a request per
round trip. A 429 cuts it to 85 %, and further, to what the endpoint has actually been serving (the requests that
succeeded in the last two round trips, per round trip), and pauses new requests for the ``Retry-After`` the server
asked. A burst of 429s from requests that were already in flight when the limit was cut counts as one signal, not
many. ``ceiling`` is ``--concurrency``; benchmarks/judge_throughput.py measures both regimes.

Both limits count the requests really in flight and keep their ``peak``: what the progress bar reports (the limit
itself can be far above it when fewer requests were ever asked for).
"""

from __future__ import annotations

import asyncio
import collections
import time


class FixedLimit:
    """At most ``ceiling`` requests in flight, always."""

    def __init__(self, ceiling: int):
        self.ceiling = ceiling
        self.in_flight = self.peak = 0
        self._semaphore = asyncio.Semaphore(ceiling)

    @property
    def current(self) -> int:
        return self.ceiling

    async def acquire(self) -> float:
        await self._semaphore.acquire()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return time.monotonic()

    def release(self, started: float, rate_limited: bool = False, succeeded: bool = True, retry_after: float = 0.0):
        self.in_flight -= 1
        self._semaphore.release()


class AdaptiveLimit:
    """At most ``current`` requests in flight, ``current`` growing while requests succeed and cut on a 429."""

    def __init__(self, ceiling: int, start: int = 16, decrease: float = 0.85, grow: float = 0.5):
        self.ceiling, self.decrease, self.grow = ceiling, decrease, grow
        self.limit = float(min(start, ceiling))
        self.in_flight = self.peak = 0
        """Requests in flight now, and the most there ever were at once."""
        self._latency: float | None = None
        """A moving average of how long a successful request takes: the round trip."""
        self._succeeded: collections.deque[float] = collections.deque()
        self._last_cut = 0.0
        self._paused_until = 0.0
        self._changed = asyncio.Condition()

    @property
    def current(self) -> int:
        return max(1, int(self.limit))

    async def acquire(self) -> float:
        async with self._changed:
            while self.in_flight >= self.current or time.monotonic() < self._paused_until:
                pause = self._paused_until - time.monotonic()
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=pause if pause > 0 else None)
                except asyncio.TimeoutError:
                    pass
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        return time.monotonic()

    def release(self, started: float, rate_limited: bool = False, succeeded: bool = True, retry_after: float = 0.0):
        self.in_flight -= 1
        now = time.monotonic()
        if rate_limited:
            if started >= self._last_cut:  # sent after the last cut: a new signal
                self.limit = max(1.0, min(self.limit * self.decrease, self._served(now)))
                self._last_cut = now
            self._paused_until = max(self._paused_until, now + retry_after)
        elif succeeded:
            took = now - started
            self._latency = took if self._latency is None else 0.9 * self._latency + 0.1 * took
            self._succeeded.append(now)
            self._forget(now)
            slow_start = self._last_cut == 0.0
            step = 1.0 if slow_start else self.grow / self.limit
            self.limit = min(float(self.ceiling), self.limit + step)
        asyncio.get_running_loop().create_task(self._notify())

    def _served(self, now: float) -> float:
        """The requests the endpoint has been serving at once: successes per round trip, over the last two."""
        if not self._latency:
            return self.limit
        self._forget(now)
        return max(1.0, len(self._succeeded) / 2)

    def _forget(self, now: float) -> None:
        """Drop the successes older than two round trips."""
        window = 2 * (self._latency or 0.0)
        while self._succeeded and self._succeeded[0] < now - window:
            self._succeeded.popleft()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
