"""Twins in a pytest session: the endpoint provider of emulated boards, and what twins know.

Registered by pytest_think.emulation when the session first emulates a board. Each board is
reached through a twin process (TwinProcess); the twin's truth log gives each energy record
the true energy per inference of the windows it measured (`twin_truth_mj_per_inference`).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_think.boards import BoardConfig
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.errors import BoardConfigError

if TYPE_CHECKING:
    from pytest_think.connection import Board
    from pytest_think.power.energy import EnergyReport


class TwinReached:
    """A board reached through its running twin."""

    emulated = True

    def __init__(self, twin: TwinProcess, config: BoardConfig) -> None:
        self.twin = twin
        self.config = config
        self.facts: dict[str, Any] = {}  # `target` follows from `emulated`

    def close(self) -> None:
        self.twin.stop()


class TwinEndpoints:
    """The endpoint provider for emulated boards, and a pytest plug-in."""

    def __init__(self) -> None:
        self.reached: list[TwinReached] = []

    def expand(self, config: BoardConfig) -> list[BoardConfig]:
        """A board file is one twin."""
        return [config]

    def release_orphan(self, config: BoardConfig) -> None:
        """Nothing to give back: a twin reads its standard input and stops when the process
        that started it dies."""

    def reach(self, config: BoardConfig, state_dir: Path) -> TwinReached:
        if config.twin is None:
            raise BoardConfigError(
                f"board file {config.source}: board '{config.name}' has no 'twin' section, "
                "so it cannot be emulated; drop --emulate or describe its twin"
            )
        twin = TwinProcess.start(config, state_dir / "twin")
        reached = TwinReached(twin, twin.board(config))
        self.reached.append(reached)
        return reached

    def twin_of(self, board: Board) -> TwinProcess | None:
        return next((r.twin for r in self.reached if r.config is board.config), None)

    @pytest.hookimpl
    def pytest_think_energy_measured(
        self, board: Board, report: EnergyReport
    ) -> dict[str, Any] | None:
        """The twin's true energy per inference (median over the trials), when it logged
        every trial's window."""
        twin = self.twin_of(board)
        if twin is None:
            return None
        truth = {t["start_unix_ns"]: t for t in twin.truth()}
        known = [
            truth[t.start_unix_ns]["mj_per_inference"]
            for t in report.trials
            if t.start_unix_ns in truth
        ]
        if not known or len(known) != len(report.trials):
            return None
        return {"twin_truth_mj_per_inference": statistics.median(known)}
