"""The worker's modules import each other one way only: no cycles, not even inside a
function or under TYPE_CHECKING (a cycle is how one module starts driving another's
private members)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "worker"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
                imported.update(f"{node.module}.{a.name}" for a in node.names)
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path of imports from `start` back to itself, if there is one."""
    stack, seen = [(start, [start])], {start}
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph[node]):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_the_checker_finds_a_cycle() -> None:
    assert cycle_from({"a": {"b"}, "b": {"a"}}, "a") == ["a", "b", "a"]
    assert cycle_from({"a": {"b"}, "b": set()}, "a") is None


def test_no_worker_module_imports_itself_back() -> None:
    graph = import_graph()
    assert {"worker.loop", "worker.run", "worker.kinds.job", "worker.kinds.tes"} <= set(graph)
    cycles = [c for m in sorted(graph) if (c := cycle_from(graph, m))]
    assert cycles == []
