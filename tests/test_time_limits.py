"""Time limits: a test that runs out is one line naming its step (no thread dump), long steps
extend the limit by what their method needs, and the results record the limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

from pytest_think.power.energy import EnergySettings
from pytest_think.pytest.energy import time_allowed

IN_A_STEP = """
import time
from pytest_think.report import allure_report, steps

def test_slow():
    with allure_report.step("flash design Z"):
        steps.note("block 3/8")
        time.sleep(60)

def test_after():
    pass
"""


def _no_thread_dump(output: str) -> None:
    assert "Stack of" not in output and "~~~~" not in output and "+++++" not in output
    assert "Traceback" not in output


def test_a_timeout_is_one_line_naming_the_step(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_slow=IN_A_STEP)
    result = pytester.runpytest_subprocess("--timeout=1", "-p", "no:cacheprovider")
    # The signal method: the test fails with the line, the session goes on.
    result.assert_outcomes(failed=1, passed=1)
    line = "test_slow.py::test_slow timed out after 1 s while: flash design Z (block 3/8)"
    assert line in result.outlines  # the failure, in one line
    _no_thread_dump(result.stdout.str() + result.stderr.str())


def test_a_timeout_without_signals_is_one_line_and_ends_the_process(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_slow=IN_A_STEP)
    result = pytester.runpytest_subprocess(
        "--timeout=1", "--timeout-method=thread", "-p", "no:cacheprovider"
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["Timeout: test_slow.py::test_slow timed out after 1 s while: flash design Z (block 3/8)"]
    )
    assert "test_after" not in result.stdout.str()  # the process ended there
    _no_thread_dump(result.stdout.str() + result.stderr.str())


def test_outside_every_step_the_line_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import time\ndef test_idle():\n    time.sleep(60)\n")
    result = pytester.runpytest_subprocess("--timeout=1", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*test_*.py::test_idle timed out after 1 s outside every step (in the test's own code)"]
    )
    _no_thread_dump(result.stdout.str())


def test_a_step_that_extends_the_limit_runs_past_the_global_one(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import time
        from pytest_think.pytest import time_limits

        def test_long(request):
            time_limits.extend(request.node, 60)
            time.sleep(1.5)  # past the global 1 s, well inside 61 s
        """
    )
    result = pytester.runpytest_subprocess(
        "--timeout=1", "--think-json=out.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
    (test,) = json.loads((pytester.path / "out.json").read_text())["tests"]
    assert test["time_limit_s"] == 61


def test_an_energy_measurement_extends_its_test_by_what_its_method_allows(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_think import EnergyInvalid

        @pytest.mark.energy(window_s=0.5, trials=2, idle_s=0.5)
        def test_energy(energy):
            for trials in (2, 1):
                try:
                    energy.measure({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}, trials=trials)
                except EnergyInvalid:  # validity is not what this test is about (a loaded host)
                    pass
        """
    )
    board = REPO / "boards" / "fpga-zcu102.yaml"
    result = pytester.runpytest(
        f"--board={board}", "--emulate", "--timeout=300", "--think-json=out.json"
    )
    result.assert_outcomes(passed=1)
    (test,) = json.loads((pytester.path / "out.json").read_text())["tests"]
    first = time_allowed(EnergySettings(window_s=0.5, trials=2, idle_s=0.5))
    second = time_allowed(EnergySettings(window_s=0.5, trials=1, idle_s=0.5))
    assert test["time_limit_s"] == pytest.approx(300 + first + second)
    # Each allowance covers its method's nominal time (baseline + trials × window) twice over.
    assert first >= 2 * (0.5 + 2 * 0.5) and second >= 2 * (0.5 + 0.5)


def test_without_a_limit_nothing_is_recorded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_quick():\n    pass\n")
    result = pytester.runpytest("--timeout=0", "--think-json=out.json")
    result.assert_outcomes(passed=1)
    (test,) = json.loads((pytester.path / "out.json").read_text())["tests"]
    assert "time_limit_s" not in test


def test_a_suite_session_that_goes_silent_is_killed_with_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tests that run whole suite sessions have no limit of their own: the session is
    # bounded by its progress, twice its own per-test limit without a line.
    import support

    suite = tmp_path / "test_silent.py"
    suite.write_text("import time\n\ndef test_silent():\n    time.sleep(3600)\n")
    monkeypatch.setattr(support, "TEST_LIMIT_S", 1.0)
    with pytest.raises(AssertionError, match=r"test_silent.py --timeout=0: no output for 2 s, ki"):
        support.run_suites(tmp_path, str(suite), "--timeout=0")
