"""Code copied on purpose stays a true copy. A function or class that is kept as a copy (so that one model's file reads
on its own, as transformers keeps its model files) says where from, on the line above it:

    # Copied from vipbench.models.osprey.OspreyAdapter.masks
    # Copied from vipbench.models.osprey.OspreyAdapter.masks with Osprey->OMGLLaVA, mask->mark

and this test fails, naming the copy and its first differing line, when either side changes without the other
(after the ``with`` renames, applied to the source). The idea is transformers' ``utils/check_copies.py``; this is a
small version of it that reads files as text and imports nothing."""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^\s*# Copied from (?P<target>[A-Za-z_][\w.]*)(?: with (?P<renames>.+?))?\s*$")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Copy:
    file: Path
    line: int  # the marker's, from 1
    target: str
    renames: tuple[tuple[str, str], ...]

    def where(self, root: Path) -> str:
        return f"{self.file.relative_to(root)}:{self.line}"


def find_copies(package: Path) -> list[Copy]:
    """Every ``# Copied from`` marker in the package's Python files."""
    copies = []
    for file in sorted(package.rglob("*.py")):
        for number, text in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            match = MARKER.match(text)
            if match:
                renames = tuple(_rename(part) for part in (match["renames"] or "").split(",") if part.strip())
                copies.append(Copy(file, number, match["target"], renames))
    return copies


def _rename(part: str) -> tuple[str, str]:
    old, arrow, new = part.strip().partition("->")
    if not arrow or not old.strip():
        raise ValueError(f"a rename is written old->new, not {part.strip()!r}")
    return old.strip(), new.strip()


def _block(lines: list[str], node: ast.AST) -> str:
    """A definition's source, its decorators included, dedented."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return textwrap.dedent("\n".join(lines[start - 1 : node.end_lineno]))


def copied_block(copy: Copy) -> str | None:
    """The definition that starts on the line after the marker (its decorators first), or None."""
    text = copy.file.read_text(encoding="utf-8")
    lines = text.splitlines()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, _DEFINITIONS):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if start == copy.line + 1:
                return _block(lines, node)
    return None


def source_block(target: str, root: Path) -> str | None:
    """The source of ``target`` (``package.module.Name[.attr]``) read from the files under ``root``, or None."""
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        base = root.joinpath(*parts[:cut])
        file = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if file.is_file():
            text = file.read_text(encoding="utf-8")
            body: list[ast.stmt] = ast.parse(text).body
            node = None
            for name in parts[cut:]:
                node = next((n for n in body if isinstance(n, _DEFINITIONS) and n.name == name), None)
                if node is None:
                    return None
                body = node.body
            return _block(text.splitlines(), node)
    return None


def problems(package: Path, root: Path) -> list[str]:
    """One line per copy that is not a true copy of its source, or whose marker names nothing."""
    found = []
    for copy in find_copies(package):
        source, copied = source_block(copy.target, root), copied_block(copy)
        if source is None:
            found.append(f"{copy.where(root)}: {copy.target} not found")
            continue
        if copied is None:
            found.append(f"{copy.where(root)}: no def or class follows the marker")
            continue
        for old, new in copy.renames:
            source = source.replace(old, new)
        if source != copied:
            found.append(f"{copy.where(root)}: differs from {copy.target}: {_first_difference(source, copied, copy)}")
    return found


def _first_difference(source: str, copied: str, copy: Copy) -> str:
    theirs, ours = source.splitlines(), copied.splitlines()
    _, i, _, j, _ = next(op for op in difflib.SequenceMatcher(a=theirs, b=ours).get_opcodes() if op[0] != "equal")
    line = ours[j].strip() if j < len(ours) else "(the end)"
    was = theirs[i].strip() if i < len(theirs) else "(the end)"
    return f"line {copy.line + 1 + j} has {line!r} where the source has {was!r}"


# ------------------------------------------------------------------------------------------------- the tests


def test_every_copy_in_vipbench_equals_its_source():
    assert problems(REPO / "vipbench", REPO) == []


SOURCE = '''
class OspreyAdapter:
    region_modes = ("mask",)

    @staticmethod
    def masks(request):
        """What Osprey reads of each region."""
        return [region.mask for region in request.regions]
'''

COPY = '''
import os


class OMGLLaVAAdapter:
    # Copied from vipbench.models.source.OspreyAdapter.masks with Osprey->OMG-LLaVA
    @staticmethod
    def masks(request):
        """What OMG-LLaVA reads of each region."""
        return [region.mask for region in request.regions]
'''


def _tree(tmp_path: Path, copy: str) -> Path:
    models = tmp_path / "vipbench" / "models"
    models.mkdir(parents=True)
    (models / "source.py").write_text(SOURCE)
    (models / "copy.py").write_text(copy)
    return tmp_path


def test_a_true_copy_passes_after_its_renames(tmp_path):
    root = _tree(tmp_path, COPY)
    [copy] = find_copies(root / "vipbench")
    assert (copy.line, copy.target) == (6, "vipbench.models.source.OspreyAdapter.masks")
    assert copy.renames == (("Osprey", "OMG-LLaVA"),)
    assert problems(root / "vipbench", root) == []


def test_a_copy_that_drifted_is_named_with_its_first_difference(tmp_path):
    root = _tree(tmp_path, COPY.replace("in request.regions", "in reversed(request.regions)"))
    [line] = problems(root / "vipbench", root)
    assert line.startswith("vipbench/models/copy.py:6: differs from vipbench.models.source.OspreyAdapter.masks: ")
    assert line.endswith(
        "line 10 has 'return [region.mask for region in reversed(request.regions)]' "
        "where the source has 'return [region.mask for region in request.regions]'"
    )


def test_a_source_that_changed_fails_its_copies(tmp_path):
    root = _tree(tmp_path, COPY)
    source = root / "vipbench" / "models" / "source.py"
    source.write_text(source.read_text().replace("region.mask", "region.mask > 0"))
    assert len(problems(root / "vipbench", root)) == 1


def test_a_marker_that_names_nothing_or_stands_alone_is_a_problem(tmp_path):
    root = _tree(tmp_path, COPY.replace("OspreyAdapter.masks", "OspreyAdapter.boxes"))
    assert problems(root / "vipbench", root) == [
        "vipbench/models/copy.py:6: vipbench.models.source.OspreyAdapter.boxes not found"
    ]
    (root / "vipbench" / "models" / "copy.py").write_text(COPY.replace("    @staticmethod\n", "    x = 1\n", 1))
    assert problems(root / "vipbench", root) == ["vipbench/models/copy.py:6: no def or class follows the marker"]
