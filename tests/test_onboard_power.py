"""Onboard power monitors: found in each kernel's sysfs layout, read in watts by rail."""

from __future__ import annotations

import pytest
from support import REPO

CASES = {
    # board: rails with their idle watts in the board file
    "fpga-zcu102": {"VCCPSINTFP": 0.61, "VCCINTLP": 0.18, "VCCINT": 1.92, "VCCBRAM": 0.05},
    "jetson-orin-nano": {"VDD_IN": 4.6, "VDD_CPU_GPU_CV": 0.9, "VDD_SOC": 1.3},
    "jetson-tx1": {"VDD_IN": 2.9, "VDD_GPU": 0.2, "VDD_CPU": 0.4},
}


@pytest.mark.parametrize("board_name", sorted(CASES))
def test_rails_are_discovered_and_read_in_watts(pytester: pytest.Pytester, board_name: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_think.power.onboard import read_power

        def test_power(board):
            assert board.identity["power_rails"] == {list(CASES[board_name])!r}
            sensors = board.power_sensors
            watts = read_power(board.transport, sensors)
            # Integer sysfs units (mV x mA, uW, mW) round the idle power a little.
            assert watts == pytest.approx({CASES[board_name]!r}, rel=2e-3, abs=2e-3)
        """
    )
    pytester.runpytest(
        f"--board={REPO / 'boards' / f'{board_name}.yaml'}", "--emulate"
    ).assert_outcomes(passed=1)


def test_a_board_without_monitors_has_no_rails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_none(board):
            assert board.identity["power_rails"] == []
            assert board.power_sensors == []
        """
    )
    pytester.runpytest("--board=sim").assert_outcomes(passed=1)
