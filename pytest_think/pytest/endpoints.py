"""How the session reaches a board whose endpoints are not in its board file.

A provider changes only endpoints: it returns the board file rewired to where the board can be
reached now (a twin on 127.0.0.1, a reserved lab place …), and releases it at session end.

With several boards (pytest-xdist), the controller asks the provider which boards a board file
stands for (`expand`) and hands each worker one of them; the worker reaches it. When a worker
dies holding a board, the controller gives it back (`release_orphan`) before a replacement
takes it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from pytest_think.boards import BoardConfig


class Reached(Protocol):
    """A board as a provider made it reachable."""

    @property
    def config(self) -> BoardConfig:
        """The board file with the endpoints to use."""

    @property
    def emulated(self) -> bool:
        """True when what answers is a digital twin rather than the hardware."""

    @property
    def facts(self) -> dict[str, Any]:
        """What reports say about how the board was reached (the `target` …)."""

    def close(self) -> None:
        """Give the endpoints back (stop the twin, release the place)."""


class EndpointProvider(Protocol):
    def expand(self, config: BoardConfig) -> list[BoardConfig]:
        """The boards `config` stands for, each with a distinct `name` (a filter matching
        three places: three boards); ``[config]`` for a board file that is one board."""

    def reach(self, config: BoardConfig, state_dir: Path) -> Reached:
        """Make `config`'s board reachable; `state_dir` is the provider's own to write in."""

    def release_orphan(self, config: BoardConfig) -> None:
        """Give back `config`'s board, reached by a process that died without closing it."""
