"""A board twin's serial console: a getty and a shell on a pseudo-terminal.

Prints the distribution's issue line and ``<hostname> login: ``, asks for a password when the
board has one (the value of the board file's ``console.login.password_env`` variable when the
twin starts), answers ``Login incorrect`` after a delay like login(1), then serves the twin's
command set at a ``root@<hostname>:~# `` prompt, echoing what is typed and ending lines with
CR LF as a tty does. ``twin.console.silent`` makes a console that never prints anything.
"""

from __future__ import annotations

import asyncio
import os
import tty

from pydantic import Field

from pytest_think.boards import BoardConfig
from pytest_think.emulator.parts import TwinModel
from pytest_think.emulator.shell import BoardShell, ShellIO

LOGIN_INCORRECT_DELAY_S = 0.5


# An arm64 oops as a kernel prints it (levels first, as /dev/kmsg takes them).
DEFAULT_OOPS = """\
<1>Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008
<1>Mem abort info:
<1>  ESR = 0x96000005
<4>Internal error: Oops: 96000005 [#1] SMP
<4>Modules linked in: zocl(O) uio_pdrv_genirq
<4>CPU: 1 PID: 734 Comm: python3 Tainted: G           O      5.15.36-xilinx-v2022.2 #1
<4>pc : dma_buf_vmap+0x1c/0x80
<4>Call trace:
<4> dma_buf_vmap+0x1c/0x80
<4> zocl_bo_map+0x48/0x90 [zocl]
<4>---[ end trace 3f2d8b1c0a9e7d65 ]---
"""


class TwinConsole(TwinModel):
    """A twin's serial console: its getty, and faults (a console that stays silent, a kernel
    that oopses under load)."""

    tty: str = "ttyPS0"
    silent: bool = Field(False, description="never prints a login prompt (a hung or dead board)")
    oops_after_vectors: int | None = Field(
        None, ge=0, description="the kernel prints `oops` once the device answered N vectors"
    )
    oops: str = Field(DEFAULT_OOPS, description="the kernel log lines of that oops")


class ConsoleTwin:
    def __init__(
        self, board: BoardConfig, shell: BoardShell, config: TwinConsole, os_release: str | None
    ) -> None:
        assert board.console is not None
        self.shell = shell
        self.config = config
        self.hostname = shell.uname.hostname
        self.user = board.console.login.user
        name = board.console.login.password_env
        self.password = os.environ.get(name) if name else None
        self.os_name = os_release or "Linux"
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.last_status = 0

    def start(self) -> asyncio.Task[None]:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.master, self._readable)
        return asyncio.ensure_future(self._serve())

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return
        if data:
            self.inbox.put_nowait(data)

    def write(self, text: str) -> None:
        data = text.replace("\n", "\r\n").encode()
        while data:
            try:
                written = os.write(self.master, data)
            except BlockingIOError:
                continue
            data = data[written:]

    async def readline(self, echo: bool = True) -> str:
        line = b""
        pending = getattr(self, "_pending", b"")
        while True:
            if not pending:
                pending = await self.inbox.get()
            byte, pending = pending[:1], pending[1:]
            if byte in (b"\r", b"\n"):
                if byte == b"\r" and pending[:1] == b"\n":
                    pending = pending[1:]
                self._pending = pending
                if echo:
                    self.write("\n")
                return line.decode(errors="replace")
            if byte in (b"\x7f", b"\x08"):
                line = line[:-1]
                continue
            line += byte
            if echo:
                self.write(byte.decode(errors="replace"))

    async def _serve(self) -> None:
        if self.config.silent:  # a hung board: reads what it is sent, says nothing
            while True:
                await self.inbox.get()
        self.write(
            f"\n{self.os_name.split('=', 1)[-1].strip(chr(34))} {self.hostname} "
            f"{self.config.tty}\n\n"
        )
        while True:
            self.write(f"{self.hostname} login: ")
            user = (await self.readline()).strip()
            if not user:
                continue
            password = None
            if self.password is not None:
                self.write("Password: ")
                password = await self.readline(echo=False)
                self.write("\n")
            if user != self.user or password != self.password:
                await asyncio.sleep(LOGIN_INCORRECT_DELAY_S)
                self.write("\nLogin incorrect\n")
                continue
            await self._shell(user)

    async def _shell(self, user: str) -> None:
        prompt = f"{user}@{self.hostname}:~{'#' if user == 'root' else '$'} "
        while True:
            self.write(prompt)
            line = (await self.readline()).strip()
            if not line:
                continue
            if line in ("exit", "logout"):
                self.write("logout\n")
                return
            self.last_status = await self._run_line(line.replace("$?", str(self.last_status)))

    async def _run_line(self, line: str) -> int:
        parsed = self.shell.split(line)
        if isinstance(parsed, str):
            self.write(parsed)
            return 2

        async def no_stdin() -> bytes:
            return b""

        io = ShellIO(
            no_stdin,
            lambda b: self.write(b.decode(errors="replace")),
            lambda b: self.write(b.decode(errors="replace")),
        )
        status = 0
        for argv in parsed:
            status = await self.shell.run(argv, io)
            if status != 0:
                break
        return status
