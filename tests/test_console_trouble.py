"""Kernel trouble on a board's console fails the test it happened in, with the lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

ZCU102 = REPO / "boards" / "fpga-zcu102.yaml"
ARM64 = REPO / "boards" / "arm64-linux.yaml"

# An arm64 oops as a ZynqMP kernel prints it, written to /dev/kmsg with its levels.
OOPS = """\
<1>Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008
<1>Mem abort info:
<4>Internal error: Oops: 96000005 [#1] SMP
<4>CPU: 2 PID: 812 Comm: python3 Not tainted 5.15.36-xilinx-v2022.2 #1
<4>Hardware name: ZynqMP ZCU102 Rev1.0 (DT)
<4>Call trace:
<4> zynqmp_fpga_ops_write+0x5c/0x1a0
<4> fpga_mgr_buf_load_mapped+0x74/0x100
<4>---[ end trace 6b0f3a4c2d1e9f87 ]---
"""
FPGA_ERROR = "<3>fpga_manager fpga0: Error while writing image data to FPGA\n"
PANIC = "<0>Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n"

KMSG_TESTS = f"""
import pytest

MODEL, VECTORS = {str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}


def kmsg(board, text):
    board.transport.run(["tee", "/dev/kmsg"], stdin=text.encode()).check(board.name)


def test_oops_mid_test(board, dut):
    assert dut.run(MODEL, VECTORS).count == 450
    kmsg(board, {OOPS!r})
    assert dut.run(MODEL, VECTORS).count == 450


def test_fpga_manager_error(board, dut):
    assert dut.run(MODEL, VECTORS).count == 450
    kmsg(board, {FPGA_ERROR!r})  # the test's last act: read through before it is judged


def test_panic_and_a_failure(board):
    kmsg(board, {PANIC!r})
    assert False, "the link dropped"


def test_after_the_trouble(board, dut):
    assert dut.run(MODEL, VECTORS).count == 450
    # A harmless kernel line is no trouble.
    kmsg(board, "<6>random: crng init done\\n")
"""


def _with_console(tmp_path: Path, source: Path) -> Path:
    """A board file with a serial console (the generic board has none)."""
    data = yaml.safe_load(source.read_text())
    data.setdefault("console", {"url": "/dev/ttyUSB0", "baud": 115200})
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(data))
    return path


def test_an_oops_fails_the_test_it_was_printed_in_and_the_next_test_passes(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(KMSG_TESTS)
    alluredir = pytester.path / "allure"
    result = pytester.runpytest(
        f"--board={ZCU102}", "--emulate", "--think-json=out.json", f"--alluredir={alluredir}"
    )
    # xilinx-fpga: the kernel's alarms and the FPGA manager's.
    result.assert_outcomes(failed=3, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*KernelTrouble: console of board 'fpga-zcu102' (/dev/pts/*) printed kernel trouble "
            "during the test (oops, call trace): 2 lines",
            "*  [[] *.??????[]] Internal error: Oops: 96000005 [[]#1[]] SMP",
            "*  [[] *.??????[]] Call trace:",
            "*- think kernel trouble: fpga-zcu102 -*",
            "[[]??:??:??.???[]] [[] *.??????[]]  zynqmp_fpga_ops_write+0x5c/0x1a0",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*KernelTrouble: console of board 'fpga-zcu102' (/dev/pts/*) printed kernel trouble "
            "during the test (FPGA manager error): 1 line",
            "*  [[] *.??????[]] fpga_manager fpga0: Error while writing image data to FPGA",
        ]
    )
    tests = {
        t["nodeid"].split("::")[-1]: t
        for t in json.loads((pytester.path / "out.json").read_text())["tests"]
    }
    oops = tests["test_oops_mid_test"]
    assert oops["outcome"] == "failed"
    assert oops["message"].startswith("KernelTrouble: console of board 'fpga-zcu102'")
    (trouble,) = oops["console_trouble"]
    assert trouble["board"] == "fpga-zcu102"
    assert [(ln["alarm"], ln["text"].split("] ", 1)[1]) for ln in trouble["lines"]] == [
        ("oops", "Internal error: Oops: 96000005 [#1] SMP"),
        ("call trace", "Call trace:"),
    ]
    excerpt = [ln["text"] for ln in trouble["excerpt"]]
    # The whole oops, from its first line to its end marker; nothing of the next test's.
    oops_lines = [line[3:] for line in OOPS.splitlines()]
    assert [t.split("] ", 1)[-1] for t in excerpt[-len(oops_lines) :]] == oops_lines
    assert "fpga_manager fpga0" not in " ".join(excerpt)
    fpga = tests["test_fpga_manager_error"]["console_trouble"][0]["lines"]
    assert [ln["alarm"] for ln in fpga] == ["FPGA manager error"]
    # Trouble leads; the test's own failure follows it.
    result.stdout.fnmatch_lines(
        [
            "*KernelTrouble: * printed kernel trouble during the test (kernel panic): 1 line",
            "*  [[] *.??????[]] Kernel panic - not syncing: Attempted to kill init!*",
            "(the test itself also failed: AssertionError: the link dropped*",
        ]
    )
    after = tests["test_after_the_trouble"]
    assert after["outcome"] == "passed" and "console_trouble" not in after
    # Allure has the excerpt as an attachment of the failed test.
    attachments = [
        a
        for f in alluredir.glob("*-result.json")
        for a in json.loads(f.read_text()).get("attachments", [])
        if a["name"] == "console of fpga-zcu102: kernel trouble"
    ]
    assert len(attachments) == 3
    texts = [(alluredir / a["source"]).read_text() for a in attachments]
    assert any("zynqmp_fpga_ops_write" in text for text in texts)


def test_a_family_specific_line_fails_only_on_that_family(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    board = _with_console(tmp_path, ARM64)
    pytester.makepyfile(KMSG_TESTS)
    result = pytester.runpytest(f"--board={board}", "--emulate", "--think-json=out.json")
    # generic: the kernel's alarms only; an FPGA manager line is nothing to it.
    result.assert_outcomes(failed=2, passed=2)
    result.stdout.fnmatch_lines(
        ["*KernelTrouble: console of board 'arm64-linux' (/dev/pts/*) printed kernel trouble*"]
    )
    tests = {
        t["nodeid"].split("::")[-1]: t
        for t in json.loads((pytester.path / "out.json").read_text())["tests"]
    }
    assert tests["test_oops_mid_test"]["outcome"] == "failed"
    assert tests["test_fpga_manager_error"]["outcome"] == "passed"


def test_the_watch_can_be_turned_off_and_boards_without_a_console_have_none(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    data = yaml.safe_load(ZCU102.read_text())
    data["console"]["watch"] = False
    board = tmp_path / "unwatched.yaml"
    board.write_text(yaml.safe_dump(data))
    pytester.makepyfile(KMSG_TESTS)
    pytester.runpytest(f"--board={board}", "--emulate").assert_outcomes(passed=3, failed=1)
    pytester.runpytest(f"--board={ARM64}", "--emulate").assert_outcomes(passed=3, failed=1)


def test_twin_kernel_log_prints_on_the_console_and_in_dmesg(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        def test_kmsg(board, console):
            board.transport.run(["tee", "/dev/kmsg"], stdin=b"<7>debug only\\n<4>hello kernel\\n")
            console.expect(r"\\[ *\\d+\\.\\d{6}\\] hello kernel", timeout=30)
            dmesg = board.transport.run(["dmesg"]).out.splitlines()
            assert [line.split("] ", 1)[1] for line in dmesg][-2:] == ["debug only", "hello kernel"]
            assert "debug only" not in "".join(ln.text for ln in console.lines_since(0))
        """
    )
    pytester.runpytest(f"--board={ZCU102}", "--emulate").assert_outcomes(passed=1)


