"""Judge prompt templates: our own jinja2 files, or the official grader's prompt read from a user's copy."""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from vipbench.errors import VipbenchError
from vipbench.records import TemplateSpec

#: How the official ViP-Bench/MM-Vet graders lay out the query after their few-shot prompt.
_OFFICIAL_QUERY = "{{ official_prompt }}\n{{ question }} | {{ ground_truth }} | {{ prediction }} | "
#: How LLaVA's review scripts (llava/eval/eval_gpt_review_bench.py, eval_gpt_review_visual.py) lay out a review with
#: the rule of the question's category from the official rule.json.
_OFFICIAL_REVIEW = (
    "{% set rule = rules[metadata.rule] %}[Context]\n{{ metadata.context }}\n\n[Question]\n{{ question }}\n\n"
    "[{{ rule.role }} 1]\n{{ assistant_1 }}\n\n[End of {{ rule.role }} 1]\n\n"
    "[{{ rule.role }} 2]\n{{ assistant_2 }}\n\n[End of {{ rule.role }} 2]\n\n[System]\n{{ rule.prompt }}\n\n"
)


def spaced_logic(text: str) -> str:
    """``a<AND>b`` → ``a <AND> b``, as the official grader shows the ground truth to the judge."""
    return text.replace("<AND>", " <AND> ").replace("<OR>", " <OR> ")


def template_spec(source: Path, text: str, constants: Mapping[str, Any] | None = None, **extra: Any) -> TemplateSpec:
    constants = dict(constants or {})
    values = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in constants.items()}
    payload = text + "\0" + "\0".join(f"{k}={v}" for k, v in sorted(values.items()))
    return TemplateSpec(
        source=str(source),
        text=text,
        constants=constants,
        sha256=hashlib.sha256(payload.encode()).hexdigest(),
        **extra,
    )


def load_template(path: Path) -> TemplateSpec:
    """A ``.jinja`` template; a Python grader script (the official ``vip-bench_evaluator.py``) whose module-level
    ``prompt = \"\"\"...\"\"\"`` string is used with the official query layout (its re-ask line is read too: the
    string literal that asks for "the correctness", ViP-LLaVA@ab4e364 line 203); or LLaVA's ``rule.json``, whose
    rules are used with LLaVA's review layout."""
    if not path.is_file():
        raise VipbenchError(f"judge template not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return _rule_file(path, text)
    if path.suffix != ".py":
        return template_spec(path, text.rstrip("\n"))
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise VipbenchError(f"{path}: not a valid Python file ({exc.msg}, line {exc.lineno})") from None
    prompt = next((value for name, value in _module_strings(tree) if name == "prompt"), None)
    if prompt is None:
        raise VipbenchError(
            f'{path}: no module-level string assignment \'prompt = """..."""\' to use as the judge prompt'
        )
    reask = next(
        (
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value != prompt
            and "correctness" in node.value.lower()
        ),
        None,
    )
    return template_spec(path, _OFFICIAL_QUERY, {"official_prompt": prompt}, official=True, reask_suffix=reask)


def _rule_file(path: Path, text: str) -> TemplateSpec:
    """LLaVA's ``llava/eval/table/rule.json``: per category a ``role`` and a ``prompt``, used verbatim."""
    try:
        rules = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VipbenchError(f"{path}: invalid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(rules, dict) or not all(
        isinstance(r, dict) and {"role", "prompt"} <= set(r) for r in rules.values()
    ):
        raise VipbenchError(f"{path}: expected LLaVA's rule.json, a role and a prompt per category")
    return template_spec(path, _OFFICIAL_REVIEW, {"rules": rules})


def _module_strings(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    yield target.id, node.value.value


class CompiledTemplate:
    """A template spec compiled once, rendered per grade."""

    def __init__(self, spec: TemplateSpec):
        self.spec = spec

    @cached_property
    def _compiled(self):
        import jinja2

        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
        env.filters["spaced_logic"] = spaced_logic
        try:
            return env.from_string(self.spec.text)
        except jinja2.TemplateError as exc:
            raise VipbenchError(f"judge template {self.spec.source}: {exc}") from None

    def render(self, context: Mapping[str, Any], system: str | None = None) -> list[dict[str, str]]:
        import jinja2

        try:
            content = self._compiled.render(**self.spec.constants, **context)
        except jinja2.TemplateError as exc:
            raise VipbenchError(f"judge template {self.spec.source}: {exc}") from None
        messages = [{"role": "system", "content": system}] if system else []
        return [*messages, {"role": "user", "content": content}]
