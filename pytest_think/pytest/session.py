"""The session object in config.stash: the options, the session's boards, its results.

``think_session(config)`` is the typed way to it, for fixtures and for other plug-ins.

The boards of the session are the --board values, each expanded by its endpoint provider (a
farm's tags filter may stand for several places): `campaign`. A process that is not an xdist
worker holds all of them; a worker holds the one the controller handed it (`board_specs`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_think import emulation
from pytest_think.boards import BoardConfig, board_dirs
from pytest_think.checks import check_board
from pytest_think.errors import BoardConfigError
from pytest_think.farm.provider import places_provider
from pytest_think.pytest.campaign import CAMPAIGN, POOL, board_from_payload
from pytest_think.pytest.endpoints import EndpointProvider
from pytest_think.pytest.recording import ResultsRecorder, record_of
from pytest_think.pytest.results import board_json, plain
from pytest_think.pytest.session_boards import SessionBoard, SessionBoards

DEFAULT_BOARD = "sim"
SESSION_KEY = pytest.StashKey["ThinkSession"]()
WORKER_INPUT = "think"  # the key of what the controller hands an xdist worker


def handed_to_worker(config: pytest.Config) -> dict[str, Any] | None:
    """What the xdist controller handed this worker (its board), or None outside a worker."""
    workerinput = getattr(config, "workerinput", None)
    return None if workerinput is None else workerinput.get(WORKER_INPUT)


class ThinkSession:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        # --board may be given several times; THINK_BOARD may list boards separated by commas.
        env_boards = [b for b in os.environ.get("THINK_BOARD", "").split(",") if b.strip()]
        self.requested: list[str] = (
            list(config.getoption("--board") or []) or env_boards or [DEFAULT_BOARD]
        )
        self.emulate: bool = bool(config.getoption("--emulate"))
        self.mode: str = config.getoption("--board-mode") or CAMPAIGN
        json_path = config.getoption("--think-json")
        self.json_path = Path(json_path) if json_path else None
        self.boards = SessionBoards(
            board_dirs(config.rootpath, config.getoption("--board-dir")), self._provider_for
        )
        handed = handed_to_worker(config)
        if handed is None:
            self.campaign = self._expand(self.requested)
            held = [b.name for b in self.campaign]
        else:
            self.campaign = [board_from_payload(p) for p in handed["boards"]]
            held = [handed["board"]]
        for board in self.campaign:
            check_board(board)  # an unknown family, a bad option stops the run now
        self.boards.keep(self.campaign, held)
        # The boards this process holds: every board, or an xdist worker's own.
        self.board_specs: list[str] = held
        self.board_spec: str = held[0]
        self.board = self.boards.resolve(self.board_spec)
        self.results = ResultsRecorder(self.json_path)
        self._pool_turn = 0

    def _provider_for(self, board: BoardConfig, emulate: bool) -> EndpointProvider | None:
        if emulation.emulated(board, emulate):
            return emulation.twin_provider(self.config)
        if board.labgrid is not None:
            return places_provider(self.config)
        return None

    def _expand(self, specs: list[str]) -> list[BoardConfig]:
        """The boards the --board values stand for, each once."""
        given: dict[str, str] = {}
        boards: list[BoardConfig] = []
        for spec in specs:
            config = self.boards.resolve(spec)
            provider = self._provider_for(config, self.emulate)
            for board in provider.expand(config) if provider is not None else [config]:
                if board.name in given:
                    raise BoardConfigError(
                        f"board '{board.name}' is given twice on the command line "
                        f"(--board {given[board.name]} and --board {spec}); give each board once"
                    )
                given[board.name] = spec
                boards.append(board)
        families = sorted({b.family for b in boards})
        if self.mode == POOL and len(families) > 1:
            raise BoardConfigError(
                "--board-mode=pool spreads tests over equivalent boards, but these are of "
                f"families {', '.join(families)}; compare different boards in campaign mode"
            )
        return boards

    @property
    def campaign_names(self) -> list[str]:
        """The boards every test runs on (campaign mode), in --board order."""
        return [b.name for b in self.campaign] if self.mode == CAMPAIGN else []

    def release_orphan(self, name: str) -> None:
        """Give back board `name`, held by a worker that died (through its provider)."""
        config = self.boards.resolve(name)
        provider = self._provider_for(config, self.emulate)
        if provider is not None:
            provider.release_orphan(config)

    def pool_board(self) -> str:
        """Pool mode in one process: the next board in turn."""
        spec = self.board_specs[self._pool_turn % len(self.board_specs)]
        self._pool_turn += 1
        return spec

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

    def header_lines(self) -> list[str]:
        """The session header: every board, and how the boards share the tests."""
        lines = []
        if len(self.campaign) > 1:
            how = (
                "every board runs every test"
                if self.mode == CAMPAIGN
                else "tests spread over equivalent boards"
            )
            lines.append(f"think: {len(self.campaign)} boards, {self.mode} mode ({how})")
        for b in self.campaign:
            target = emulation.target(b, self.emulate)
            lines.append(f"think: board {b.name} (family {b.family}, {target}) from {b.source}")
        return lines

    def board_entry(self, name: str) -> dict[str, Any]:
        """Board `name` as the results JSON shows it (unmet when no test used it here)."""
        opened = self.boards.opened_by_name()
        if name in opened:
            return opened[name].as_json()
        b = self.boards.resolve(name)
        return board_json(None, b.name, b.family, emulation.emulated(b, self.emulate))

    def board_documents(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The session's board and every board of the session or a test used, as the results
        JSON shows them."""
        names = [b.name for b in self.campaign]
        names += [n for n in self.boards.opened_by_name() if n not in names]
        boards = [self.board_entry(n) for n in names]
        return self.board_entry(self.board_spec), boards

    def worker_record(self, item: pytest.Item) -> dict[str, Any]:
        """What an xdist worker sends with a test's last report: the test's record and its
        board's entry (ResultsRecorder.add_worker_test)."""
        test = record_of(item).as_json()
        opened = self.boards.opened_by_name()
        board = opened.get(test.get("board") or "")
        entry = board.as_json() if board is not None else None
        data: dict[str, Any] = plain({"test": test, "board": entry})
        return data

    def worker_output(self) -> dict[str, Any]:
        """What an xdist worker hands the controller at its end: the boards it met."""
        data: dict[str, Any] = plain(
            {"boards": [b.as_json() for b in self.boards.opened_by_name().values()]}
        )
        return data

    def close(self) -> None:
        self.boards.close()


def think_session(config: pytest.Config) -> ThinkSession:
    """The pytest-think session of `config` (set up by the plugin's pytest_configure)."""
    return config.stash[SESSION_KEY]


def ensure_session(config: pytest.Config) -> ThinkSession:
    """The session of `config`, made now if the plug-in's pytest_configure has not yet run
    (xdist asks how many workers to start before it does)."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        session = config.stash[SESSION_KEY] = ThinkSession(config)
    return session