def test_a_kernel_that_oopses_mid_stream_fails_that_test_only(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    data = yaml.safe_load(ZCU102.read_text())
    data["twin"]["console"] = {"oops_after_vectors": 200}  # in the middle of the first stream
    board = tmp_path / "oopsing.yaml"
    board.write_text(yaml.safe_dump(data))
    pytester.makepyfile(
        f"""
        MODEL, VECTORS = {str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}

        def test_stream(dut):
            assert dut.run(MODEL, VECTORS).count == 450

        def test_next_stream(dut):
            assert dut.run(MODEL, VECTORS).count == 450
        """
    )
    result = pytester.runpytest(f"--board={board}", "--emulate", "--think-json=out.json")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*KernelTrouble: console of board 'fpga-zcu102' (/dev/pts/*) printed kernel trouble "
            "during the test (oops, call trace): 2 lines",
            "*  [[] *.??????[]] Internal error: Oops: 96000005 [[]#1[]] SMP",
        ]
    )
    first, second = json.loads((pytester.path / "out.json").read_text())["tests"]
    assert first["nodeid"].endswith("test_stream") and first["outcome"] == "failed"
    assert "zocl_bo_map+0x48/0x90 [zocl]" in " ".join(
        ln["text"] for ln in first["console_trouble"][0]["excerpt"]
    )
    assert second["outcome"] == "passed"
