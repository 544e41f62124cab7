"""Twins' native parts (native/*.c): compiled once per source version into the cache."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from pytest_think.errors import TwinError
from pytest_think.hashing import cache_file

__all__ = ["NATIVE", "build"]

NATIVE = Path(__file__).resolve().parent / "families" / "native"


def build(source: str, target: str, what: str, flags: tuple[str, ...] = ()) -> Path:
    """native/`source` compiled with `flags` into the cache as `target` (the file's name);
    `what` names it in errors ("the Edge TPU twin delegate")."""
    path = NATIVE / source
    digest = hashlib.sha256(path.read_bytes() + " ".join(flags).encode()).hexdigest()[:16]
    built = cache_file().parent / f"{path.stem}-{digest}" / target
    if built.is_file():
        return built
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise TwinError(f"{what} needs a C compiler (cc or gcc) to be built")
    built.parent.mkdir(parents=True, exist_ok=True)
    partial = built.with_suffix(f".{os.getpid()}.part")
    result = subprocess.run(
        [compiler, *flags, "-O2", "-o", str(partial), str(path)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise TwinError(f"building {what} failed: {result.stderr.strip()}")
    partial.replace(built)
    return built
