"""The session object in config.stash: the options, the session's boards, its results.

``think_session(config)`` is the typed way to it, for fixtures and for other plug-ins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_think import emulation
from pytest_think.boards import BoardConfig, board_dirs
from pytest_think.checks import check_board
from pytest_think.farm.provider import places_provider
from pytest_think.pytest.endpoints import EndpointProvider
from pytest_think.pytest.recording import ResultsRecorder
from pytest_think.pytest.results import board_json
from pytest_think.pytest.session_boards import SessionBoard, SessionBoards
from pytest_think.report import allure_report

DEFAULT_BOARD = "sim"
SESSION_KEY = pytest.StashKey["ThinkSession"]()


class ThinkSession:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        # --board may be given several times; THINK_BOARD may list boards separated by commas.
        env_boards = [b for b in os.environ.get("THINK_BOARD", "").split(",") if b.strip()]
        self.board_specs: list[str] = (
            list(config.getoption("--board") or []) or env_boards or [DEFAULT_BOARD]
        )
        self.board_spec: str = self.board_specs[0]
        self.emulate: bool = bool(config.getoption("--emulate"))
        json_path = config.getoption("--think-json")
        self.json_path = Path(json_path) if json_path else None
        self.boards = SessionBoards(
            board_dirs(config.rootpath, config.getoption("--board-dir")), self._provider_for
        )
        self.board = self.boards.resolve(self.board_spec)
        check_board(self.board)  # an unknown family, a bad option stops the run now
        self.results = ResultsRecorder(self.json_path)

    def _provider_for(self, board: BoardConfig, emulate: bool) -> EndpointProvider | None:
        if emulation.emulated(board, emulate):
            return emulation.twin_provider(self.config)
        if board.labgrid is not None:
            return places_provider(self.config)
        return None

    def path(self, path: str | Path) -> Path:
        """A model, vector or design path: relative paths start at the rootdir."""
        p = Path(path)
        return p if p.is_absolute() else self.config.rootpath / p

    def board_for(self, spec: str, emulate: bool) -> SessionBoard:
        return self.boards.get(spec, emulate)

    @property
    def target(self) -> str:
        """What the session's board is: the hardware, or its digital twin."""
        return emulation.target(self.board, self.emulate)

    def board_documents(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The session's board and every board a test used, as the results JSON shows them."""
        opened = self.boards.opened()
        used = [board.as_json() for board in opened.values()]
        mine = opened.get((self.board_spec, self.emulate))
        if mine is not None:
            return mine.as_json(), used
        b = self.board
        return board_json(None, b.name, b.family, emulation.emulated(b, self.emulate)), used

    def environment(self, board: dict[str, Any]) -> dict[str, Any]:
        """Allure's environment.properties for the session whose board is `board`."""
        opened = self.boards.opened()
        designs = [f["sha256"] for r in self.results.records for f in r.flashes]
        devices = [b.opened_device for b in opened.values()]
        meters = [d.meter_identity for d in devices if d is not None and d.meter_identity]
        mine = opened.get((self.board_spec, self.emulate))
        reached = mine.reached.facts if mine is not None and mine.reached is not None else None
        return allure_report.environment(board, designs, meters, reached)

    def close(self) -> None:
        self.boards.close()


def think_session(config: pytest.Config) -> ThinkSession:
    """The pytest-think session of `config` (set up by the plugin's pytest_configure)."""
    return config.stash[SESSION_KEY]
