"""vip-synth: a generated diagnostic task, needing no download.

Each scene (``scenes.py``) carries one question with an exact answer; every question is asked once per
prompt shape, its ``metadata["prompt_style"]`` naming the shape the task draws on the clean image. Scene
images are rendered once into ``cache_dir()/vip-synth/v<GENERATOR_VERSION>-seed<seed>/`` and reused.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from vipbench.errors import DataError
from vipbench.prompting import SHAPES
from vipbench.resources import cache_dir
from vipbench.taskconfig import TaskConfig
from vipbench.types import Sample


def _sibling(name: str) -> ModuleType:
    """Import ``name.py`` from beside this file: hooks are loaded by path, not as a package."""
    module_name = f"{__name__}_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, Path(__file__).with_name(f"{name}.py"))
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[module_name]


scenes = _sibling("scenes")

DEFAULT_SCENES = 10


def image_dir(seed: int) -> Path:
    return cache_dir() / "vip-synth" / f"v{scenes.GENERATOR_VERSION}-seed{seed}"


def load_samples(root: Path | None, config: TaskConfig) -> list[Sample]:
    """``scenes`` scenes per question type, each asked under every prompt shape, scene-major, so that a
    ``--limit`` run still sees every question type."""
    seed, count = _options(config)
    folder = image_dir(seed)
    samples = []
    for index in range(count):
        items = [scenes.make_item(seed, qtype, index) for qtype in scenes.QUESTION_TYPES]
        images = [_ensure_image(folder / f"{item.question_type}-{index:03d}.png", item) for item in items]
        for shape in SHAPES:
            samples.extend(_sample(item, image, shape, seed) for item, image in zip(items, images))
    return samples


def _options(config: TaskConfig) -> tuple[int, int]:
    options = config.dataset.options
    seed, count = options.get("seed", 0), options.get("scenes", DEFAULT_SCENES)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise DataError(f"{config.source}: dataset seed must be a non-negative integer, got {seed!r}")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise DataError(f"{config.source}: dataset scenes must be a positive integer, got {count!r}")
    return seed, count


def _ensure_image(path: Path, item: scenes.Item) -> Path:
    """Render the scene unless a previous run already did; written atomically, so a file present is whole."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        scenes.render(item).save(partial, format="PNG")
        os.replace(partial, path)
    return path


def _sample(item: scenes.Item, image: Path, shape: str, seed: int) -> Sample:
    metadata = {
        "question_type": item.question_type,
        "shape": shape,
        "prompt_style": shape,
        "prompt_colors": scenes.prompt_colors(item, shape, seed),
        "choices": list(item.choices),
        "scene": item.index,
        "seed": seed,
    }
    if item.relation:
        metadata["relation"] = item.relation
    return Sample(
        id=f"{item.question_type}-{item.index:03d}-{shape.replace(' ', '-')}",
        image=None,
        question=None,
        references=(item.answer,),
        regions=tuple(t.region(label) for t, label in zip(item.targets, item.labels)),
        template=item.template,
        source_image=image,
        metadata=metadata,
    )
