"""The programmable logic of a Xilinx twin: /sys/class/fpga_manager/fpga0 and `fpgautil`.

Answers with the real tool's lines and states (docs: DESIGN part 2) and fails the way the
hardware fails: a .bit.bin without the (byte-swapped) 0xAA995566 sync word never leaves
`write init error`, one of the wrong size ends in `write error`. Like the real fpgautil, it
exits 0 even when loading failed: callers must read its output.
"""

from __future__ import annotations

import asyncio
import posixpath
import shutil
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from pytest_think.emulator.parts import TwinModel, TwinPart
from pytest_think.emulator.sandbox import Sandbox
from pytest_think.emulator.shell import ShellIO

if TYPE_CHECKING:
    from pytest_think.emulator.board import BoardTwin

MANAGER = "sys/class/fpga_manager/fpga0"
# In a .bit.bin every 32-bit word is byte-swapped, so the sync word 0xAA995566 reads 66 55 99 AA.
SYNC_WORD = bytes.fromhex("665599aa")
SYNC_SEARCH_BYTES = 1024
USAGE = "Usage:  fpgautil -b <bin file path> -o <dtbo file path>"


class TwinFpga(TwinModel):
    """The programmable logic a Xilinx board's twin emulates (fpga_manager, fpgautil)."""

    device: str = "xczu9eg"
    bitstream_bytes: int = Field(
        26_510_780, gt=0, description="size of a full .bit.bin for this part; others are refused"
    )
    load_mb_per_s: float = Field(170.0, gt=0, description="PCAP configuration speed")
    loader: Literal["fpgautil", "xmutil"] = Field(
        "fpgautil", description="the board's tool: fpgautil (PetaLinux) or xmutil (Kria)"
    )


class FpgaTwin:
    def __init__(self, sandbox: Sandbox, config: TwinFpga) -> None:
        self.sandbox = sandbox
        self.config = config
        self.manager = sandbox.root / MANAGER
        self.manager.mkdir(parents=True, exist_ok=True)
        (sandbox.root / "lib" / "firmware").mkdir(parents=True, exist_ok=True)
        (self.manager / "name").write_text("Xilinx ZynqMP FPGA Manager\n")
        (self.manager / "flags").write_text("0\n")
        self.set_state("unknown")
        self.loaded: str | None = None  # firmware name of the design in the fabric

    def set_state(self, state: str) -> None:
        (self.manager / "state").write_text(state + "\n")

    def _check(self, data: bytes, partial: bool) -> str | None:
        """The state a load of `data` ends in when it fails, or None when it succeeds."""
        if SYNC_WORD not in data[:SYNC_SEARCH_BYTES]:
            return "write init error"
        if not partial and len(data) != self.config.bitstream_bytes:
            return "write error"
        if partial and len(data) >= self.config.bitstream_bytes:
            return "write error"
        return None

    async def configure(self, name: str, data: bytes, partial: bool) -> float | None:
        """Program the fabric as the FPGA manager does; seconds taken, or None on failure."""
        (self.manager / "flags").write_text("1\n" if partial else "0\n")
        (self.manager / "firmware").write_text(name + "\n")
        self.set_state("write init")
        seconds = len(data) / (self.config.load_mb_per_s * 1e6)
        await asyncio.sleep(seconds)  # the PCAP takes real time to configure the fabric
        failure = self._check(data, partial)
        if failure is not None:
            self.set_state(failure)
            self.loaded = None
            return None
        self.set_state("operating")
        self.loaded = name
        return seconds

    def unload(self) -> None:
        self.loaded = None
        self.set_state("unknown")

    async def fpgautil(self, args: list[str], io: ShellIO) -> int:
        opts: dict[str, str] = {}
        it = iter(args)
        for arg in it:
            if arg in ("-b", "-o", "-f", "-n", "-s"):
                opts[arg] = next(it, "")
            else:
                io.out(f"{USAGE}\n".encode())
                return 1
        if not opts.get("-b"):
            io.out(f"{USAGE}\n".encode())
            return 1
        partial = opts.get("-f", "Full") == "Partial"
        source = self.sandbox.host_path(opts["-b"])
        if source is None or not source.is_file():
            io.err(f"cp: cannot stat '{opts['-b']}': No such file or directory\n".encode())
            io.out(b"BIN FILE loading through FPGA manager failed\n")
            return 0
        if "-o" in opts:
            overlay = self.sandbox.host_path(opts["-o"])
            if overlay is None or not overlay.is_file():
                io.err(f"cp: cannot stat '{opts['-o']}': No such file or directory\n".encode())
                io.out(b"BIN FILE loading through FPGA manager failed\n")
                return 0
        name = posixpath.basename(opts["-b"])
        shutil.copyfile(source, self.sandbox.root / "lib" / "firmware" / name)
        seconds = await self.configure(name, source.read_bytes(), partial)
        if seconds is None:
            io.out(b"BIN FILE loading through FPGA manager failed\n")
            return 0
        io.out(f"Time taken to load BIN is {seconds * 1e3:.6f} Milli Seconds\n".encode())
        io.out(b"BIN FILE loaded through FPGA manager successfully\n")
        return 0


class XilinxFpgaTwin(TwinPart[TwinFpga]):
    """The xilinx-fpga family's twin: the fabric behind fpga_manager, and fpgautil."""

    section = "fpga"
    Section = TwinFpga
    fpga: FpgaTwin

    def attach(self, board: BoardTwin) -> None:
        self.fpga = FpgaTwin(board.sandbox, self.config(board.twin))
        board.shell.tools["fpgautil"] = self.fpga.fpgautil
        board.forget.append(self.fpga.unload)  # a power cycle empties the programmable logic
