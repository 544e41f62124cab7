"""labgrid, imported on first use: the one line a user without it gets."""

from __future__ import annotations

import importlib
from types import ModuleType

from pytest_think.errors import FarmError
from pytest_think.farm import INSTALL_HINT

__all__ = ["require"]


def require(module: str, why: str) -> ModuleType:
    """labgrid's `module`; without labgrid one FarmError line saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in ("labgrid", "grpc", "google"):
            raise
        raise FarmError(f"{why} needs labgrid, which is not installed: {INSTALL_HINT}") from None
