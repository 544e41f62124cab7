"""Bringing a hung board back: a strategy in labgrid's sense, from "hung" to "shell".

The watchdog (pytest_think.watchdog) caught the board silent. The strategy stops the agent
(without asking it: a hung agent answers nothing), probes SSH with a short command: a board
that answers had only its agent hang, and the next test starts a fresh one. A board that does
not answer is power-cycled through its `PowerSwitch` (the meter's supply output, a labgrid
place's power port, or the board file's power commands: ``recovery.power``), off for
``recovery.off_s``; SSH must answer again within ``recovery.boot_timeout``; the family brings
it to the state its file asks for (power modes …) and the design it ran is flashed again when
the board forgot it. What cannot be done is one `BoardDown` line: no power switch, a switch
that failed, a board that did not come back.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_think.capabilities import NotCapable
from pytest_think.errors import BoardDown, ThinkError
from pytest_think.families import load_family
from pytest_think.flashing import ensure_design

if TYPE_CHECKING:
    from pytest_think.connection import Board
    from pytest_think.device import Device
    from pytest_think.watchdog import Hang

__all__ = ["NO_SWITCH_HELP", "RecoveryReport", "RecoveryStrategy"]

NO_SWITCH_HELP = (
    "set recovery.power: meter when its meter's supply output powers it, give a 'power' "
    "port, or recovery.power_off/power_on commands (docs/reliability.md)"
)


@dataclass
class RecoveryReport:
    """What bringing the board back took."""

    board: str
    hang: Hang
    power_cycled: bool = False
    switch: str | None = None
    seconds: float = 0.0  # from the start of the recovery until the board was back (or not)
    probe_s: float = 0.0  # the SSH probe (a frozen board takes its whole timeout)
    boot_s: float | None = None  # from power-on until SSH answered
    reflashed: bool = False
    design: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "recovered": self.error is None,
            "power_cycled": self.power_cycled,
            "seconds": round(self.seconds, 3),
            "probe_s": round(self.probe_s, 3),
            "reflashed": self.reflashed,
        }
        if self.switch is not None:
            data["switch"] = self.switch
        if self.boot_s is not None:
            data["boot_s"] = round(self.boot_s, 3)
        if self.design is not None:
            data["design"] = self.design
        if self.error is not None:
            data["error"] = self.error
        return data

    def line(self) -> str:
        if self.error is not None:
            return self.error
        how = (
            f"power-cycled through {self.switch}, SSH back {self.boot_s:.1f} s after power-on"
            if self.power_cycled
            else "its agent stopped (the board still answered)"
        )
        flashed = f", design '{self.design}' flashed again" if self.reflashed else ""
        return f"board '{self.board}' recovered in {self.seconds:.1f} s: {how}{flashed}"


class RecoveryStrategy:
    """Brings one board whose watchdog tripped back to a state the next test can use."""

    def __init__(self, board: Board, devices: Sequence[Device]) -> None:
        self.board = board
        self.devices = devices
        self.config = board.config.recovery

    def recover(self) -> RecoveryReport:
        """The report; its `error` (a `BoardDown` line) says why the board could not be
        brought back, and the watchdog then stays tripped."""
        hang = self.board.watchdog.tripped
        assert hang is not None, "recover() is for a board whose watchdog tripped"
        report = RecoveryReport(self.board.name, hang)
        started = time.monotonic()
        try:
            for device in self.devices:
                device.stop_agent()
            probing = time.monotonic()
            hang.board_answered = self._answers()
            report.probe_s = time.monotonic() - probing
            if not hang.board_answered:
                self._power_cycle(report)
            self._reflash(report)
        except BoardDown as exc:
            report.error = str(exc)
        report.seconds = time.monotonic() - started
        if report.error is None:
            self.board.watchdog.tripped = None
        return report

    def _answers(self) -> bool:
        """Whether the board runs a command over SSH within the probe timeout."""
        if self.board.ssh is None:
            return False  # a board on a serial line only: nothing to probe but the agent
        try:
            self.board.transport.run(["true"], timeout=self.config.probe_timeout).check(
                self.board.transport.where
            )
        except ThinkError:
            return False
        return True

    def _power_cycle(self, report: RecoveryReport) -> None:
        name = self.board.name
        try:
            switch = self.board.power_switch
        except NotCapable:
            raise BoardDown(
                f"cannot recover board '{name}': no power switch ({NO_SWITCH_HELP})"
            ) from None
        report.switch = repr(switch).strip("<>")
        try:
            switch.power(False)
            time.sleep(self.config.off_s)
            switch.power(True)
        except ThinkError as exc:
            raise BoardDown(f"cannot recover board '{name}': {exc}") from None
        report.power_cycled = True
        powered = time.monotonic()
        if self.board.ssh is not None:
            try:
                self.board.transport.reconnect(tries=sys.maxsize, within=self.config.boot_timeout)
            except ThinkError as exc:
                raise BoardDown(
                    f"board '{name}' did not come back within {self.config.boot_timeout:g} s of "
                    f"a power cycle (recovery.boot_timeout): {exc}"
                ) from None
        report.boot_s = time.monotonic() - powered
        try:
            load_family(self.board.config).prepare(self.board)
        except ThinkError as exc:
            raise BoardDown(f"board '{name}' came back but could not be prepared: {exc}") from None

    def _reflash(self, report: RecoveryReport) -> None:
        design = self.board.design
        if design is None:
            return
        try:
            flash = ensure_design(self.board, design)
        except ThinkError as exc:
            raise BoardDown(
                f"board '{self.board.name}' came back but design '{design.name}' could not be "
                f"flashed again: {exc}"
            ) from None
        report.reflashed, report.design = flash.flashed, design.name
