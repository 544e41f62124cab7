"""Device timings in pytest-benchmark: runs, pool runs and energy loops as entries of
--benchmark-json, saved runs read by pytest-benchmark's own compare, --benchmark-compare-fail
on a twin whose device time grew, and the note under pytest-xdist."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pytest_benchmark.stats import Stats
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

from pytest_think.hashing import sha256_file
from pytest_think.pytest.benchmarks import GROUPS, XDIST_NOTE, DeviceTimes

WriteBoard = Callable[..., Path]
RUNS = f"""
MODEL, VECTORS = {str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}

def test_digits(dut):
    dut.run(MODEL, VECTORS)
    dut.run(MODEL, VECTORS, label="again")
    dut.run(MODEL, VECTORS, label="again")
"""
ONE_RUN = f"""
def test_digits(dut):
    dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
"""


def entries(path: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads(path.read_text())
    return {b["fullname"]: b for b in doc["benchmarks"]}


def results_of(path: Path) -> dict[str, dict[str, Any]]:
    return {t["nodeid"]: t for t in json.loads(path.read_text())["tests"]}


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 101, 1000])
def test_device_times_are_pytest_benchmarks_statistics(size: int) -> None:
    rng = np.random.default_rng(size)
    ns = rng.lognormal(10, 0.5, size).astype(np.int64) + 1
    ns[: size // 10] *= 40  # a tail of outliers
    seconds = (ns / 1e9).tolist()
    theirs = Stats()
    for value in seconds:
        theirs.update(value)
    expected = theirs.as_dict()
    # In seconds, as given: every figure; in nanoseconds (a run's own array): the same, but
    # for the last bit of those averaged or summed in nanoseconds first.
    for ours, exact in ((DeviceTimes(np.array(seconds)), True), (DeviceTimes(ns, 1e9), False)):
        got = ours.as_dict()
        for name in ("mean", "stddev", "total", "ops"):  # numpy's sums, not exact fractions
            assert got.pop(name) == pytest.approx(expected[name], rel=1e-12, abs=0), name
        for name in [] if exact else ("median", "q1", "q3", "iqr"):
            assert got.pop(name) == pytest.approx(expected[name], rel=1e-12, abs=0), name
        assert got == {k: v for k, v in expected.items() if k in got}
        assert ours.data == theirs.data and bool(ours)
    # Figures asked before an update are computed again after it.
    ours.update(1.0)
    assert ours.max == 1.0 and ours.rounds == size + 1 and ours.data[-1] == 1.0


def test_each_run_is_a_device_and_a_host_entry(
    pytester: pytest.Pytester, write_board: WriteBoard
) -> None:
    write_board("sim-b", twin={"hostname": "second"})
    pytester.makepyfile(
        RUNS
        + """
def test_pool(dut_pool):
    dut_pool.run(MODEL, VECTORS)
