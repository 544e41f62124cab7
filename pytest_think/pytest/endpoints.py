"""How the session reaches a board whose endpoints are not in its board file.

A provider changes only endpoints: it returns the board file rewired to where the board can be
reached now (a twin on 127.0.0.1, a reserved lab place …), and releases it at session end.
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
    def reach(self, config: BoardConfig, state_dir: Path) -> Reached:
        """Make `config`'s board reachable; `state_dir` is the provider's own to write in."""
