"""What this user's sessions hold: a record per place, written before the place is acquired
and removed after it is released, so that a place left acquired by a session that died (a
SIGKILL, a power cut) can be told from one a live session holds.

The place's reservation is cancelled once the place is acquired (acquiring is what keeps
others out), so a dead session leaves nothing behind but the acquired place.

Records live under $XDG_STATE_HOME/pytest-think/labgrid (default ~/.local/state/…), one JSON
file per coordinator and place: the holder (labgrid's host/user), the process and when.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Lease", "lease_dir", "read_lease", "release_command", "remove_lease", "write_lease"]


@dataclass(frozen=True)
class Lease:
    coordinator: str
    place: str
    holder: str  # labgrid's host/user
    host: str  # this machine, where `pid` is looked up
    pid: int
    since: float

    def alive(self) -> bool:
        """Whether the session that took the place still runs (only knowable on its host)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _zombie(self.pid)


def _zombie(pid: int) -> bool:
    """A process that has ended but is not reaped yet (a crashed xdist worker, for a while)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def lease_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pytest-think" / "labgrid"


def _path(coordinator: str, place: str) -> Path:
    return lease_dir() / (re.sub(r"[^A-Za-z0-9_.-]", "_", f"{coordinator}-{place}") + ".json")


def write_lease(coordinator: str, place: str, holder: str) -> Lease:
    lease = Lease(coordinator, place, holder, socket.gethostname(), os.getpid(), time.time())
    path = _path(coordinator, place)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(lease)))
    os.replace(tmp, path)
    return lease


def read_lease(coordinator: str, place: str) -> Lease | None:
    try:
        data = json.loads(_path(coordinator, place).read_text())
        return Lease(**data)
    except (OSError, ValueError, TypeError):
        return None


def remove_lease(lease: Lease) -> None:
    """Forget `lease` (only if it is still this process's record of the place)."""
    if read_lease(lease.coordinator, lease.place) == lease:
        _path(lease.coordinator, lease.place).unlink(missing_ok=True)


def release_command(coordinator: str, place: str, holder: str) -> str:
    """The labgrid-client command that frees `place` from `holder` (and from no one else)."""
    return f"labgrid-client -x {coordinator} -p {place} release-from {holder}"
