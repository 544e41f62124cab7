"""A supply's output really powers the board twin down and up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support import bench_twin, zcu102_design, zcu102_twin_file

SMALL = 1_500_000


def test_supply_off_takes_the_board_down_and_a_reboot_forgets_the_fabric(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    from pytest_think.boards import load_board
    from pytest_think.power.meters import SupplyOutput, meter_options
    from pytest_think.power.meters.keysight_n6705 import KeysightN6705

    board_file = zcu102_twin_file(tmp_path, boot_s=0.5)
    design = zcu102_design(tmp_path, SMALL)
    flash_test = f"""
def test_flash(dut, board):
    report = dut.flash({str(design)!r})
    (tmp := __import__("pathlib").Path("flashed.txt")).write_text(str(report.flashed))
"""
    with bench_twin(tmp_path, board_file, "zcu-bench", bitstream_bytes=SMALL) as (twin, boards):
        bench = load_board(boards / "zcu-bench.yaml")
        assert bench.meter is not None
        supply = KeysightN6705(meter_options(bench), "meter of board 'zcu-bench'")
        assert isinstance(supply, SupplyOutput)
        pytester.makepyfile(flash_test)
        args = ("--board=zcu-bench", f"--board-dir={boards}")
        pytester.runpytest(*args).assert_outcomes(passed=1)
        assert (pytester.path / "flashed.txt").read_text() == "True"
        pytester.runpytest(*args).assert_outcomes(passed=1)
        assert (pytester.path / "flashed.txt").read_text() == "False"  # still loaded

        supply.set_output(False)
        result = pytester.runpytest(*args)  # nothing answers on the port
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*LinkError: *zcu-bench*"])
        state = twin.sandbox_root / "sys/class/fpga_manager/fpga0/state"
        assert state.read_text().strip() == "unknown"

        supply.set_output(True)
        time.sleep(0.8)  # boot_s
        pytester.runpytest(*args).assert_outcomes(passed=1)
        assert (pytester.path / "flashed.txt").read_text() == "True"  # loaded again
        supply.close()
