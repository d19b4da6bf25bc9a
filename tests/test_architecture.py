"""The layout's rules, checked on the source: no import cycles among the package's modules
(function-level imports included), small modules, and the layering the README promises
(the simulator never imports learning code, learning code never imports SimPy)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "factory_twin"
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts}


def _imported(path: Path) -> set[str]:
    """Every module name an import statement anywhere in the file refers to; for
    `from a.b import c` that is `a.b.c` when c is a module, else `a.b`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full in MODULES else node.module)
    return names


GRAPH = {
    name: {m for m in _imported(path) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search with colours)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_cycle_finder_finds_a_planted_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_package_modules() -> None:
    assert len(GRAPH) > 20  # the walk found the package
    cycle = _cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (limit {MAX_LINES})"


def _third_party(name: str) -> set[str]:
    """Top-level third-party packages a module imports, directly or through the package."""
    reached = {name} | _reaches(GRAPH, name)
    return {m.split(".")[0] for r in reached for m in _imported(MODULES[r])}


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("factory_twin.sim")))
def test_simulator_never_reaches_learning_code(name: str) -> None:
    reached = _third_party(name)
    assert "torch" not in reached
    assert not any(m.startswith("factory_twin.train") for m in _reaches(GRAPH, name))


@pytest.mark.parametrize(
    "name",
    sorted(m for m in MODULES if m.startswith(("factory_twin.train", "factory_twin.policy"))),
)
def test_learning_code_never_imports_simpy(name: str) -> None:
    direct = {m.split(".")[0] for m in _imported(MODULES[name])}
    assert "simpy" not in direct
