"""Hung boards: the watchdog catches them, the recovery strategy brings them back (or says in
one line why it cannot), and the next test runs."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import (
    DIGITS_MODEL,
    DIGITS_VECTORS,
    REPO,
    bench_twin,
    zcu102_design,
    zcu102_twin_file,
)

SMALL = 1_500_000
FLOOR_S = 5.0  # the watchdog floor of these boards: what a hang waits before it is called
WATCHDOG = {"floor_s": FLOOR_S}

RUN_TESTS = f"""
import numpy as np
from pathlib import Path
from pytest_think.vectors import VectorSet

MODEL = {str(DIGITS_MODEL)!r}
VECTORS = {str(DIGITS_VECTORS)!r}

def first(n):
    return VectorSet(Path(VECTORS), {{"input": np.load(VECTORS)["input"][:n]}}, None)

def test_hangs(dut):
    dut.run(MODEL, VECTORS)

def test_after(dut, reference):
    reference.check(dut.run(MODEL, first(200)))
"""


def _no_traceback(result: pytest.RunResult) -> None:
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text
    assert not re.search(r"pytest_think/[\w/]+\.py:\d+", text), "a frame of our code leaked out"


def _tests(pytester: pytest.Pytester) -> dict[str, dict[str, Any]]:
    doc = json.loads((pytester.path / "out.json").read_text())
    return {t["nodeid"].split("::")[-1]: t for t in doc["tests"]}


def test_an_agent_that_stops_answering_is_caught_and_the_next_test_passes(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    write_board("hangs", watchdog=WATCHDOG, twin={"faults": {"hang_after_vectors": 300}})
    pytester.makepyfile(RUN_TESTS)
    result = pytester.runpytest("--board=hangs", "--think-json=out.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [f"*BoardHung: board 'hangs' hung at vectors *–*, no answer in {FLOOR_S:g} s*"]
    )
    _no_traceback(result)
    tests = _tests(pytester)
    hang = tests["test_hangs"]["hang"]
    assert hang["during"] == "stream" and hang["bound_s"] == FLOOR_S
    first, last = hang["vectors"]
    assert first <= 300 <= last  # the frame that crossed the fault is among those in flight
    assert hang["board_answered"] is True  # only the agent hung: SSH still answered
    recovery = tests["test_hangs"]["recovery"]
    assert recovery["recovered"] and not recovery["power_cycled"]
    assert "recovery" not in tests["test_after"]


def test_a_hung_board_without_a_power_switch_stops_its_remaining_tests(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    write_board("frozen", watchdog=WATCHDOG, twin={"faults": {"freeze_after_vectors": 300}})
    pytester.makepyfile(RUN_TESTS + "\ndef test_third(dut):\n    dut.run(MODEL, first(10))\n")
    result = pytester.runpytest("--board=frozen", "--think-json=out.json")
    result.assert_outcomes(failed=1, errors=2)
    down = (
        "cannot recover board 'frozen': no power switch (set recovery.power: meter when its "
        "meter's supply output powers it, give a 'power' port, or recovery.power_off/power_on "
        "commands*"
    )
    result.stdout.fnmatch_lines([f"*BoardDown: board 'frozen' is down, test not run: {down}"])
    # One line each; the short summary repeats them (cut to the terminal's width, or whole
    # under CI=true), so the error sections' own lines are what is counted.
    errors = [line for line in result.stdout.lines if line.startswith("BoardDown: ")]
    assert len(errors) == 2
    _no_traceback(result)
    tests = _tests(pytester)
    assert tests["test_hangs"]["hang"]["board_answered"] is False
    recovery = tests["test_hangs"]["recovery"]
    assert not recovery["recovered"] and "no power switch" in recovery["error"]
    assert tests["test_after"]["outcome"] == tests["test_third"]["outcome"] == "error"


def test_a_power_switch_that_fails_is_one_line(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    write_board(
        "frozen",
        watchdog=WATCHDOG,
        recovery={"power_off": ["false"], "power_on": ["true"]},
        twin={"faults": {"freeze_after_vectors": 300}},
    )
    pytester.makepyfile(RUN_TESTS)
    result = pytester.runpytest("--board=frozen", "--think-json=out.json")
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*BoardDown: board 'frozen' is down, test not run: cannot recover board 'frozen': "
            "switching board 'frozen' off with `false` failed: exit status 1: no output"
        ]
    )
    _no_traceback(result)
    assert "switching board 'frozen' off" in _tests(pytester)["test_hangs"]["recovery"]["error"]


# -- boards powered through their meter's supply output (the ZCU102's N6705) ---------------


@contextmanager
def zcu_bench(
    tmp_path: Path, faults: dict[str, Any], boot_s: float = 0.5, **sections: Any
) -> Iterator[tuple[Path, Path]]:
    """A ZCU102 twin on a bench, powered through its N6705's output, booting in `boot_s`,
    with `faults`; its boards dir and a design for it."""
    board_file = zcu102_twin_file(tmp_path, boot_s=boot_s, faults=faults)
    data = yaml.safe_load(board_file.read_text())
    data.update(watchdog=WATCHDOG, recovery={"power": "meter", "off_s": 0.2})
    data.update(sections)
    board_file.write_text(yaml.safe_dump(data))
    design = zcu102_design(tmp_path, SMALL)
    with bench_twin(tmp_path, board_file, "zcu-bench", bitstream_bytes=SMALL) as (_, boards):
        yield boards, design


def _flash_and_run(design: Path) -> str:
    return RUN_TESTS.replace(
        "def test_hangs(dut):\n",
        f"def test_hangs(dut):\n    dut.flash({str(design)!r})\n",
    ).replace(
        "def test_after(dut, reference):\n",
        f"def test_after(dut, reference):\n    assert not dut.flash({str(design)!r}).flashed\n",
    )


def test_a_frozen_board_is_power_cycled_and_reflashed_and_the_next_test_passes(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    with zcu_bench(tmp_path, {"freeze_after_vectors": 300}) as (boards, design):
        pytester.makepyfile(_flash_and_run(design))
        result = pytester.runpytest(
            "--board=zcu-bench", f"--board-dir={boards}", "--think-json=out.json"
        )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*BoardHung: board 'zcu-bench' hung at vectors *–*, no answer*"])
    _no_traceback(result)
    tests = _tests(pytester)
    assert tests["test_hangs"]["hang"]["board_answered"] is False
    recovery = tests["test_hangs"]["recovery"]
    assert recovery["recovered"] and recovery["power_cycled"]
    assert "supply output of meter keysight-n6705" in recovery["switch"]
    # The reboot forgot the fabric: recovery flashed it again, so the next test found it loaded.
    assert recovery["reflashed"] and recovery["design"] == "digits-zcu102"
    assert tests["test_after"]["flash"][0]["flashed"] is False


def test_a_board_that_freezes_while_flashing_is_brought_back(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    ssh = {"command_timeout": FLOOR_S}
    data = yaml.safe_load((REPO / "boards" / "fpga-zcu102.yaml").read_text())
    with zcu_bench(tmp_path, {"freeze_on_command": "fpgautil"}, ssh={**data["ssh"], **ssh}) as (
        boards,
        design,
    ):
        pytester.makepyfile(_flash_and_run(design))
        result = pytester.runpytest(
            "--board=zcu-bench", f"--board-dir={boards}", "--think-json=out.json"
        )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*BoardHung: board 'zcu-bench' hung flashing design 'digits-zcu102', "
            f"no answer in {FLOOR_S:g} s"
        ]
    )
    _no_traceback(result)
    tests = _tests(pytester)
    assert tests["test_hangs"]["hang"]["during"] == "flashing design 'digits-zcu102'"
    recovery = tests["test_hangs"]["recovery"]
    assert recovery["power_cycled"] and recovery["reflashed"]


def test_a_board_that_freezes_during_an_energy_window_is_brought_back(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    with zcu_bench(tmp_path, {"freeze_in_loop": 1}) as (boards, _):
        pytester.makepyfile(
            RUN_TESTS.replace(
                "def test_hangs(dut):\n    dut.run(MODEL, VECTORS)\n",
                "def test_hangs(energy):\n"
                "    energy.measure(MODEL, VECTORS, window_s=1.0, trials=1)\n",
            )
        )
        result = pytester.runpytest(
            "--board=zcu-bench", f"--board-dir={boards}", "--think-json=out.json"
        )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [f"*BoardHung: board 'zcu-bench' hung in the device loop, no answer in {1 + FLOOR_S:g} s"]
    )
    _no_traceback(result)
    tests = _tests(pytester)
    assert tests["test_hangs"]["hang"]["during"] == "in the device loop"
    assert tests["test_hangs"]["recovery"]["power_cycled"]


def test_a_board_that_does_not_come_back_stops_its_remaining_tests(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    recovery = {"power": "meter", "off_s": 0.2, "boot_timeout": 2.0}
    with zcu_bench(tmp_path, {"freeze_after_vectors": 300}, boot_s=3600, recovery=recovery) as (
        boards,
        _,
    ):
        pytester.makepyfile(RUN_TESTS + "\ndef test_third(dut):\n    dut.run(MODEL, first(10))\n")
        result = pytester.runpytest(
            "--board=zcu-bench", f"--board-dir={boards}", "--think-json=out.json"
        )
    result.assert_outcomes(failed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*BoardDown: board 'zcu-bench' is down, test not run: board 'zcu-bench' did not "
            "come back within 2 s of a power cycle (recovery.boot_timeout): *"
        ]
    )
    _no_traceback(result)


def test_a_pool_member_that_hangs_is_dropped_at_its_bound_and_its_board_recovered(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    # steady takes its time (2 ms a vector), so stuck is sure to be handed frames; stuck's
    # agent stops answering once it has taken more than 30 vectors.
    write_board("steady", twin={"latency": {"fixed_us": 2000}})
    write_board("stuck", watchdog=WATCHDOG, twin={"faults": {"hang_after_vectors": 30}})
    pytester.makepyfile(
        f"""
        def test_pool(dut_pool, reference):
            run = dut_pool.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}, vectors_per_frame=10)
            reference.check(run, rtol=1e-4, atol=1e-5)
            (drop,) = run.pool.dropped
            assert drop.member == "stuck"
            assert "board 'stuck' hung at vectors" in drop.reason
            assert drop.reason.endswith("no answer in {FLOOR_S:g} s")
        """
    )
    result = pytester.runpytest("--board=steady", "--board=stuck", "--think-json=out.json")
    result.assert_outcomes(passed=1)
    (test,) = _tests(pytester).values()
    assert test["hang"]["during"] == "stream" and test["hang"]["board_answered"] is True
    assert test["recovery"]["recovered"] and not test["recovery"]["power_cycled"]
