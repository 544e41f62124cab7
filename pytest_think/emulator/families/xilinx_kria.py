"""`xmutil` of a Kria SOM twin (dfx-mgrd): accelerator apps in /lib/firmware/xilinx/<app>/.

An app directory holds one .bit.bin, one .dtbo and a shell.json; loading it programs the
fabric through the same FPGA manager as fpgautil (see xilinx_fpga.py), with the same failures.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pytest_think.emulator.families.xilinx_fpga import FpgaTwin, XilinxFpgaTwin
from pytest_think.emulator.shell import ShellIO

if TYPE_CHECKING:
    from pytest_think.emulator.board import BoardTwin

APPS = "lib/firmware/xilinx"
LISTAPPS_COLUMNS = (
    "Accelerator",
    "Accel_type",
    "Base",
    "Base_type",
    "#slots(PL+AIE)",
    "Active_slot",
)


class XmutilTwin:
    def __init__(self, fpga: FpgaTwin) -> None:
        self.fpga = fpga
        self.apps = fpga.sandbox.root / APPS
        self.apps.mkdir(parents=True, exist_ok=True)
        self.active: str | None = None

    def _shell_type(self, app: str) -> str:
        try:
            data = json.loads((self.apps / app / "shell.json").read_text())
            return str(data.get("shell_type", "XRT_FLAT"))
        except (OSError, ValueError):
            return "XRT_FLAT"

    async def xmutil(self, args: list[str], io: ShellIO) -> int:
        command = args[0] if args else ""
        if command == "listapps":
            rows = [LISTAPPS_COLUMNS]
            for app_dir in sorted(p for p in self.apps.iterdir() if p.is_dir()):
                app, kind = app_dir.name, self._shell_type(app_dir.name)
                slot = "0" if app == self.active else "-1"
                rows.append((app, kind, app, kind, "(0+0)", slot))
            lines = ["".join(c.rjust(32) for c in row) for row in rows]
            io.out(("\n".join([lines[0], "", *lines[1:]]) + "\n").encode())
            return 0
        if command == "unloadapp":
            if self.active is None:
                io.out(b"No accel is loaded currently.\n")
                return 0
            self.active = None
            self.fpga.unload()
            io.out(b"Accelerator successfully removed.\n")
            return 0
        if command == "loadapp" and len(args) == 2:
            return await self._loadapp(args[1], io)
        io.out(b"Usage: xmutil <listapps|loadapp <app>|unloadapp|...>\n")
        return 1

    async def _loadapp(self, app: str, io: ShellIO) -> int:
        if self.active is not None:
            io.out(f"Remove previously loaded accelerator {self.active}, no empty slot\n".encode())
            return 0
        app_dir = self.apps / app
        bitstreams = sorted(app_dir.glob("*.bit.bin")) if app_dir.is_dir() else []
        overlays = sorted(app_dir.glob("*.dtbo")) if app_dir.is_dir() else []
        if not bitstreams or not overlays or not (app_dir / "shell.json").is_file():
            io.out(b"Accelerator loaded to slot -1\n")
            return 0
        seconds = await self.fpga.configure(bitstreams[0].name, bitstreams[0].read_bytes(), False)
        if seconds is None:
            io.out(b"Accelerator loaded to slot -1\n")
            return 0
        self.active = app
        io.out(b"Accelerator loaded to slot 0\n")
        return 0


class XilinxKriaTwin(XilinxFpgaTwin):
    """The xilinx-kria family's twin: a Xilinx fabric (``twin.fpga``) with xmutil beside
    fpgautil."""

    def attach(self, board: BoardTwin) -> None:
        super().attach(board)
        board.shell.tools["xmutil"] = XmutilTwin(self.fpga).xmutil
