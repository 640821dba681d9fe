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
from vipbench.protocols import FAMILIES, Marker, ProtocolConfig
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
    """Hugging Face dataset repo to download when no local folder is given (none: the user must give one)."""
    generated: bool = False
    """Made by the loader itself (vip-synth): it reads no folder."""
    revision: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """Loader-specific settings (e.g. ``split: bbox``)."""


@dataclass(frozen=True)
class ScorerConfig:
    """How a task is scored: a scorer fed by a metric or by an LLM judge (see ``vipbench.scoring``)."""

    name: str = "mean"
    """The scorer that turns the unit's grades into its scores (registered in ``vipbench.scorers``)."""
    args: Mapping[str, Any] = field(default_factory=dict)
    metric: str | None = None
    """A metric that grades each prediction (registered in ``vipbench.metrics``); exclusive with ``judge``."""
    metric_args: Mapping[str, Any] = field(default_factory=dict)
    judge: str | None = None
    """An LLM judge protocol under judges/ that grades each prediction."""
    judge_model: str | None = None
    """The judge model this task's protocol asks for (default: the judge protocol's own, the paper's)."""
    runs: int = 1
    """Independent judge runs per prediction (reported as mean ± std)."""


@dataclass(frozen=True)
class TaskConfig:
    task: str
    dataset: DatasetConfig
    loader: FunctionRef
    scorer: ScorerConfig
    description: str = ""
    groups: tuple[str, ...] = ()
    region_modes: tuple[str, ...] = ("overlay",)
    input_region: str = "given"
    """``given``: the samples' regions are rendered for the model in its region mode; ``none``: the task gives no
    region, so every model gets the whole image and the question in text whatever its mode (POPE, REC, RES). The
    manifest records it."""
    prompt_styles: bool = False
    """True when regions can be redrawn from source annotations (``--prompt-style``)."""
    generation: Mapping[str, Any] = field(default_factory=dict)
    """vipbench's own generation settings for the task: what models without a family run with, and what
    ``--protocol vipbench`` applies over a family's official protocol."""
    protocols: Mapping[str, ProtocolConfig] = field(default_factory=dict)
    """Per model family, what that family's own evaluation script does on this task (``vipbench.protocols``)."""
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


@dataclass(frozen=True)
class GroupConfig:
    """A group YAML (``group:`` instead of ``task:``): its member tasks, and optionally a score over them."""

    group: str
    tasks: tuple[str, ...]
    scorer: str | None = None
    """A group scorer (``joint``, ``mean-of``) computed when every member task is in the run."""
    args: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
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
        if isinstance(base.get("protocols"), dict) and isinstance(data.get("protocols"), dict):
            data["protocols"] = {**base["protocols"], **data["protocols"]}  # a task's entries over the base's
        base.update(data)
        data = base
    return data


def check_keys(path: Path, data: dict[str, Any], cls: type, where: str = "") -> None:
    """Every YAML key must be a field of ``cls``, and every field without a default must be given."""
    fields = [f for f in dataclasses.fields(cls) if f.name != "source"]
    unknown = sorted(set(data) - {f.name for f in fields})
    if unknown:
        raise VipbenchError(
            f"{path}: unknown key(s) {', '.join(where + k for k in unknown)}; "
            f"allowed: {', '.join(sorted(where + f.name for f in fields))}"
        )
    missing = [
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in data
    ]
    if missing:
        raise VipbenchError(f"{path}: missing key(s) {', '.join(where + m for m in missing)}")


_NESTED = {"dataset": DatasetConfig, "scorer": ScorerConfig}
INPUT_REGIONS = ("given", "none")
_TUPLES = {"groups", "region_modes", "breakdowns"}


def config_from_yaml(path: Path) -> TaskConfig | GroupConfig:
    """A task or a group, by whether the file says ``task:`` or ``group:``."""
    data = read_yaml(path)
    if "group" in data and "task" not in data:
        check_keys(path, data, GroupConfig)
        if not isinstance(data["tasks"], list) or not data["tasks"]:
            raise VipbenchError(f"{path}: tasks must be a non-empty list of task names")
        return GroupConfig(**{**data, "tasks": tuple(data["tasks"])}, source=path)
    return _task_config(path, data)


def _task_config(path: Path, data: dict[str, Any]) -> TaskConfig:
    check_keys(path, data, TaskConfig)
    for key, cls in _NESTED.items():
        value = data[key]
        if not isinstance(value, dict):
            raise VipbenchError(f"{path}: {key} must be a mapping")
        check_keys(path, value, cls, where=f"{key}.")
        data[key] = cls(**value)
    for key in _TUPLES & set(data):
        data[key] = tuple(data[key])
    if "protocols" in data:
        data["protocols"] = protocol_configs(path, data["protocols"])
    if data.get("input_region", "given") not in INPUT_REGIONS:
        raise VipbenchError(f"{path}: input_region must be one of {', '.join(INPUT_REGIONS)}")
    bad_modes = [m for m in data.get("region_modes", ()) if m not in REGION_MODES]
    if bad_modes:
        raise VipbenchError(f"{path}: unknown region mode(s) {bad_modes}; known: {', '.join(REGION_MODES)}")
    scorer = data["scorer"]
    if (scorer.judge is None) == (scorer.metric is None):
        raise VipbenchError(f"{path}: scorer needs exactly one of 'judge' or 'metric'")
    if not isinstance(scorer.runs, int) or scorer.runs < 1 or (scorer.metric and scorer.runs != 1):
        raise VipbenchError(f"{path}: scorer.runs must be a positive integer, and 1 for a metric")
    for key in ("loader", "export"):
        if key in data and not isinstance(data[key], FunctionRef):
            raise VipbenchError(f"{path}: {key} must be a '!function hooks.name' reference")
    return TaskConfig(**data, source=path)


def protocol_configs(path: object, data: Any) -> dict[str, ProtocolConfig]:
    """The YAML ``protocols:`` mapping → configs by family; unknown families and keys are errors."""
    if not isinstance(data, dict):
        raise VipbenchError(f"{path}: protocols must be a mapping of model family to protocol")
    configs = {}
    for family, value in data.items():
        if family not in FAMILIES:
            raise VipbenchError(f"{path}: unknown model family {family!r} in protocols; known: {', '.join(FAMILIES)}")
        if not isinstance(value, dict):
            raise VipbenchError(f"{path}: protocols.{family} must be a mapping")
        check_keys(path, value, ProtocolConfig, where=f"protocols.{family}.")
        if value.get("references", "all") not in ("all", "first"):
            raise VipbenchError(f"{path}: protocols.{family}.references must be all or first")
        marker = value.get("marker")
        if marker is not None:
            if not isinstance(marker, dict):
                raise VipbenchError(f"{path}: protocols.{family}.marker must be a mapping (shape, color, alpha)")
            check_keys(path, marker, Marker, where=f"protocols.{family}.marker.")
            value = {**value, "marker": Marker(**marker)}
        configs[family] = ProtocolConfig(**value)
    return configs
