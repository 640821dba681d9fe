"""Judge YAML (``judges/<name>.yaml``) → a typed ``JudgeConfig``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vipbench.errors import UnknownNameError
from vipbench.taskconfig import check_keys, read_yaml


@dataclass(frozen=True)
class ReaskConfig:
    """How an unparseable reply is asked again (the official grader: up to 5 times, 0.5 hotter each time)."""

    attempts: int = 5
    temperature_step: float = 0.5
    suffix: str = ""
    """Appended to the prompt on every re-ask."""


@dataclass(frozen=True)
class JudgeConfig:
    judge: str
    template: Path
    model: str
    """The judge model the paper used; ``--judge`` overrides it."""
    parser: str
    scale: float = 1.0
    """The reply's full-marks value: a reply of ``scale`` is 10 on vipbench's 0–10 scale."""
    temperature: float = 0.0
    max_tokens: int = 3
    reask: ReaskConfig = field(default_factory=ReaskConfig)
    system: str | None = None
    description: str = ""
    source: Path | None = None


def judge_config_from_yaml(path: Path) -> JudgeConfig:
    data = read_yaml(path)
    check_keys(path, data, JudgeConfig)
    data["template"] = (path.parent / data["template"]).resolve()
    if "reask" in data:
        data["reask"] = ReaskConfig(**data["reask"])
    return JudgeConfig(**data, source=path)


def _judge_dirs() -> list[Path]:
    """The built-in ``judges/`` folder, then folders that plugins name in the ``vipbench.judges`` group."""
    from importlib.metadata import entry_points

    from vipbench.resources import builtin_dir

    dirs = [builtin_dir("judges")]
    for ep in entry_points(group="vipbench.judges"):
        value = ep.load()
        value = value() if callable(value) else value
        dirs.extend(Path(v) for v in ([value] if isinstance(value, (str, Path)) else value))
    return dirs


def load_judge(name: str) -> JudgeConfig:
    """A judge by name from the built-in and plugin judge folders."""
    configs = {}
    for path in sorted(p for d in _judge_dirs() for p in d.glob("*.yaml")):
        config = judge_config_from_yaml(path)
        configs[config.judge] = config
    if name not in configs:
        raise UnknownNameError("judge", name, configs)
    return configs[name]
