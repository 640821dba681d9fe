"""Judge throughput: ViP-Bench-sized grading (303 items × 5 runs) against the loopback server at 200 ms.

    python benchmarks/judge_throughput.py            # full serial baseline (about 5 minutes)
    python benchmarks/judge_throughput.py --quick    # serial baseline on a tenth of the items, scaled up

Prints the serial wall time, the wall time at the default concurrency, their ratio (target ≥ 50×), and a
re-judge with a warm cache (target: 0 requests). The server runs in its own process, as a real endpoint would.
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
from vipbench.scoring.grade import JudgeOptions, grade_run  # noqa: E402
from vipbench.store import RunStore  # noqa: E402

ITEMS, RUNS, LATENCY = 303, 5, 0.2
DEFAULT_CONCURRENCY = JudgeOptions().concurrency


class ServerProcess:
    def __enter__(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, str(TESTS / "judge_server.py"), "--latency", str(LATENCY)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self.proc.stdout.readline().strip()
        self.root = self.url.removesuffix("/v1")
        return self

    def __exit__(self, *exc) -> None:
        self.proc.kill()
        self.proc.wait()

    def requests(self) -> int:
        with urllib.request.urlopen(f"{self.root}/stats") as response:
            return json.load(response)["requests"]

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.root}/reset", data=b"{}", method="POST")).close()


def timed_judge(store: RunStore, server: ServerProcess, cache: Path, concurrency: int) -> tuple[float, int]:
    store.judgements_path.unlink(missing_ok=True)
    server.reset()
    options = JudgeOptions(base_url=server.url, runs=RUNS, concurrency=concurrency, cache_path=cache)
    started = time.perf_counter()
    outcome = grade_run(store, options)
    elapsed = time.perf_counter() - started
    assert outcome.failed == 0, f"{outcome.failed} grades failed"
    return elapsed, server.requests()


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
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
