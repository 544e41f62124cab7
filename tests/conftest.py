"""Fixtures shared by pytest-think's own tests."""

from __future__ import annotations

import json
import shutil
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import onnx  # noqa: F401  (see below)
import pytest
import support
import yaml
from support import DIGITS_MODEL, DIGITS_VECTORS, sim_board_data

from pytest_think.boards import PACKAGED_BOARDS, BoardConfig, find_board
from pytest_think.emulator.launcher import TwinProcess

# A lab's own repository (its package, boards and suite), run by test_third_party_family.
collect_ignore = ["example_lab"]

# onnx is imported here, by the test process, once: pytester's in-process sessions forget the
# modules they import when they end, and onnx's C extension aborts the process when it is
# imported a second time (the product imports it to check models before upload).


def pytest_configure(config: pytest.Config) -> None:
    # Started in the background by a non-interactive shell (`make test-loaded`), pytest has
    # SIGINT ignored, and so would every program it starts: the tests that press Ctrl-C on
    # one (`think twin`, a suite session) need it as a terminal leaves it. A handler of ours
    # is reset to the default in a child at exec; an ignored signal would stay ignored.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # The suite sessions the tests run read the same ini: their per-test limit is ours.
    limit = float(config.getini("timeout") or 0)
    if limit > 0:
        support.TEST_LIMIT_S = limit


@pytest.fixture(scope="session", autouse=True)
def private_hash_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the tests' on-disk hash cache out of the user's home."""
    path = tmp_path_factory.mktemp("hash-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("THINK_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="session", autouse=True)
def not_an_xdist_worker() -> Iterator[None]:
    """The sessions the tests start are not workers of the run that runs the tests (make test
    runs them under pytest-xdist): pytest-benchmark, for one, turns itself off in a process
    that inherits PYTEST_XDIST_WORKER."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session", autouse=True)
def private_tmpdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The temporary directory of the processes the tests start (pytest sessions, twins,
    workers), removed at the end: what a session killed on purpose could not remove (its
    boards' state, ``think-*``) is not left in the machine's /tmp."""
    path = tmp_path_factory.mktemp("tmpdir")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", str(path))
        yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def write_board(pytester: pytest.Pytester) -> Callable[..., Path]:
    """write_board(name, **sections): a board file in the pytester project's boards/ dir."""

    def write(name: str, **sections: Any) -> Path:
        boards = pytester.path / "boards"
        boards.mkdir(exist_ok=True)
        path = boards / f"{name}.yaml"
        path.write_text(yaml.safe_dump(sim_board_data(name=name, **sections), sort_keys=False))
        return path

    return write


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def sim_board() -> BoardConfig:
    return find_board("sim", [PACKAGED_BOARDS])


@pytest.fixture(scope="module")
def sim_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinProcess]:
    """A running sim twin, shared by the tests of one module."""
    board = find_board("sim", [PACKAGED_BOARDS])
    with TwinProcess.start(board, tmp_path_factory.mktemp("twin")) as twin:
        yield twin


@pytest.fixture
def two_runs(pytester: pytest.Pytester) -> tuple[Path, Path]:
    """A sim run, and the same results as if from a metered board without one test."""
    pytester.makepyfile(
        f"""
        def test_digits(dut, reference):
            reference.check(dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}))

        def test_only_on_sim(dut):
            dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
        """
    )
    pytester.runpytest("--board=sim", "--think-json=sim.json").assert_outcomes(passed=2)
    sim = pytester.path / "sim.json"
    doc = json.loads(sim.read_text())
    doc["board"].update(name="fpga-bench", family="xilinx-fpga", twin=False)
    doc["tests"] = [t for t in doc["tests"] if t["nodeid"].endswith("test_digits")]
    doc["tests"].append(
        {
            "nodeid": "test_energy.py::test_energy",
            "outcome": "passed",
            "energy": {"valid": True, "reason": None, "mj_per_inference": 0.4691},
        }
    )
    other = pytester.path / "fpga.json"
    other.write_text(json.dumps(doc))
    return sim, other


@pytest.fixture
def sim_allure_results(pytester: pytest.Pytester) -> Path:
    """Allure results of one passing digits test on sim (for the report and browser tests)."""
    pytester.makepyfile(
        f"""
        def test_digits(dut, reference):
            reference.check(dut.run({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}))
        """
    )
    pytester.runpytest("--board=sim", "--alluredir=results").assert_outcomes(passed=1)
    return pytester.path / "results"
