"""Make the leaderboard screenshots in docs/: a demo results folder → the static site → headless Chromium.

    python docs/make_screenshots.py [--keep DIR]

The demo uses the test fixtures only: the generated mini ViP-Bench (tests/fixture_data.py), three scripted
"models" that answer from fixed scripts (tests/scripted.py), and the loopback judge server
(tests/judge_server.py), here with a little run-to-run jitter so that mean ± std looks like a real judge's.
No model is loaded and nothing leaves 127.0.0.1. Needs playwright (Python) and Debian's /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


# sample id → answer, per demo model. The fixture's references: v1_0 0.75/x=0.75/3/4, v1_1 cat,
# v1_2 -1<AND>-5, v1_3 "the cup is left of the plate", v1_4 "un café ☕ sur la table", v1_5 STOP,
# v1_6 Paris, v1_7 12.
SCRIPTS = {
    "demo-alpha-13b": {
        "v1_0": "x = 3/4",
        "v1_1": "It is a cat sitting on a mat.",
        "v1_2": "The roots are -1 and -5.",
        "v1_3": "The cup is left of the plate.",
        "v1_4": "Un café ☕ sur la table.",
        "v1_5": "The sign says STOP.",
        "v1_6": "Paris",
        "v1_7": "There are 11 dots.",
    },
    "demo-beta-7b": {
        "v1_0": "x equals 0.75",
        "v1_1": "A small dog.",
        "v1_2": "-1 is one root; the other I can't read.",
        "v1_3": "the cup is left of the plate",
        "v1_4": "A cup of coffee.",
        "v1_5": "STOP",
        "v1_6": "It says paris.",
        "v1_7": "12",
    },
    "demo-gamma-3b": {
        "v1_0": "x = 4",
        "v1_1": "<script>alert('xss')</script> a cat?",
        "v1_2": "-5",
        "v1_3": "On the right.",
        "v1_4": "Je ne sais pas.",
        "v1_5": "STOP sign <img src=x onerror=alert(1)>",
        "v1_6": "London",
        "v1_7": "12 dots",
    },
}


def make_demo_results(results: Path, data_root: Path, judge_url: str) -> None:
    from fixture_data import write_vip_bench
    from scripted import ScriptedAdapter, use_script

    from vipbench import cli
    from vipbench.models import MODELS
    from vipbench.records import RunSpec
    from vipbench.runner import run

    root = write_vip_bench(data_root)
    for i, (model, script) in enumerate(SCRIPTS.items()):
        if model not in MODELS:
            MODELS.register(model, ScriptedAdapter, "demo: answers from a script")
        use_script(script)
        spec = RunSpec(model=model, tasks=["vip-bench-bbox", "vip-bench-human"], data_dirs={"vip-bench": str(root)})
        run(spec, results_dir=results, run_id=f"2026-01-1{i}_{model}", warn=lambda m: None)
    for model in ("demo-alpha-13b", "demo-gamma-3b"):  # prompt-style robustness runs
        use_script(SCRIPTS[model])
        # limit=3: the fixture's two-region item cannot be redrawn (its question names <obj2>, its regions obj/obj1)
        spec = RunSpec(
            model=model,
            tasks=["vip-bench-bbox"],
            prompt_styles=["rectangle", "ellipse", "arrow", "scribble"],
            limit=3,
            data_dirs={"vip-bench": str(root)},
        )
        run(spec, results_dir=results, run_id=f"2026-01-20_{model}_shapes", warn=lambda m: None)
    for store in sorted(p.name for p in results.iterdir() if (p / "manifest.json").exists()):
        code = cli.main(["judge", store, "--results", str(results), "--base-url", judge_url, "--runs", "3"])
        if code:
            raise SystemExit(f"judging {store} failed")


def jittery_server():
    """The loopback judge, with the grade of a prediction moved by 0/-0.1/0 on successive asks."""
    from judge_server import JudgeServer

    class Jittery(JudgeServer):
        def respond(self, body, authorization):
            status, headers, payload = super().respond(body, authorization)
            choices = payload.get("choices") or []
            if status == 200 and choices:
                content = choices[0]["message"]["content"]
                try:
                    score = float(content)
                except ValueError:
                    return status, headers, payload
                jitter = (0.0, -0.1, 0.0)[self.requests % 3] if score > 0 else 0.0
                choices[0]["message"]["content"] = f"{min(1.0, max(0.0, score + jitter)):.1f}"
            return status, headers, payload

    return Jittery(reported_model="gpt-4-0613")


def screenshot(index: Path, out_dir: Path) -> list[Path]:
    from browser import launch
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1320, "height": 1060}, device_scale_factor=1)
        page.goto(index.as_uri())
        page.wait_for_selector("svg.bars")
        path = out_dir / "leaderboard-overview.png"
        page.screenshot(path=str(path), full_page=False)
        shots.append(path)
        # A sample with partial credit: two of three roots named.
        page.goto(index.as_uri() + "#samples?unit=2026-01-11_demo-beta-7b/vip-bench-bbox&sample=v1_2")
        page.wait_for_selector('#sample-list .sample-item[data-sample="v1_2"].selected')
        page.wait_for_selector("#sample-detail img.full")
        for _ in range(100):  # the page's CSP forbids eval, so poll instead of wait_for_function
            if page.evaluate("() => document.querySelector('#sample-detail img.full').complete"):
                break
            page.wait_for_timeout(50)
        path = out_dir / "leaderboard-samples.png"
        page.screenshot(path=str(path), full_page=False)
        shots.append(path)
        browser.close()
    return shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="build the demo here and keep it (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go (default: docs/)")
    args = parser.parse_args()
    from vipbench.leaderboard import build_site

    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        os.environ["VIPBENCH_CACHE"] = str(work / "cache")
        results = work / "results"
        results.mkdir(parents=True, exist_ok=True)
        with jittery_server() as server:
            make_demo_results(results, work / "data" / "ViP-Bench", server.url)
        index = build_site(results)
        for shot in screenshot(index, args.out):
            print(shot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
