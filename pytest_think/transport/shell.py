"""A shell on the board: an argument list in, its exit status and output out.

The SSH transport and the serial console both implement `Shell`, so code that only needs to
run commands (reading sysfs, a family's tools) works over either. Commands are always built
from argument lists and quoted here, so a remote path with spaces or shell metacharacters
reaches the board as one argument.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pytest_think.errors import RemoteCommandError


def quote(argv: Sequence[str]) -> str:
    return shlex.join(str(a) for a in argv)


@dataclass
class CommandResult:
    command: str
    exit_status: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")

    def check(self, where: str) -> CommandResult:
        if self.exit_status != 0:
            detail = self.err.strip().splitlines()[-1:] or [f"exit status {self.exit_status}"]
            raise RemoteCommandError(
                f"`{self.command}` failed on {where} (exit {self.exit_status}): {detail[0]}"
            )
        return self


class Shell(Protocol):
    """Runs commands on the board."""

    @property
    def where(self) -> str:
        """The board and endpoint, as error messages name them."""
        ...

    def run(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        """Run `argv` to completion; RemoteCommandError when it outlives `timeout`."""
        ...