"""
    )
    result = pytester.runpytest(
        "--board=sim", "--board=sim-b", "--benchmark-json=bench.json", "--think-json=out.json"
    )
    result.assert_outcomes(passed=3)
    got = entries(pytester.path / "bench.json")
    tests = results_of(pytester.path / "out.json")
    sha = sha256_file(DIGITS_MODEL)
    expected = set()
    for board in ("sim", "sim-b"):
        nodeid = f"test_each_run_is_a_device_and_a_host_entry.py::test_digits[{board}]"
        runs = tests[nodeid]["runs"]
        whats = [f"digits_mlp.onnx@{board}", f"again@{board}", f"again@{board}#2"]
        for what, run in zip(whats, runs):
            for kind in ("device", "host"):
                entry = got[f"{nodeid}::{kind}:{what}"]
                expected.add(entry["fullname"])
                assert entry["name"] == f"test_digits[{board}]::{kind}:{what}"
                assert entry["group"] == GROUPS[kind]
                assert entry["param"] == board
                stats, latency = entry["stats"], run["latency"][f"{kind}_ns"]
                assert stats["rounds"] == len(stats["data"]) == 450 == run["vectors"]
                assert stats["iterations"] == 1
                # Seconds, as pytest-benchmark keeps them: the results JSON's figures.
                assert stats["median"] * 1e9 == pytest.approx(latency["p50"], rel=1e-9)
                assert stats["min"] * 1e9 == pytest.approx(latency["min"], rel=1e-9)
                assert stats["max"] * 1e9 == pytest.approx(latency["max"], rel=1e-9)
                info = entry["extra_info"]
                assert info == {
                    "board": board,
                    "model": str(DIGITS_MODEL),
                    "model_sha256": sha,
                    "twin": True,
                    "vectors": 450,
                    "kind": kind,
                    **({"label": run["label"]} if "label" in run else {}),
                }
    pool = tests["test_each_run_is_a_device_and_a_host_entry.py::test_pool"]
    for kind in ("device", "host"):
        entry = got[f"{pool['nodeid']}::{kind}:digits_mlp.onnx@sim+sim-b"]
        expected.add(entry["fullname"])
        assert entry["stats"]["rounds"] == 450 and entry["param"] is None
        assert entry["extra_info"]["members"] == ["sim", "sim-b"]
        assert entry["extra_info"]["board"] == "sim+sim-b" and entry["extra_info"]["twin"]
        p50 = pool["latency"][f"{kind}_ns"]["p50"]
        assert entry["stats"]["median"] * 1e9 == pytest.approx(p50, rel=1e-9)
    assert set(got) == expected and len(expected) == 14
    # pytest-benchmark's own table, one per kind of time.
    result.stdout.fnmatch_lines(
        [
            f"*benchmark '{GROUPS['device']}': 7 tests*",
            "*test_digits?sim-b?::device:again@sim-b#2 *450 *1",
            f"*benchmark '{GROUPS['host']}': 7 tests*",
        ]
    )


def test_saved_runs_compare_and_a_slower_twin_fails_the_session(
    pytester: pytest.Pytester, write_board: WriteBoard
) -> None:
    pytester.makepyfile(ONE_RUN)
    store = ["--benchmark-storage=file://./store", "--benchmark-autosave"]
    write_board("bench", twin={"latency": {"fixed_us": 0}})
    pytester.runpytest("--board=bench", *store).assert_outcomes(passed=1)
    # The same board, its twin now 2 ms slower a vector: far beyond what load moves.
    write_board("bench", twin={"latency": {"fixed_us": 2000}})
    compare = ["--benchmark-compare=0001", "--benchmark-compare-fail=median:5%"]
    result = pytester.runpytest("--board=bench", *store, *compare, "--think-json=out.json")
    # pytest-benchmark fails the session from its terminal summary (so pytest prints no
    # outcome line): the test itself passed, the session did not.
    assert result.ret != 0
    ((test,),) = [list(results_of(pytester.path / "out.json").values())]
    assert test["outcome"] == "passed"
    result.stderr.fnmatch_lines(
        [
            "*Performance has regressed*",
            "*test_digits::device:digits_mlp.onnx@bench (0001*) - Field 'median'*",
        ]
    )
    saved = sorted((pytester.path / "store").glob("*/*.json"))
    assert [p.name[:4] for p in saved] == ["0001", "0002"]
    # pytest-benchmark's own compare reads both runs: each entry from each file.
    cli = Path(sys.executable).with_name("pytest-benchmark")
    command = [str(cli)] if cli.is_file() else [sys.executable, "-m", "pytest_benchmark"]
    shown = subprocess.run(
        [*command, "compare", "--name=long", "--group-by=fullname", "--csv=cmp", *map(str, saved)],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    nodeid = test["nodeid"]
    for kind in ("device", "host"):
        fullname = f"{nodeid}::{kind}:digits_mlp.onnx@bench"
        for path in saved:
            # Its name, then the file it came from (as pytest-benchmark shortens the path).
            line = re.escape(fullname) + r" \((\S*/)?" + re.escape(path.stem) + r"\) "
            assert re.search(line, shown.stdout), (line, shown.stdout)
    medians: dict[str, list[float]] = {}
    with (pytester.path / "cmp.csv").open() as stream:
        for row in csv.DictReader(stream):
            medians.setdefault(row["name"], []).append(float(row["median"]))
    before, after = (entries(p) for p in saved)
    for fullname, values in medians.items():
        assert sorted(values) == sorted(
            [before[fullname]["stats"]["median"], after[fullname]["stats"]["median"]]
        )
    device_before = before[f"{nodeid}::device:digits_mlp.onnx@bench"]["stats"]["median"]
    device_after = after[f"{nodeid}::device:digits_mlp.onnx@bench"]["stats"]["median"]
    assert device_after - device_before >= 1.9e-3
    assert set(medians) == set(before) == set(after)


def test_an_energy_measurement_is_its_trials_device_time_per_inference(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        import pytest
        from pytest_think.pytest.energy import EnergyInvalid

        @pytest.mark.energy(window_s=0.5, trials=2, idle_s=0.3)
        def test_energy(energy):
            # The loop's times are the device clock's, recorded whatever the meter's verdict
            # (short windows on a loaded machine may be judged too coarse for the energy).
            try:
                energy.measure({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}, label="mlp")
            except EnergyInvalid:
                pass
        """
    )
    board = REPO / "boards" / "fpga-zcu102.yaml"
    result = pytester.runpytest(
        f"--board={board}", "--emulate", "--benchmark-json=bench.json", "--think-json=out.json"
    )
    result.assert_outcomes(passed=1)
    (test,) = results_of(pytester.path / "out.json").values()
    energy = test["energy"]
    (entry,) = entries(pytester.path / "bench.json").values()
    assert entry["fullname"] == f"{test['nodeid']}::loop:mlp@fpga-zcu102"
    assert entry["group"] == GROUPS["loop"]
    trials = [t["window_s"] / t["inferences"] for t in energy["trials"]]
    assert entry["stats"]["data"] == trials and entry["stats"]["rounds"] == 2
    assert entry["extra_info"] == {
        "board": "fpga-zcu102",
        "model": str(DIGITS_MODEL),
        "model_sha256": energy["model_sha256"],
        "twin": True,
        "trials": 2,
        "energy_valid": energy["valid"],
        "mj_per_inference": energy["mj_per_inference"],
        "label": "mlp",
        "kind": "loop",
    }


