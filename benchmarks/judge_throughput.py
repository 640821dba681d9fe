"""Judge throughput: ViP-Bench-sized grading (303 items × 5 runs) against the loopback server at 200 ms, and
grading under a rate limit (20 requests/s, 1 s latency).

    python benchmarks/judge_throughput.py            # full serial baseline (about 5 minutes)
    python benchmarks/judge_throughput.py --quick    # serial baseline on a tenth of the items, scaled up

Prints the serial wall time, the wall time at the default concurrency, their ratio (target ≥ 50×), and a
re-judge with a warm cache (target: 0 requests). Then, against a server that lets 20 requests a second through
(429 with Retry-After beyond), the share of that rate the adaptive concurrency reaches (target ≥ 90 %), the share
of requests answered 429 (target < 5 %) and the failed grades (target 0), with fixed concurrency beside them.
The server runs in its own process, as a real endpoint would.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from fixture_data import write_vip_bench  # noqa: E402
from scripted import use_script  # noqa: E402

from vipbench.records import RunSpec  # noqa: E402
from vipbench.runner import run  # noqa: E402
from vipbench.scoring.grade import grade_run  # noqa: E402
from vipbench.scoring.options import GradingPolicy, JudgeEndpoint, JudgeOverrides  # noqa: E402
from vipbench.store import RunStore  # noqa: E402

ITEMS, RUNS, LATENCY = 303, 5, 0.2
DEFAULT_CONCURRENCY = JudgeEndpoint().concurrency
POLICY = GradingPolicy(overrides=JudgeOverrides(runs=RUNS))


RATE, RATE_LATENCY, RATE_ITEMS = 20.0, 1.0, 160


class ServerProcess:
    def __init__(self, latency: float = LATENCY, rate_limit: float | None = None):
        self.args = ["--latency", str(latency)] + (["--rate-limit", str(rate_limit)] if rate_limit else [])

    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, str(TESTS / "judge_server.py"), *self.args], stdout=subprocess.PIPE, text=True
        )
        self.url = self.proc.stdout.readline().strip()
        self.root = self.url.removesuffix("/v1")
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.root}/stats") as response:
            return json.load(response)

    def requests(self) -> int:
        return self.stats()["requests"]

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.root}/reset", data=b"{}", method="POST")).close()


def timed_judge(store: RunStore, server: ServerProcess, cache: Path, concurrency: int) -> tuple[float, int]:
    store.judgements_path.unlink(missing_ok=True)
    server.reset()
    endpoint = JudgeEndpoint(base_url=server.url, concurrency=concurrency, cache_path=cache)
    started = time.perf_counter()
    outcome = grade_run(store, POLICY, endpoint)
    elapsed = time.perf_counter() - started
    assert outcome.failed == 0, f"{outcome.failed} grades failed"
    return elapsed, server.requests()


def rate_limited(store: RunStore, work: Path, adaptive: bool) -> str:
    """Grade under the rate limit; the reached share of it, the 429 share and the failed grades."""
    with ServerProcess(RATE_LATENCY, RATE) as server:
        cache = work / f"rate-{adaptive}.sqlite"
        endpoint = JudgeEndpoint(base_url=server.url, cache_path=cache, adaptive=adaptive)
        started = time.perf_counter()
        outcome = grade_run(store, POLICY, endpoint)
        elapsed = time.perf_counter() - started
        stats = server.stats()
    passed = stats["requests"] - stats["rate_limited"]
    reached = passed / elapsed / RATE
    share = stats["rate_limited"] / stats["requests"]
    label = "adaptive (default)" if adaptive else f"fixed concurrency {DEFAULT_CONCURRENCY}"
    return (
        f"{label:<40} {elapsed:8.1f} s  {reached:6.1%} of the allowed rate (target ≥ 90 %)  "
        f"{share:6.1%} answered 429 (target < 5 %)  {outcome.failed} failed (target 0)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="serial baseline on a tenth of the items, scaled up")
    parser.add_argument(
        "--concurrency",
        type=int,
        action="append",
        help=f"concurrency to measure; repeatable (default: {DEFAULT_CONCURRENCY}, vipbench's default)",
    )
    args = parser.parse_args()
    levels = args.concurrency or [DEFAULT_CONCURRENCY]

    work = Path(tempfile.mkdtemp(prefix="vipbench-bench-"))
    os.environ["VIPBENCH_CACHE"] = str(work / "cache")
    try:
        data = write_vip_bench(work / "data", n=ITEMS)
        use_script({f"v1_{i}": f"3/4, answer {i}" if i % 3 else f"a dog, answer {i}" for i in range(ITEMS)})
        spec = RunSpec(model="scripted", tasks=["vip-bench-bbox"], data_dirs={"vip-bench": str(data)})
        full = run(spec, results_dir=work / "results", run_id="full", warn=lambda m: None)
        serial_items = ITEMS // 10 if args.quick else ITEMS
        subset = (
            run(
                spec.model_copy(update={"limit": serial_items}),
                results_dir=work / "results",
                run_id="subset",
                warn=lambda m: None,
            )
            if args.quick
            else full
        )
        rows = []
        with ServerProcess() as server:
            serial, serial_requests = timed_judge(subset, server, work / "serial.sqlite", concurrency=1)
            serial *= ITEMS / serial_items
            for level in levels:
                cache = work / f"judge-{level}.sqlite"
                concurrent, requests = timed_judge(full, server, cache, level)
                rows.append((level, concurrent, requests))
            warm, warm_requests = timed_judge(full, server, cache, levels[-1])
        limited = run(
            spec.model_copy(update={"limit": RATE_ITEMS}), results_dir=work / "results", run_id="rate", warn=print
        )
        rate_rows = [rate_limited(limited, work, adaptive) for adaptive in (True, False)]
        label = "serial loop (estimated from a tenth)" if args.quick else "serial loop"
        print(f"\n{ITEMS * RUNS} grades ({ITEMS} items × {RUNS} runs), server latency {LATENCY * 1000:.0f} ms")
        print(f"{label:<40} {serial:8.1f} s  ({serial_requests} requests)")
        for level, concurrent, requests in rows:
            tag = " (default)" if level == DEFAULT_CONCURRENCY else ""
            print(
                f"{f'concurrency {level}{tag}':<40} {concurrent:8.1f} s  ({requests} requests)  "
                f"speed-up {serial / concurrent:5.1f}×  (target ≥ 50×)"
            )
        print(f"{'re-judge, warm cache':<40} {warm:8.2f} s  ({warm_requests} requests; target 0)")
        grades = RATE_ITEMS * RUNS
        print(f"\n{grades} grades under a rate limit of {RATE:g} requests/s, server latency {RATE_LATENCY:g} s")
        print("\n".join(rate_rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
