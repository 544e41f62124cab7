"""The twin's SFTP server: the board's filesystem as an OpenSSH board serves it.

Relative paths start at the user's home (``scp f board:`` lands in ``~``, as sshd's
``sftp-server`` has it), and a session that ends well ends with exit status 0, which OpenSSH's
``scp`` and ``sftp`` take as the copy having worked.
"""

from __future__ import annotations

import posixpath
from typing import Any

import asyncssh

from pytest_think.emulator.sandbox import Sandbox

__all__ = ["TwinSFTPServer"]


class TwinSFTPServer(asyncssh.SFTPServer):
    def __init__(self, chan: Any, sandbox: Sandbox) -> None:
        super().__init__(chan, chroot=str(sandbox.root).encode())
        self.home = sandbox.home.encode()

    def map_path(self, path: bytes) -> bytes:
        if not path.startswith(b"/"):
            path = posixpath.join(self.home, path)
        mapped: bytes = super().map_path(path)
        return mapped

    def exit(self) -> None:
        # asyncssh closes the channel without a status, which scp reports as a failure.
        self.channel.exit(0)
