"""Whole runs on twins: the README's suite command, results JSON, JUnit, latency, two boards."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

STAT_KEYS = {"n", "mean", "p50", "p50_lo", "p50_hi", "p99", "min", "max"}


def test_suites_on_sim_write_junit_and_results_json(tmp_path: Path) -> None:
    junit, results = tmp_path / "junit.xml", tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            # The digits suites: every test one model over the same 450 vectors (the other
            # suites run on every board in test_every_board.py and test_lab_suites.py).
            "test_suites/test_digits.py",
            "test_suites/test_digits_design.py",
            "test_suites/test_energy.py",
            "--board=sim",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            f"--think-json={results}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "think: board sim (family generic, digital twin)" in proc.stdout
    assert "think: board results" in proc.stdout

    doc = json.loads(results.read_text())
    assert doc["schema"] == "pytest-think/results" and doc["schema_version"] == 1
    board = doc["board"]
    assert board["name"] == "sim" and board["family"] == "generic" and board["twin"] is True
    assert board["identity"]["uname"].startswith("Linux sim ")
    assert board["agent"]["version"] and "onnxruntime" in board["agent"]["backends"]
    assert doc["tests"], "no test recorded"
    assert sum(t.get("compare") is not None for t in doc["tests"]) >= 3
    # sim has no power meter: its energy tests skip.
    skipped = [t["nodeid"] for t in doc["tests"] if t["outcome"] == "skipped"]
    assert skipped == ["test_suites/test_energy.py::test_digits_energy_per_inference"]
    for test in doc["tests"]:
        if test["nodeid"] in skipped:
            continue
        assert test["outcome"] == "passed"
        assert test["model"].endswith("digits_mlp.onnx")
        assert len(test["model_sha256"]) == 64
        assert test["vectors"] == 450
        compare = test["compare"]
        if compare is None:  # a test that times the device without checking outputs
            assert "device_time" in test["nodeid"]
        else:
            for key in (
                "passed",
                "max_abs_err",
                "max_rel_err",
                "mismatches",
                "cosine_min",
                "top1_agreement",
            ):
                assert key in compare
            assert compare["passed"] is True and compare["top1_agreement"] == 1.0
        for kind in ("device_ns", "host_ns"):
            stats = test["latency"][kind]
            assert set(stats) == STAT_KEYS and stats["n"] == 450
            assert 0 < stats["min"] <= stats["p50"] <= stats["p99"] <= stats["max"]
        # A vector's round trip on the host includes its time on the device.
        assert test["latency"]["host_ns"]["p50"] > test["latency"]["device_ns"]["p50"]
        assert test["throughput_per_s"] > 0
        if compare is not None:
            assert test["accuracy"]["device"] == pytest.approx(test["accuracy"]["reference"])

    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == len(doc["tests"])
    for case in cases:
        if case.find("skipped") is not None:
            continue
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["think_board"] == "sim"
        assert int(props["vectors"]) == 450 and float(props["device_p50_us"]) > 0
        assert float(props["throughput_per_s"]) > 0
        assert len(props["model_sha256"]) == 64


def test_twin_latency_model_shows_in_device_time(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    write_board("slow", twin={"latency": {"fixed_us": 2000}})
    pytester.makepyfile(
        f"""
        def test_slow(dut, reference):
            run = dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
            reference.check(run)
        """
    )
    result = pytester.runpytest("--board=slow", "--think-json=out.json")
    result.assert_outcomes(passed=1)
    (test,) = json.loads((pytester.path / "out.json").read_text())["tests"]
    device = test["latency"]["device_ns"]
    assert device["min"] >= 2_000_000
    # 450 vectors at >= 2 ms each cannot finish faster than 0.9 s.
    assert test["stream"]["wall_s"] >= 0.9


def test_board_spec_fixture_can_be_parametrized(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    write_board("sim-b", twin={"hostname": "second"})
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.parametrize("board_spec", ["sim", "sim-b"], scope="session")
        def test_each_board(board, dut, reference):
            run = dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
            reference.check(run)
            hostname = {{"sim": "sim", "sim-b": "second"}}[board.config.name]
            assert board.identity["uname"].split()[1] == hostname
        """
    )
    result = pytester.runpytest("--think-json=out.json")
    result.assert_outcomes(passed=2)
    boards = [t["board"] for t in json.loads((pytester.path / "out.json").read_text())["tests"]]
    assert sorted(boards) == ["sim", "sim-b"]


def test_board_spec_fixture_defaults_to_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_options(board_spec, emulate, think_json):
            assert board_spec == "sim"
            assert emulate is True
            assert think_json is None
        """
    )
    pytester.runpytest("--emulate").assert_outcomes(passed=1)


def test_a_board_connects_once_per_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        seen = []
        def test_a(board, dut):
            seen.append((id(board), dut.device.ensure_agent().identity["pid"]))
        def test_b(board, dut):
            seen.append((id(board), dut.device.ensure_agent().identity["pid"]))
            assert seen[0] == seen[1]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)


def test_board_by_path_vectors_fixture_and_device_loop(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    import yaml
    from support import sim_board_data

    board_file = tmp_path / "elsewhere" / "bench-7.yaml"
    board_file.parent.mkdir()
    board_file.write_text(yaml.safe_dump(sim_board_data(name="bench-7")))
    pytester.makepyfile(
        f"""
        def test_with_vector_set(dut, reference, vectors):
            vset = vectors({str(DIGITS_VECTORS)!r}, {str(DIGITS_MODEL)!r})
            assert vset.count == 450 and vset.labels is not None
            run = dut.run({str(DIGITS_MODEL)!r}, vset)
            reference.check(run)
            assert run.board == "bench-7"

        def test_device_loop(dut):
            report = dut.device_loop({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r},
                                     count=32, min_seconds=0.2, warmup=1)
            assert report["inferences"] >= 32 and report["loop_ns"] >= 0.2e9
        """
    )
    result = pytester.runpytest(f"--board={board_file}")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [f"think: board bench-7 (family generic, digital twin) from {board_file}"]
    )


def test_results_json_under_xdist_has_every_workers_tests(
    pytester: pytest.Pytester, write_board: Callable[..., Path]
) -> None:
    pytest.importorskip("xdist")
    write_board("sim-b", twin={"hostname": "second"})
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.parametrize("i", range(4))
        def test_digits(dut, reference, i):
            reference.check(dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}))
        """
    )
    result = pytester.runpytest("-n", "2", "--board=sim", "--board=sim-b", "--think-json=out.json")
    result.assert_outcomes(passed=8)
    doc = json.loads((pytester.path / "out.json").read_text())
    assert sorted(t["nodeid"] for t in doc["tests"]) == sorted(
        f"test_results_json_under_xdist_has_every_workers_tests.py::test_digits[{board}-{i}]"
        for board in ("sim", "sim-b")
        for i in range(4)
    )
    assert all(t["compare"]["passed"] for t in doc["tests"])
    assert doc["board"]["identity"]["uname"].startswith("Linux sim ")
    assert doc["board"]["agent"]["protocol"] == 1
    assert [b["identity"]["uname"].split()[1] for b in doc["boards"]] == ["sim", "second"]
    result.stdout.fnmatch_lines(["*think: board results*"])
