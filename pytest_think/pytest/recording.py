"""The recording of results: a record per test, its outcome from pytest's reports, what
pytest-xdist workers recorded, and the results JSON written at the end.

Under pytest-xdist a worker sends each test's record with the test's last report (so a worker
that dies loses nothing it finished), and the boards it met when it ends; the controller
writes the one file."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_think.errors import ThinkError
from pytest_think.pytest.records import TestRecord
from pytest_think.pytest.results import results_document, write_results
from pytest_think.transport.console import ConsoleLine, SerialConsole

RECORD_KEY = pytest.StashKey[TestRecord]()
# The console a test watches and where its window starts (set by the `console` fixture).
CONSOLE_KEY = pytest.StashKey[tuple[SerialConsole, int]]()


def record_of(item: pytest.Item) -> TestRecord:
    """The record of `item`; made here for a test the plugin did not set up (another runner)."""
    record = item.stash.get(RECORD_KEY, None)
    if record is None:
        record = item.stash[RECORD_KEY] = TestRecord(item.nodeid, _board_param(item))
    return record


def _board_param(item: pytest.Item) -> str | None:
    """The board a parametrized `board_spec` gives the test (known before it sets up)."""
    callspec = getattr(item, "callspec", None)
    board = callspec.params.get("board_spec") if callspec is not None else None
    return board if isinstance(board, str) else None


def _richer(entry: dict[str, Any], than: dict[str, Any] | None) -> bool:
    """Whether a board entry says at least as much as another of the same board."""

    def known(e: dict[str, Any]) -> int:
        return sum(e.get(k) is not None for k in ("identity", "agent", "facts"))

    return than is None or known(entry) >= known(than)


def watch_console(item: pytest.Item, console: SerialConsole) -> int:
    """Capture what `console` prints from now on into `item`'s report; returns the mark."""
    mark = console.mark()
    item.stash[CONSOLE_KEY] = (console, mark)
    return mark


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


class ResultsRecorder:
    """The session's test records, and those pytest-xdist workers sent the controller."""

    def __init__(self, json_path: Path | None) -> None:
        self.json_path = json_path
        self.records: list[TestRecord] = []
        self._worker_tests: list[dict[str, Any]] = []
        self._worker_boards: dict[str, dict[str, Any]] = {}
        # Top-level fields of the document besides boards and tests (revision, baseline).
        self.extra: dict[str, Any] = {}

    def begin(self, item: pytest.Item) -> None:
        record = item.stash[RECORD_KEY] = TestRecord(item.nodeid, _board_param(item))
        self.records.append(record)

    def report(self, item: pytest.Item, call: pytest.CallInfo[None], report: Any) -> None:
        """Fold one phase's report into the test's record (and shorten ThinkErrors)."""
        exc = call.excinfo.value if call.excinfo is not None else None
        if isinstance(exc, ThinkError) and call.excinfo is not None:
            path, lineno = _test_line(item, call.excinfo)
            report.longrepr = OneLineError(path, lineno, f"{type(exc).__name__}: {exc}")
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
            _outcome(record, report)

    def tests(self) -> list[dict[str, Any]]:
        # Read back as any results file is (report.summary, results.model_entries).
        return [cast(dict[str, Any], r.as_json()) for r in self.records] + self._worker_tests

    def add_worker_test(self, data: dict[str, Any]) -> None:
        """A test a pytest-xdist worker ran, and the board it ran on."""
        self._worker_tests.append(data["test"])
        if data.get("board"):
            self.add_boards([data["board"]])

    def add_crash(self, nodeid: str, message: str, board: str | None) -> None:
        """A test whose worker died while running it: failed, on the board that worker held."""
        test: dict[str, Any] = {
            "nodeid": nodeid,
            "outcome": "failed",
            "duration_s": 0.0,
            "message": message,
        }
        if board:
            test["board"] = board
        self._worker_tests.append(test)

    def add_boards(self, boards: list[dict[str, Any]]) -> None:
        """Boards a pytest-xdist worker met (the most complete entry of each is kept)."""
        for board in boards:
            if _richer(board, self._worker_boards.get(board["name"])):
                self._worker_boards[board["name"]] = board

    def document(self, board: dict[str, Any], boards: list[dict[str, Any]]) -> dict[str, Any]:
        """The results JSON: `board` is the session's, `boards` every board of the session."""
        merged = {b["name"]: b for b in boards}
        for name, other in self._worker_boards.items():
            if _richer(other, merged.get(name)):
                merged[name] = other
        mine = merged.get(board["name"], board)
        return results_document(mine, list(merged.values()), self.tests(), self.extra)

    def write(self, board: dict[str, Any], boards: list[dict[str, Any]]) -> None:
        if self.json_path is not None:
            write_results(self.json_path, self.document(board, boards))


def _outcome(record: TestRecord, report: pytest.TestReport) -> None:
    """The test's outcome as the results JSON names it, from each phase's report."""
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


def _test_line(item: pytest.Item, excinfo: pytest.ExceptionInfo[BaseException]) -> tuple[str, int]:
    """Where in the test's own file the error came from (the `dut.run` line that failed, the
    fixture that raised), as pytest shows a location: relative path, 1-based line."""
    path, lineno, _ = item.location
    own = Path(str(item.path)) if hasattr(item, "path") else None
    for entry in reversed(excinfo.traceback):
        if own is not None and Path(str(entry.path)) == own:
            return path, entry.lineno + 1
    return path, (lineno or 0) + 1


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text.strip().splitlines()[0] if text.strip() else ""


class OneLineError:
    """A report body of one line, for ThinkErrors: the message says it all, no traceback;
    the line of the test it came from below it (which `dut.run` of the test failed)."""

    def __init__(self, path: str, lineno: int, message: str) -> None:
        self.reprcrash = _Crash(path, lineno, message)

    @property
    def where(self) -> str:
        return f"{self.reprcrash.path}:{self.reprcrash.lineno}: where the test failed"

    def toterminal(self, tw: Any) -> None:
        tw.line(self.reprcrash.message, red=True, bold=True)
        tw.line(self.where)

    def __str__(self) -> str:  # JUnit's and Allure's text of the failure
        return f"{self.reprcrash.message}\n{self.where}"


@dataclass
class _Crash:
    path: str
    lineno: int
    message: str
