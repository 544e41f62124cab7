"""A meter that goes away mid-window voids that measurement, and is opened again next test."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

ZCU102 = REPO / "boards" / "fpga-zcu102.yaml"
TIMEOUT_S = 2.0  # the meter's configured timeout in these board files
WINDOW_S, TRIALS = 1.0, 3

# The method's sample and alignment rules are not what these tests are about (1 s windows
# on a loaded machine): loosened, so that "valid" says the meter answered the whole way.
METHOD = {
    "window_s": WINDOW_S,
    "trials": TRIALS,
    "idle_s": 0.5,
    "min_samples": 20,
    "max_alignment_error": 0.5,
}
TWO_TESTS = f"""
import pytest

@pytest.mark.energy(**{METHOD!r})
def test_meter_goes_away(energy):
    energy.measure({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})

@pytest.mark.energy(**{METHOD!r})
def test_next_measurement(energy):
    report = energy.measure({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
    assert report.valid and report.mj_per_inference > 0
"""

# driver: (meter fields, twin meter)
DRIVERS = {
    "keysight-n6705": ({}, {}),
    "generic-scpi": (
        {"idn": "ACME,PM-1000", "setup": ["CONF:POW:DC"], "power_query": "MEAS:POW?",
         "update_s": 0.01},
        {"volts": 12.0},
    ),
}  # fmt: skip


def _board(tmp_path: Path, driver: str, vanish: dict[str, object]) -> Path:
    fields, twin_meter = DRIVERS[driver]
    data = yaml.safe_load(ZCU102.read_text())
    data["meter"] = {
        "driver": driver,
        "resource": "TCPIP::meter.lab::5025::SOCKET",
        "timeout_s": TIMEOUT_S,
        **fields,
    }
    data["twin"]["meter"] = {**data["twin"]["meter"], **twin_meter, "vanish": vanish}
    path = tmp_path / f"zcu102-{driver}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run(pytester: pytest.Pytester, board: Path) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makepyfile(TWO_TESTS)
    result = pytester.runpytest(f"--board={board}", "--emulate", "--think-json=out.json")
    tests = json.loads((pytester.path / "out.json").read_text())["tests"]
    return result, {t["nodeid"].split("::")[-1]: t for t in tests}


def _lost_then_valid(tests: dict[str, Any]) -> str:
    lost, later = tests["test_meter_goes_away"], tests["test_next_measurement"]
    energy = lost["energy"]
    # Invalid with the reason, never a number; the measurement stopped where the meter went.
    assert energy["valid"] is False and energy["meter_lost"] is True
    assert energy["mj_per_inference"] is None and energy["avg_power_w"] is None
    # It went in the first trial's window; a trial whose window the first agent start left
    # unmeasured (a loaded machine) may come before, never one after.
    assert len(energy["trials"]) < TRIALS
    assert energy["reason"].startswith(
        f"the meter was lost during trial {len(energy['trials']) + 1} of {TRIALS}: "
    )
    assert lost["message"] == (
        f"EnergyInvalid: energy on board 'fpga-zcu102' is invalid: {energy['reason']}"
    )
    # The meter was opened again: the next test's measurement is whole and valid.
    assert later["outcome"] == "passed"
    assert later["energy"]["valid"] is True and "meter_lost" not in later["energy"]
    assert len(later["energy"]["trials"]) == TRIALS
    return str(energy["reason"])


# What the reason says of a meter that went away, by how it went.
GONE = {
    "close": "the meter closed its connection (at `*`)",
    # Which query meets the silence depends on when the host asks (load moves it): any does.
    "silent": "the meter stopped answering (at `*`: no answer within * s)",
}


@pytest.mark.parametrize("how", sorted(GONE))
@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_a_meter_that_goes_away_mid_window_voids_that_measurement_within_its_timeout(
    pytester: pytest.Pytester, tmp_path: Path, driver: str, how: str
) -> None:
    board = _board(tmp_path, driver, {"how": how, "into_window_s": 0.3})
    result, tests = _run(pytester, board)
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "EnergyInvalid: energy on board 'fpga-zcu102' is invalid: the meter was lost during "
            f"trial ? of {TRIALS}: meter of board 'fpga-zcu102' (TCPIP::127.0.0.1::*::SOCKET): "
            + GONE[how]
        ]
    )
    reason = _lost_then_valid(tests)
    if how == "silent":
        # One wait, bounded by the meter's timeout (beyond the acquisition a fetch waits
        # for), and none after: the trials left are not run against a meter that is gone.
        found = re.search(r"no answer within ([\d.]+) s", reason)
        assert found is not None
        assert TIMEOUT_S <= float(found.group(1)) <= TIMEOUT_S + WINDOW_S * 1.25 + 1.0


def test_a_meter_that_goes_after_some_queries_and_a_bad_fault_are_told(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    from pytest_think.boards import load_board
    from pytest_think.emulator.config import validate_twin
    from pytest_think.errors import BoardConfigError

    # Gone after 5 queries on its first connection: opening it takes two (*IDN?, the error
    # queue after *CLS), so it goes while the idle baseline's acquisition is set up.
    board = _board(tmp_path, "keysight-n6705", {"how": "close", "after_queries": 5})
    result, tests = _run(pytester, board)
    result.assert_outcomes(failed=1, passed=1)
    energy = tests["test_meter_goes_away"]["energy"]
    assert energy["meter_lost"] is True and energy["mj_per_inference"] is None
    assert energy["idle_power_w"] is None and energy["trials"] == []  # no figure at all
    assert energy["reason"].startswith("the meter was lost during the idle baseline: ")
    assert "the meter closed its connection" in energy["reason"]
    assert tests["test_next_measurement"]["energy"]["valid"] is True

    bad = _board(tmp_path, "keysight-n6705", {"how": "close"})
    with pytest.raises(BoardConfigError) as told:
        validate_twin(load_board(bad))
    assert str(told.value) == (
        f"board file {bad}: field 'twin.meter.vanish': give one of "
        "'after_queries' and 'into_window_s'"
    )
