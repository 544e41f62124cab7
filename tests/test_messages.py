"""Messages a person can act on: the board's paths as the board sees them, the line of the
test that failed, the header with -q, progress lines of their own, the --emulate hint."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from support import DIGITS_MODEL, DIGITS_VECTORS

from pytest_think.agent import AGENT_DIR, AGENT_FILES
from pytest_think.report import progress


def _custom_op_model(path: Path) -> Path:
    """A valid model whose operator no onnxruntime has: the board refuses to load it."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])
    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="lab.custom")
    graph = helper.make_graph([node], "custom", [x], [y])
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("lab.custom", 1)]
    onnx.save(helper.make_model(graph, opset_imports=opsets), path)
    return path


def test_a_refused_model_names_the_board_path_and_the_line_of_its_dut_run(
    pytester: pytest.Pytester, private_tmpdir: Path
) -> None:
    model = _custom_op_model(pytester.path / "custom.onnx")
    np.savez(pytester.path / "x.npz", x=np.ones((3, 4), np.float32))
    pytester.makepyfile(
        test_refused=f"""
        def test_two_runs(dut):
            dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
            dut.run({str(model)!r}, "x.npz")
        """
    )
    result = pytester.runpytest("--think-json=out.json", "--junitxml=junit.xml")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    # JUnit's failure text (CI's view of it) has the line too.
    assert "test_refused.py:3: where the test failed" in (pytester.path / "junit.xml").read_text()
    # The model as the board holds it (the board file's agent.workdir), never the host
    # directory a twin keeps the board's files in.
    result.stdout.fnmatch_lines(
        [
            "AgentRefused: agent refused *load_failed*"
            "/home/think/.think/models/*-custom.onnx*Frobnicate*",
            # The second dut.run of the test (line 3 of the file) is the one that failed.
            "test_refused.py:3: where the test failed",
        ]
    )
    doc = json.loads((pytester.path / "out.json").read_text())
    message = doc["tests"][0]["message"]
    assert "/home/think/.think/models/" in message
    for text in (out, message):
        assert str(private_tmpdir) not in text
        assert "/root/home/think" not in text


def test_the_agent_names_its_directory_as_the_host_does(tmp_path: Path) -> None:
    # Run as on a board: the agent's files copied to a directory of their own.
    for name in AGENT_FILES:
        shutil.copy(AGENT_DIR / name, tmp_path / name)
    script = (
        "import sys, think_agent as a\n"
        "a.HOME_NAME = '/home/think/.think'\n"
        "print(a.board_paths(f'model file {a.AGENT_HOME}/models/m.onnx not found in '\n"
        "                    f'{a.AGENT_HOME}; /usr/lib/x.so'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == (
        "model file /home/think/.think/models/m.onnx not found in /home/think/.think; /usr/lib/x.so"
    )


def test_the_header_names_the_board_with_q_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(): pass")
    for flags in ([], ["-q"]):
        result = pytester.runpytest(*flags)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["think: board sim (family generic, digital twin) from *"])
    result = pytester.runpytest("-q", "--no-header")
    assert "think: board sim" not in result.stdout.str()


def test_progress_lines_are_lines_of_their_own_naming_test_and_variant(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "QUIET_S", 0.0)
    monkeypatch.setattr(progress, "EVERY_S", 0.0)
    pytester.makepyfile(
        test_progress=f"""
        import pytest

        def test_first():
            pass

        @pytest.mark.parametrize("variant", ["fp32"])
        def test_stream(dut, variant):
            dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}, label=variant)
        """
    )
    for flags in (["-q"], []):
        result = pytester.runpytest(*flags)
        result.assert_outcomes(passed=2)
        lines = result.stdout.lines
        said = [ln for ln in lines if "streaming through" in ln]
        assert said, result.stdout.str()
        pattern = re.compile(
            r"think: test_progress\.py::test_stream\[fp32\]: streaming through "
            r"digits_mlp\.onnx \[fp32\]: \d+/\d+ vectors \(\d+%\) \(\d+ s\)"
        )
        assert all(pattern.fullmatch(ln) for ln in said), said


