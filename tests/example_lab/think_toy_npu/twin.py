"""The Toy NPU's twin: /sys/class/npu/npu0 and `npuctl`, beside what every board twin has."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from pytest_think.emulator.parts import TwinModel, TwinPart
from pytest_think.emulator.shell import ShellIO

if TYPE_CHECKING:
    from pytest_think.emulator.board import BoardTwin

MAGIC = b"TOYNPU1\n"  # what a real image starts with; anything else is refused


class TwinNpu(TwinModel):
    """What the twin's card answers (the `twin.npu` section of a board file)."""

    firmware_version: str = Field("1.0.0", description="what firmware_version reads")


class ToyNpuTwin(TwinPart[TwinNpu]):
    section = "npu"
    Section = TwinNpu

    def attach(self, board: BoardTwin) -> None:
        self.sandbox = board.sandbox
        self.card = board.sandbox.root / "sys" / "class" / "npu" / "npu0"
        self.card.mkdir(parents=True, exist_ok=True)
        (self.card / "firmware_version").write_text(self.config(board.twin).firmware_version)
        self.forget()
        board.shell.tools["npuctl"] = self.npuctl
        board.forget.append(self.forget)  # a power cycle empties the card

    def forget(self) -> None:
        (self.card / "state").write_text("idle\n")
        (self.card / "image").write_text("\n")

    async def npuctl(self, args: list[str], io: ShellIO) -> int:
        if len(args) != 4 or args[:2] != ["load", "--slot"]:
            io.err(b"usage: npuctl load --slot N IMAGE\n")
            return 2
        image = self.sandbox.host_path(args[3])
        if image is None or not image.is_file():
            io.err(f"npuctl: {args[3]}: No such file or directory\n".encode())
            return 1
        if not image.read_bytes().startswith(MAGIC):
            (self.card / "state").write_text("error\n")
            io.err(f"npuctl: {args[3]}: not a Toy NPU image\n".encode())
            return 1
        (self.card / "state").write_text("running\n")
        (self.card / "image").write_text(image.name + "\n")
        io.out(f"slot {args[2]}: {image.name} loaded\n".encode())
        return 0
