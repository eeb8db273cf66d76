"""No import circle in mcnn_infer: every module imports on its own, and the module graph is acyclic."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import mcnn_infer

ROOT = Path(mcnn_infer.__file__).resolve().parent

FRESH_IMPORTS = """
import importlib, pkgutil, sys
import mcnn_infer
names = sorted(i.name for i in pkgutil.walk_packages(mcnn_infer.__path__, "mcnn_infer."))
for name in names:
    for loaded in [m for m in sys.modules if m == "mcnn_infer" or m.startswith("mcnn_infer.")]:
        del sys.modules[loaded]
    importlib.import_module(name)  # first mcnn_infer module of a fresh mcnn_infer
print(len(names))
"""


def module_names() -> list[str]:
    return sorted(i.name for i in pkgutil.walk_packages(mcnn_infer.__path__, "mcnn_infer."))


def _source(name: str) -> Path:
    relative = Path(*name.split(".")[1:])
    package = ROOT / relative / "__init__.py"
    return package if package.is_file() else (ROOT / relative).with_suffix(".py")


def _is_package(name: str) -> bool:
    return name == "mcnn_infer" or _source(name).name == "__init__.py"


def import_graph() -> dict[str, set[str]]:
    """``module -> the mcnn_infer modules it imports`` (module level and inside functions alike).

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``;
    relative imports are resolved; a module's own parent packages are not edges (Python has
    started importing them before the module).
    """
    names = set(module_names()) | {"mcnn_infer"}
    graph: dict[str, set[str]] = {}
    for name in sorted(names):
        package = name if _is_package(name) else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(_source(name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in node.names:
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base)
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = {t for t in targets if t in names and t != name and t not in ancestors}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_image_readers_share_their_checks_without_importing_each_other():
    graph = import_graph()
    assert "mcnn_infer.image_checks" in graph["mcnn_infer.zarr_planes"]
    assert "mcnn_infer.image_checks" in graph["mcnn_infer.images"]
    assert "mcnn_infer.images" not in graph["mcnn_infer.zarr_planes"]


def test_mcnn_infer_module_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 40
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_every_module_imports_on_its_own():
    done = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORTS], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) == len(module_names())
