"""Judge prompt templates: our own jinja2 files, or the official grader's prompt read from a user's copy."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from vipbench.errors import VipbenchError

#: How the official ViP-Bench/MM-Vet graders lay out the query after their few-shot prompt.
_OFFICIAL_QUERY = "{{ official_prompt }}\n{{ question }} | {{ ground_truth }} | {{ prediction }} | "


def spaced_logic(text: str) -> str:
    """``a<AND>b`` → ``a <AND> b``, as the official grader shows the ground truth to the judge."""
    return text.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")


@dataclass(frozen=True)
class JudgeTemplate:
    source: Path
    text: str
    """Jinja2 source of the user message."""
    constants: Mapping[str, str]
    """Extra variables, e.g. the prompt read out of an official grader script."""

    @cached_property
    def sha256(self) -> str:
        payload = self.text + "\0" + "\0".join(f"{k}={v}" for k, v in sorted(self.constants.items()))
        return hashlib.sha256(payload.encode()).hexdigest()

    @cached_property
    def _compiled(self):
        import jinja2

        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
        env.filters["spaced_logic"] = spaced_logic
        try:
            return env.from_string(self.text)
        except jinja2.TemplateError as exc:
            raise VipbenchError(f"judge template {self.source}: {exc}") from None

    def render(self, context: Mapping[str, Any], system: str | None = None) -> list[dict[str, str]]:
        import jinja2

        try:
            content = self._compiled.render(**self.constants, **context)
        except jinja2.TemplateError as exc:
            raise VipbenchError(f"judge template {self.source}: {exc}") from None
        messages = [{"role": "system", "content": system}] if system else []
        return [*messages, {"role": "user", "content": content}]


def load_template(path: Path) -> JudgeTemplate:
    """A ``.jinja`` template, or a Python grader script (the official ``vip-bench_evaluator.py``) whose
    module-level ``prompt = \"\"\"...\"\"\"`` string is used with the official query layout."""
    if not path.is_file():
        raise VipbenchError(f"judge template not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        return JudgeTemplate(path, text.rstrip("\n"), {})
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise VipbenchError(f"{path}: not a valid Python file ({exc.msg}, line {exc.lineno})") from None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "prompt" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return JudgeTemplate(path, _OFFICIAL_QUERY, {"official_prompt": node.value.value})
    raise VipbenchError(f'{path}: no module-level string assignment \'prompt = """..."""\' to use as the judge prompt')
