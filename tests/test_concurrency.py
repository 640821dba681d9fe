"""Adaptive concurrency: the limit's rules on their own, then the judge against a rate-limited loopback server."""

from __future__ import annotations

import asyncio
import time

from judge_server import JudgeServer
from test_judge import ANSWERS, make_run, scores

from vipbench.chat.limiter import AdaptiveLimit
from vipbench.cli import main


def test_the_limit_starts_modest_grows_on_success_and_respects_the_ceiling():
    async def scenario() -> list[int]:
        limit = AdaptiveLimit(ceiling=20)
        seen = [limit.current]
        for _ in range(10):
            started = await limit.acquire()
            limit.release(started)
            seen.append(limit.current)
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == 16  # modest start
    assert seen == sorted(seen) and seen[-1] == 20  # one more per success (slow start), capped at --concurrency


def test_a_429_cuts_the_limit_once_per_signal_and_pauses_for_retry_after():
    async def scenario() -> tuple[int, int, int, float]:
        limit = AdaptiveLimit(ceiling=64, start=40)
        in_flight = [await limit.acquire() for _ in range(10)]  # ten requests out at once
        limit.release(in_flight[0], rate_limited=True, retry_after=0.2)
        after_first = limit.current
        for started in in_flight[1:]:  # the same wave answered 429 too: already counted
            limit.release(started, rate_limited=True, retry_after=0.2)
        after_wave = limit.current
        t0 = time.monotonic()
        started = await limit.acquire()  # held until Retry-After has passed
        waited = time.monotonic() - t0
        limit.release(started)
        grown = limit.current
        return after_first, after_wave, grown, waited

    after_first, after_wave, grown, waited = asyncio.run(scenario())
    assert after_first == 34  # 40 × 0.85 (no success yet to measure what the endpoint serves)
    assert after_wave == after_first  # one cut for the wave, not ten
    assert waited >= 0.15
    assert grown == after_first  # past the first 429: half a request per round trip, not one per success


def test_the_judge_grades_everything_under_a_strict_rate_limit(tmp_path, vip_bench_dir, capsys):
    run_dir = make_run(tmp_path, vip_bench_dir, ANSWERS)
    with JudgeServer(rate_limit=20, latency=0.05) as server:
        args = ["judge", "r", "--results", str(tmp_path), "--base-url", server.url, "--runs", "10", "--backoff", "0.05"]
        assert main(args) == 0
        assert server.rate_limited > 0  # the limit was reached ...
    unit = scores(run_dir)
    assert unit["failed"] == 0 and unit["expected_grades"] == 80  # ... and every grade still came through
    assert abs(unit["total"]["mean"] - 56.25) <= 0.05
