"""--think-baseline / --think-fail-on: a session judged against an earlier results file.

The gate's tests use changes no load can move (a twin's added device time doubled, halved);
the boundaries of the judgement itself are test_deltas.py's, on synthetic measures."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from results_docs import doc as _doc
from results_docs import entry as _test
from results_docs import run as _run
from results_docs import write as _write
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

from pytest_think.errors import InputFileError
from pytest_think.report.deltas import parse_fail_on
from pytest_think.report.regressions import check_boards, compare_with_baseline, load_baseline

FIRST_SCHEMA = REPO / "tests" / "data" / "results-0.1.0-first-schema.json"
LIMITS = parse_fail_on("latency:5%,energy:3%,accuracy:0.5")

TEST_FILE = f"""
def test_digits(dut, reference):
    reference.check(dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}))
"""


def test_tests_and_models_are_matched_by_node_id_sha256_and_label(tmp_path: Path) -> None:
    base = _write(
        tmp_path / "base.json",
        _doc(
            [
                _test("t.py::test_variants", [_run("a", "A", 100), _run("b", "B", 100)]),
                _test("t.py::test_renamed", [_run("old name", "C", 100)]),
                _test("t.py::test_other_model", [_run("m", "D", 100)]),
            ]
        ),
    )
    current = [
        # a campaign's node ids carry the board: the same tests
        _test("t.py::test_variants[sim]", [_run("b", "B", 150), _run("a", "A", 100)]),
        _test("t.py::test_renamed[sim]", [_run("new name", "C", 50)]),
        _test("t.py::test_other_model[sim]", [_run("m", "E", 300)]),
        _test("t.py::test_new[sim]", [_run("n", "N", 300)]),
    ]
    judged = compare_with_baseline(load_baseline(base), current, LIMITS)
    latency = {(f.test, f.model): f.delta.verdict for f in judged.findings
               if f.delta.figure.name == "latency"}  # fmt: skip
    assert latency == {
        ("t.py::test_variants", "b"): "regression",
        ("t.py::test_variants", "a"): "unchanged",
        ("t.py::test_renamed", "new name"): "improvement",  # the same sha256 under a new label
    }
    assert [f.line() for f in judged.regressions] == [
        "test_variants [b] on sim: device latency p50: 100 µs → 150 µs (+50.0 %; "
        "noise 99.5–100 → 150–150 µs)"
    ]
    assert judged.notes == [
        "t.py::test_other_model on sim: model 'm' is not the baseline's (sha256 E…, baseline "
        "D…): not compared",
        "t.py::test_new on sim: not in the baseline, not compared",
    ]
    partial = compare_with_baseline(load_baseline(base), current[:1], LIMITS)
    assert partial.notes == ["2 tests of the baseline on sim did not run here"]


def test_a_flashed_design_of_a_new_sha256_is_compared_with_the_old(tmp_path: Path) -> None:
    flash = [{"design": "dpu", "sha256": "NEW", "flashed": True, "seconds": 0.1, "log": []}]
    base = _write(tmp_path / "b.json", _doc([_test("t.py::test_design", [_run("dpu", "OLD", 60)])]))
    current = [_test("t.py::test_design", [_run("dpu", "NEW", 90)], flash=flash)]
    judged = compare_with_baseline(load_baseline(base), current, LIMITS)
    assert [f.line() for f in judged.regressions] == [
        "test_design [dpu] on sim (design OLD… → NEW…): device latency p50: 60.0 µs → 90.0 µs "
        "(+50.0 %; noise 59.5–60.5 → 89.5–90.5 µs)"
    ]


def test_a_baseline_of_the_first_schema_loads_with_gaps_for_what_it_lacks() -> None:
    baseline = load_baseline(FIRST_SCHEMA)
    current = copy.deepcopy(list(baseline.tests["sim"].values()))
    for test in current:
        device = test["latency"]["device_ns"]
        device.update(p50=device["p50"] * 2, p50_lo=device["p50"] * 1.9, p50_hi=device["p50"] * 2.1)
    judged = compare_with_baseline(baseline, current, LIMITS)
    lines = [f.line() for f in judged.regressions]
    # No interval of the median in the old file: the threshold alone decides, and says so.
    assert len(lines) == len(current) and all("+100.0 %; noise ? →" in ln for ln in lines)
    assert {f.delta.figure.name for f in judged.findings} == {
        "latency", "p99", "throughput", "accuracy"
    }  # fmt: skip


def test_a_baseline_of_another_board_or_target_is_one_line(tmp_path: Path) -> None:
    base = load_baseline(_write(tmp_path / "b.json", _doc([], board="sim")))
    with pytest.raises(InputFileError, match=r"board 'sim', this session's is 'zcu'; give"):
        check_boards(base, [("zcu", "xilinx-fpga", True)])
    with pytest.raises(InputFileError, match=r"family generic there, xilinx-fpga here"):
        check_boards(base, [("sim", "xilinx-fpga", True)])
    with pytest.raises(InputFileError, match=r"ran its digital twin of 'sim', this session the "):
        check_boards(base, [("sim", "generic", False)])
    notes = check_boards(base, [("sim", "generic", True), ("other", "generic", True)])
    assert notes == [f"--think-baseline {tmp_path / 'b.json'} has no board 'other': its tests "
                     "are not compared"]  # fmt: skip


def _slow_board(write_board: Any, fixed_us: float, name: str = "gate") -> Path:
    path: Path = write_board(name, twin={"latency": {"fixed_us": fixed_us, "jitter_us": 20}})
    return path


def test_a_doubled_device_time_fails_the_session_with_its_line(
    pytester: pytest.Pytester, write_board: Any
) -> None:
    pytester.makepyfile(TEST_FILE)
    _slow_board(write_board, 400)
    pytester.runpytest("--board=gate", "--think-json=base.json").assert_outcomes(passed=1)
    _slow_board(write_board, 800)
    result = pytester.runpytest(
        "--board=gate", "--think-baseline=base.json", "--think-json=slow.json"
    )
    result.assert_outcomes(passed=1)  # the test itself passed; the session fails
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.re_match_lines(
        [
            r"think: baseline base.json \(written .*\); fail on latency:5%,energy:3%,accuracy:0.5",
            r"test +board +latency Δ +p99 Δ +throughput Δ +accuracy Δ",
            r"test_digits \[digits_mlp\] +gate +\+\d+\.\d %! .*\+0.00 pt",
            r"think: REGRESSION: test_digits \[digits_mlp\] on gate: device latency p50: "
            r"\d+ µs → \d+ µs \(\+\d+\.\d %; noise \d+–\d+ → \d+–\d+ µs\)",
            r".*think: \d+ figures compared, 1 regressions, 0 improvements: the session fails.*",
        ]
    )
    entry = json.loads((pytester.path / "slow.json").read_text())["baseline"]
    assert entry["regressions"] == 1 and entry["fail_on"] == {
        "latency": 5.0, "energy": 3.0, "accuracy": 0.5
    }  # fmt: skip
    assert [d["figure"] for d in entry["deltas"] if d["verdict"] == "regression"] == ["latency"]
    # Halved back: an improvement, listed, and the session passes.
    _slow_board(write_board, 400)
    result = pytester.runpytest("--board=gate", "--think-baseline=slow.json")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["think: improvement: test_digits *(-*%*", "*0 regressions, 1 i*"])


def test_under_xdist_the_controller_judges_every_board(
    pytester: pytest.Pytester, write_board: Any
) -> None:
    pytester.makepyfile(TEST_FILE)
    for name in ("gate-a", "gate-b"):
        _slow_board(write_board, 600, name)
    boards = ["--board=gate-a", "--board=gate-b"]
    pytester.runpytest(*boards, "--think-json=base.json").assert_outcomes(passed=2)
    _slow_board(write_board, 1800, "gate-b")
    result = pytester.runpytest(
        *boards, "-n", "2", "--think-baseline=base.json", "--think-fail-on=latency:20%"
    )
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["think: REGRESSION: test_digits [[]digits_mlp[]] on gate-b: *"])
    assert "on gate-a: device latency" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--think-baseline=missing.json"],
         "--think-baseline: results file missing.json not found"),
        (["--think-baseline=notjson.json"],
         "--think-baseline: results file notjson.json: not JSON"),
        (["--think-baseline=other.json"], "--think-baseline other.json: a results file of board "
                                          "'fpga', this session's is 'sim'"),
        (["--think-baseline=base.json", "--think-fail-on=latency:5%,energie:3%"],
         "--think-fail-on: unknown figure 'energie' in 'energie:3%'"),
        (["--think-baseline=base.json", "--think-fail-on=latency:5%%"],
         "--think-fail-on: 'latency:5%%' needs a threshold that is a number"),
        (["--think-fail-on=latency:5%"], "--think-fail-on says what fails against a baseline: "
                                         "give --think-baseline FILE"),
    ],
)  # fmt: skip
def test_bad_baseline_input_stops_the_session_in_one_line(
    pytester: pytest.Pytester, args: list[str], says: str
) -> None:
    pytester.makepyfile(TEST_FILE)
    (pytester.path / "notjson.json").write_text("<html>")
    _write(pytester.path / "other.json", _doc([], board="fpga"))
    _write(pytester.path / "base.json", _doc([]))
    result = pytester.runpytest("--board=sim", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors == [f"ERROR: {says}"] or (len(errors) == 1 and says in errors[0]), errors


def test_the_options_are_fixtures_too(pytester: pytest.Pytester) -> None:
    _write(pytester.path / "base.json", _doc([]))
    pytester.makepyfile(
        """
        def test_options(think_baseline, think_fail_on):
            assert think_baseline.name == "base.json"
            assert think_fail_on == {"latency": 0.1, "accuracy": 1.0}
        """
    )
    result = pytester.runpytest(
        "--board=sim", "--think-baseline=base.json", "--think-fail-on=latency:10%,accuracy:1"
    )
    result.assert_outcomes(passed=1)
