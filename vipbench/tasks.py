"""Task discovery, groups, and turning samples into requests for a model's region mode.

Tasks are YAML files under the built-in ``tasks/`` folder, any ``--include-path`` folder, and folders that
plugins name through the ``vipbench.tasks`` entry-point group. Files starting with ``_`` are shared bases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from vipbench.data import check_image
from vipbench.errors import DataError, UnknownNameError, VipbenchError
from vipbench.registry import plugin_folders
from vipbench.taskconfig import GroupConfig, TaskConfig, config_from_yaml
from vipbench.types import OBJ_PLACEHOLDER, REGION_TOKEN, Region, Request, Sample

if TYPE_CHECKING:
    from vipbench.prompting.draws import DrawSettings

ALL = "all"


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-")


class TaskIndex:
    """Every task and group that can be run, read from YAML without importing any hook."""

    def __init__(self, include_paths: Sequence[Path] = ()):
        from vipbench.resources import builtin_dir

        self.configs: dict[str, TaskConfig] = {}
        self.group_configs: dict[str, GroupConfig] = {}
        for folder in [builtin_dir("tasks"), *map(Path, include_paths), *plugin_folders("tasks")]:
            if not folder.is_dir():
                raise VipbenchError(f"task folder not found: {folder}")
            for path in sorted(folder.rglob("*.yaml")):
                if path.name.startswith("_"):
                    continue
                config = config_from_yaml(path)
                if isinstance(config, GroupConfig):
                    self._add(self.group_configs, _canonical(config.group), config, "group")
                else:
                    self._add(self.configs, _canonical(config.task), config, "task")
        for group in self.group_configs.values():
            for member in group.tasks:
                if _canonical(member) not in self.configs:
                    raise VipbenchError(f"{group.source}: {UnknownNameError('task', member, self.configs)}")

    @staticmethod
    def _add(configs: dict, name: str, config: TaskConfig | GroupConfig, kind: str) -> None:
        if name in configs and configs[name].source != config.source:
            raise VipbenchError(f"{kind} {name!r} is defined twice: {configs[name].source} and {config.source}")
        configs[name] = config

    @cached_property
    def groups(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for name, config in sorted(self.configs.items()):
            for group in config.groups:
                groups.setdefault(_canonical(group), []).append(name)
        for name, group in self.group_configs.items():
            members = groups.setdefault(name, [])
            members.extend(t for t in map(_canonical, group.tasks) if t not in members)
        groups[ALL] = sorted(self.configs)
        return groups

    def resolve(self, spec: str | Iterable[str]) -> list[str]:
        """Comma-separated task and group names → task names, in order, without duplicates."""
        parts = spec.split(",") if isinstance(spec, str) else list(spec)
        names: list[str] = []
        for part in filter(None, map(_canonical, parts)):
            if part in self.configs:
                found = [part]
            elif part in self.groups:
                found = self.groups[part]
            else:
                raise UnknownNameError("task", part, [*self.configs, *self.groups])
            names.extend(n for n in found if n not in names)
        if not names:
            raise VipbenchError("no tasks given")
        return names

    def task(self, name: str) -> Task:
        name = _canonical(name)
        if name not in self.configs:
            raise UnknownNameError("task", name, self.configs)
        return Task(self.configs[name])


class Task:
    def __init__(self, config: TaskConfig):
        self.config = config
        self.name = _canonical(config.task)

    def load_samples(self, root: Path | None) -> list[Sample]:
        """The task's samples, each of its images checked to exist and decode (data.check_image)."""
        samples = list(self.config.loader(root, self.config))
        seen: set[str] = set()
        for sample in samples:
            if sample.id in seen:
                raise DataError(f"task {self.name}: duplicate sample id {sample.id!r}")
            seen.add(sample.id)
            for image in {sample.image, sample.source_image} - {None}:
                check_image(image, f"task {self.name}, sample {sample.id}")
        return samples

    def build_request(
        self, sample: Sample, region_mode: str, prompt_style: str | None = None, draws: DrawSettings | None = None
    ) -> Request:
        """Render the sample for one region mode; ``prompt_style`` redraws overlay regions in that shape; ``draws``
        picks how overlay colours and "the" are drawn (default: as upstream, run seed 0)."""
        if region_mode not in self.config.region_modes:
            raise VipbenchError(
                f"task {self.name} cannot give regions as {region_mode!r}; "
                f"it supports {', '.join(self.config.region_modes)}"
            )
        style = prompt_style or sample.metadata.get("prompt_style")
        if region_mode == "overlay" and style is None:
            if sample.image is None or sample.question is None:
                raise DataError(f"{self.name}/{sample.id}: no pre-rendered image and question; choose a --prompt-style")
            return Request(self.name, sample, sample.question, sample.image, region_mode)

        if sample.template is None or sample.source_image is None:
            raise DataError(f"{self.name}/{sample.id}: no source annotation to render regions from")
        by_label = {r.label: r for r in sample.regions}
        order = _template_labels(sample, by_label)
        if region_mode == "overlay":
            return _overlay_request(self.name, sample, style, by_label, prompt_style, draws)
        if region_mode == "coords":
            from vipbench.imaging import image_size

            size = image_size(sample.source_image)
            text = _fill(sample.template, {label: by_label[label].coords_text(size) for label in order})
            return Request(self.name, sample, text, sample.source_image, region_mode)
        text = OBJ_PLACEHOLDER.sub(REGION_TOKEN, sample.template)
        regions = tuple(by_label[m.group(1)] for m in OBJ_PLACEHOLDER.finditer(sample.template))
        return Request(self.name, sample, text, sample.source_image, region_mode, regions=regions)


def _template_labels(sample: Sample, by_label: Mapping[str, Region]) -> list[str]:
    order: list[str] = []
    for match in OBJ_PLACEHOLDER.finditer(sample.template or ""):
        label = match.group(1)
        if label not in by_label:
            raise DataError(f"sample {sample.id}: question refers to <{label}> but no region is labelled {label!r}")
        if label not in order:
            order.append(label)
    return order


def _fill(template: str, texts: Mapping[str, str]) -> str:
    return OBJ_PLACEHOLDER.sub(lambda m: texts[m.group(1)], template)


def _overlay_request(
    task: str,
    sample: Sample,
    shape: str,
    by_label: Mapping[str, Region],
    prompt_style: str | None,
    draws: DrawSettings | None,
) -> Request:
    """Draw each region in ``shape``, colours and words as ``vipbench.prompting.draws`` decides (seeded per
    sample, so every model sees the same pixels). A sample's own style keeps its own colours."""
    from vipbench.prompting.draws import DrawSettings, draw_sample

    drawn = draw_sample(sample, shape, by_label, own_style=prompt_style is None, settings=draws or DrawSettings())
    return Request(
        task,
        sample,
        drawn.text,
        sample.source_image,  # type: ignore[arg-type]
        "overlay",
        prompt_style=prompt_style,
        overlays=drawn.overlays,
    )
