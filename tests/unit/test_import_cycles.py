"""No import cycle among the modules under `services/` and `infra/`.

The rule, read from the source with `ast` (nothing is imported):
- every `import a.b` and `from a import b` counts, wherever it stands: at module level, inside a
  function or a class. An import deferred into a function still ties the two modules together
  (and hiding a cycle that way is how one got into `infra/`); only imports under
  `if TYPE_CHECKING:`, which never run, are left out;
- `from a import b` is an import of the module `a.b` when there is one (b is a submodule), and of
  `a` otherwise; relative imports are resolved against the importing module;
- importing `a.b` is not counted as importing the package `a` as well, although Python runs
  `a/__init__.py` first: otherwise every package whose `__init__` re-exports its modules' names
  (grpc_context, the registry worker) would be a cycle by construction.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "infra")


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in the tree except those under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for other in node.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from _imports(node)


def _imported(name: str, path: Path, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level:
        # The package a relative import starts from: the module's own for an __init__.py.
        base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, *([node.module] if node.module else [])])
    else:
        source = node.module or ""
    found = set()
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        if submodule in modules:
            found.add(submodule)
        elif source in modules:
            found.add(source)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = {m for node in _imports(tree) for m in _imported(name, path, node, modules)} - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_graph_sees_imports_of_every_kind() -> None:
    """The rule's cases, on modules known to have them: a function-level import, a submodule
    imported with `from package import module`, and a re-exporting package."""
    graph = import_graph()
    # `from services.common.handoff import domain as d`: the submodule, not the package.
    assert "services.common.handoff.domain" in graph["services.common.handoff.projections"]
    assert "services.common.handoff" not in graph["services.common.handoff.projections"]
    assert "services.common.registry.worker.app" in graph["services.common.registry.worker.cli"]
    assert "services.common.grpc_context.server" in graph["services.common.grpc_context"]
    assert "services.common.registry.worker.person_store" in graph["services.stack.registry_store"]  # inside a function


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle_in_services_or_infra() -> None:
    graph = import_graph()
    found = cycles(graph)
    described = [
        " / ".join(f"{m} -> {sorted(graph[m] & set(component))}" for m in component) for component in found
    ]
    assert not found, "import cycles:\n" + "\n".join(described)
