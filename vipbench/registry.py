"""A lazy name → object registry, one per kind (tasks, models, judges).

Entries can be objects or ``"module:attr"`` strings, so ``vipbench --help`` and ``vipbench models`` never
import torch. Third-party packages add entries through the entry-point group ``vipbench.<kind>s``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from vipbench.errors import UnknownNameError, VipbenchError

T = TypeVar("T")


def import_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


@dataclass
class Entry(Generic[T]):
    name: str
    target: T | str
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments that come with the name (e.g. a model alias's checkpoint id)."""
    origin: str = "builtin"

    def load(self) -> T:
        if isinstance(self.target, str):
            try:
                self.target = import_target(self.target)
            except ImportError as exc:
                raise VipbenchError(f"cannot load {self.name!r} from {self.target}: {exc}") from None
        return self.target  # type: ignore[return-value]


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._plugins_loaded = False

    def register(
        self, name: str, target: T | str, description: str = "", origin: str = "builtin", **options: Any
    ) -> None:
        existing = self._entries.get(name)
        if existing is not None and existing.target != target:
            raise VipbenchError(f"{self.kind} {name!r} is registered twice ({existing.origin} and {origin})")
        self._entries[name] = Entry(name, target, description, options, origin)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=f"vipbench.{self.kind}s"):
            if ep.name not in self._entries:
                self._entries[ep.name] = Entry(ep.name, ep.value, origin=f"plugin {ep.dist.name if ep.dist else ''}")

    def entry(self, name: str) -> Entry[T]:
        self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries) from None

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        self._load_plugins()
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return [e.name for e in self]
