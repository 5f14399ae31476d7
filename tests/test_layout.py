"""The package layout is the pipeline (docs/LAYOUT.md): each stage imports
only earlier stages, no two modules import each other (directly or round a
longer loop, lazy imports included), and every stage says what it is."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> the package it ships as (pyproject.toml's package-dir)
SOURCES = {"mbmicro": "mbmicro", "codegen": "mbmicro.codegen", "targets": "mbmicro.targets"}
#: stages in import order: a stage may import the ones before it, never after
STAGES = ["root", "graph", "reference", "models", "quant", "formats", "targets", "codegen", "sim", "tune"]
#: these compose the stages and may import any of them
FREE = {"commands", "pipeline", "cli", "__main__"}


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *rel))
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """mbmicro modules ``path`` imports anywhere in its body (resolved to modules, not names)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mbmicro") and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("mbmicro"))
    out.discard(name)
    return out


def stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("errors", "processes", "progress", "units", "__init__"):
        return "root"
    return parts[1]


GRAPH = {name: imports_of(path, name, set(modules())) for name, path in modules().items()}


def test_every_module_belongs_to_a_stage():
    unknown = {m for m in GRAPH if stage(m) not in STAGES and stage(m) not in FREE}
    assert not unknown, f"modules outside the pipeline's folders: {sorted(unknown)} (see docs/LAYOUT.md)"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if stage(m) in STAGES))
def test_stage_imports_only_earlier_stages(module):
    mine = STAGES.index(stage(module))
    for dep in GRAPH[module]:
        theirs = stage(dep)
        assert theirs not in FREE and STAGES.index(theirs) <= mine, \
            f"{module} ({stage(module)}) imports {dep} ({theirs}), a later stage"


def test_no_import_cycles():
    seen: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(m: str, path: list[str]) -> None:
        seen[m] = 1
        for dep in sorted(GRAPH.get(m, ())):
            if seen.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in seen:
                visit(dep, path + [dep])
        seen[m] = 2

    for m in sorted(GRAPH):
        if m not in seen:
            visit(m, [m])


@pytest.mark.parametrize("package", sorted(m for m, p in modules().items() if p.name == "__init__.py"))
def test_every_package_says_its_stage(package):
    doc = ast.get_docstring(ast.parse(modules()[package].read_text()))
    assert doc and doc.strip(), f"{package} has no docstring saying which stage it is"
