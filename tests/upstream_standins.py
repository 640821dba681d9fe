"""Stand-ins for upstream's judge prompt files (their prose is never in this repository): the same layout as
ViP-LLaVA's ``scripts/eval/vip-bench_evaluator.py`` and LLaVA's ``llava/eval/table/rule.json``, with made-up prose.
``install`` puts them in vipbench's cache folder and pins their sha256 in this test process only, so vipbench takes
them for upstream's files (the hash check itself is left as it is)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from vipbench.scoring.judge.upstream import PINNED

MADE_UP_PROMPT = "MADE-UP GRADER PROSE.\n\nQuestion | Ground truth | Prediction | Correctness\n--- | --- | --- | ---\n"
#: The re-ask line of the grader script (its text is in tests/upstream's data too, as part of a message template).
REASK = "\nPredict the correctness of the answer (digit): "
RULE_NAMES = [f"{prefix}{c}" for prefix in ("llava_bench_", "") for c in ("conv", "detail", "complex")]


def made_up_rule(name: str) -> str:
    return f"MADE-UP RULE {name}: rate both assistants from 1 to 10, the two scores on the first line."


def evaluator_text() -> str:
    return (
        "import openai\nnum_run = 1\n"
        f"prompt = {json.dumps(MADE_UP_PROMPT)}\n"
        "def reask(line, pred):\n"
        f"    return prompt + '\\n' + ' | '.join([line['question'], pred, '']) + {json.dumps(REASK)}\n"
    )


def rule_text() -> str:
    return json.dumps({name: {"role": "Assistant", "prompt": made_up_rule(name)} for name in RULE_NAMES}, indent=4)


def write(folder: Path) -> dict[str, Path]:
    """The two stand-ins in ``folder``, by their upstream file names."""
    folder.mkdir(parents=True, exist_ok=True)
    evaluator, rules = folder / "vip-bench_evaluator.py", folder / "rule.json"
    evaluator.write_text(evaluator_text())
    rules.write_text(rule_text())
    return {"vip-bench-evaluator": evaluator, "llava-rule-json": rules}


def pin(monkeypatch, name: str, path: Path) -> None:
    """Pin ``path``'s sha256 for the upstream file ``name`` (this process only)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(PINNED, name, dataclasses.replace(PINNED[name], sha256=digest))


def install(monkeypatch, folder: Path) -> dict[str, Path]:
    """Stand-ins pinned and in the cache, as a download would leave them; the official prompt made the default."""
    monkeypatch.delenv("VIPBENCH_JUDGE_PROMPT", raising=False)
    files = write(folder)
    for name, path in files.items():
        pin(monkeypatch, name, path)
        cached = PINNED[name].cache_path()
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(path.read_bytes())
    return files
