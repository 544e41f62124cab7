"""A private OpenSSH server on 127.0.0.1, and a TCP proxy in front of it that can be cut.

Real boards serve SSH with OpenSSH (and SFTP with its C sftp-server), not with the Python SSH
server of the twins: benchmarks measure both to tell the harness's costs from the twin's, and
tests cut a real OpenSSH connection (`CuttableProxy`) to see a stream resume as it would
after a network drop. Debian's openssh-server provides sshd (``make sshd``); only the binary
is used, run as the current user with its own keys and configuration in a state directory.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_think.boards import SshConfig

__all__ = ["CuttableProxy", "available", "openssh_server"]

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SFTP_SERVERS = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server")
CHUNK = 256 * 1024


def available() -> bool:
    return os.access(SSHD, os.X_OK) and any(os.path.exists(p) for p in SFTP_SERVERS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextmanager
def openssh_server(state: Path) -> Iterator[SshConfig]:
    """Run sshd on a free loopback port; yield the SshConfig (pinned host key) to reach it."""
    state.mkdir(parents=True, exist_ok=True)
    for name in ("host_ed25519", "client_ed25519"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(state / name)], check=True
        )
    shutil.copy(state / "client_ed25519.pub", state / "authorized_keys")
    fingerprint = subprocess.run(
        ["ssh-keygen", "-lf", str(state / "host_ed25519.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1]
    port = _free_port()
    sftp = next(p for p in SFTP_SERVERS if os.path.exists(p))
    (state / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {state / 'host_ed25519'}\n"
        f"AuthorizedKeysFile {state / 'authorized_keys'}\nPasswordAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
        f"Subsystem sftp {sftp}\nPidFile {state / 'sshd.pid'}\n"
    )
    if os.geteuid() == 0:  # sshd running as root wants its privilege-separation directory
        Path("/run/sshd").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [SSHD, "-D", "-f", str(state / "sshd_config"), "-E", str(state / "sshd.log")]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"sshd did not start: see {state / 'sshd.log'}") from None
                time.sleep(0.05)
        yield SshConfig(
            host="127.0.0.1",
            port=port,
            user=getpass.getuser(),
            key_file=state / "client_ed25519",
            host_key=fingerprint,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class CuttableProxy:
    """A TCP proxy on a free loopback port in front of `port`; `cut()` drops every
    connection through it at once, as a network that goes away does, while new connections
    are still let through (the network is back)."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.cuts = 0
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="think-proxy", daemon=True).start()

    def cut(self) -> None:
        """Reset every connection through the proxy (RST, as a peer that vanished)."""
        with self._lock:
            pairs, self.pairs = self.pairs, []
            self.cuts += 1
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        self.cut()

    def __enter__(self) -> CuttableProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
            except OSError:
                continue
            server.settimeout(None)
            with self._lock:
                self.pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _reset(dst)


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
