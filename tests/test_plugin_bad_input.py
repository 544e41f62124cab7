"""Bad input gets one clear line and nothing is lost: the plugin-level cases."""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS

from pytest_think.emulator.launcher import TwinProcess

DIGITS_TEST = f"""
MODEL = {str(DIGITS_MODEL)!r}
VECTORS = {str(DIGITS_VECTORS)!r}

def test_digits(dut, reference):
    run = dut.run(MODEL, VECTORS)
    reference.check(run)
"""


def _no_traceback(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text
    assert not re.search(r"pytest_think/[\w/]+\.py:\d+", text), "a frame of our code leaked out"


def test_unknown_board_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--board=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown board 'nope'; known boards: *sim* (looked in *boards*)"])
    _no_traceback(result)


def test_unknown_board_from_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_x(): pass")
    monkeypatch.setenv("THINK_BOARD", "zcu-nope")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown board 'zcu-nope'*"])


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"ssh": {"port": 99999}}, "field 'ssh.port': Input should be less than or equal to 65535"),
        ({"ssh": {"hostname": "x"}}, "field 'ssh.hostname': unknown field"),
        (
            {"ssh": {"password": "hunter2"}},
            "field 'ssh.password': secrets never live in board files",
        ),
        (
            {"ssh": {"host_key": "ab:cd"}},
            "field 'ssh': host_key 'ab:cd' must be a SHA256 fingerprint",
        ),
        ({"twin": {"faults": {"perturb_every": 0}}}, "field 'twin.faults.perturb_every'"),
        ({"family": "no-such-family"}, "field 'family': unknown family 'no-such-family'"),
    ],
)
def test_invalid_board_file_names_file_and_field(
    pytester: pytest.Pytester, write_board: Callable[..., Path], sections: dict, expected: str
) -> None:
    path = write_board("broken", **sections)
    pytester.makepyfile("def test_x(board): pass")
    result = pytester.runpytest("--board=broken")
    text = result.stdout.str() + result.stderr.str()
    assert str(path) in text or "broken" in text
    assert expected in text
    assert "hunter2" not in text
    _no_traceback(result)
    assert result.ret != 0


def test_board_file_that_is_not_yaml(pytester: pytest.Pytester) -> None:
    (pytester.path / "boards").mkdir()
    (pytester.path / "boards" / "junk.yaml").write_text("name: [unclosed\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--board=junk")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*junk.yaml line *: not valid YAML*"])


def test_emulate_without_twin_section(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    path = write_board("bare", twin=None)
    pytester.makepyfile("def test_x(board): pass")
    result = pytester.runpytest("--board=bare", "--emulate")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{path}: board 'bare' has no 'twin' section*"])


def test_unreachable_board_errors_its_tests_and_others_still_run(
    pytester: pytest.Pytester, write_board: Callable[..., Path], closed_port: int
) -> None:
    write_board(
        "gone",
        ssh={"host": "127.0.0.1", "port": closed_port, "host_key": "SHA256:" + "A" * 43},
        twin=None,
    )
    pytester.makepyfile(
        """
        def test_one(board): pass
        def test_two(dut): pass
        def test_without_board(): assert 1 + 1 == 2
        """
    )
    result = pytester.runpytest("--board=gone", "--think-json=out.json")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [f"*LinkError: cannot reach board 'gone' (127.0.0.1:{closed_port}): Connection refused*"]
    )
    _no_traceback(result)
    doc = json.loads((pytester.path / "out.json").read_text())
    outcomes = {t["nodeid"].rsplit("::", 1)[1]: t["outcome"] for t in doc["tests"]}
    assert outcomes == {"test_one": "error", "test_two": "error", "test_without_board": "passed"}


def test_silent_board_times_out_with_host_and_port(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    # A port that accepts TCP connections but never speaks SSH, like a hung board.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        write_board(
            "hung",
            ssh={
                "host": "127.0.0.1",
                "port": port,
                "host_key": "SHA256:" + "A" * 43,
                "connect_timeout": 1,
            },
            twin=None,
        )
        pytester.makepyfile("def test_one(board): pass")
        result = pytester.runpytest("--board=hung")
        # The board file's 1 s bounded the one wait: the line says so, and the board was
        # dialled once (a silent board is not dialled again and again).
        listener.setblocking(False)
        dialled = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                listener.accept()[0].close()
                dialled += 1
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*cannot reach board 'hung' (127.0.0.1:{port}): no SSH banner within 1 s*"]
    )
    assert dialled == 1


def _board_at(twin: TwinProcess, **ssh: object) -> dict:
    e = twin.endpoint
    return {
        "host": e["host"],
        "port": e["port"],
        "user": e["user"],
        "key_file": e["key_file"],
        **ssh,
    }


def test_host_key_mismatch_is_refused_with_both_fingerprints(
    pytester: pytest.Pytester, write_board: Callable[..., Path], sim_twin: TwinProcess
) -> None:
    pinned = "SHA256:" + "B" * 43
    write_board("impostor", ssh=_board_at(sim_twin, host_key=pinned), twin=None)
    pytester.makepyfile("def test_one(board): pass")
    result = pytester.runpytest("--board=impostor")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*HostKeyError: host key mismatch for 127.0.0.1:*: the board presented ssh-ed25519 "
            f"{sim_twin.endpoint['host_key']}, the board file pins {pinned}; refusing to connect*"
        ]
    )


