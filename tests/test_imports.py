"""vipbench's modules import one another without a cycle: every import counts, at the top of a module or inside a
function (a lazy import only hides a cycle until the day someone moves it up)."""

from __future__ import annotations

import ast
from pathlib import Path

import vipbench


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under ``root`` by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in root.rglob("*.py"):
        parts = (package, *path.relative_to(root).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(node: ast.AST, importer: str, is_package: bool) -> list[str]:
    """The dotted names one import statement names: each module, and each ``from`` base with its names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        anchor = importer if is_package else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            anchor = anchor.rpartition(".")[0]
        base = f"{anchor}.{base}" if base else anchor
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module → the package's modules it imports. ``from a.b import c`` imports the module ``a.b.c`` when there is
    one, else ``a.b``; importing ``a.b.c`` also runs the ``__init__`` of each package above it (a namespace package
    has none), except the importer's own (a module importing its own package is how a package is built, not a
    cycle)."""
    found = modules(root, package)
    graph: dict[str, set[str]] = {name: set() for name in found}
    for name, path in found.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            for target in imported(node, name, is_package):
                while target and target not in found:
                    target = target.rpartition(".")[0]
                while target and target != package:
                    if target in found and target != name and not name.startswith(target + "."):
                        graph[name].add(target)
                    target = target.rpartition(".")[0]
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def a_path_round(component: list[str], graph: dict[str, set[str]]) -> str:
    """One way round the cycle, ``a → b → a``, to name in a failure."""
    members, first = set(component), component[0]
    path, seen = [first], {first}
    while True:
        step = sorted(graph[path[-1]] & members)
        back = first in step
        if back:
            return " → ".join([*path, first])
        nxt = next((m for m in step if m not in seen), None)
        if nxt is None:  # a dead end within the component: the full member list still names it
            return " ↔ ".join(component)
        path.append(nxt)
        seen.add(nxt)


def test_vipbench_imports_have_no_cycle():
    root = Path(vipbench.__file__).parent
    graph = import_graph(root, "vipbench")
    assert len(graph) > 50 and "vipbench.runner" in graph["vipbench.cli.run"]  # the graph is really built
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(a_path_round(c, graph) for c in found)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_a_lazy_import_inside_a_function_is_a_cycle(tmp_path):
    root = write(
        tmp_path,
        {
            "__init__.py": "",
            "types.py": "def load():\n    from pkg.drawing import draw\n    return draw\n",
            "drawing.py": "from pkg.types import load\n",
            "plain.py": "from . import types\n",
        },
    )
    graph = import_graph(root, "pkg")
    assert graph["pkg.plain"] == {"pkg.types"}
    assert cycles(graph) == [["pkg.drawing", "pkg.types"]]
    assert a_path_round(["pkg.drawing", "pkg.types"], graph) == "pkg.drawing → pkg.types → pkg.drawing"


def test_a_cycle_through_a_package_init_counts_and_ones_own_package_does_not(tmp_path):
    root = write(
        tmp_path,
        {
            "__init__.py": "",
            "records.py": "from pkg.models.base import Answer\n",
            "models/__init__.py": "from pkg.models.base import Answer\nfrom pkg.registry import Registry\n",
            "models/base.py": "from ..errors import Error\n",
            "registry.py": "import pkg.records\n",
            "errors.py": "",
        },
    )
    graph = import_graph(root, "pkg")
    assert "pkg.models" not in graph["pkg.models.base"]  # its own package: not an edge
    assert graph["pkg.models.base"] == {"pkg.errors"}  # a relative import, resolved
    assert cycles(graph) == [["pkg.models", "pkg.records", "pkg.registry"]]  # records runs models/__init__
