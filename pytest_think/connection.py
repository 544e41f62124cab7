"""A connected board: its board file, its family, its SSH transport and console, its identity.

`Board` is the session's link to one board, opened once however many tests use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_think.boards import BoardConfig
from pytest_think.errors import LinkError
from pytest_think.families import Family, load_family
from pytest_think.transport.console import SerialConsole
from pytest_think.transport.ssh import SshTransport


@dataclass
class Board:
    config: BoardConfig
    emulated: bool
    family: Family
    ssh: SshTransport | None  # None: a board reached only over its serial line
    identity: dict[str, Any]
    _console: SerialConsole | None = None

    @classmethod
    def open(cls, board: BoardConfig, emulated: bool) -> Board:
        family = load_family(board)
        ssh = SshTransport(board.ssh, board.name).connect() if board.ssh else None
        try:
            # Bring the board to the state its file asks for (power mode …), then describe it.
            family.prepare(board, ssh)
            identity = family.identify(board, ssh)
        except Exception:
            if ssh is not None:
                ssh.close()
            raise
        return cls(board, emulated, family, ssh, identity)

    @property
    def transport(self) -> SshTransport:
        """The SSH transport; an error for boards that have none."""
        if self.ssh is None:
            raise LinkError(f"board '{self.config.name}' has no SSH access (serial only)")
        return self.ssh

    @property
    def console(self) -> SerialConsole:
        """The board's serial console, opened on first use (its capture starts then)."""
        if self.config.console is None:
            raise LinkError(
                f"board '{self.config.name}' has no 'console' section in {self.config.source}"
            )
        if self._console is None:
            self._console = SerialConsole(self.config.console, self.config.name)
        return self._console

    def close(self) -> None:
        if self._console is not None:
            self._console.close()
        if self.ssh is not None:
            self.ssh.close()
