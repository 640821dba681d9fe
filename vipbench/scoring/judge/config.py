"""Judge YAML (``judges/<name>.yaml``) → a typed ``JudgeConfig``, found by name in the built-in and plugin folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vipbench.errors import UnknownNameError, VipbenchError, first_problem
from vipbench.records import ReaskSpec
from vipbench.taskconfig import read_yaml


class JudgeConfig(BaseModel):
    """A judge protocol: its template, reply parser, sampling and re-ask rule, and the paper's judge model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    judge: str
    version: int = 1
    """Bump when the protocol's wording or rules change: its grades are then made again."""
    template: Path
    model: str
    """The judge model the paper used; a task's ``judge_model`` or ``--judge`` overrides it."""
    parser: str
    scale: float = 1.0
    """The reply's full-marks value: a reply of ``scale`` is 10 on vipbench's 0–10 scale."""
    temperature: float = 0.0
    max_tokens: int = 3
    reask: ReaskSpec = Field(default_factory=ReaskSpec)
    system: str | None = None
    assistants: tuple[str, str] | None = None
    """For a pairwise review (LLaVA-Bench): what the reply's first and second scores grade, in the order the
    answers are shown, e.g. ``[reference, model]``; the second is the answer under review, and its score is also
    the grade's ``score``. ``vipbench judge --swap-check`` shows them the other way round."""
    failed: dict[str, float] | None = None
    """What a grade that stays unparseable counts as under the official rule, in the parser's terms (ViP-Bench:
    ``{score: 0.0}``; LLaVA-Bench: ``{first: -1, second: -1}``); None: left out."""
    vipbench: dict[str, Any] = Field(default_factory=dict)
    """vipbench's own rules (``--judge-rules vipbench``, a recorded deviation): the fields above it changes
    (``parser``, ``reask``, ``failed``)."""
    prompt_file: str | None = None
    """The upstream file the official prompt is read from (a key of ``judge.upstream.PINNED``); ``template`` is
    then vipbench's own wording, used only with ``--judge-prompt vipbench`` (a recorded deviation)."""
    description: str = ""
    source: Path | None = None

    @property
    def upstream(self):
        """The pinned upstream file of the official prompt, or None (a judge whose template is its own)."""
        from vipbench.scoring.judge.upstream import pinned

        return pinned(self.prompt_file) if self.prompt_file else None

    def rules(self, name: str) -> JudgeConfig:
        """The config under ``official`` rules (as written) or ``vipbench``'s (its ``vipbench`` block applied)."""
        if name == "official" or not self.vipbench:
            return self
        changes = {**self.vipbench}
        if "reask" in changes:
            changes["reask"] = ReaskSpec(**changes["reask"])
        return self.model_copy(update=changes)


def judge_config_from_yaml(path: Path) -> JudgeConfig:
    data = read_yaml(path)
    if "template" in data:
        data["template"] = (path.parent / str(data["template"])).resolve()
    try:
        return JudgeConfig(**data, source=path)
    except ValidationError as exc:
        raise VipbenchError(f"{path}: {first_problem(exc)}") from None


def _judge_dirs() -> list[Path]:
    """The built-in ``judges/`` folder, then folders that plugins name in the ``vipbench.judges`` group."""
    from vipbench.registry import plugin_folders
    from vipbench.resources import builtin_dir

    return [builtin_dir("judges"), *plugin_folders("judges")]


def available_judges() -> dict[str, JudgeConfig]:
    configs = {}
    for path in sorted(p for d in _judge_dirs() for p in d.glob("*.yaml")):
        config = judge_config_from_yaml(path)
        configs[config.judge] = config
    return configs


def load_judge(name: str) -> JudgeConfig:
    """A judge by name from the built-in and plugin judge folders."""
    configs = available_judges()
    if name not in configs:
        raise UnknownNameError("judge", name, configs)
    return configs[name]
