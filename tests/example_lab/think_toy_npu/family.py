"""The toy-npu family: a generic Linux board whose designs are NPU firmware images."""

from __future__ import annotations

import posixpath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pytest_think.boards import BoardConfig
from pytest_think.capabilities import Flasher
from pytest_think.connection import Board
from pytest_think.designs import Design
from pytest_think.errors import FlashError
from pytest_think.families.generic import GenericLinuxFamily
from pytest_think.families.linux import design_dir, upload_design_files
from pytest_think.transport.shell import Shell
from pytest_think.transport.ssh import SshTransport

NPU = "/sys/class/npu/npu0"


class ToyNpuOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot: int = Field(0, ge=0, le=3, description="the firmware slot npuctl loads into")


def npu_state(shell: Shell) -> str:
    result = shell.run(["cat", f"{NPU}/state"])
    return result.out.strip() if result.exit_status == 0 else "absent"


class NpuctlDesigns:
    """A design's `image` is loaded with npuctl; the card then says `running`."""

    def __init__(self, config: BoardConfig, ssh: SshTransport, slot: int) -> None:
        self.config = config
        self.ssh = ssh
        self.slot = slot

    @property
    def design_record(self) -> str:
        return "/run/think/npu0-design"  # tmpfs: forgotten when the card is

    def flash(self, design: Design) -> list[str]:
        upload_design_files(self.ssh, self.config, design)
        image = posixpath.join(design_dir(self.config, design), design.file("image").name)
        result = self.ssh.run(["npuctl", "load", "--slot", str(self.slot), image])
        lines = [ln for ln in (result.out + result.err).splitlines() if ln.strip()]
        if result.exit_status != 0 or npu_state(self.ssh) != "running":
            said = lines[-1] if lines else f"exit status {result.exit_status}"
            raise FlashError(f"npuctl did not load {design.name} on {self.ssh.where}: {said}")
        return lines

    def design_active(self) -> bool:
        return npu_state(self.ssh) == "running"


class ToyNpuFamily(GenericLinuxFamily):
    name = "toy-npu"
    Options = ToyNpuOptions

    def flasher(self, config: BoardConfig, ssh: SshTransport) -> Flasher:
        options: ToyNpuOptions = self.options(config)
        return NpuctlDesigns(config, ssh, options.slot)

    def identify(self, board: Board) -> dict[str, Any]:
        facts = super().identify(board)
        firmware = board.shell.run(["cat", f"{NPU}/firmware_version"])
        facts["npu_firmware"] = firmware.out.strip() if firmware.exit_status == 0 else None
        facts["npu_state"] = npu_state(board.shell)
        return facts
