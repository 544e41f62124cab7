"""Microcontrollers and soft-cores on a UART: the firmware speaks the frame protocol itself.

Nothing is uploaded: the firmware holds its models, and LOAD names one by file name. The
link is a serial port (`serial:` in the board file), resynchronised and retransmitted over.
Such a board can run models and nothing else: no shell, no designs to flash (yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_think.boards import BoardConfig, SerialConfig
from pytest_think.capabilities import Capabilities
from pytest_think.connection import Board
from pytest_think.errors import BoardConfigError, LinkError
from pytest_think.families import family_options
from pytest_think.families.generic import NoOptions
from pytest_think.transport.console_watch import ConsoleAlarm
from pytest_think.transport.link import Link
from pytest_think.transport.serial import SerialLink


class FirmwareAgent:
    """The firmware is the agent: reaching it is opening its serial line."""

    def __init__(self, serial: SerialConfig) -> None:
        self.serial = serial

    def start_agent(self) -> Link:
        serial = self.serial
        if serial.url is None:  # a board file's labgrid place gives it (pytest_think.farm)
            raise LinkError("no serial port to open (the board file's 'serial.url')")
        return SerialLink(
            serial.url,
            serial.baud,
            frame_bytes=serial.frame_bytes,
            frame_bytes_range=serial.frame_bytes_range,
        )

    def deploy_model(self, model: Path, sha256: str, data: Sequence[str] = ()) -> str:
        return model.name  # built into the firmware; the agent says no_model if it is not


class MicrocontrollerFamily:
    name = "mcu-uart"

    def check_options(self, config: BoardConfig) -> None:
        family_options(NoOptions, config, self.name)
        if config.serial is None:
            raise BoardConfigError(
                f"board file {config.source or config.name}: field 'serial': family mcu-uart "
                "needs the serial line its firmware listens on"
            )

    def bind(self, board: Board) -> Capabilities:
        assert board.config.serial is not None  # check_options saw to it
        return Capabilities(agent=FirmwareAgent(board.config.serial))

    def prepare(self, board: Board) -> None:
        """The firmware needs no set-up from the host."""

    def console_alarms(self) -> tuple[ConsoleAlarm, ...]:
        """No kernel: nothing on a console fails a test."""
        return ()

    def identify(self, board: Board) -> dict[str, Any]:
        # What the firmware is comes in its HELLO; here, only how it is reached.
        serial = board.config.serial
        assert serial is not None
        return {"serial": serial.url, "baud": serial.baud}