def test_known_hosts_mismatch_and_unknown_host(
    pytester: pytest.Pytester, write_board: Callable[..., Path], sim_twin: TwinProcess
) -> None:
    import paramiko

    port = sim_twin.endpoint["port"]
    other = paramiko.ECDSAKey.generate()
    wrong = pytester.path / "known_hosts_wrong"
    wrong.write_text(f"[127.0.0.1]:{port} {other.get_name()} {other.get_base64()}\n")
    empty = pytester.path / "known_hosts_empty"
    empty.write_text("")
    write_board("moved", ssh=_board_at(sim_twin, known_hosts=str(wrong)), twin=None)
    write_board("stranger", ssh=_board_at(sim_twin, known_hosts=str(empty)), twin=None)
    pytester.makepyfile("def test_one(board): pass")

    from pytest_think.transport.hostkeys import fingerprint

    result = pytester.runpytest("--board=moved")
    result.assert_outcomes(errors=1)
    # paramiko only checks known_hosts entries of the key type the server offers first;
    # either way the connection must be refused and name what the board presented.
    result.stdout.fnmatch_lines(
        [
            "*HostKeyError: *the board presented ssh-ed25519 "
            f"{sim_twin.endpoint['host_key']}*refusing to connect*"
        ]
    )
    if "mismatch" in result.stdout.str():
        assert fingerprint(other) in result.stdout.str()

    result = pytester.runpytest("--board=stranger")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*HostKeyError: unknown host key for 127.0.0.1:{port}: "
            "the board presented ssh-ed25519 "
            f"{sim_twin.endpoint['host_key']}, expected none*"
        ]
    )


def test_missing_model_and_vector_files_name_the_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        def test_no_model(dut):
            dut.run("models/absent.onnx", {str(DIGITS_VECTORS)!r})

        def test_no_vectors(dut):
            dut.run({str(DIGITS_MODEL)!r}, "vectors/absent.npz")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            f"*InputFileError: model file {pytester.path}/models/absent.onnx not found*",
            f"*InputFileError: vector file {pytester.path}/vectors/absent.npz not found*",
        ]
    )
    _no_traceback(result)


def test_vectors_that_do_not_fit_the_model_fail_before_streaming(pytester: pytest.Pytester) -> None:
    digits = np.load(DIGITS_VECTORS)
    np.savez(pytester.path / "short.npz", input=digits["input"][:, :60], labels=digits["labels"])
    np.savez(pytester.path / "float64.npz", input=digits["input"].astype(np.float64))
    np.savez(pytester.path / "misnamed.npz", image=digits["input"])
    pytester.makepyfile(
        f"""
        import pytest
        @pytest.mark.parametrize("name", ["short", "float64", "misnamed"])
        def test_bad(dut, name):
            dut.run({str(DIGITS_MODEL)!r}, name + ".npz")
        """
    )
    result = pytester.runpytest("--think-json=out.json")
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    assert (
        "short.npz: input 'input' has vectors of shape (60,) (450 along the first axis); "
        "one vector of the model (input (?, 64)) is (64,)"
    ) in out
    assert "float64.npz: input 'input' is float64, the model wants float32" in out
    assert "misnamed.npz: arrays ['image'] do not match model inputs ['input'] (missing" in out
    doc = json.loads((pytester.path / "out.json").read_text())
    assert all("compare" not in t for t in doc["tests"]), "no run may be recorded"


def test_agent_crash_mid_run_fails_with_stderr_tail_and_vectors_in_flight(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    write_board("crashy", twin={"faults": {"crash_after_vectors": 300}})
    pytester.makepyfile(DIGITS_TEST)
    result = pytester.runpytest("--board=crashy", "--think-json=out.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AgentError: agent died during the stream: "
            "the agent was killed without an exit status*"
            "agent stderr: think-agent: 0.1.0 starting*vectors *-449 in flight*"
        ]
    )
    _no_traceback(result)
    doc = json.loads((pytester.path / "out.json").read_text())
    (test,) = doc["tests"]
    assert test["outcome"] == "failed"
    assert "compare" not in test


def test_after_an_agent_crash_the_next_test_gets_a_fresh_agent(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    write_board("crashy", twin={"faults": {"crash_after_vectors": 300}})
    pytester.makepyfile(
        f"""
        import numpy as np
        from pathlib import Path
        from pytest_think.vectors import VectorSet

        MODEL = {str(DIGITS_MODEL)!r}
        VECTORS = {str(DIGITS_VECTORS)!r}
        crashed = []

        def test_crash(dut):
            try:
                dut.run(MODEL, VECTORS)
            finally:
                crashed.append(dut.device.agent_identity["pid"])

        def test_after(dut, reference):
            x = np.load(VECTORS)["input"][:200]
            run = dut.run(MODEL, VectorSet(Path(VECTORS), {{"input": x}}, None))
            reference.check(run)
            assert dut.device.agent_identity["pid"] != crashed[0]
        """
    )
    result = pytester.runpytest("--board=crashy")
    result.assert_outcomes(failed=1, passed=1)


def test_wrong_outputs_fail_with_worst_mismatch_table(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    write_board("noisy", twin={"faults": {"output_offset": 0.25, "perturb_every": 9}})
    pytester.makepyfile(DIGITS_TEST)
    result = pytester.runpytest("--board=noisy", "--think-json=out.json")
    result.assert_outcomes(failed=1)
    # 450 vectors, one in 9 perturbed (0, 9, ..., 441): 50 vectors x 10 classes, two outputs.
    result.stdout.fnmatch_lines(
        [
            "*board noisy disagrees with the reference*",
            "*digits_mlp.onnx: 1000 mismatching elements over 450 vectors "
            "(rtol=0.001, atol=1e-07)*",
            "*worst 10 mismatches:*",
            "*vector*output*position*got*expected*error*",
        ]
    )
    doc = json.loads((pytester.path / "out.json").read_text())
    (test,) = doc["tests"]
    assert test["outcome"] == "failed"
    assert test["compare"]["passed"] is False
    assert test["compare"]["mismatches"] == 1000
    assert test["compare"]["max_abs_err"] == pytest.approx(0.25, rel=1e-3)
