"""A connected board: its board file, its transports, what its family bound to it, its identity.

`Board` is the session's link to one board, opened once however many tests use it
(`pytest_think.families.open_board`). Code asks it for a capability — `board.flasher`,
`board.design_runner`, `board.benchmarker` — and gets the part its family bound, or the one
`NotCapable` line naming the board, its family and what it cannot do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pytest_think.boards import BoardConfig
from pytest_think.capabilities import (
    Accelerators,
    AgentLauncher,
    Benchmarker,
    Capabilities,
    DesignRunner,
    Flasher,
    NotCapable,
    PowerSwitch,
)
from pytest_think.errors import LinkError
from pytest_think.transport.console import SerialConsole
from pytest_think.transport.console_watch import ConsoleAlarm, ConsoleWatch
from pytest_think.transport.ssh import SshTransport
from pytest_think.watchdog import Watchdog

if TYPE_CHECKING:
    from pytest_think.designs import Design
    from pytest_think.power.onboard import PowerSensor
    from pytest_think.transport.shell import Shell

Part = TypeVar("Part")


class Board:
    def __init__(self, config: BoardConfig, emulated: bool, ssh: SshTransport | None) -> None:
        self.config = config
        self.emulated = emulated
        self.ssh = ssh  # None: a board reached only over its serial line
        self.parts: Capabilities | None = None  # bound by the family once connected
        self.identity: dict[str, Any] = {}
        self._console: SerialConsole | None = None
        # The console lines that fail a test (its family's, set when the board is opened).
        self.console_alarms: tuple[ConsoleAlarm, ...] = ()
        self._watch: ConsoleWatch | None = None
        self.design: Design | None = None  # the design last flashed (a recovery re-flashes it)
        # How long the board may stay silent; the hang it caught, for the recovery strategy.
        self.watchdog = Watchdog(config.name, config.watchdog)

    def __str__(self) -> str:
        return f"board '{self.name}' ({'twin' if self.emulated else 'hardware'})"

    def __repr__(self) -> str:
        return f"<{self}>"

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def family(self) -> str:
        return self.config.family

    def _need(self, part: Part | None, what: str) -> Part:
        if part is None:
            raise NotCapable(f"board '{self.name}' (family {self.family}) cannot {what}")
        return part

    @property
    def _parts(self) -> Capabilities:
        if self.parts is None:
            raise LinkError(f"board '{self.name}' is not brought up yet (no family bound)")
        return self.parts

    @property
    def agent(self) -> AgentLauncher:
        return self._parts.agent

    @property
    def shell(self) -> Shell:
        """Commands on the board (over SSH)."""
        return self._need(self._parts.shell, "run commands (its board file has no 'ssh' section)")

    @property
    def flasher(self) -> Flasher:
        return self._need(self._parts.flasher, "load designs")

    @property
    def design_runner(self) -> DesignRunner:
        return self._need(self._parts.runner, "run designs")

    @property
    def benchmarker(self) -> Benchmarker:
        return self._need(self._parts.benchmarker, "benchmark designs with trtexec")

    @property
    def power_switch(self) -> PowerSwitch:
        return self._need(self._parts.power_switch, "switch its power")

    @property
    def accelerators(self) -> Accelerators:
        """The board's devices that agent sessions can be bound to, one each."""
        return self._need(
            self._parts.accelerators,
            "bind agent sessions to devices (its board file lists no devices)",
        )

    @property
    def devices(self) -> list[str]:
        """The devices agent sessions can be bound to; none when the board has no list."""
        parts = self._parts.accelerators
        return parts.devices() if parts is not None else []

    @property
    def power_sensors(self) -> list[PowerSensor]:
        """The onboard power monitors (none when the board has no way to read them)."""
        sensors = self._parts.sensors
        return sensors.sensors() if sensors is not None else []

    @property
    def transport(self) -> SshTransport:
        """The SSH transport (uploads, long-lived processes); an error for serial-only boards."""
        if self.ssh is None:
            raise LinkError(f"board '{self.name}' has no SSH access (serial only)")
        return self.ssh

    @property
    def console(self) -> SerialConsole:
        """The board's serial console, opened on first use (its capture starts then)."""
        if self.config.console is None:
            raise LinkError(f"board '{self.name}' has no 'console' section in {self.config.source}")
        if self._console is None:
            self._console = SerialConsole(self.config.console, self.name)
        return self._console

    @property
    def console_watch(self) -> ConsoleWatch | None:
        """The watch on the console for kernel trouble (opening the console); None when the
        board has no console, its file turns the watch off, or its family watches nothing."""
        console = self.config.console
        if console is None or not console.watch or not self.console_alarms:
            return None
        if self._watch is None:
            self._watch = ConsoleWatch(self.console, self.console_alarms)
        return self._watch

    def close(self) -> None:
        if self._console is not None:
            self._console.close()
        if self.ssh is not None:
            self.ssh.close()
