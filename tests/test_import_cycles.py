# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The package has no import cycle, counting imports inside functions (a deferred import is still a dependency) and
the package `__init__` every import runs first; `if TYPE_CHECKING:` blocks do not count."""

import ast
from pathlib import Path


PACKAGE = Path(__file__).resolve().parent.parent / "trl_entropy"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        type_checking = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for node in ast.walk(block)
        }
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in type_checking:
                continue
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").startswith("trl_entropy"):
                    target = node.module
                else:
                    continue
                targets = [f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target
                           for alias in node.names]  # fmt: skip
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.startswith("trl_entropy")]
            ancestors = {".".join(name.split(".")[:depth]) for depth in range(1, name.count(".") + 1)}
            for target in targets:
                # importing a.b.c runs a/__init__ and a/b/__init__ first, unless they are the importer's own packages
                # (whose `__init__` is already running)
                parts = target.split(".")
                for depth in range(1, len(parts) + 1):
                    dependency = ".".join(parts[:depth])
                    if dependency in modules and dependency != name and dependency not in ancestors:
                        graph[name].add(dependency)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "trl_entropy.hook.trainer" in graph["trl_entropy.paec.trainer"]  # the graph is the package's
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" <-> ".join(cycle) for cycle in found)


def test_the_hook_knows_no_method():
    graph = import_graph()
    hook = [name for name in graph if name.startswith("trl_entropy.hook")]
    reached, todo = set(), list(hook)
    while todo:
        for dependency in graph[todo.pop()]:
            if dependency not in reached:
                reached.add(dependency)
                todo.append(dependency)
    methods = ("entropy_advantage", "ppl_shaping", "position_shaping", "paec", "sent", "covariance", "ppo")
    assert not [name for name in reached if name.split(".")[1] in methods]