def test_an_unreachable_board_with_a_twin_suggests_emulate(
    pytester: pytest.Pytester, write_board: Callable[..., Path], closed_port: int
) -> None:
    ssh = {"host": "127.0.0.1", "port": closed_port, "host_key": "SHA256:" + "A" * 43}
    write_board("twinned", ssh=ssh, twin={"only": False})
    write_board("bare", ssh=ssh, twin=None)
    pytester.makepyfile("def test_one(board): pass")
    result = pytester.runpytest("--board=twinned")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"LinkError: cannot reach board 'twinned' (127.0.0.1:{closed_port}): *; board "
            "'twinned' has a twin section: --emulate runs the tests on its digital twin"
        ]
    )
    result = pytester.runpytest("--board=bare")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"LinkError: cannot reach board 'bare' (127.0.0.1:{closed_port})*"]
    )
    assert "--emulate" not in result.stdout.str()


def test_think_twin_prints_ssh_and_scp_that_pin_its_key_and_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_cli import think_twin

    # The user's home: the commands must leave its ~/.ssh alone.
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    state = tmp_path / "state"
    with think_twin("sim", state) as out:
        assert out.readline().startswith("twin of 'sim' listening on 127.0.0.1:")
        ssh, scp = out.readline().strip(), out.readline().strip()
        assert "StrictHostKeyChecking=no" not in ssh + scp
        assert f"UserKnownHostsFile={state / 'known_hosts'}" in ssh
        batch = ["-o", "BatchMode=yes"]
        argv = shlex.split(ssh)
        said = subprocess.run(argv[:1] + batch + argv[1:], capture_output=True, text=True)
        assert said.returncode == 0, said.stderr
        assert said.stdout.startswith("Linux sim ")
        # scp exits 0 when the copy worked (into the user's home on the board) …
        (tmp_path / "data.bin").write_bytes(b"\x00think\xff")
        argv = shlex.split(scp.replace("FILE", str(tmp_path / "data.bin")))
        copied = subprocess.run(argv[:1] + batch + argv[1:], capture_output=True, text=True)
        assert copied.returncode == 0, copied.stderr
        assert (state / "root" / "home" / "think" / "data.bin").read_bytes() == b"\x00think\xff"
        # … and not when it did not.
        argv[-1] += "/absent/dir/data.bin"
        refused = subprocess.run(argv[:1] + batch + argv[1:], capture_output=True, text=True)
        assert refused.returncode != 0 and "No such file or directory" in refused.stderr
    assert not (home / ".ssh").exists()


def test_expected_outputs_are_judged_as_a_backend_test_and_the_row_says_against_what() -> None:
    from pytest_think.expected import compare_expected
    from pytest_think.report.summary import _agreement

    e = [np.array([1.0, 2.0], np.float32), np.array([3], np.int64)]
    good = compare_expected([e[0] + 1e-9, e[1].copy()], e, "ONNX expected outputs")
    assert good.passed and good.summary().startswith("2 outputs agree with ONNX expected")
    bad = compare_expected(
        [np.array([1.0, 2.5], np.float32), np.array([3], np.int32)], e, "ONNX expected outputs"
    )
    assert bad.problems == [
        "output 0: 1 of 2 elements differ (max abs err 0.5)",
        "output 1: dtype int32, expected int64",
    ]
    assert compare_expected([e[0]], e, "x").problems == ["1 outputs, x have 2"]
    shape = compare_expected([e[0][None], e[1]], e, "x").problems
    assert shape == ["output 0: shape (1, 2), expected (2,)"]
    run = {"compare": None, "expected": bad.as_json()}
    assert _agreement(run) == "2 bad vs ONNX expected outputs"
    assert _agreement({"compare": None}) == "unchecked"
