"""The generic family: a Linux board with Python, numpy and onnxruntime, reached over SSH.

The other Linux families (Xilinx, Jetson, Kalray, Coral) are generic boards with parts of
their own: they override the factory of the part that differs (`flasher`, `runner`,
`benchmarker`) and add to `prepare` and `identify`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from pytest_think.boards import BoardConfig
from pytest_think.capabilities import (
    Accelerators,
    Benchmarker,
    Capabilities,
    DesignRunner,
    Flasher,
)
from pytest_think.connection import Board
from pytest_think.errors import BoardConfigError
from pytest_think.families import family_options
from pytest_think.families.linux import (
    KERNEL_ALARMS,
    CopiedDesigns,
    ModelFiles,
    OnnxDevices,
    SshAgent,
    SysfsPowerSensors,
)
from pytest_think.transport.console_watch import ConsoleAlarm
from pytest_think.transport.ssh import SshTransport


def parse_os_release(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    return fields


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenericLinuxFamily:
    name = "generic"
    Options: type[BaseModel] = NoOptions

    def options(self, config: BoardConfig) -> Any:
        """The board's `options`, validated by this family's Options model."""
        return family_options(self.Options, config, self.name)

    def check_options(self, config: BoardConfig) -> None:
        self.options(config)
        if config.ssh is None:
            raise BoardConfigError(
                f"board file {config.source or config.name}: field 'ssh': family {self.name} "
                "reaches its boards over SSH; add an 'ssh' section"
            )

    # -- parts ------------------------------------------------------------------------------

    def bind(self, board: Board) -> Capabilities:
        ssh = board.transport
        return Capabilities(
            agent=SshAgent(board.config, ssh),
            shell=ssh,
            flasher=self.flasher(board.config, ssh),
            runner=self.runner(board.config, ssh),
            sensors=SysfsPowerSensors(ssh, self.power_rail_names(board.config)),
            benchmarker=self.benchmarker(board.config, ssh),
            accelerators=self.accelerators(board.config),
        )

    def flasher(self, config: BoardConfig, ssh: SshTransport) -> Flasher:
        return CopiedDesigns(config, ssh)

    def runner(self, config: BoardConfig, ssh: SshTransport) -> DesignRunner:
        return ModelFiles(config)

    def benchmarker(self, config: BoardConfig, ssh: SshTransport) -> Benchmarker | None:
        return None

    def accelerators(self, config: BoardConfig) -> Accelerators | None:
        """The devices agent sessions can be bound to: `agent.devices` (onnxruntime ids)."""
        return OnnxDevices(config) if config.agent.devices else None

    def power_rail_names(self, config: BoardConfig) -> dict[str, str]:
        """Names for monitors that carry no label, by I2C device ("3-0040": "VCCINT")."""
        return {}

    def console_alarms(self) -> tuple[ConsoleAlarm, ...]:
        """The console lines that fail a test: the kernel's (families add their own)."""
        return KERNEL_ALARMS

    # -- bring-up ---------------------------------------------------------------------------

    def prepare(self, board: Board) -> None:
        """A generic board needs nothing set up."""

    def identify(self, board: Board) -> dict[str, Any]:
        shell = board.shell
        uname = shell.run(["uname", "-a"]).check(shell.where).out.strip()
        release = shell.run(["cat", "/etc/os-release"])
        os_name = (
            parse_os_release(release.out).get("PRETTY_NAME") if release.exit_status == 0 else None
        )
        rails = [s.rail for s in board.power_sensors]
        return {"uname": uname, "os": os_name, "power_rails": rails}
