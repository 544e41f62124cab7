"""Directories that hold secrets (twins' private client keys, their boards' files), removed on
every exit path of the process that made them.

The owner removes the directory when it closes it (a session's normal end, Ctrl-C, SIGTERM
turned into an interruption). For the paths where the owner cannot (pytest-timeout's
``os._exit``, SIGKILL, a crash), a small guard process, started with the directory and in a
session of its own (a Ctrl-C to the terminal's process group does not reach it), holds a pipe
from the owner: when the pipe closes, whoever closed it, the guard removes the directory —
retrying while the twins, which stop when their own pipe closes, finish writing in it.

    private = PrivateDir.make("think-")      # or PrivateDir.guard(existing_directory)
    ...
    private.remove()
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["GUARD", "PrivateDir"]

# The guard, run as a plain script (`python -I -S guard.py DIR`): no package import.
GUARD = Path(__file__).resolve().parent / "private_dir_guard.py"


class PrivateDir:
    """A directory removed by `remove()`, or by its guard when this process dies first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._guard: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", "-S", str(GUARD), str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    @classmethod
    def make(cls, prefix: str) -> PrivateDir:
        """A new directory (mode 0700) in the temporary directory (TMPDIR)."""
        return cls(Path(tempfile.mkdtemp(prefix=prefix)))

    @classmethod
    def guard(cls, path: Path) -> PrivateDir:
        """`path` (made if absent) as a private directory."""
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return cls(path)

    def remove(self) -> None:
        """The directory removed; the guard told and waited for."""
        shutil.rmtree(self.path, ignore_errors=True)
        guard, self._guard = self._guard, None
        if guard is None:
            return
        if guard.stdin is not None:
            guard.stdin.close()
        try:
            guard.wait(10.0)
        except subprocess.TimeoutExpired:
            guard.kill()
            guard.wait()

    def __enter__(self) -> PrivateDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
