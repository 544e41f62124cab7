"""The twin's filesystem: a directory on the host that stands for the board's root.

Every path a client names is mapped inside it; a path that would escape it (``..``, a symlink
out) is treated as absent, the way a chrooted board would see it.
"""

from __future__ import annotations

import posixpath
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_think.boards import BoardConfig

if TYPE_CHECKING:
    from pytest_think.emulator.config import TwinConfig


class Sandbox:
    def __init__(self, root: Path, home: str) -> None:
        self.root = root.resolve()
        self.home = home

    @classmethod
    def create(
        cls, root: Path, board: BoardConfig, twin: TwinConfig, kernel: str, machine: str
    ) -> Sandbox:
        """Lay out a fresh board root: /etc identity files, the user's home, /tmp."""
        if root.exists():
            shutil.rmtree(root)
        user = board.ssh.user if board.ssh else "root"
        sandbox = cls(root.resolve(), f"/home/{user}")
        hostname = twin.hostname or board.name
        os_release = twin.os_release or f'PRETTY_NAME="{board.name} twin"'
        for d in ("etc", "tmp", sandbox.home.lstrip("/")):
            (sandbox.root / d).mkdir(parents=True, exist_ok=True)
        (sandbox.root / "etc" / "hostname").write_text(hostname + "\n")
        (sandbox.root / "etc" / "os-release").write_text(os_release.rstrip("\n") + "\n")
        (sandbox.root / "proc").mkdir()
        (sandbox.root / "proc" / "version").write_text(f"Linux version {kernel} ({machine})\n")
        return sandbox

    def board_path(self, path: str) -> str:
        """Normalise a client path to an absolute board path (relative paths start at home)."""
        if not path.startswith("/"):
            path = posixpath.join(self.home, path)
        return posixpath.normpath(path)

    def host_path(self, path: str) -> Path | None:
        """The host file behind a board path, or None if it would leave the sandbox."""
        candidate = (self.root / self.board_path(path).lstrip("/")).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            return None
        return candidate
