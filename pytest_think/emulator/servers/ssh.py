"""The twin's SSH server (asyncssh) on 127.0.0.1: key auth, SFTP into the sandbox, the board
twin's command set, and the uploaded agent run as a real process."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh

from pytest_think.boards import BoardConfig
from pytest_think.emulator.board import BoardTwin, uname_for
from pytest_think.emulator.config import TwinConfig
from pytest_think.emulator.parts import TwinPart
from pytest_think.emulator.sandbox import Sandbox
from pytest_think.emulator.servers.sftp import TwinSFTPServer

__all__ = ["TwinSSHServer", "serve_until_parent_exits", "start_server"]


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


async def start_server(
    board: BoardConfig, twin_config: TwinConfig, parts: list[TwinPart[Any]], state: Path
) -> tuple[Any, dict[str, Any]]:
    """Start the board twin behind its SSH server; return the server and what a client needs
    to reach it (and the board's meter and console)."""
    assert board.ssh is not None, "an SSH twin serves boards with an 'ssh' section"
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519", comment="think-twin-client")
    client_key_file = state / "client_ed25519"
    client_key.write_private_key(str(client_key_file))
    client_key_file.chmod(0o600)
    authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())

    uname = uname_for(board, twin_config)
    sandbox = Sandbox.create(state / "root", board, twin_config, uname.kernel, uname.machine)
    twin = BoardTwin(board, twin_config, sandbox, parts)

    def sftp_factory(chan: Any) -> asyncssh.SFTPServer:
        return TwinSFTPServer(chan, sandbox)

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
    twin.rekey = lambda: server.update(
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")]
    )
    port = server.sockets[0].getsockname()[1]
    # The host key as OpenSSH pins it, for `ssh -o UserKnownHostsFile=…` (nothing in ~/.ssh).
    known_hosts = state / "known_hosts"
    public = host_key.export_public_key("openssh").decode().split()[:2]
    known_hosts.write_text(f"[127.0.0.1]:{port} {' '.join(public)}\n")
    ready = {
        "host": "127.0.0.1",
        "port": port,
        "user": board.ssh.user,
        "key_file": str(client_key_file),
        "host_key": host_key.get_fingerprint("sha256"),
        "known_hosts": str(known_hosts),
        "root": str(sandbox.root),
    }
    ready.update(await twin.start())
    return server, ready


async def serve_until_parent_exits(
    board: BoardConfig,
    twin: TwinConfig,
    parts: list[TwinPart[Any]],
    state: Path,
    announce: Callable[[dict[str, Any]], None],
) -> None:
    """Serve the board twin until the launcher goes away (stdin closes) or SIGTERM."""
    server, ready = await start_server(board, twin, parts, state)
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
