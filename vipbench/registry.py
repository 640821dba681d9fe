"""A lazy name → object registry, one per kind (models, metrics, scorers, reply parsers).

Entries can be objects or ``"module:attr"`` strings, so ``vipbench --help`` and ``vipbench models`` never
import torch. Third-party packages add entries through the entry-point group ``vipbench.<kind>s``; tasks and
judges, which are folders of YAML files, come from the groups ``vipbench.tasks`` and ``vipbench.judges``
(``plugin_folders``).
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
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


def plugin_folders(kind: str) -> list[Path]:
    """The folders that installed plugins name in the entry-point group ``vipbench.<kind>`` (a path, a list of
    paths, or a function returning either)."""
    folders: list[Path] = []
    for ep in entry_points(group=f"vipbench.{kind}"):
        value = ep.load()
        value = value() if callable(value) else value
        folders.extend(Path(v) for v in ([value] if isinstance(value, (str, Path)) else value))
    return folders


def keyword_names(fn: Callable[..., Any]) -> list[str] | None:
    """The keyword arguments ``fn`` takes by name, or None when it takes any (``**kwargs``)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_keywords(
    what: str, fn: Callable[..., Any], args: Mapping[str, Any], positional: int = 0, fixed: Collection[str] = ()
) -> None:
    """Refuse, in one line listing the valid ones, keyword arguments that ``fn`` does not take. The first
    ``positional`` parameters, and those in ``fixed``, are filled by vipbench, not by the user."""
    names = keyword_names(fn)
    if names is None:
        return
    valid = [n for n in names[positional:] if n not in fixed]
    unknown = sorted(set(args) - set(valid))
    if unknown:
        takes = f"it takes {', '.join(valid)}" if valid else "it takes none"
        raise VipbenchError(f"{what} has no argument {', '.join(map(repr, unknown))}; {takes}")
    for name, value in args.items():
        allowed = literal_values(fn, name)
        if allowed is not None and value not in allowed:
            raise VipbenchError(f"{what}: {name} must be one of {', '.join(map(str, allowed))}, not {value!r}")


def convert_arg(fn: Callable[..., Any], name: str, text: str) -> Any:
    """A command-line string as the type ``fn`` declares for ``name`` (bool, int, float, or else the string)."""
    hint = _annotation(fn, name)
    types = [t for t in (typing.get_args(hint) or (hint,)) if t is not type(None)]
    if bool in types:
        if text.lower() not in _BOOLS:
            raise VipbenchError(f"{name} must be true or false, not {text!r}")
        return _BOOLS[text.lower()]
    for kind in (int, float):
        if kind in types:
            try:
                return kind(text)
            except ValueError:
                raise VipbenchError(
                    f"{name} must be {'an integer' if kind is int else 'a number'}, not {text!r}"
                ) from None
    return text


_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def literal_values(fn: Callable[..., Any], name: str) -> tuple[Any, ...] | None:
    """The allowed values of a parameter annotated ``Literal[...]``, else None."""
    hint = _annotation(fn, name)
    return typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None


def _annotation(fn: Callable[..., Any], name: str) -> Any:
    """The type ``fn`` (a function, or a class's ``__init__``) declares for parameter ``name``, if it resolves."""
    try:
        return typing.get_type_hints(fn.__init__ if isinstance(fn, type) else fn).get(name)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve goes unchecked
        return None


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
            except (ImportError, AttributeError) as exc:
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
        """An entry by name. A family registered as ``"prefix:"`` answers every ``"prefix:<model>"``, with the
        part after the colon as its ``model`` option (``openai:gpt-4o``)."""
        self._load_plugins()
        if name in self._entries:
            return self._entries[name]
        prefix, colon, rest = name.partition(":")
        family = self._entries.get(prefix + colon) if colon and rest else None
        if family is not None:
            return Entry(name, family.target, family.description, {**family.options, "model": rest}, family.origin)
        raise UnknownNameError(self.kind, name, self._entries)

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        self._load_plugins()
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return [e.name for e in self]
