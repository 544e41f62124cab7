"""A board twin: the board's shell, sandbox and device, composed with the twin parts of its
family and meter (`pytest_think.emulator.parts`), and its power going down and up."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import posixpath
import shlex
import shutil
import signal
import sys
from collections.abc import Callable
from typing import Any

import asyncssh

from pytest_think.boards import BoardConfig
from pytest_think.emulator.activity import TRUTH_FILE, DeviceActivity
from pytest_think.emulator.config import TwinConfig
from pytest_think.emulator.device import LinkDrops, run_agent
from pytest_think.emulator.kernel_log import KernelLog
from pytest_think.emulator.parts import TwinPart
from pytest_think.emulator.power.onboard import OnboardPowerTwin, rails_model
from pytest_think.emulator.sandbox import Sandbox
from pytest_think.emulator.servers.console import ConsoleTwin
from pytest_think.emulator.shell import BoardShell, ShellIO, Uname
from pytest_think.emulator.stalls import TwinStalls, silence
from pytest_think.errors import TwinError

__all__ = ["BoardTwin", "uname_for"]


class BoardTwin:
    """A board as its twin: the shell and sandbox every board has, the parts of its family
    and meter, and the device activity its power follows."""

    def __init__(
        self, board: BoardConfig, twin: TwinConfig, sandbox: Sandbox, parts: list[TwinPart[Any]]
    ) -> None:
        self.board = board
        self.twin = twin
        self.sandbox = sandbox
        self.parts = parts
        interpreters = {"python3", "python", posixpath.basename(board.agent.interpreter)}
        self.shell = BoardShell(sandbox, uname_for(board, twin), interpreters)
        # What a power cycle forgets beyond tmpfs (/run): the parts add theirs (the fabric).
        self.forget: list[Callable[[], None]] = []
        # The kernel log (/dev/kmsg, dmesg, the console's kernel messages); parts print to it.
        self.kernel_log = KernelLog()
        self.kernel_log.attach(self.shell)
        self.forget.append(self.kernel_log.reboot)
        # What the board adds to its processes' environment (SDK tools, native libraries).
        self.process_env: dict[str, str] = {"PATH": self._interpreter_shims(sandbox)}
        for part in parts:
            part.attach(self)
        # The agent reads the board's files (sensors) under the sandbox, where this board lives.
        self.process_env["THINK_SYSROOT"] = str(sandbox.root)
        self.onboard = OnboardPowerTwin(sandbox, twin.power) if twin.power else None
        # What the device does, for the power the board's meter sees; the truth is logged for
        # what that meter measures (the supply, or the onboard rails it sums).
        self.activity: DeviceActivity | None = None
        model = twin.power_model or (rails_model(twin.power.rails) if twin.power else None)
        for part in parts:
            model = part.measured_power(board, twin, model)
        if model is not None:
            self.activity = DeviceActivity(model, sandbox.root.parent / TRUTH_FILE)
            self.activity.power_listeners.append(self.power)
        self.tasks: list[asyncio.Future[None]] = []
        self.up = True  # powered and booted: answers SSH
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.boot_task: asyncio.Task[None] | None = None
        # How the SSH server takes a new host key (the new_host_key fault); set by the server.
        self.rekey: Callable[[], None] | None = None
        faults = twin.faults
        self.drops = (
            LinkDrops(faults.drop_after_vectors, self.drop_connections)
            if faults.drop_after_vectors
            else None
        )
        self.stalls = TwinStalls(twin.faults, self.freeze)

    def add_path(self, directories: list[str]) -> None:
        """Put directories first on the PATH of the board's processes (an SDK's tools)."""
        self.process_env["PATH"] = os.pathsep.join([*directories, self.process_env["PATH"]])

    async def start(self) -> dict[str, str]:
        """Start what runs beside the SSH server; what the endpoint gains (meter, console)."""
        ready: dict[str, str] = {}
        if self.onboard is not None and self.activity is not None:
            self.tasks.append(asyncio.ensure_future(self.onboard.follow(self.activity)))
        for part in self.parts:
            ready.update(await part.serve(self))
        if self.board.console is not None:
            # The board's serial console, on a pty beside the SSH server (same shell, same files).
            console = ConsoleTwin(self.board, self.shell, self.twin.console, self.twin.os_release)
            if not self.twin.console.silent:
                self.kernel_log.consoles.append(console.write)
            after = self.twin.console.oops_after_vectors
            if after is not None:
                if self.activity is None:
                    raise TwinError(
                        f"board '{self.board.name}': twin.console.oops_after_vectors counts "
                        "what the device answers; give the twin a 'power_model' to follow it"
                    )
                self.kernel_log.print_after_vectors(self.activity, after, self.twin.console.oops)
            self.tasks.append(console.start())
            ready["console"] = console.path
        return ready

    def power(self, on: bool) -> None:
        """The supply turned the board off or on: it goes down at once, and boots again."""
        if not on:
            self.up = False
            if self.boot_task is not None:
                self.boot_task.cancel()
            self._abort_connections()  # sessions and the agents they run die with the board
            # What a reboot forgets: tmpfs (/run), and what the parts say (the fabric).
            shutil.rmtree(self.sandbox.root / "run", ignore_errors=True)
            for forget in self.forget:
                forget()
        else:
            self.boot_task = asyncio.ensure_future(self._boot())

    async def _boot(self, seconds: float | None = None) -> None:
        await asyncio.sleep(self.twin.boot_s if seconds is None else seconds)
        self.stalls.booted()
        self.up = True

    def drop_connections(self) -> None:
        """The network drops the board's SSH connections; the board stays up (its processes
        but those the sessions ran go on), unless the faults say more goes with them."""
        faults = self.twin.faults
        self._abort_connections()
        if faults.drop_forgets_workdir:
            workdir = self.sandbox.host_path(self.board.agent.workdir)
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
        if faults.drop_down_s > 0:
            self.up = False
            self.boot_task = asyncio.ensure_future(self._boot(faults.drop_down_s))

    def _abort_connections(self) -> None:
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        if self.twin.faults.new_host_key and self.rekey is not None:
            self.rekey()  # what answers next is the board reinstalled, with a key of its own

    def freeze(self) -> None:
        """The board locks up: its connections go silent (left open, as a hung kernel leaves
        them), new ones are dropped, until a power cycle."""
        self.up = False
        for conn in self.connections:
            silence(conn)

    def _interpreter_shims(self, sandbox: Sandbox) -> str:
        """A bin directory where the board's interpreter names run this twin's Python, for the
        processes the agent starts (a design's runner script); returns its path."""
        bin_dir = sandbox.root / "usr" / "local" / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in self.shell.interpreters:
            shim = bin_dir / name
            shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
            shim.chmod(0o755)
        return str(bin_dir)

    async def handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        status = await self._dispatch(process)
        if status < 0:
            name = signal.Signals(-status).name.removeprefix("SIG")
            process.exit_with_signal(name, core_dumped=name == "SEGV")
        else:
            process.exit(status)

    async def _dispatch(self, process: asyncssh.SSHServerProcess[bytes]) -> int:
        def out(data: bytes) -> None:
            process.stdout.write(data)

        def err(data: bytes) -> None:
            process.stderr.write(data)

        async def read_stdin() -> bytes:
            data: bytes = await process.stdin.read(65536)
            return data

        command = process.command
        if command is None:
            err(b"this board twin serves commands, not an interactive shell\n")
            return 1
        parsed = self.shell.split(command)
        if isinstance(parsed, str):
            err(parsed.encode())
            return 2
        io = ShellIO(read_stdin, out, err)
        status = 0
        for argv in parsed:
            if self.stalls.command_freezes(argv[0]):
                await asyncio.Event().wait()  # never returns: the board is frozen
            if argv[0] in self.shell.interpreters:
                status = await self._python(argv, process, io)
            else:
                status = await self.shell.run(argv, io)
            if status != 0:
                break
        await process.stdout.drain()
        return status

    async def _python(
        self, argv: list[str], process: asyncssh.SSHServerProcess[bytes], io: ShellIO
    ) -> int:
        args = argv[1:]
        if args in (["--version"], ["-V"]):
            io.out(f"Python {platform.python_version()}\n".encode())
            return 0
        if not args or args[0].startswith("-"):
            io.err(f"{argv[0]}: this board twin runs script files only\n".encode())
            return 2
        script = self.sandbox.host_path(args[0])
        if script is None or not script.is_file():
            io.err(
                f"{argv[0]}: can't open file '{self.sandbox.board_path(args[0])}': "
                "[Errno 2] No such file or directory\n".encode()
            )
            return 2

        # Once the client closed the channel, what the agent says goes nowhere (an error
        # here would make asyncssh drop the whole connection, which no real board does).
        async def write_out(data: bytes) -> None:
            with contextlib.suppress(BrokenPipeError):
                process.stdout.write(data)
                await process.stdout.drain()

        async def write_err(data: bytes) -> None:
            with contextlib.suppress(BrokenPipeError):
                process.stderr.write(data)

        return await run_agent(
            script,
            args[1:],
            self.twin,
            process.stdin.read,
            write_out,
            write_err,
            self.process_env,
            self.activity,
            drops=self.drops,
            gate=self.stalls.gate(),
        )


def uname_for(board: BoardConfig, twin: TwinConfig) -> Uname:
    return Uname(
        system="Linux",
        hostname=twin.hostname or board.name,
        kernel=twin.kernel or platform.release(),
        version="#1 SMP PREEMPT",
        machine=twin.machine or platform.machine(),
    )
