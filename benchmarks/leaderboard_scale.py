"""How the leaderboard build scales with the number of runs: time, peak memory, site size, incremental rebuilds.

    python benchmarks/leaderboard_scale.py            # 3,000-sample POPE runs; sites of 1, 2, 10, 20 and 50 runs
    python benchmarks/leaderboard_scale.py --quick    # 300 samples; 1, 2, 5 and 10 runs (what the tests run)

The runs are real vipbench runs of ``pope-random`` (metric-scored: no judge) on a generated POPE in RUCAIBox's
layout (3,000 questions on 500 photo-like 640×480 JPEGs, as the real split): the oracle answers once with
``vipbench run``, and each further run is that run with a different share of its answers flipped, scored again by
``vipbench judge`` (the yes/no metric), so every run has its own numbers and grades.

For each size N, ``vipbench leaderboard build`` runs in a process of its own into a new folder (the full build):
its wall time, its peak RSS (``os.wait4``) and the site's size. Then a rebuild into the same folder with nothing
changed, and one after adding run N+1, as a share of the full build of N runs. Targets: the peak of 20 runs at most
2× that of 2 runs (memory flat in the number of runs); adding one run and rebuilding at most 35 % of a full build
(at 10 runs and more).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image

PEAK_RATIO_TARGET = 2.0
INCREMENTAL_TARGET = 0.35
TASK = "pope-random"
QUESTIONS_PER_IMAGE = 6  # POPE: 3,000 questions on 500 images


@dataclass
class Build:
    seconds: float
    peak_mb: float


def write_pope(root: Path, samples: int) -> Path:
    """POPE's random setting in RUCAIBox's layout: ``output/coco/coco_pope_random.json`` and COCO ``val2014/``."""
    rng = np.random.default_rng(0)
    images = root / "val2014"
    images.mkdir(parents=True)
    yy, xx = np.mgrid[0:480, 0:640]
    for i in range(-(-samples // QUESTIONS_PER_IMAGE)):
        shift = rng.uniform(0, 255, 3)
        pixels = np.stack([xx * 255 / 640 + shift[0], yy * 255 / 480 + shift[1], (xx + yy) * 0.2 + shift[2]], -1)
        pixels = np.mod(pixels, 256) + rng.normal(0, 10, pixels.shape)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
        image.save(images / f"COCO_val2014_{i:012d}.jpg", quality=90)
    objects = ["dog", "car", "chair", "person", "cup", "bicycle", "bench", "kite"]
    lines = []
    for q in range(samples):
        item = {"question_id": q + 1, "image": f"COCO_val2014_{q // QUESTIONS_PER_IMAGE:012d}.jpg"}
        item.update(text=f"Is there a {objects[q % len(objects)]} in the image?", label="yes" if q % 2 else "no")
        lines.append(json.dumps(item))
    path = root / "output" / "coco" / "coco_pope_random.json"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")
    return root


def vipbench(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "vipbench", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"vipbench {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def make_runs(work: Path, data: Path, count: int) -> list[Path]:
    """``count`` scored runs: the oracle's, then copies with 2 %, 4 %, ... (cycling to 30 %) of answers flipped."""
    made = work / "made"
    vipbench("run", "--model", "oracle", "--tasks", TASK, "--data-dir", f"pope={data}", "--results", str(made))
    (base,) = made.iterdir()
    manifest = json.loads((base / "manifest.json").read_text())
    predictions = (base / "predictions.jsonl").read_text().splitlines()
    runs = work / "runs"
    runs.mkdir()
    from vipbench.cli import main as cli

    for i in range(count):
        run_id = f"run-{i:03d}"
        folder = runs / run_id
        folder.mkdir()
        created = f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00"  # oldest first: the added run is the newest
        (folder / "manifest.json").write_text(json.dumps({**manifest, "run_id": run_id, "created": created}))
        share = (2 * i) % 31
        lines = []
        for n, line in enumerate(predictions):
            record = json.loads(line)
            if (n * 7919 + i) % 100 < share:
                record["prediction"] = "yes" if record["prediction"] == "no" else "no"
            lines.append(json.dumps(record))
        (folder / "predictions.jsonl").write_text("\n".join(lines) + "\n")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            if cli(["judge", run_id, "--results", str(runs)]) != 0:
                raise SystemExit(f"vipbench judge {run_id} failed:\n{err.getvalue()[-3000:]}")
    shutil.rmtree(made)
    return sorted(runs.iterdir())


def build(results: Path, out: Path) -> Build:
    """``vipbench leaderboard build`` in a process of its own: wall time and peak RSS."""
    command = [sys.executable, "-m", "vipbench", "leaderboard", "build", "--results", str(results), "--out", str(out)]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"leaderboard build failed:\n{stderr[-3000:]}")
    return Build(seconds, usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux


def site_mb(out: Path) -> float:
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6


def link_runs(results: Path, runs: list[Path]) -> None:
    results.mkdir(exist_ok=True)
    for run in runs:
        if not (results / run.name).exists():
            (results / run.name).symlink_to(run, target_is_directory=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 samples; sites of 1, 2, 5 and 10 runs")
    parser.add_argument("--samples", type=int, help="questions per run (default 3000; --quick 300)")
    parser.add_argument("--sizes", help="comma-separated numbers of runs (default 1,2,10,20,50; --quick 1,2,5,10)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    args = parser.parse_args(argv)
    samples = args.samples or (300 if args.quick else 3000)
    sizes = [int(s) for s in (args.sizes or ("1,2,5,10" if args.quick else "1,2,10,20,50")).split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="vipbench-leaderboard-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return run(work, samples, sizes)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, samples: int, sizes: list[int]) -> int:
    start = time.perf_counter()
    data = write_pope(work / "data", samples)
    runs = make_runs(work, data, max(sizes) + 1)
    print(f"{len(runs)} runs of {TASK}, {samples} samples each, made in {time.perf_counter() - start:.0f} s")
    print(
        f"{'runs':>5} {'full build':>11} {'peak RSS':>9} {'site':>9} {'rebuild, same':>14} {'+1 run':>8} {'of full':>8}"
    )
    peaks, shares = {}, {}
    for n in sizes:
        results, out = work / f"results-{n}", work / f"site-{n}"
        link_runs(results, runs[:n])
        full = build(results, out)
        size = site_mb(out)
        same = build(results, out)
        link_runs(results, runs[: n + 1])
        added = build(results, out)
        peaks[n], shares[n] = full.peak_mb, added.seconds / full.seconds
        print(
            f"{n:>5} {full.seconds:>9.2f} s {full.peak_mb:>6.0f} MB {size:>6.1f} MB {same.seconds:>12.2f} s "
            f"{added.seconds:>6.2f} s {shares[n]:>8.0%}"
        )
        shutil.rmtree(out)
    low, high = (2, 20) if {2, 20} <= set(sizes) else (sizes[1] if len(sizes) > 1 else sizes[0], sizes[-1])
    ratio = peaks[high] / peaks[low]
    verdict = "met" if ratio <= PEAK_RATIO_TARGET else "MISSED"
    print(f"peak RSS, {high} runs / {low} runs: {ratio:.2f}x (target <= {PEAK_RATIO_TARGET:.0f}x: {verdict})")
    big = [n for n in sizes if n >= 10] or sizes[-1:]
    worst = max(shares[n] for n in big)
    verdict = "met" if worst <= INCREMENTAL_TARGET else "MISSED"
    print(
        f"adding one run and rebuilding, at {', '.join(map(str, big))} runs: at most {worst:.0%} of a full build "
        f"(target <= {INCREMENTAL_TARGET:.0%}: {verdict})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
