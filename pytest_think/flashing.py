"""Bringing a board to a design: flash it unless the same design is already running.

The strategy is the same for every family; the board's `Flasher` part says how a design is
loaded, how to tell that the board still runs it, and where on the board to record what was
loaded (for an FPGA, a tmpfs, so the record is forgotten exactly when a reboot forgets the
fabric).
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_think.connection import Board
from pytest_think.designs import Design
from pytest_think.errors import CommandTimeout, InputFileError


@dataclass
class FlashReport:
    design: str
    sha256: str
    flashed: bool  # False: the board already ran this design, nothing was done
    seconds: float
    log: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "sha256": self.sha256,
            "flashed": self.flashed,
            "seconds": self.seconds,
            "log": self.log,
        }


def loaded_design(board: Board) -> str | None:
    """sha256 of the design the board runs now, or None when unknown or no longer active."""
    flasher = board.flasher
    result = board.shell.run(["cat", flasher.design_record])
    sha = result.out.strip() if result.exit_status == 0 else ""
    if len(sha) != 64:
        return None
    return sha if flasher.design_active() else None


def ensure_design(board: Board, design: Design, force: bool = False) -> FlashReport:
    """Make `design` the one the board runs; skip the flash when it already is (unless forced)."""
    if design.family != board.family:
        raise InputFileError(
            f"design file {design.source}: design '{design.name}' is for family "
            f"'{design.family}', board '{board.name}' is family '{board.family}'"
        )
    flasher = board.flasher
    board.design = design  # what a recovery brings the board back to
    started = time.perf_counter()
    sha = design.sha256
    if not force and loaded_design(board) == sha:
        return FlashReport(design.name, sha, False, time.perf_counter() - started)
    record = flasher.design_record
    ssh = board.transport
    # Forget the old design first: a failed flash must not leave a stale record behind.
    ssh.run(["rm", "-f", record]).check(ssh.where)
    since = time.monotonic()
    try:
        log = flasher.flash(design)
    except CommandTimeout:
        doing = f"flashing design '{design.name}'"
        raise board.watchdog.hung(doing, ssh.config.command_timeout, since=since) from None
    ssh.run(["mkdir", "-p", posixpath.dirname(record)]).check(ssh.where)
    ssh.write_file(record, f"{sha}\n".encode())
    return FlashReport(design.name, sha, True, time.perf_counter() - started, log)
