"""Which product modules import what: the emulator only through pytest_think.emulation."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest_think

PACKAGE = Path(pytest_think.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


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
