"""SSH transport against the twin: uploads skip unchanged files, odd paths survive quoting."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pytest_think.boards import PACKAGED_BOARDS, find_board
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.errors import LinkError
from pytest_think.transport.hostkeys import fingerprint
from pytest_think.transport.ssh import RemoteProcess, SshTransport


@pytest.fixture
def ssh(sim_twin: TwinProcess) -> SshTransport:
    board = sim_twin.board(find_board("sim", [PACKAGED_BOARDS]))
    transport = SshTransport(board.ssh, board.name).connect()
    yield transport
    transport.close()


def test_upload_skips_files_whose_sha256_matches(
    ssh: SshTransport, sim_twin: TwinProcess, tmp_path: Path
) -> None:
    local = tmp_path / "design.bin"
    local.write_bytes(os.urandom(300_000))
    remote = "/home/think/it's a dir; rm -rf ~/design $(x).bin"
    first = ssh.upload([(local, remote)])
    assert first.uploaded == [remote] and first.skipped == []
    assert first.bytes_sent == 300_000
    on_board = sim_twin.sandbox_root / remote.lstrip("/")
    assert on_board.read_bytes() == local.read_bytes()
    assert not on_board.with_name(on_board.name + ".part").exists()

    second = ssh.upload([(local, remote)])
    assert second.uploaded == [] and second.skipped == [remote]

    local.write_bytes(local.read_bytes()[:-1] + b"!")
    third = ssh.upload([(local, remote)])
    assert third.uploaded == [remote]
    assert (
        hashlib.sha256(on_board.read_bytes()).hexdigest()
        == hashlib.sha256(local.read_bytes()).hexdigest()
    )


def test_missing_local_file_is_named(ssh: SshTransport, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"absent\.bin"):
        ssh.upload([(tmp_path / "absent.bin", "/tmp/x")])


def test_password_env_must_be_set(sim_twin: TwinProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    board = sim_twin.board(find_board("sim", [PACKAGED_BOARDS]))
    cfg = board.ssh.model_copy(update={"password_env": "THINK_TEST_PASSWORD", "key_file": None})
    monkeypatch.delenv("THINK_TEST_PASSWORD", raising=False)
    with pytest.raises(
        LinkError, match=r"ssh\.password_env names THINK_TEST_PASSWORD, which is not set"
    ):
        SshTransport(cfg, "sim").connect()


def test_twin_refuses_passwords(sim_twin: TwinProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    board = sim_twin.board(find_board("sim", [PACKAGED_BOARDS]))
    cfg = board.ssh.model_copy(update={"password_env": "THINK_TEST_PASSWORD", "key_file": None})
    monkeypatch.setenv("THINK_TEST_PASSWORD", "s3cret-value")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/nonexistent")
    with pytest.raises(LinkError) as info:
        SshTransport(cfg, "sim").connect()
    assert "cannot log in to board 'sim'" in str(info.value)
    assert "s3cret-value" not in str(info.value)


def test_fingerprint_matches_openssh_format(sim_twin: TwinProcess) -> None:
    import paramiko

    key = paramiko.Ed25519Key.from_private_key_file(sim_twin.endpoint["key_file"])
    fp = fingerprint(key)
    assert fp.startswith("SHA256:") and len(fp) == 50 and not fp.endswith("=")


def test_reconnect_keeps_the_transport_and_counts(ssh: SshTransport) -> None:
    assert ssh.connected
    assert ssh.reconnect() == 1
    assert ssh.connected and ssh.reconnects == 1
    assert ssh.run(["echo", "back"]).out == "back\n"


def test_reconnect_to_nothing_gives_up_after_its_tries_in_one_line(
    sim_twin: TwinProcess,
) -> None:
    import socket

    board = sim_twin.board(find_board("sim", [PACKAGED_BOARDS]))
    with socket.socket() as free:  # a port nothing listens on once closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    assert board.ssh is not None
    cfg = board.ssh.model_copy(update={"port": port, "reconnects": 2, "connect_timeout": 2})
    transport = SshTransport(cfg, "sim")
    with pytest.raises(LinkError) as info:
        transport.reconnect()
    message = str(info.value)
    assert "2 reconnection tries failed" in message and f":{port}" in message
    assert "\n" not in message
    assert transport.reconnects == 0


def test_a_frame_larger_than_the_channel_window_arrives_whole_and_in_order(
    ssh: SshTransport,
) -> None:
    # Several SSH packets and window adjustments per send, an odd length at the end.
    blob = os.urandom(3 * 1024 * 1024 + 4321)
    process = ssh.start(["sha256sum"])
    process.send(blob)
    process.send(blob[:77])
    process.close_input()
    out = b""
    while chunk := process.recv(4096, timeout=30):
        out += chunk
    process.close()
    assert out.split()[0].decode() == hashlib.sha256(blob + blob[:77]).hexdigest()


class _PartialChannel:
    """A channel taking at most `step` bytes per send, then nothing once `closes_after`."""

    def __init__(self, step: int, closes_after: int) -> None:
        self.step, self.closes_after = step, closes_after
        self.got = bytearray()

    def send(self, data: memoryview) -> int:
        if len(self.got) >= self.closes_after:
            return 0
        taken = bytes(data[: self.step])
        self.got += taken
        return len(taken)


def test_send_goes_on_after_partial_sends_and_fails_in_one_line_when_the_channel_closes() -> None:
    blob = bytes(range(256)) * 40
    channel = _PartialChannel(step=1000, closes_after=len(blob))
    RemoteProcess(channel, "agent", "board 'b'").send(blob)  # type: ignore[arg-type]
    assert bytes(channel.got) == blob

    closing = _PartialChannel(step=1000, closes_after=3000)
    with pytest.raises(OSError, match="closed while sending"):
        RemoteProcess(closing, "agent", "board 'b'").send(blob)  # type: ignore[arg-type]
    assert bytes(closing.got) == blob[:3000]
