"""Hooks of pytest-think that other plug-ins implement (added with pluginmanager.add_hookspecs).

A plug-in that knows more about a measurement than the product does (a twin knows the true
energy of each window) adds it to the record, so the results JSON carries it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_think.connection import Board
    from pytest_think.power.energy import EnergyReport


@pytest.hookspec
def pytest_think_energy_measured(board: Board, report: EnergyReport) -> dict[str, Any] | None:
    """Fields to add to the energy record of `report`, measured on `board`; None for none.

    Called once per ``energy.measure``, before the record is written and before an invalid
    measurement fails the test."""
