"""A board file checked as a session would take it, short of connecting (``think check``).

What pytest checks when a session starts — the file's own fields, its family and the family's
options, the meter driver and its options, the twin section of an emulated board — and what
connecting to the hardware needs that can be known here: the key file, the host key pinned or
listed in known_hosts, the password variables set, the serial devices present. A board reached
through its twin (``--emulate``, or a twin-only board) needs none of those: the twin gives its
own endpoint, key and host key. Each problem is one line naming the file and the field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import paramiko

from pytest_think import emulation
from pytest_think.boards import BoardConfig, SshConfig, find_board
from pytest_think.checks import check_board
from pytest_think.errors import BoardConfigError
from pytest_think.transport.hostkeys import DEFAULT_KNOWN_HOSTS

__all__ = ["access_problems", "check_board_file", "check_spec"]

PUBLIC_KEY_PREFIXES = (b"ssh-", b"ecdsa-", b"sk-")


def check_spec(
    spec: str, dirs: list[Path], emulate: bool = False, environ: Mapping[str, str] = os.environ
) -> BoardConfig:
    """The board `spec` names (a board name, looked up in `dirs` as --board does, or a path),
    checked: BoardConfigError with every problem of the file on one line."""
    board = find_board(spec, dirs)
    check_board_file(board, emulate, environ)
    return board


def check_board_file(
    board: BoardConfig, emulate: bool = False, environ: Mapping[str, str] = os.environ
) -> None:
    """`board` as a session takes it with or without --emulate (`emulate`), and what
    connecting to it needs."""
    check_board(board)
    if emulate and board.twin is None:
        raise BoardConfigError(
            f"board file {board.source}: board '{board.name}' has no 'twin' section, so it "
            "cannot be emulated; check it without --emulate or describe its twin"
        )
    emulation.check_twin(board)  # a typo in a twin section is one whether emulated or not
    if emulation.emulated(board, emulate):
        return
    problems = access_problems(board, environ)
    if problems:
        raise BoardConfigError(f"board file {board.source}: {'; '.join(problems)}")


def access_problems(board: BoardConfig, environ: Mapping[str, str] = os.environ) -> list[str]:
    """What connecting to the hardware needs and would not find, each as "field 'x': …"."""
    problems: list[str] = []
    if board.ssh is not None:
        problems += _ssh_problems(board.ssh, board.labgrid is not None, environ)
    if board.console is not None:
        login = board.console.login
        problems += _variable("console.login.password_env", login.password_env, environ)
    for field, url in (
        ("serial.url", board.serial.url if board.serial else None),
        ("console.url", board.console.url if board.console else None),
    ):
        if url is not None and url.startswith("/") and not os.path.exists(url):
            problems.append(f"field '{field}': {url} does not exist (is the board plugged in?)")
    return problems


def _ssh_problems(ssh: SshConfig, placed: bool, environ: Mapping[str, str]) -> list[str]:
    problems = _variable("ssh.password_env", ssh.password_env, environ)
    if ssh.key_file is not None:
        problems += _key_file_problems(ssh.key_file)
    if ssh.host_key is None:
        problems += _known_host_problems(ssh, placed)
    return problems


def _variable(field: str, name: str | None, environ: Mapping[str, str]) -> list[str]:
    if name is None or name in environ:
        return []
    return [f"field '{field}': names {name}, which is not set in the environment; export it"]


def _key_file_problems(path: Path) -> list[str]:
    where = "field 'ssh.key_file'"
    if not path.is_file():
        return [f"{where}: {path} not found (the private key to log in with)"]
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        return [f"{where}: {path}: cannot read: {exc.strerror or exc}"]
    if head.startswith(PUBLIC_KEY_PREFIXES):
        return [f"{where}: {path} is a public key; name the private key (without .pub)"]
    if not head.startswith(b"-----BEGIN "):
        return [f"{where}: {path} is not an OpenSSH or PEM private key"]
    return []


def _known_host_problems(ssh: SshConfig, placed: bool) -> list[str]:
    path = ssh.known_hosts or DEFAULT_KNOWN_HOSTS
    given = ssh.known_hosts is not None
    if given and not path.is_file():
        return [f"field 'ssh.known_hosts': {path} not found"]
    if ssh.host is None or placed:
        return []  # the host is a labgrid place's, known once the place is had
    name = ssh.host if ssh.port == 22 else f"[{ssh.host}]:{ssh.port}"
    try:
        known = paramiko.HostKeys(str(path)) if path.is_file() else paramiko.HostKeys()
    except (OSError, UnicodeDecodeError, paramiko.SSHException) as exc:
        return [f"field 'ssh.known_hosts': {path}: cannot read: {exc}"]
    if known.lookup(name) is not None:
        return []
    return [
        f"field 'ssh.host_key': not pinned, and {path} has no entry for {name}; pin the "
        "board's key (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on its console prints "
        "SHA256:…) or add the key to known_hosts"
    ]
