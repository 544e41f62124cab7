"""pytest-think: Testing Hardware Independent Neural Kernels.

The names tests type-hint with, e.g. ``def test_x(dut: Dut, reference: ReferenceChecker)``.
They are imported on first use, so that importing the package stays cheap (the twins' own
processes import it too).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pytest_think.boards import BoardConfig
    from pytest_think.capabilities import NotCapable
    from pytest_think.checking import CompareReport
    from pytest_think.connection import Board
    from pytest_think.device import Device, Run
    from pytest_think.errors import ThinkError
    from pytest_think.flashing import FlashReport
    from pytest_think.pool import PoolRun
    from pytest_think.power.energy import EnergyReport
    from pytest_think.pytest.dut import Dut
    from pytest_think.pytest.energy import EnergyInvalid, EnergyMeasurer
    from pytest_think.pytest.fixtures import ReferenceChecker, TableRecorder
    from pytest_think.pytest.pool import DutPool
    from pytest_think.transport.console import SerialConsole
    from pytest_think.vectors import VectorSet

# Public name -> the module that defines it.
_EXPORTS = {
    "Board": "pytest_think.connection",
    "BoardConfig": "pytest_think.boards",
    "CompareReport": "pytest_think.checking",
    "Device": "pytest_think.device",
    "Dut": "pytest_think.pytest.dut",
    "DutPool": "pytest_think.pytest.pool",
    "EnergyInvalid": "pytest_think.pytest.energy",
    "EnergyMeasurer": "pytest_think.pytest.energy",
    "EnergyReport": "pytest_think.power.energy",
    "FlashReport": "pytest_think.flashing",
    "NotCapable": "pytest_think.capabilities",
    "PoolRun": "pytest_think.pool",
    "ReferenceChecker": "pytest_think.pytest.fixtures",
    "Run": "pytest_think.device",
    "SerialConsole": "pytest_think.transport.console",
    "TableRecorder": "pytest_think.pytest.fixtures",
    "ThinkError": "pytest_think.errors",
    "VectorSet": "pytest_think.vectors",
}

__all__ = [
    "Board",
    "BoardConfig",
    "CompareReport",
    "Device",
    "Dut",
    "DutPool",
    "EnergyInvalid",
    "EnergyMeasurer",
    "EnergyReport",
    "FlashReport",
    "NotCapable",
    "PoolRun",
    "ReferenceChecker",
    "Run",
    "SerialConsole",
    "TableRecorder",
    "ThinkError",
    "VectorSet",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_think' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
