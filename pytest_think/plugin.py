"""pytest-think plugin: options, the session object in config.stash, reporting hooks.

The session object (`ThinkSession`) owns every board connection and twin of the run, so a
board is connected once however many tests use it, and everything is closed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_think.boards import BoardConfig, board_dirs, find_board
from pytest_think.connection import Board
from pytest_think.device import Device
from pytest_think.emulator.activity import TRUTH_FILE
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.errors import BoardConfigError, ThinkError
from pytest_think.families import load_family, open_board
from pytest_think.reference import ReferenceModel
from pytest_think.report import allure_report
from pytest_think.report.summary import summary_lines
from pytest_think.results import TestRecord, board_json, results_document, write_results
from pytest_think.transport.console import ConsoleLine, SerialConsole

pytest_plugins = ("pytest_think.fixtures", "pytest_think.energy_fixture")

DEFAULT_BOARD = "sim"
SESSION_KEY = pytest.StashKey["ThinkSession"]()
RECORD_KEY = pytest.StashKey[TestRecord]()
# The console a test watches and where its window starts (set by the `console` fixture).
CONSOLE_KEY = pytest.StashKey[tuple[SerialConsole, int]]()


def format_console(lines: list[ConsoleLine]) -> str:
    """Console lines with the wall-clock time each arrived (UTC, milliseconds)."""
    out = []
    for line in lines:
        stamp = (
            time.strftime("%H:%M:%S", time.gmtime(line.time))
            + f".{int(line.time * 1000) % 1000:03d}"
        )
        out.append(f"[{stamp}] {line.text}")
    return "\n".join(out) + "\n"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("think", "pytest-think (neural networks on boards)")
    group.addoption(
        "--board",
        default=None,
        metavar="NAME|PATH",
        help="board to test: a name looked up in --board-dir then in the boards shipped with "
        f"pytest-think, or a path to a board file (env THINK_BOARD; default '{DEFAULT_BOARD}')",
    )
    group.addoption(
        "--board-dir",
        default=None,
        metavar="DIR",
        help="directory of board files (default: boards/ under the rootdir)",
    )
    group.addoption(
        "--emulate",
        action="store_true",
        default=False,
        help="run the board's digital twin instead of connecting to hardware",
    )
    group.addoption(
        "--force-flash",
        action="store_true",
        default=False,
        help="flash designs even when the board already runs the same one (same sha256)",
    )
    group.addoption(
        "--energy-window",
        type=float,
        default=None,
        metavar="S",
        help="seconds of inference per energy trial (default 10, or the test's energy marker)",
    )
    group.addoption(
        "--energy-trials",
        type=int,
        default=None,
        metavar="N",
        help="energy trials per measurement, median reported (default 5)",
    )
    group.addoption(
        "--require-power",
        action="store_true",
        default=False,
        help="fail, rather than skip, energy tests on boards without a power meter",
    )
    group.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run tests marked slow (large vector sets: minutes, gigabytes on disk)",
    )
    group.addoption(
        "--think-json",
        default=None,
        metavar="PATH",
        help="write the session's results (boards, runs, comparisons, timings) as JSON",
    )


@dataclass
class _Endpoint:
    conn: Board
    twin: TwinProcess | None
    dut: Device | None = None


class ThinkSession:
    """The plugin object, kept in config.stash[SESSION_KEY]."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.board_spec: str = (
            config.getoption("--board") or os.environ.get("THINK_BOARD") or DEFAULT_BOARD
        )
        self.emulate_option: bool = bool(config.getoption("--emulate"))
        self.dirs = board_dirs(config.rootpath, config.getoption("--board-dir"))
        json_path = config.getoption("--think-json")
        self.json_path = Path(json_path) if json_path else None
        self.board = self.resolve(self.board_spec)
        load_family(self.board)  # an unknown family or a bad `options` field stops the run now
        self.records: list[TestRecord] = []
        self._endpoints: dict[tuple[str, bool], _Endpoint] = {}
        self._failed: dict[tuple[str, bool], ThinkError] = {}
        self._references: dict[str, ReferenceModel] = {}
        self._state_dir: Path | None = None
        self._worker_tests: list[dict[str, Any]] = []
        self._worker_boards: list[dict[str, Any]] = []

    def resolve(self, spec: str) -> BoardConfig:
        return find_board(spec, self.dirs)

    def emulated(self, board: BoardConfig, emulate: bool) -> bool:
        """Whether `board` is reached through its twin: asked for, or the board is twin-only."""
        return emulate or bool(board.twin and board.twin.only)

    def _state(self) -> Path:
        if self._state_dir is None:
            self._state_dir = Path(tempfile.mkdtemp(prefix="think-"))
        return self._state_dir

    def endpoint(self, spec: str, emulate: bool) -> _Endpoint:
        key = (spec, emulate)
        if key in self._failed:
            raise self._failed[key]
        if key in self._endpoints:
            return self._endpoints[key]
        board = self.resolve(spec)
        twin = None
        try:
            if self.emulated(board, emulate):
                if board.twin is None:
                    raise BoardConfigError(
                        f"board file {board.source}: board '{board.name}' has no 'twin' section, "
                        "so it cannot be emulated; drop --emulate or describe its twin"
                    )
                twin = TwinProcess.start(board, self._state() / f"twin-{board.name}")
                board = twin.board(board)
            conn = open_board(board, twin is not None)
        except ThinkError as exc:
            if twin is not None:
                twin.stop()
            # Every later test on this board fails at once with the same reason.
            self._failed[key] = exc
            raise
        self._endpoints[key] = _Endpoint(conn, twin)
        return self._endpoints[key]

    def connection(self, spec: str, emulate: bool) -> Board:
        return self.endpoint(spec, emulate).conn

    def device(self, spec: str, emulate: bool) -> Device:
        ep = self.endpoint(spec, emulate)
        if ep.dut is None:
            ep.dut = Device(ep.conn)
        return ep.dut

    def twin_truth(self, spec: str, emulate: bool) -> list[dict[str, Any]]:
        """What the board's twin knows really happened (energy per loop); [] for hardware."""
        twin = self.endpoint(spec, emulate).twin
        path = twin.log.parent / TRUTH_FILE if twin is not None else None
        if path is None or not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def reference_model(self, path: Path) -> ReferenceModel:
        key = str(path.resolve())
        if key not in self._references:
            self._references[key] = ReferenceModel(path)
        return self._references[key]

    def close(self) -> None:
        for ep in self._endpoints.values():
            try:
                if ep.dut is not None:
                    ep.dut.close()
                ep.conn.close()
            finally:
                if ep.twin is not None:
                    ep.twin.stop()
        self._endpoints.clear()
        if self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)

    # -- hooks -----------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        b = self.board
        how = "digital twin" if self.emulated(b, self.emulate_option) else "hardware"
        return [f"think: board {b.name} (family {b.family}, {how}) from {b.source}"]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, ThinkError):
            path, lineno, _ = item.location
            report.longrepr = OneLineError(path, lineno or 0, f"{type(exc).__name__}: {exc}")
        record = item.stash.get(RECORD_KEY, None)
        watch = item.stash.get(CONSOLE_KEY, None)
        if watch is not None and report.when == "call":
            console, mark = watch
            lines = console.lines_since(mark)
            if lines:
                report.sections.append(("think console", format_console(lines)))
            if record is not None:
                record.console = [{"time": ln.time, "text": ln.text} for ln in lines]
        if record is not None:
            record.duration_s += report.duration
            if report.failed:
                record.outcome = "error" if report.when != "call" else "failed"
                record.message = _first_line(report)
            elif report.skipped and record.outcome in ("unknown", "passed"):
                xfail = getattr(report, "wasxfail", None)
                record.outcome = "xfailed" if xfail is not None else "skipped"
                # Why it did not run: the xfail's reason, or the skip's.
                if xfail:
                    record.message = str(xfail).splitlines()[0]
                elif isinstance(report.longrepr, tuple):
                    record.message = str(report.longrepr[2]).removeprefix("Skipped: ")
            elif report.when == "call" and report.passed and record.outcome == "unknown":
                record.outcome = "xpassed" if hasattr(report, "wasxfail") else "passed"
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        record = TestRecord(item.nodeid)
        item.stash[RECORD_KEY] = record
        self.records.append(record)

    def _environment(self, board: dict[str, Any]) -> dict[str, Any]:
        """environment.properties for Allure: what ran where."""
        identity = board.get("identity") or {}
        agent = board.get("agent") or {}
        designs = [f["sha256"] for r in self.records for f in r.flashes]
        meters = [ep.dut._meter.idn for ep in self._endpoints.values() if ep.dut and ep.dut._meter]
        return {
            "board": board.get("name"),
            "family": board.get("family"),
            "target": "digital twin" if board.get("twin") else "hardware",
            "design.sha256": designs[-1] if designs else None,
            "agent.version": agent.get("version"),
            "meter": meters[0] if meters else None,
            "board.os": identity.get("os"),
            "board.kernel": identity.get("uname"),
        }

    def _boards(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The session's board and every board a test used, as the results JSON shows them."""
        used = []
        session_board = None
        for (spec, emulate), ep in self._endpoints.items():
            agent = ep.dut.agent_identity if ep.dut else None
            board = ep.conn.config
            doc = board_json(ep.conn, board.name, board.family, ep.conn.emulated, agent)
            used.append(doc)
            if (spec, emulate) == (self.board_spec, self.emulate_option):
                session_board = doc
        if session_board is None:
            b = self.board
            session_board = board_json(
                None, b.name, b.family, self.emulated(b, self.emulate_option)
            )
        return session_board, used

    def _tests(self) -> list[dict[str, Any]]:
        return [r.as_json() for r in self.records] + self._worker_tests

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: collect what a worker ran (its tests, its boards) for one results JSON."""
        data = getattr(node, "workeroutput", {}).get("think")
        if not data:
            return
        self._worker_tests += data["tests"]
        for board in data["boards"]:
            if board not in self._worker_boards:
                self._worker_boards.append(board)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        lines = summary_lines(self._tests())
        if lines:
            terminalreporter.write_sep("-", "think: board results")
            for line in lines:
                terminalreporter.write_line(line)
        if self.json_path is not None:
            terminalreporter.write_line(f"think: results written to {self.json_path}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        board, boards = self._boards()
        alluredir = getattr(self.config.option, "allure_report_dir", None)
        if alluredir and getattr(self.config, "workerinput", None) is None:
            allure_report.write_environment(Path(alluredir), self._environment(board))
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: the controller writes the file
            workeroutput["think"] = results_document(board, boards, self._tests())
            return
        if self.json_path is None:
            return
        for other in self._worker_boards:
            if other["name"] not in {b["name"] for b in boards}:
                boards.append(other)
        if board["identity"] is None:  # under xdist only the workers met the board
            board = next((b for b in boards if b["name"] == board["name"]), board)
        write_results(self.json_path, results_document(board, boards, self._tests()))


class OneLineError:
    """A report body of one line, for ThinkErrors: the message says it all, no traceback."""

    def __init__(self, path: str, lineno: int, message: str) -> None:
        self.reprcrash = _Crash(path, lineno, message)

    def toterminal(self, tw: Any) -> None:
        tw.line(self.reprcrash.message, red=True, bold=True)

    def __str__(self) -> str:
        return self.reprcrash.message


@dataclass
class _Crash:
    path: str
    lineno: int
    message: str


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text.strip().splitlines()[0] if text.strip() else ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "energy(window_s=10, trials=5, idle_s=None, min_samples=100, max_alignment_error=0.01):"
        " defaults for the `energy` fixture's measurements in this test",
    )
    config.addinivalue_line(
        "markers", "slow: takes minutes or gigabytes; runs only with --run-slow"
    )
    config.addinivalue_line(
        "markers", "conformance: a case of an external conformance suite (ONNX backend tests)"
    )
    try:
        session = ThinkSession(config)
    except BoardConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "think-session")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()
        config.pluginmanager.unregister(session)
        del config.stash[SESSION_KEY]


def get_session(config: pytest.Config) -> ThinkSession:
    return config.stash[SESSION_KEY]
