"""The boards of a pytest session: each resolved, reached, connected and given a device once.

A board is opened on first use and kept for the session, however many tests use it. A board
that cannot be reached or opened is remembered with its error, so every later test on it fails
at once with the same reason. `close()` closes connections, then gives the endpoints back.

The session's own boards (`keep`) are found by name; of those, a process opens only the ones
it holds (an xdist worker holds one), so that no board is ever reached by two processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_think.boards import BoardConfig, find_board
from pytest_think.connection import Board
from pytest_think.device import Device
from pytest_think.errors import HostKeyError, LinkError, LoginRefused, ThinkError
from pytest_think.families import open_board
from pytest_think.private_dirs import PrivateDir
from pytest_think.pytest.endpoints import EndpointProvider, Reached
from pytest_think.pytest.results import board_json

# Which provider reaches a board (None: its board file's endpoints, as they are).
ProviderFor = Callable[[BoardConfig, bool], EndpointProvider | None]


@dataclass
class SessionBoard:
    """One board as the session holds it: how it was reached, its connection, its device."""

    spec: str
    connection: Board
    reached: Reached | None = None
    _device: Device | None = None
    down: str | None = None  # why a hung board could not be brought back (its tests stop)

    @property
    def device(self) -> Device:
        if self._device is None:
            self._device = Device(self.connection)
        return self._device

    @property
    def opened_device(self) -> Device | None:
        """The device, if a test asked for it (the agent and meter are then known)."""
        return self._device

    def as_json(self) -> dict[str, Any]:
        """The board's entry in the results JSON."""
        config = self.connection.config
        agent = self._device.agent_identity if self._device is not None else None
        facts = self.reached.facts if self.reached is not None else None
        return board_json(
            self.connection, config.name, config.family, self.connection.emulated, agent, facts
        )

    def close(self) -> None:
        try:
            if self._device is not None:
                self._device.close()
            self.connection.close()
        finally:
            if self.reached is not None:
                self.reached.close()


class SessionBoards:
    def __init__(self, dirs: list[Path], provider_for: ProviderFor) -> None:
        self.dirs = dirs
        self.provider_for = provider_for
        self._open: dict[tuple[str, bool], SessionBoard] = {}
        self._failed: dict[tuple[str, bool], ThinkError] = {}
        self._state_dir: PrivateDir | None = None
        self._kept: dict[str, BoardConfig] = {}
        self._held: set[str] = set()

    def keep(self, boards: list[BoardConfig], held: list[str]) -> None:
        """The session's boards, found by name from now on; only `held` ones are opened."""
        self._kept = {b.name: b for b in boards}
        self._held = set(held)

    def resolve(self, spec: str) -> BoardConfig:
        return self._kept.get(spec) or find_board(spec, self.dirs)

    def get(self, spec: str, emulate: bool) -> SessionBoard:
        """The board `spec` (reached through its provider when `emulate` asks for one)."""
        key = (spec, emulate)
        if key in self._failed:
            raise self._failed[key]
        if key not in self._open:
            try:
                self._open[key] = self._open_board(spec, emulate)
            except ThinkError as exc:
                self._failed[key] = exc
                raise
        return self._open[key]

    def _open_board(self, spec: str, emulate: bool) -> SessionBoard:
        config = self.resolve(spec)
        if config.name in self._kept and config.name not in self._held:
            raise ThinkError(
                f"board '{config.name}' is held by another pytest-xdist worker; this one holds "
                f"{', '.join(sorted(self._held))} (tests of a board run where it is held)"
            )
        provider = self.provider_for(config, emulate)
        if provider is None:
            try:
                return SessionBoard(spec, open_board(config, emulated=False))
            except (HostKeyError, LoginRefused):
                raise  # reached: what answered is not what the file says
            except LinkError as exc:
                if config.twin is None:
                    raise
                raise LinkError(
                    f"{exc}; board '{config.name}' has a twin section: --emulate runs the "
                    "tests on its digital twin"
                ) from None
        reached = provider.reach(config, self._state() / config.name)
        try:
            return SessionBoard(spec, open_board(reached.config, reached.emulated), reached)
        except BaseException:
            reached.close()
            raise

    def _state(self) -> Path:
        """Where endpoints keep their state (twins' keys): removed on every exit path."""
        if self._state_dir is None:
            self._state_dir = PrivateDir.make("think-")
        return self._state_dir.path

    def opened(self) -> dict[tuple[str, bool], SessionBoard]:
        """Every board a test used, by (spec, emulate), in the order they were opened."""
        return dict(self._open)

    def opened_by_name(self) -> dict[str, SessionBoard]:
        """Every board a test used, by board name."""
        return {b.connection.config.name: b for b in self._open.values()}

    def close(self) -> None:
        try:
            for board in self._open.values():
                board.close()
        finally:
            self._open.clear()
            if self._state_dir is not None:
                self._state_dir.remove()
                self._state_dir = None
