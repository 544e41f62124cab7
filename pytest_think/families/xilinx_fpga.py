"""Xilinx Zynq UltraScale+ boards (ZCU102, ZCU104 …) under PetaLinux or Ubuntu: designs are
loaded into the programmable logic with `fpgautil` through the Linux FPGA manager."""

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
from pytest_think.families.linux import KERNEL_ALARMS, design_dir, upload_design_files
from pytest_think.transport.console_watch import ConsoleAlarm, alarm
from pytest_think.transport.shell import Shell
from pytest_think.transport.ssh import SshTransport

FPGA_MANAGER = "/sys/class/fpga_manager/fpga0"
LOADED_OK = "BIN FILE loaded through FPGA manager successfully"
LOAD_FAILED = "BIN FILE loading through FPGA manager failed"
# The FPGA manager's dev_err lines (drivers/fpga/fpga-mgr.c), as the console prints them:
# "fpga_manager fpga0: Error while writing image data to FPGA", "… Error preparing FPGA for
# writing", "… Error after writing image data to FPGA", "… Error requesting firmware x.bin".
FPGA_MANAGER_ERROR = alarm("FPGA manager error", r"\bfpga_manager fpga\d+: Error\b")


class Fpgautil:
    """Loads a .bit.bin (and its device-tree overlay) with fpgautil, then checks fpga0.

    fpgautil's exit status is not trustworthy: a load counts only when its success line is
    printed *and* the FPGA manager reports `operating`.
    """

    def __init__(self, shell: Shell) -> None:
        self.transport = shell
        self.where = shell.where

    def state(self) -> str:
        result = self.transport.run(["cat", f"{FPGA_MANAGER}/state"])
        return result.out.strip() if result.exit_status == 0 else "unknown"

    def load(self, bitstream: str, overlay: str | None, partial: bool) -> list[str]:
        argv = ["fpgautil", "-b", bitstream]
        if overlay:
            argv += ["-o", overlay]
        argv += ["-f", "Partial" if partial else "Full"]
        result = self.transport.run(argv)
        lines = [line.strip() for line in (result.out + result.err).splitlines() if line.strip()]
        state = self.state()
        if LOADED_OK in lines and state == "operating":
            return lines
        why = next((ln for ln in lines if ln == LOAD_FAILED), None) or (
            lines[-1] if lines else f"no output, exit status {result.exit_status}"
        )
        raise FlashError(
            f"fpgautil did not load {posixpath.basename(bitstream)} on {self.where}: "
            f"'{why}'; fpga0 state is '{state}'"
        )


class FpgaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    power_rails: dict[str, str] = Field(
        default_factory=dict,
        description="INA226 monitors by I2C device, named as on the schematic ('3-0040': 'VCCINT')",
    )


class FpgaManagerDesigns:
    """Designs loaded into the programmable logic: files copied, then fpgautil."""

    def __init__(self, config: BoardConfig, ssh: SshTransport) -> None:
        self.config = config
        self.ssh = ssh
        self.fpgautil = Fpgautil(ssh)

    @property
    def design_record(self) -> str:
        # /run is a tmpfs: the record goes when a reboot or power cycle clears the fabric.
        return "/run/think/fpga0-design"

    def flash(self, design: Design) -> list[str]:
        target = design_dir(self.config, design)
        bitstream = posixpath.join(target, design.file("bitstream").name)
        overlay = design.files.get("overlay")
        # Bitstream, overlay and what the CPU side runs (the model the DPU executes …).
        upload_design_files(self.ssh, self.config, design)
        return self.fpgautil.load(
            bitstream, posixpath.join(target, overlay.name) if overlay else None, partial=False
        )

    def design_active(self) -> bool:
        return self.fpgautil.state() == "operating"


class XilinxFpgaFamily(GenericLinuxFamily):
    name = "xilinx-fpga"
    Options = FpgaOptions

    def power_rail_names(self, config: BoardConfig) -> dict[str, str]:
        opts: FpgaOptions = self.options(config)
        return opts.power_rails

    def flasher(self, config: BoardConfig, ssh: SshTransport) -> Flasher:
        return FpgaManagerDesigns(config, ssh)

    def console_alarms(self) -> tuple[ConsoleAlarm, ...]:
        return (*KERNEL_ALARMS, FPGA_MANAGER_ERROR)

    def identify(self, board: Board) -> dict[str, Any]:
        facts = super().identify(board)
        shell = board.shell
        manager = shell.run(["cat", f"{FPGA_MANAGER}/name"])
        facts["fpga_manager"] = manager.out.strip() if manager.exit_status == 0 else None
        facts["fpga_state"] = Fpgautil(shell).state()
        return facts
