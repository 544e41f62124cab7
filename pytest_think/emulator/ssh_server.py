"""The twin's SSH server (asyncssh) on 127.0.0.1: key auth, SFTP into the sandbox, the board's
command set, and the uploaded agent run as a real process."""

from __future__ import annotations

import asyncio
import os
import platform
import posixpath
import shlex
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from pytest_think.boards import BoardConfig, MeterConfig, TwinConfig, TwinMeter
from pytest_think.emulator import scpi
from pytest_think.emulator.activity import TRUTH_FILE, DeviceActivity
from pytest_think.emulator.console import ConsoleTwin
from pytest_think.emulator.coral import CoralTwin
from pytest_think.emulator.device import run_agent
from pytest_think.emulator.fpga import FpgaTwin
from pytest_think.emulator.jetson import JetsonTwin
from pytest_think.emulator.kalray import MppaTwin
from pytest_think.emulator.kria import XmutilTwin
from pytest_think.emulator.meter_2280s import K2280STwin
from pytest_think.emulator.meter_generic import GenericMeterTwin
from pytest_think.emulator.meter_hmc8015 import HMC8015Twin
from pytest_think.emulator.meter_n6705 import N6705Twin
from pytest_think.emulator.meter_wt310e import WT310ETwin
from pytest_think.emulator.power import OnboardPowerTwin, rails_model
from pytest_think.emulator.sandbox import Sandbox
from pytest_think.emulator.scpi import ScpiInstrument
from pytest_think.emulator.shell import BoardShell, ShellIO, Uname
from pytest_think.errors import TwinError


class TwinSSHServer(asyncssh.SSHServer):
    """One SSH connection to the twin; refused while the board is powered down or booting."""

    def __init__(self, twin: BoardTwin) -> None:
        self.twin = twin
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        if not self.twin.up:
            conn.abort()  # nothing answers on the port of a board with no power
            return
        self.conn = conn
        self.twin.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.twin.connections.discard(self.conn)

    def password_auth_supported(self) -> bool:
        return False


class BoardTwin:
    def __init__(self, board: BoardConfig, sandbox: Sandbox) -> None:
        self.board = board
        self.twin = board.twin or TwinConfig()
        self.sandbox = sandbox
        interpreters = {"python3", "python", posixpath.basename(board.agent.interpreter)}
        self.shell = BoardShell(sandbox, uname_for(board), interpreters)
        self.fpga: FpgaTwin | None = None
        if self.twin.fpga is not None:
            self.fpga = FpgaTwin(sandbox, self.twin.fpga)
            self.shell.tools["fpgautil"] = self.fpga.fpgautil
            if self.twin.fpga.loader == "xmutil":
                self.shell.tools["xmutil"] = XmutilTwin(self.fpga).xmutil
        if self.twin.jetson is not None:
            jetson = JetsonTwin(sandbox, self.twin.jetson, self.twin.latency)
            self.shell.tools.update(jetson.tools)
        self.console_task: asyncio.Task[None] | None = None
        self.meter_server: asyncio.Server | None = None
        self.onboard_task: asyncio.Future[None] | None = None
        # What the board adds to its processes' environment (SDK tools, native libraries).
        self.process_env: dict[str, str] = {"PATH": self._interpreter_shims(sandbox)}
        if self.twin.mppa is not None:
            paths = [*MppaTwin(sandbox, self.twin.mppa).path, self.process_env["PATH"]]
            self.process_env["PATH"] = os.pathsep.join(paths)
        if self.twin.coral is not None:
            self.process_env.update(CoralTwin(sandbox, self.twin.coral).env)
        # The agent reads the board's files (sensors) under the sandbox, where this board lives.
        self.process_env["THINK_SYSROOT"] = str(sandbox.root)
        self.onboard = OnboardPowerTwin(sandbox, self.twin.power) if self.twin.power else None
        # What the device does, for the power the board's meter sees; the truth is logged for
        # what that meter measures: the supply, or the onboard rails it sums.
        self.activity: DeviceActivity | None = None
        model = self.twin.power_model
        if board.meter is not None and board.meter.driver == "onboard" and self.twin.power:
            measured = [r for r in self.twin.power.rails if r.label in board.meter.rails]
            model = rails_model(measured) if measured else None
        elif model is None and self.twin.power is not None:
            model = rails_model(self.twin.power.rails)
        if model is not None:
            self.activity = DeviceActivity(model, sandbox.root.parent / TRUTH_FILE)
            self.activity.power_listeners.append(self.power)
        self.up = True  # powered and booted: answers SSH
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.boot_task: asyncio.Task[None] | None = None

    def power(self, on: bool) -> None:
        """The supply turned the board off or on: it goes down at once, and boots again."""
        if not on:
            self.up = False
            if self.boot_task is not None:
                self.boot_task.cancel()
            for conn in list(self.connections):
                conn.abort()  # sessions and the agents they run die with the board
            self.connections.clear()
            # What a reboot forgets: tmpfs (/run) and the programmable logic.
            shutil.rmtree(self.sandbox.root / "run", ignore_errors=True)
            if self.fpga is not None:
                self.fpga.unload()
        else:
            self.boot_task = asyncio.ensure_future(self._boot())

    async def _boot(self) -> None:
        await asyncio.sleep(self.twin.boot_s)
        self.up = True

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

        async def write_out(data: bytes) -> None:
            process.stdout.write(data)
            await process.stdout.drain()

        async def write_err(data: bytes) -> None:
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
        )


