"""No module of the core or the app imports itself back, directly or through others.

A cycle makes the import order matter (a half-initialised module raises ``ImportError``) and ties
modules that should change independently. The graph is read from the source with ``ast``: every
``import`` counts, whether at the top of a module or inside a function (a lazy import hides a
cycle from Python but not from the reader), except imports under ``if TYPE_CHECKING:``, which
never run. Importing ``a.b.c`` also runs the packages ``a`` and ``a.b``, so those count too
(except a module's own enclosing packages, which are already importing when it runs).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("synth_core", "app")

#: Edges left in the graph on purpose, each with its reason. Keep it short: every entry is a
#: cycle still to be broken (the test below fails once an entry is no longer needed).
ALLOWED: dict[tuple[str, str], str] = {}


def module_files() -> dict[str, Path]:
    """Every module of :data:`PACKAGES`, by dotted name (a package by its ``__init__``)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree`` that can run (``if TYPE_CHECKING:`` bodies skipped)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that importing ``name`` (the file ``path``) can load."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        if node.level:  # relative: from the package holding this module
            base = name.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        targets.add(source)
        targets.update(
            f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in known
        )
    edges = set()
    own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    if is_package:
        own_packages.add(name)
    for target in targets:
        if target in known:
            edges.add(target)
        parts = target.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent in known and parent not in own_packages:
                edges.add(parent)
    edges.discard(name)
    return edges


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    return {name: imported_modules(name, path, known) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], set[str]]]:
    """Each strongly connected group of modules (Tarjan) with one shortest cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(start: str) -> None:
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)

    for name in sorted(graph):
        if name not in index:
            visit(name)
    found = []
    for group in groups:
        start = min(group)
        paths = {start: [start]}
        frontier = [start]
        while frontier and start not in {c for n in frontier for c in graph[n]}:
            following = []
            for node in frontier:
                for child in sorted(graph[node] & group):
                    if child not in paths:
                        paths[child] = [*paths[node], child]
                        following.append(child)
            frontier = following
        last = next(n for n in frontier if start in graph[n])
        found.append(([*paths[last], start], group))
    return found


def test_the_core_and_the_app_import_without_cycles():
    graph = import_graph()
    for (importer, imported), _reason in ALLOWED.items():
        graph[importer].discard(imported)
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(
        f"{' -> '.join(cycle)}  (a group of {len(group)}: {', '.join(sorted(group))})"
        for cycle, group in found
    )


def test_every_allowed_import_is_still_needed():
    graph = import_graph()
    stale = [edge for edge in ALLOWED if edge[1] not in graph.get(edge[0], set())]
    assert not stale, f"these imports are gone; drop them from ALLOWED: {stale}"


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import synth_core.errors\n"
        "if TYPE_CHECKING:\n"
        "    from synth_core.train import Trainer\n"
        "def later():\n"
        "    from synth_core.models.physical import model\n"
    )
    known = set(module_files())
    assert imported_modules("synth_core.mod", source, known) == {
        "synth_core.errors",
        "synth_core.models",
        "synth_core.models.physical",
        "synth_core.models.physical.model",
    }
