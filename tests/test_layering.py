"""Which product modules import what: the emulator only through pytest_think.emulation, and
no circles (type-only imports count: a circle for type hints is still a circle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_think

PACKAGE = Path(pytest_think.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, and for `from m import n` also `m.n` (a submodule, maybe)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _module(path: Path) -> str:
    parts = path.with_suffix("").relative_to(PACKAGE.parent).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_only_the_emulation_module_imports_the_emulator() -> None:
    importers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if PACKAGE / "emulator" not in path.parents
        and any(name.startswith("pytest_think.emulator") for name in _imports(path))
    )
    assert importers == ["emulation.py"]


def test_importing_the_package_imports_none_of_its_modules() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pytest_think; "
        "print(sorted(m for m in sys.modules if m.startswith('pytest_think.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_product_modules_import_in_layers_without_circles() -> None:
    # The package root is a lazy facade over the rest; the twins are the other side.
    paths = {
        _module(p): p
        for p in PACKAGE.rglob("*.py")
        if p != PACKAGE / "__init__.py" and PACKAGE / "emulator" not in p.parents
    }
    graph = {m: {n for n in _imports(p) if n in paths and n != m} for m, p in paths.items()}
    circles = []
    for start in graph:  # depth-first from each module back to itself
        stack, seen = [(start, [start])], set()
        while stack:
            module, path = stack.pop()
            for nxt in graph[module]:
                if nxt == start:
                    circles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert circles == []