def uname_for(board: BoardConfig) -> Uname:
    twin = board.twin or TwinConfig()
    return Uname(
        system="Linux",
        hostname=twin.hostname or board.name,
        kernel=twin.kernel or platform.release(),
        version="#1 SMP PREEMPT",
        machine=twin.machine or platform.machine(),
    )


async def start_server(board: BoardConfig, state: Path) -> tuple[Any, dict[str, Any]]:
    """Start the twin's SSH server; return it and what a client needs to reach it."""
    assert board.ssh is not None, "an SSH twin serves boards with an 'ssh' section"
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519", comment="think-twin-client")
    client_key_file = state / "client_ed25519"
    client_key.write_private_key(str(client_key_file))
    client_key_file.chmod(0o600)
    authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())

    uname = uname_for(board)
    sandbox = Sandbox.create(state / "root", board, uname.kernel, uname.machine)
    twin = BoardTwin(board, sandbox)

    def sftp_factory(chan: Any) -> asyncssh.SFTPServer:
        return asyncssh.SFTPServer(chan, chroot=str(sandbox.root).encode())

    server = await asyncssh.create_server(
        lambda: TwinSSHServer(twin),
        "127.0.0.1",
        0,
        server_host_keys=[host_key],
        authorized_client_keys=authorized,
        process_factory=twin.handle,
        sftp_factory=sftp_factory,
        encoding=None,
        allow_scp=False,
        agent_forwarding=False,
        x11_forwarding=False,
        line_editor=False,
    )
    port = server.sockets[0].getsockname()[1]
    ready = {
        "host": "127.0.0.1",
        "port": port,
        "user": board.ssh.user,
        "key_file": str(client_key_file),
        "host_key": host_key.get_fingerprint("sha256"),
        "root": str(sandbox.root),
    }
    if twin.onboard is not None and twin.activity is not None:
        twin.onboard_task = asyncio.ensure_future(twin.onboard.follow(twin.activity))
    if board.meter is not None and board.meter.driver != "onboard":
        ready["meter"] = await start_meter(board, twin)
    if board.console is not None:
        # The board's serial console, on a pty beside the SSH server (same shell, same files).
        console = ConsoleTwin(board, twin.shell, twin.twin.console)
        twin.console_task = console.start()
        ready["console"] = console.path
    return server, ready


MeterTwin = Callable[[DeviceActivity, TwinMeter, MeterConfig], ScpiInstrument]
METER_TWINS: dict[str, MeterTwin] = {
    "keysight-n6705": N6705Twin,
    "yokogawa-wt310e": WT310ETwin,
    "keithley-2280s": K2280STwin,
    "rs-hmc8015": HMC8015Twin,
    "generic-scpi": GenericMeterTwin,
}


async def start_meter(board: BoardConfig, twin: BoardTwin) -> str:
    """Serve the twin of the board's meter on loopback; return its VISA resource."""
    assert board.meter is not None
    if twin.activity is None:
        raise TwinError(
            f"board '{board.name}' has a meter but its twin has no 'power_model' to measure"
        )
    factory = METER_TWINS.get(board.meter.driver)
    if factory is None:
        raise TwinError(
            f"board '{board.name}': no twin for meter driver '{board.meter.driver}' "
            f"(twins: {', '.join(sorted(METER_TWINS))})"
        )
    instrument = factory(twin.activity, twin.twin.meter, board.meter)
    twin.meter_server = await scpi.serve(instrument)
    port = twin.meter_server.sockets[0].getsockname()[1]
    return f"TCPIP::127.0.0.1::{port}::SOCKET"


async def serve_until_parent_exits(board: BoardConfig, state: Path, announce: Any) -> None:
    server, ready = await start_server(board, state)
    announce(ready)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    # The launcher holds our stdin: when it exits, even abruptly, stdin closes and we stop.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    watcher = asyncio.ensure_future(reader.read())
    await asyncio.wait([stop, watcher], return_when=asyncio.FIRST_COMPLETED)
    watcher.cancel()
    server.close()
