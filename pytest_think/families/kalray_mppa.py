"""The kalray-mppa family: a host with a Kalray Coolidge MPPA (K200 PCIe board, dev kits).

Designs are KaNN-generated networks (role ``network``), run by ``kann_opencl_cnn
<serialized.bin> <iodir>`` from the AccessCore SDK, or bare-metal cluster programs (role
``elf``) run by ``kvx-jtag-runner --exec-file=Cluster0:app.elf -- <iodir>``, which prefixes
their output with ``Cluster0@0.0: ``. The agent hands either a batch of inputs as files and
takes the device time from the ``Total: <cycles>`` line it logs, at the clock
/mppa/board0/mppa0/freq reports (kHz, so ms = cycles / kHz). Loading a design is copying
it: the runner loads the clusters each time it runs.
"""

from __future__ import annotations

import posixpath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pytest_think.boards import BoardConfig
from pytest_think.capabilities import DesignRunner, DesignRuntime
from pytest_think.connection import Board
from pytest_think.designs import Design
from pytest_think.errors import LinkError
from pytest_think.families.generic import GenericLinuxFamily
from pytest_think.families.linux import design_subdir
from pytest_think.transport.shell import Shell
from pytest_think.transport.ssh import SshTransport

TOTAL_CYCLES = r"Total: (\d+)"


class KalrayOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accesscore: str = Field("/opt/kalray/accesscore", description="AccessCore SDK prefix")
    firmware: str = Field("ocl_fw_l2_d_1m.elf", description="POCL_MPPA_FIRMWARE_NAME")
    pocl_file: str | None = Field(None, description="KANN_POCL_FILE, when the SDK needs it set")
    mppa: str = Field("/mppa/board0", description="the board's sysfs-like directory")
    batch: int = Field(32, ge=1, description="vectors per kann_opencl_cnn run")
    cluster: str = Field("Cluster0", description="where kvx-jtag-runner loads a design's ELF")
    runner_timeout_s: float = Field(600.0, gt=0)


class MppaSysfs:
    """What /mppa/board0 says: the board type and the cluster clock."""

    def __init__(self, shell: Shell, mppa: str) -> None:
        self.shell = shell
        self.mppa = mppa

    def read(self, name: str) -> str:
        path = posixpath.join(self.mppa, name)
        result = self.shell.run(["cat", path])
        if result.exit_status != 0:
            raise LinkError(
                f"{self.shell.where}: cannot read {path} "
                f"({result.err.strip() or 'no output'}); is the MPPA driver loaded "
                "(lsmod | grep mppa)?"
            )
        return result.out.strip()

    def clock_khz(self) -> int:
        text = self.read("mppa0/freq")
        try:
            return int(text.split()[0])
        except (ValueError, IndexError):
            raise LinkError(
                f"{self.shell.where}: {posixpath.join(self.mppa, 'mppa0/freq')} reads "
                f"{text!r}, not a clock in kHz"
            ) from None


class KannRunner:
    """Runs KaNN networks with kann_opencl_cnn, or cluster ELFs with kvx-jtag-runner."""

    def __init__(self, options: KalrayOptions, mppa: MppaSysfs) -> None:
        self.opts = options
        self.mppa = mppa

    def design_runtime(self, design: Design, signature: dict[str, Any]) -> DesignRuntime:
        opts = self.opts
        # A KaNN network (kann_opencl_cnn), or a bare-metal cluster program run over JTAG.
        if "elf" in design.files:
            network = design.file("elf")
            argv = ["kvx-jtag-runner", f"--exec-file={opts.cluster}:{{model}}", "--", "{iodir}"]
        else:
            network = design.file("network")
            argv = ["kann_opencl_cnn", "{model}", "{iodir}"]
        env = {"POCL_MPPA_FIRMWARE_NAME": opts.firmware}
        if opts.pocl_file:
            env["KANN_POCL_FILE"] = opts.pocl_file
        options = {
            "argv": argv,
            "path": [posixpath.join(opts.accesscore, "bin")],
            "env": env,
            "inputs": signature["inputs"],
            "outputs": signature["outputs"],
            "device_time": {
                "pattern": TOTAL_CYCLES,
                "unit": "cycles",
                "clock_khz": self.mppa.clock_khz(),
            },
            "device_batch": int(design.runtime.get("batch", opts.batch)),
            "timeout_s": opts.runner_timeout_s,
        }
        path = posixpath.join(design_subdir(design), network.name)
        return DesignRuntime(path, "exec", options)


class KalrayMppaFamily(GenericLinuxFamily):
    name = "kalray-mppa"
    Options = KalrayOptions

    def runner(self, config: BoardConfig, ssh: SshTransport) -> DesignRunner:
        opts: KalrayOptions = self.options(config)
        return KannRunner(opts, MppaSysfs(ssh, opts.mppa))

    def identify(self, board: Board) -> dict[str, Any]:
        facts = super().identify(board)
        mppa = MppaSysfs(board.shell, self.options(board.config).mppa)
        facts["mppa_board"] = mppa.read("type")
        facts["mppa_clock_khz"] = mppa.clock_khz()
        return facts
