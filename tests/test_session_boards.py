"""The session's boards: reached through a provider, opened once, failures remembered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_think.boards import PACKAGED_BOARDS, BoardConfig
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.errors import ThinkError
from pytest_think.pytest.session_boards import SessionBoards


class Place:
    """A provider's Reached: the board at another address, released on close."""

    emulated = False

    def __init__(self, config: BoardConfig) -> None:
        self.config = config
        self.facts: dict[str, Any] = {"target": "hardware", "place": "bench-1"}
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Provider:
    def __init__(self, rewire: Any) -> None:
        self.rewire = rewire
        self.reached: list[Place] = []

    def reach(self, config: BoardConfig, state_dir: Path) -> Place:
        place = Place(self.rewire(config))
        self.reached.append(place)
        return place


def test_a_board_is_reached_and_opened_once_and_released_at_the_end(
    sim_twin: TwinProcess,
) -> None:
    provider = Provider(sim_twin.board)
    boards = SessionBoards([PACKAGED_BOARDS], lambda config, emulate: provider)
    first = boards.get("sim", False)
    assert boards.get("sim", False) is first and len(provider.reached) == 1
    assert first.connection.identity and first.reached is provider.reached[0]
    assert first.as_json()["twin"] is False  # what the provider said, not the board file
    assert first.as_json()["facts"] == {"target": "hardware", "place": "bench-1"}
    boards.close()
    assert provider.reached[0].closed


def test_a_failure_is_remembered_and_the_endpoints_given_back(closed_port: int) -> None:
    def nowhere(config: BoardConfig) -> BoardConfig:
        return config.with_endpoint(
            host="127.0.0.1",
            port=closed_port,
            user="think",
            key_file=Path("/nonexistent"),
            host_key="SHA256:" + "A" * 43,
        )

    provider = Provider(nowhere)
    boards = SessionBoards([PACKAGED_BOARDS], lambda config, emulate: provider)
    with pytest.raises(ThinkError) as first:
        boards.get("sim", True)
    assert provider.reached[0].closed
    with pytest.raises(ThinkError) as again:
        boards.get("sim", True)
    assert again.value is first.value and len(provider.reached) == 1
    boards.close()
