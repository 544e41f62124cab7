"""SSH host key verification: a pinned SHA256 fingerprint, or known_hosts. Never auto-accept."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import paramiko

from pytest_think.errors import HostKeyError

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts").expanduser()


def fingerprint(key: paramiko.PKey) -> str:
    """The key's fingerprint exactly as `ssh-keygen -lf` prints it: SHA256:<base64, unpadded>."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class PinnedFingerprintPolicy(paramiko.MissingHostKeyPolicy):
    """Accept exactly the key whose fingerprint the board file pins."""

    def __init__(self, expected: str, where: str) -> None:
        self.expected = expected
        self.where = where

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        got = fingerprint(key)
        if not hmac.compare_digest(got, self.expected):
            raise HostKeyError(
                f"host key mismatch for {self.where}: the board presented {key.get_name()} {got}, "
                f"the board file pins {self.expected}; refusing to connect "
                "(if the board was reinstalled, check its key on the console and update "
                "ssh.host_key)"
            )


class RejectUnknownPolicy(paramiko.MissingHostKeyPolicy):
    """known_hosts mode: a host that is not listed is refused, showing what it presented."""

    def __init__(self, known_hosts: Path, where: str) -> None:
        self.known_hosts = known_hosts
        self.where = where

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise HostKeyError(
            f"unknown host key for {self.where}: the board presented {key.get_name()} "
            f"{fingerprint(key)}, expected none ({self.known_hosts} has no entry); refusing to "
            "connect (verify the fingerprint on the board's console, then pin it in ssh.host_key "
            "or add it to known_hosts)"
        )


def configure(
    client: paramiko.SSHClient, host_key: str | None, known_hosts: Path | None, where: str
) -> None:
    """Set up `client` to verify the host key the board file asks for."""
    if host_key is not None:
        client.set_missing_host_key_policy(PinnedFingerprintPolicy(host_key, where))
        return
    path = known_hosts or DEFAULT_KNOWN_HOSTS
    if path.is_file():
        client.load_host_keys(str(path))
    client.set_missing_host_key_policy(RejectUnknownPolicy(path, where))


def mismatch_message(
    exc: paramiko.BadHostKeyException, where: str, known_hosts: Path | None
) -> str:
    return (
        f"host key mismatch for {where}: the board presented {exc.key.get_name()} "
        f"{fingerprint(exc.key)}, {known_hosts or DEFAULT_KNOWN_HOSTS} expects "
        f"{fingerprint(exc.expected_key)}; refusing to connect"
    )
