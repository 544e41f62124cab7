"""A private OpenSSH server on 127.0.0.1, for control measurements against the real thing.

Real boards serve SFTP with OpenSSH's C sftp-server, not with the Python SSH server of the
twins; measuring both shows which costs belong to the harness and which to the twin.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_think.boards import SshConfig

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SFTP_SERVERS = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server")


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
