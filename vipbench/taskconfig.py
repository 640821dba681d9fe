"""Task YAML → a typed, frozen ``TaskConfig``.

Keys map one-to-one onto the dataclass fields; an unknown key is an error, not a silent pass-through.
Two loader extensions, as in lm-eval: ``include: base.yaml`` merges a shared base (the including file
wins), and ``!function hooks.fn`` names a hook in the ``hooks.py`` beside the YAML, imported on first use.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vipbench.errors import VipbenchError
from vipbench.types import REGION_MODES


@dataclass(frozen=True)
class FunctionRef:
    """A hook named in YAML; imported only when called, so listing tasks stays cheap."""

    module_path: Path
    name: str

    def resolve(self) -> Callable[..., Any]:
        digest = hashlib.sha1(str(self.module_path).encode()).hexdigest()[:10]
        module_name = f"vipbench_hooks_{self.module_path.parent.name}_{digest}"
        module = sys.modules.get(module_name)
        if module is None:
            if not self.module_path.is_file():
                raise VipbenchError(f"hook module not found: {self.module_path}")
            spec = importlib.util.spec_from_file_location(module_name, self.module_path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        try:
            return getattr(module, self.name)
        except AttributeError:
            raise VipbenchError(f"{self.module_path} has no function {self.name!r}") from None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)


@dataclass(frozen=True)
class DatasetConfig:
    key: str
    """The name ``--data-dir KEY=PATH`` uses; tasks of one benchmark share it."""
    hf_id: str | None = None
    """Hugging Face dataset repo to download when no local folder is given."""
    revision: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """Loader-specific settings (e.g. ``split: bbox``)."""


@dataclass(frozen=True)
class ScorerConfig:
    judge: str | None = None
    """A judge name under judges/; mutually exclusive with ``metric``."""
    runs: int = 1
    metric: str | None = None
    """A local metric registered in ``vipbench.metrics``."""


@dataclass(frozen=True)
class TaskConfig:
    task: str
    dataset: DatasetConfig
    loader: FunctionRef
    scorer: ScorerConfig
    description: str = ""
    groups: tuple[str, ...] = ()
    region_modes: tuple[str, ...] = ("overlay",)
    prompt_styles: bool = False
    """True when regions can be redrawn from source annotations (``--prompt-style``)."""
    generation: Mapping[str, Any] = field(default_factory=dict)
    """Overrides of the model's generation defaults that the benchmark's protocol asks for."""
    breakdowns: tuple[str, ...] = ()
    """Sample metadata keys to report scores by; list-valued keys count an item under each value."""
    combinations: str | None = None
    """A list-valued metadata key whose exact value sets get their own table (ViP-Bench's capability integration)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Display names for breakdown values (``rec`` → ``Rec``)."""
    export: FunctionRef | None = None
    """Writes the benchmark's official upload format from the predictions."""
    version: int = 1
    source: Path | None = None


class _Loader(yaml.SafeLoader):
    pass


def _function_constructor(loader: _Loader, node: yaml.Node) -> FunctionRef:
    value = loader.construct_scalar(node)  # e.g. "hooks.load_samples"
    module, _, name = str(value).rpartition(".")
    if not module or not name:
        raise VipbenchError(f"!function needs 'module.function', got {value!r}")
    base = Path(loader.name).parent
    return FunctionRef(base / f"{module.replace('.', '/')}.py", name)


_Loader.add_constructor("!function", _function_constructor)


def read_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in _seen:
        raise VipbenchError(f"include cycle: {' -> '.join(map(str, (*_seen, path)))}")
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        raise VipbenchError(f"invalid YAML in {path}: {exc}") from None
    if not isinstance(data, dict):
        raise VipbenchError(f"{path}: expected a mapping at the top level")
    include = data.pop("include", None)
    if include:
        base = read_yaml(path.parent / include, (*_seen, path))
        base.update(data)
        data = base
    return data


def check_keys(path: Path, data: dict[str, Any], cls: type) -> None:
    """Every YAML key must be a field of ``cls``, and every field without a default must be given."""
    fields = [f for f in dataclasses.fields(cls) if f.name != "source"]
    unknown = sorted(set(data) - {f.name for f in fields})
    if unknown:
        raise VipbenchError(
            f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(f.name for f in fields))}"
        )
    missing = [
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in data
    ]
    if missing:
        raise VipbenchError(f"{path}: missing key(s) {', '.join(missing)}")


_NESTED = {"dataset": DatasetConfig, "scorer": ScorerConfig}
_TUPLES = {"groups", "region_modes", "breakdowns"}


def task_config_from_yaml(path: Path) -> TaskConfig:
    data = read_yaml(path)
    check_keys(path, data, TaskConfig)
    for key, cls in _NESTED.items():
        value = data[key]
        if not isinstance(value, dict):
            raise VipbenchError(f"{path}: {key} must be a mapping")
        fields = {f.name for f in dataclasses.fields(cls)}
        extra = {k: v for k, v in value.items() if k not in fields}
        if extra and "options" in fields:
            value = {
                **{k: v for k, v in value.items() if k in fields},
                "options": {**value.get("options", {}), **extra},
            }
        elif extra:
            raise VipbenchError(f"{path}: unknown {key} key(s) {', '.join(sorted(extra))}")
        data[key] = cls(**value)
    for key in _TUPLES & set(data):
        data[key] = tuple(data[key])
    bad_modes = [m for m in data.get("region_modes", ()) if m not in REGION_MODES]
    if bad_modes:
        raise VipbenchError(f"{path}: unknown region mode(s) {bad_modes}; known: {', '.join(REGION_MODES)}")
    scorer = data["scorer"]
    if (scorer.judge is None) == (scorer.metric is None):
        raise VipbenchError(f"{path}: scorer needs exactly one of 'judge' or 'metric'")
    for key in ("loader", "export"):
        if key in data and not isinstance(data[key], FunctionRef):
            raise VipbenchError(f"{path}: {key} must be a '!function hooks.name' reference")
    return TaskConfig(**data, source=path)
