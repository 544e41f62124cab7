"""Plug-ins found through entry points (families, meter drivers), loaded with one line when
the installed package that names one cannot be imported."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

from pytest_think.errors import BoardConfigError

__all__ = ["load_entry_point"]


def load_entry_point(entry: EntryPoint, where: str) -> Any:
    """What `entry` names; BoardConfigError "`where`: … does not load: …" when its module is
    broken (an import error, a missing dependency, a misspelt object)."""
    try:
        return entry.load()
    except Exception as exc:  # whatever a third-party module raises on import
        dist = f" (package {entry.dist.name})" if entry.dist is not None else ""
        raise BoardConfigError(
            f"{where}: '{entry.name}' is installed{dist} but does not load: "
            f"{type(exc).__name__}: {exc}; reinstall it or fix its entry point {entry.value}"
        ) from None
