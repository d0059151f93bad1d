"""The rules that keep the code base clean, checked on the source itself."""

from __future__ import annotations

import ast
import dataclasses
import graphlib
from pathlib import Path

import pytest

import lakehouse.results as results

SRC = Path(__file__).resolve().parents[1] / "src" / "lakehouse"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules `path` imports (at any depth of the file: lazy imports count too)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name and not name.startswith(t + "."):  # a package's own __init__ is not a cycle
                out.add(t)
    return out


def import_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of the import graph, its first module repeated at the end; [] when there is none."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return []


def project_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, package faces left out."""
    mods = modules()
    graph = {n: imports_of(p, n, set(mods)) for n, p in mods.items()}
    # A package __init__ that only re-exports is a face, not a room: it does not close cycles.
    faces = {n for n, p in mods.items() if p.name == "__init__.py"}
    return {n: {d for d in deps if d not in faces} for n, deps in graph.items() if n not in faces}


def test_no_import_cycles() -> None:
    graph = project_graph()
    assert graph.get("lakehouse.service"), "the graph has no edges: nothing was checked"
    cycle = import_cycle(graph)
    assert cycle == [], f"import cycle: {' -> '.join(cycle)}"


def test_the_cycle_check_finds_a_cycle() -> None:
    cycle = import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert set(cycle) == {"a", "b", "c"} and cycle[0] == cycle[-1] and len(cycle) == 4
    assert import_cycle({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_small(name: str) -> None:
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (> {MAX_LINES}): split it by concern"


def test_init_modules_only_re_export() -> None:
    for name, path in modules().items():
        if path.name != "__init__.py":
            continue
        tree = ast.parse(path.read_text())
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)]
        assert not defs, f"{name}/__init__.py defines {[d.name for d in defs]}: move them to a module"


def test_only_storage_imports_deltalake() -> None:
    offenders = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            mod = node.module if isinstance(node, ast.ImportFrom) else None
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            uses = (mod or "").split(".")[0] == "deltalake" or any(n.split(".")[0] == "deltalake" for n in names)
            if uses and not name.startswith("lakehouse.storage"):
                offenders.append(name)
    assert not offenders


def test_results_are_typed_not_loose_dicts() -> None:
    loose = []
    for obj in vars(results).values():
        if isinstance(obj, type) and dataclasses.is_dataclass(obj):
            for f in dataclasses.fields(obj):
                if "dict[str, Any]" in str(f.type) or str(f.type) in ("dict", "Any"):
                    loose.append(f"{obj.__name__}.{f.name}")
    assert not loose, f"untyped result fields: {loose}"
