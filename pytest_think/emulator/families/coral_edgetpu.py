"""An Edge TPU host's twin: the ``libedgetpu.so.1`` the TFLite delegate loads.

The twin's library is a real TFLite external delegate (native/edgetpu_twin.c, built with the
machine's C compiler on first use and cached): it opens only the devices the twin declares
(``pci:0``, ``usb:0`` …) and fails like the real one otherwise, one process per TPU at a
time as the real one holds it, then takes every node onto its TPU and runs it with TFLite's
own int8 kernel, so the twin computes the quantized model the TPU computes. Each node holds
its TPU for ``op_us`` (one node at a time per TPU, sleeping, so the other TPUs of a pipeline
work meanwhile): the device time of a segment grows with the operations in it, as on the
hardware, and lands in the agent's own timing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from pytest_think.emulator.native import build
from pytest_think.emulator.parts import TwinModel, TwinPart
from pytest_think.emulator.sandbox import Sandbox

if TYPE_CHECKING:
    from pytest_think.emulator.board import BoardTwin

SHARED = ("-shared", "-fPIC")
LIB_DIR = "usr/lib/aarch64-linux-gnu"
LOCK_DIR = "run/edgetpu"


class TwinCoral(TwinModel):
    """An Edge TPU twin: the TPUs the host sees (``pci:0`` on a Dev Board, ``usb:N`` sticks)."""

    devices: list[str] = Field(default_factory=lambda: ["pci:0"], min_length=1)
    op_us: float = Field(
        0.0,
        ge=0,
        le=1e6,
        description="device time of each operation the TPU runs, in microseconds",
    )


def build_delegate() -> Path:
    """The twin's libedgetpu.so.1, compiled once per source version into the cache."""
    return build("edgetpu_twin.c", "libedgetpu.so.1", "the Edge TPU twin delegate", SHARED)


class CoralTwin:
    def __init__(self, sandbox: Sandbox, config: TwinCoral) -> None:
        self.config = config
        self.lib_dir = sandbox.root / LIB_DIR
        self.lib_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(build_delegate(), self.lib_dir / "libedgetpu.so.1")
        self.locks = sandbox.root / LOCK_DIR  # a TPU's lock: held by the process using it
        self.locks.mkdir(parents=True, exist_ok=True)
        for device in config.devices:
            if device.startswith("pci:"):  # the Dev Board's TPU is a PCIe device, /dev/apex_N
                (sandbox.root / "dev").mkdir(exist_ok=True)
                (sandbox.root / "dev" / f"apex_{device.split(':')[1]}").touch()

    @property
    def env(self) -> dict[str, str]:
        """What the twin's processes see: the loader path and the TPUs present."""
        return {
            "LD_LIBRARY_PATH": str(self.lib_dir),
            "THINK_TWIN_EDGETPU_DEVICES": ",".join(self.config.devices),
            "THINK_TWIN_EDGETPU_OP_US": repr(self.config.op_us),
            "THINK_TWIN_EDGETPU_LOCKS": str(self.locks),
        }


class CoralEdgeTpuTwin(TwinPart[TwinCoral]):
    """The coral-edgetpu family's twin: the delegate library and the TPUs it opens."""

    section = "coral"
    Section = TwinCoral

    def attach(self, board: BoardTwin) -> None:
        board.process_env.update(CoralTwin(board.sandbox, self.config(board.twin)).env)