def test_under_xdist_the_session_says_once_where_the_timings_are(
    pytester: pytest.Pytester, write_board: WriteBoard
) -> None:
    pytest.importorskip("xdist")
    write_board("sim-b", twin={"hostname": "second"})
    pytester.makepyfile(ONE_RUN)
    result = pytester.runpytest(
        "-n", "2", "--board=sim", "--board=sim-b", "--benchmark-json=bench.json",
        "--think-json=out.json",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    assert result.stdout.lines.count(XDIST_NOTE) == 1
    assert not (pytester.path / "bench.json").exists()
    for test in results_of(pytester.path / "out.json").values():
        assert test["latency"]["device_ns"]["n"] == 450


def test_no_entries_unless_asked_for_or_when_pytest_benchmark_is_off(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        ONE_RUN
        + """
def test_kinds(think_benchmark):
    open("kinds.txt", "w").write(",".join(think_benchmark))
"""
    )
    kinds = pytester.path / "kinds.txt"
    # Not asked: the session's output is as it was, without pytest-benchmark's table.
    quiet = pytester.runpytest()
    quiet.assert_outcomes(passed=2)
    assert not [line for line in quiet.stdout.lines if "think: device time" in line]
    assert kinds.read_text() == "device,host,loop"
    # Disabled: nothing written, however asked.
    result = pytester.runpytest("--benchmark-disable", "--benchmark-json=bench.json")
    result.assert_outcomes(passed=2)
    assert not (pytester.path / "bench.json").exists()
    assert XDIST_NOTE not in result.stdout.lines
    # No plug-in at all.
    pytester.runpytest("-p", "no:benchmark").assert_outcomes(passed=2)
    # Its tables alone, with --benchmark-enable; here only the host's (--think-benchmark).
    shown = pytester.runpytest("--benchmark-enable", "--think-benchmark=host")
    shown.assert_outcomes(passed=2)
    shown.stdout.fnmatch_lines([f"*benchmark '{GROUPS['host']}': 1 tests*"])
    assert not [line for line in shown.stdout.lines if GROUPS["device"] in line]
    assert kinds.read_text() == "host"


@pytest.mark.parametrize(
    ("given", "what"),
    [("device,hots", "unknown kind 'hots'"), (",", "no kind")],
    ids=["unknown", "empty"],
)
def test_think_benchmark_names_kinds_of_entry(
    pytester: pytest.Pytester, given: str, what: str
) -> None:
    pytester.makepyfile(ONE_RUN)
    result = pytester.runpytest(f"--think-benchmark={given}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [
        f"ERROR: --think-benchmark {given!r}: {what} of entry; give some of device, host, "
        "loop, separated by commas"
    ]
