"""Microcontrollers and soft-cores on a UART: the firmware speaks the frame protocol itself.

Nothing is uploaded: the firmware holds its models, and LOAD names one by file name. The
link is a serial port (`serial:` in the board file), resynchronised and retransmitted over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_think.boards import BoardConfig
from pytest_think.designs import Design
from pytest_think.errors import BoardConfigError, FlashError
from pytest_think.families.generic import GenericLinuxFamily
from pytest_think.transport.link import Link
from pytest_think.transport.serial import SerialLink
from pytest_think.transport.ssh import SshTransport


class MicrocontrollerFamily(GenericLinuxFamily):
    name = "mcu-uart"

    def check_options(self, board: BoardConfig) -> None:
        super().check_options(board)
        if board.serial is None:
            raise BoardConfigError(
                f"board file {board.source or board.name}: field 'serial': family mcu-uart "
                "needs the serial line its firmware listens on"
            )

    def prepare(self, board: BoardConfig, transport: SshTransport | None) -> None:
        """The firmware needs no set-up from the host."""

    def identify(self, board: BoardConfig, transport: SshTransport | None) -> dict[str, Any]:
        # What the firmware is comes in its HELLO; here, only how it is reached.
        assert board.serial is not None
        return {"serial": board.serial.url, "baud": board.serial.baud}

    def start_agent(self, board: BoardConfig, ssh: SshTransport | None) -> Link:
        assert board.serial is not None
        serial = board.serial
        return SerialLink(serial.url, serial.baud, frame_bytes=serial.frame_bytes)

    def deploy_model(
        self, board: BoardConfig, ssh: SshTransport | None, model: Path, sha: str
    ) -> str:
        return model.name  # built into the firmware; the agent says no_model if it is not

    def flash(self, board: BoardConfig, transport: SshTransport, design: Design) -> list[str]:
        raise FlashError(f"flashing firmware onto board '{board.name}' is not supported yet")

    def design_active(self, board: BoardConfig, transport: SshTransport) -> bool:
        return False
