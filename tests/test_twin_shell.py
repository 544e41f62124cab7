"""The sim twin answers the board command set like a shell, over real SSH, and nothing else."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pytest_think.boards import BoardConfig
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.errors import RemoteCommandError
from pytest_think.transport.ssh import SshTransport


@pytest.fixture(scope="module")
def ssh(sim_twin: TwinProcess) -> SshTransport:
    from pytest_think.boards import PACKAGED_BOARDS, find_board

    board = sim_twin.board(find_board("sim", [PACKAGED_BOARDS]))
    transport = SshTransport(board.ssh, board.name).connect()
    yield transport
    transport.close()


def test_twin_listens_on_loopback_with_pinned_key(
    sim_twin: TwinProcess, sim_board: BoardConfig
) -> None:
    board = sim_twin.board(sim_board)
    assert board.ssh.host == "127.0.0.1"
    assert board.ssh.port != 22
    assert board.ssh.host_key and board.ssh.host_key.startswith("SHA256:")
    # Only the endpoint changes: agent, family and twin description are the board file's.
    assert board.agent == sim_board.agent
    assert board.family == sim_board.family


def test_uname_and_identity_files(ssh: SshTransport) -> None:
    assert ssh.run(["uname", "-a"]).out.startswith("Linux sim 6.1.0-think-sim #1 SMP PREEMPT ")
    assert ssh.run(["uname", "-r"]).out == "6.1.0-think-sim\n"
    assert ssh.run(["hostname"]).out == "sim\n"
    assert "THINK sim board" in ssh.run(["cat", "/etc/os-release"]).out


def test_unknown_commands_answer_like_sh(ssh: SshTransport) -> None:
    result = ssh.run(["fpgautil", "-b", "x.bit.bin"])
    assert result.exit_status == 127
    assert result.err == "sh: 1: fpgautil: not found\n"


def test_host_shell_is_never_reached(ssh: SshTransport, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    # Metacharacters are quoted by the transport, so they arrive as plain arguments...
    result = ssh.run(["echo", f"hi; touch {marker}"])
    assert result.out == f"hi; touch {marker}\n"
    # ...and a raw command line with them is refused rather than handed to a host shell.
    channel = ssh._open(f"echo hi; touch {marker}", 10)
    status = channel.recv_exit_status()
    assert status == 2
    assert not marker.exists()


def test_paths_stay_in_the_sandbox(ssh: SshTransport, sim_twin: TwinProcess) -> None:
    result = ssh.run(["cat", "../../../../../../etc/passwd"])
    assert result.exit_status == 1
    assert "No such file or directory" in result.err
    ssh.run(["mkdir", "-p", "/tmp/a b"]).check("twin")
    assert (sim_twin.sandbox_root / "tmp" / "a b").is_dir()


def test_sha256sum_files_and_stdin(ssh: SshTransport) -> None:
    result = ssh.run(["sha256sum", "/etc/hostname", "/missing"])
    assert result.exit_status == 1
    expected = hashlib.sha256(b"sim\n").hexdigest()
    assert result.out == f"{expected}  /etc/hostname\n"
    assert result.err == "sha256sum: /missing: No such file or directory\n"
    data = b"x" * 100_000
    assert ssh.run(["sha256sum"], stdin=data).out == f"{hashlib.sha256(data).hexdigest()}  -\n"


def test_command_timeout_names_the_command(ssh: SshTransport) -> None:
    with pytest.raises(
        RemoteCommandError, match=r"`sleep 5` on board 'sim' .* did not finish within 0.5 s"
    ):
        ssh.run(["sleep", "5"], timeout=0.5)


def test_python_runs_only_script_files(ssh: SshTransport) -> None:
    result = ssh.run(["python3", "-c", "print(1)"])
    assert result.exit_status == 2
    assert "runs script files only" in result.err
    result = ssh.run(["python3", "/nope.py"])
    assert result.exit_status == 2
    assert "can't open file '/nope.py'" in result.err


def test_tee_copies_stdin_to_files_and_the_kernel_log(ssh: SshTransport) -> None:
    ssh.run(["mkdir", "-p", "/tmp/tee"])
    first = ssh.run(["tee", "/tmp/tee/a", "/dev/kmsg"], stdin=b"<6>one\n")
    assert first.exit_status == 0 and first.out == "<6>one\n"
    ssh.run(["tee", "-a", "/tmp/tee/a"], stdin=b"two\n")
    assert ssh.run(["cat", "/tmp/tee/a"]).out == "<6>one\ntwo\n"
    assert ssh.run(["dmesg"]).out.splitlines()[-1].endswith("] one")
    missing = ssh.run(["tee", "/no/such/dir/x"], stdin=b"x\n")
    assert (
        missing.exit_status == 1
        and missing.err == "tee: /no/such/dir/x: No such file or directory\n"
    )
