"""SSH transport (paramiko): connect, run commands, upload files, start long-lived processes.

Commands are always built from argument lists and quoted (transport/shell.py), so remote
paths with spaces or shell metacharacters reach the board as one argument.
"""

from __future__ import annotations

import math
import os
import posixpath
import select
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
import tenacity

from pytest_think.boards import SshConfig
from pytest_think.errors import (
    CommandTimeout,
    HostKeyError,
    LinkError,
    LoginRefused,
)
from pytest_think.hashing import sha256_file
from pytest_think.transport import hostkeys
from pytest_think.transport.link import RELIABLE_FRAME_BYTES
from pytest_think.transport.shell import CommandResult, quote

# Larger than paramiko's 2 MiB default: keeps bulk uploads and vector streams from stalling
# on window updates over links with some latency.
WINDOW_SIZE = 16 * 1024 * 1024
MAX_PACKET = 32 * 1024
SFTP_REQUEST = 128 * 1024
STDERR_TAIL = 8 * 1024
# Waits between reconnection tries: doubling from RECONNECT_FIRST_WAIT_S up to ..._MAX_WAIT_S.
RECONNECT_FIRST_WAIT_S = 0.2
RECONNECT_MAX_WAIT_S = 5.0


def _transport_factory(sock: Any, /, **kwargs: Any) -> paramiko.Transport:
    """A paramiko Transport that prefers AES-GCM (one pass with AES-NI, against CTR + HMAC's
    two), falling back to paramiko's usual order with servers that lack it."""
    transport = paramiko.Transport(sock, disabled_algorithms=kwargs.get("disabled_algorithms"))
    options = transport.get_security_options()
    ciphers = list(options.ciphers)
    options.ciphers = tuple(sorted(ciphers, key=lambda name: "-gcm@" not in name))
    return transport


@dataclass
class UploadReport:
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    seconds: float = 0.0


class RemoteProcess:
    """A command left running on the board with its stdin/stdout as a byte link (`Link`)."""

    # An SSH channel delivers every byte, in order: frames need no repair on it.
    reliable = True
    frame_bytes = RELIABLE_FRAME_BYTES
    frame_bytes_range = (RELIABLE_FRAME_BYTES, RELIABLE_FRAME_BYTES)
    retransmit_after = math.inf

    def __init__(self, channel: paramiko.Channel, command: str, where: str) -> None:
        self.channel = channel
        self.command = command
        self.where = where
        self._stderr = bytearray()

    def describe(self) -> str:
        return f"`{self.command}` on {self.where}"

    def send(self, data: bytes) -> None:
        # Not channel.sendall: it slices the bytes still to send after every packet, a copy of
        # the rest of the frame per 32 KiB (quadratic in the frame's length). A memoryview
        # slices without copying.
        view = memoryview(data)
        while view:
            sent = self.channel.send(view)  # type: ignore[arg-type]  # any buffer will do
            if not sent:
                raise OSError(f"the channel to {self.describe()} closed while sending")
            view = view[sent:]

    def recv(self, n: int, timeout: float | None) -> bytes:
        """Up to n bytes of stdout; b"" at end of stream; TimeoutError after `timeout`."""
        # Wait with select, not channel.settimeout(): paramiko applies a channel's timeout to
        # sends too, and another thread may be blocked in send() on a full window.
        # stderr is drained while waiting: it shares the channel window with stdout, and a
        # chatty agent must not stall its own results.
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (self.channel.recv_ready() or self.channel.eof_received or self.channel.closed):
            self._drain_stderr()
            wait = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError(f"no output within {timeout} s")
            select.select([self.channel], [], [], wait)
        data: bytes = self.channel.recv(n)
        self._drain_stderr()
        return data

    def close_input(self) -> None:
        if not self.channel.closed:
            self.channel.shutdown_write()

    def _drain_stderr(self) -> None:
        while self.channel.recv_stderr_ready():
            self._stderr += self.channel.recv_stderr(65536)
            del self._stderr[:-STDERR_TAIL]

    def stderr_tail(self, lines: int = 5) -> str:
        deadline = time.monotonic() + 1.0
        # stderr may still be arriving just after the process died: give it a moment.
        while not self.channel.exit_status_ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._drain_stderr()
        text = self._stderr.decode("utf-8", errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def exit_status(self, timeout: float = 2.0) -> int | None:
        if self.channel.status_event.wait(timeout):
            return int(self.channel.recv_exit_status())
        return None

    def close(self) -> None:
        self.channel.close()


class SshTransport:
    def __init__(self, config: SshConfig, board_name: str) -> None:
        self.config = config
        self.board_name = board_name
        self.client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self.reconnects = 0  # connections made again after the first, over this transport's life
        self.uploaded_files = 0  # files `upload` copied (not skipped), over its life

    @property
    def where(self) -> str:
        return f"board '{self.board_name}' ({self.config.host}:{self.config.port})"

    def _password(self) -> str | None:
        name = self.config.password_env
        if name is None:
            return None
        value = os.environ.get(name)
        if value is None:
            raise LinkError(
                f"{self.where}: ssh.password_env names {name}, which is not set in the environment"
            )
        return value

    def connect(self) -> SshTransport:
        cfg = self.config
        if cfg.host is None:  # a board file's labgrid place gives it (pytest_think.farm)
            raise LinkError(f"board '{self.board_name}': no ssh host to connect to")
        if cfg.key_file is not None and not cfg.key_file.is_file():
            raise LinkError(
                f"{self.where}: ssh.key_file {cfg.key_file} not found (the private key to log "
                "in with); think check names what a board file lacks"
            )
        client = paramiko.SSHClient()
        hostkeys.configure(client, cfg.host_key, cfg.known_hosts, f"{cfg.host}:{cfg.port}")
        password = self._password()
        try:
            sock = self._open_socket()
            client.connect(
                cfg.host,
                sock=sock,
                port=cfg.port,
                username=cfg.user,
                key_filename=str(cfg.key_file) if cfg.key_file else None,
                password=password,
                timeout=cfg.connect_timeout,
                banner_timeout=cfg.connect_timeout,
                auth_timeout=cfg.connect_timeout,
                allow_agent=cfg.key_file is None,
                look_for_keys=cfg.key_file is None and password is None,
                transport_factory=_transport_factory,
            )
        except LinkError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                hostkeys.mismatch_message(exc, f"{cfg.host}:{cfg.port}", cfg.known_hosts)
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise LoginRefused(f"cannot log in to {self.where} as {cfg.user}: {exc}") from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            client.close()
            cause = _describe_socket_error(exc, cfg.connect_timeout)
            raise LinkError(f"cannot reach {self.where}: {cause}") from None
        transport = client.get_transport()
        assert transport is not None
        if cfg.keepalive:
            transport.set_keepalive(int(cfg.keepalive))
        self.client = client
        return self

    @property
    def connected(self) -> bool:
        """Whether the SSH connection is up (as far as this side knows: a dead peer shows
        only when a keepalive or a request goes unanswered)."""
        transport = self.client.get_transport() if self.client is not None else None
        return transport is not None and transport.is_active()

    def reconnect(self, tries: int | None = None, within: float | None = None) -> int:
        """Drop this connection and connect again, as the same object (the parts bound to
        it keep working); returns the tries it took.

        Tries up to `tries` times (default: the board file's `ssh.reconnects`), and for no
        longer than `within` seconds when given (a board booting), waiting twice as long
        after each failure. A host key that changed, or a login refused, is not tried
        again: LinkError/HostKeyError at once. After the last try, one LinkError line."""
        limit = self.config.reconnects if tries is None else tries
        if limit < 1:
            raise LinkError(f"{self.where}: the connection dropped and ssh.reconnects is 0")
        stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(limit)
        if within is not None:
            stop = stop | tenacity.stop_after_delay(within)
        retrying = tenacity.Retrying(
            stop=stop,
            wait=tenacity.wait_exponential(
                multiplier=RECONNECT_FIRST_WAIT_S, max=RECONNECT_MAX_WAIT_S
            ),
            retry=tenacity.retry_if_exception(_worth_retrying),
            reraise=True,
        )
        self.close()
        try:
            for attempt in retrying:
                with attempt:
                    self.connect()
        except (HostKeyError, LoginRefused):
            raise
        except LinkError as exc:
            tried = retrying.statistics.get("attempt_number", limit)
            raise LinkError(
                f"lost the SSH connection to {self.where} and {tried} reconnection "
                f"tr{'y' if tried == 1 else 'ies'} failed; last: {exc}"
            ) from None
        self.reconnects += 1
        return int(retrying.statistics.get("attempt_number", 1))

    def _open_socket(self) -> socket.socket:
        """TCP connect and wait for the server's first byte, so a board that accepts the
        connection but never speaks SSH is reported as such, not as a paramiko internal."""
        cfg = self.config
        sock = socket.create_connection((cfg.host, cfg.port), timeout=cfg.connect_timeout)
        # Without this, a channel request sent right after another channel's close waits
        # ~40 ms for a delayed ACK (Nagle), on every command.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if not sock.recv(1, socket.MSG_PEEK):
                raise LinkError(f"{self.where} closed the connection before sending an SSH banner")
        except TimeoutError:
            sock.close()
            raise LinkError(
                f"cannot reach {self.where}: no SSH banner within {cfg.connect_timeout:g} s "
                "(is an SSH server answering on that port?)"
            ) from None
        except BaseException:
            sock.close()
            raise
        return sock

    def _transport(self) -> paramiko.Transport:
        if self.client is None:
            raise LinkError(f"{self.where}: not connected")
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise LinkError(f"{self.where}: the SSH connection has closed")
        return transport

    def _open(self, command: str, timeout: float) -> paramiko.Channel:
        try:
            channel = self._transport().open_session(
                window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET, timeout=timeout
            )
            channel.exec_command(command)
        except (paramiko.SSHException, OSError) as exc:
            raise LinkError(f"{self.where}: cannot run `{command}`: {exc}") from None
        return channel

    def run(
        self,
        argv: Sequence[str],
        timeout: float | None = None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run a command to completion; raises RemoteCommandError when it outlives `timeout`."""
        command = quote(argv)
        timeout = timeout or self.config.command_timeout
        channel = self._open(command, timeout)
        deadline = time.monotonic() + timeout
        out, err = bytearray(), bytearray()
        try:
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            while True:
                while channel.recv_ready():
                    out += channel.recv(65536)
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                if channel.exit_status_ready() and not (
                    channel.recv_ready() or channel.recv_stderr_ready()
                ):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CommandTimeout(
                        f"`{command}` on {self.where} did not finish within {timeout:g} s"
                    )
                select.select([channel], [], [], min(remaining, 0.05))
            status = channel.recv_exit_status()
        finally:
            channel.close()
        return CommandResult(command, status, bytes(out), bytes(err))

    def start(self, argv: Sequence[str], timeout: float | None = None) -> RemoteProcess:
        command = quote(argv)
        channel = self._open(command, timeout or self.config.command_timeout)
        return RemoteProcess(channel, command, self.where)

    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = paramiko.SFTPClient.from_transport(
                self._transport(), window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET
            )
            assert self._sftp is not None
        return self._sftp

    def remote_sha256(self, paths: Sequence[str]) -> dict[str, str]:
        """sha256 of each remote file that exists (absent files are simply missing)."""
        if not paths:
            return {}
        result = self.run(["sha256sum", "--", *paths])
        found = {}
        for line in result.out.splitlines():
            digest, _, name = line.partition("  ")
            if len(digest) == 64:
                found[name] = digest
        return found

    def upload(self, files: Sequence[tuple[Path, str]]) -> UploadReport:
        """Copy (local, remote) pairs; a file whose sha256 already matches on the board is skipped.

        Each file is written to a temporary name and renamed into place, so an interrupted
        upload never leaves a truncated file that a later run would trust.
        """
        report = UploadReport()
        start = time.perf_counter()
        for local, _ in files:
            if not local.is_file():
                raise FileNotFoundError(f"{local} not found")
        local_sha = {remote: sha256_file(local) for local, remote in files}
        remote_sha = self.remote_sha256([remote for _, remote in files])
        todo = [(loc, rem) for loc, rem in files if remote_sha.get(rem) != local_sha[rem]]
        report.skipped = [rem for _, rem in files if remote_sha.get(rem) == local_sha[rem]]
        dirs = sorted({posixpath.dirname(rem) for _, rem in todo} - {""})
        if dirs:
            self.run(["mkdir", "-p", "--", *dirs]).check(self.where)
        sftp = self.sftp()
        for local, remote in todo:
            part = f"{remote}.part"
            try:
                report.bytes_sent += self._put(sftp, local, part)
                sftp.posix_rename(part, remote)
            except (OSError, paramiko.SSHException) as exc:
                raise LinkError(
                    f"upload of {local} to {remote} on {self.where} failed: {exc}"
                ) from None
            report.uploaded.append(remote)
            self.uploaded_files += 1
        report.seconds = time.perf_counter() - start
        return report

    def write_file(self, remote: str, data: bytes) -> None:
        """Write small `data` to a remote file (SFTP), replacing it atomically."""
        sftp = self.sftp()
        part = f"{remote}.part"
        try:
            with sftp.open(part, "wb") as fh:
                fh.write(data)
            sftp.posix_rename(part, remote)
        except (OSError, paramiko.SSHException) as exc:
            raise LinkError(f"writing {remote} on {self.where} failed: {exc}") from None

    @staticmethod
    def _put(sftp: paramiko.SFTPClient, local: Path, remote: str) -> int:
        """Pipelined SFTP write in SFTP_REQUEST-sized requests; returns the bytes written."""
        sent = 0
        with local.open("rb") as src, sftp.open(remote, "wb") as dst:
            # paramiko's 32 KiB default request halves throughput; OpenSSH's sftp-server
            # accepts requests up to 256 KiB.
            dst.MAX_REQUEST_SIZE = SFTP_REQUEST
            dst.set_pipelined(True)
            while chunk := src.read(SFTP_REQUEST):
                dst.write(chunk)
                sent += len(chunk)
        if sftp.stat(remote).st_size != sent:
            raise OSError(f"{remote} is {sftp.stat(remote).st_size} bytes after writing {sent}")
        return sent

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self.client is not None:
            self.client.close()
            self.client = None


def _worth_retrying(exc: BaseException) -> bool:
    """A board that does not answer yet may answer later; a changed host key or a refused
    login will not change by trying again."""
    return isinstance(exc, LinkError) and not isinstance(exc, (HostKeyError, LoginRefused))


def _describe_socket_error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        errors = {getattr(e, "strerror", None) or str(e) for e in exc.errors.values()}
        return "; ".join(sorted(errors))
    if isinstance(exc, socket.gaierror):
        return f"host name does not resolve ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
