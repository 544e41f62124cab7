"""Kernel trouble on a board's console fails the test that was running.

Every test that uses a board whose file has a ``console`` section (and does not turn
``console.watch`` off) is watched: when its call ends — or its setup fails — what the console
printed since the last check is read through, and lines matching the family's alarms (the
kernel's panic, oops, BUG and call trace; an FPGA manager error on a Xilinx board) fail the
test with those lines. The excerpt around them goes to the report (a section, an Allure
attachment) and the results JSON (``console_trouble``). What the console prints between two
tests belongs to the next one: nothing is missed.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from pytest_think.connection import Board
from pytest_think.errors import LinkError, ThinkError
from pytest_think.pytest.recording import format_console, record_of
from pytest_think.pytest.schema import ConsoleTroubleJson
from pytest_think.report import allure_report
from pytest_think.transport.console_watch import ConsoleTrouble, ConsoleWatch

__all__ = ["KernelTrouble", "watch_board"]

WATCH_KEY = pytest.StashKey[dict[str, ConsoleWatch]]()
# Report sections waiting for the phase's report: (title, console excerpt).
SECTIONS_KEY = pytest.StashKey[list[tuple[str, str]]]()
# Not trouble of the test's making: the session is being stopped.
_STOPPING = (KeyboardInterrupt, SystemExit, pytest.exit.Exception)


class KernelTrouble(ThinkError):
    """A board's console printed kernel trouble (or its family's alarm lines) during a test."""


def watch_board(item: pytest.Item, board: Board) -> None:
    """Watch `board`'s console during `item` (nothing when it has none to watch)."""
    try:
        watch = board.console_watch
    except LinkError as exc:
        raise LinkError(
            f"{exc} (the console is watched for kernel trouble; 'console.watch: false' in "
            f"{board.config.source} runs without the watch)"
        ) from None
    if watch is not None:
        item.stash.setdefault(WATCH_KEY, {})[board.name] = watch


def _as_json(board: str, trouble: ConsoleTrouble) -> ConsoleTroubleJson:
    return {
        "board": board,
        "console": trouble.where,
        "lines": [
            {"time": a.line.time, "text": a.line.text, "alarm": a.alarm} for a in trouble.lines
        ],
        "excerpt": [{"time": ln.time, "text": ln.text} for ln in trouble.excerpt],
    }


def check(item: pytest.Item, failure: BaseException | None) -> None:
    """Read the watched consoles through; raise KernelTrouble when they show any."""
    troubles = []
    for board, watch in item.stash.get(WATCH_KEY, {}).items():
        trouble = watch.check()
        if trouble is not None:
            troubles.append((board, trouble))
    if not troubles or isinstance(failure, _STOPPING):
        return
    record = record_of(item)
    for board, trouble in troubles:
        record.console_trouble.append(_as_json(board, trouble))
        excerpt = format_console(trouble.excerpt)
        item.stash.setdefault(SECTIONS_KEY, []).append((f"think kernel trouble: {board}", excerpt))
        allure_report.attach_text(f"console of {board}: kernel trouble", excerpt)
    message = "\n".join(trouble.summary() for _, trouble in troubles)
    if failure is not None:
        first = (str(failure).strip().splitlines() or [""])[0]
        message += f"\n(the test itself also failed: {type(failure).__name__}: {first})"
    raise KernelTrouble(message) from failure


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    except BaseException as exc:  # a fixture's flash that took the kernel down with it
        check(item, exc)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        result = yield
    except BaseException as exc:
        check(item, exc)
        raise
    check(item, None)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    sections: list[tuple[str, str]] = item.stash.get(SECTIONS_KEY, [])
    report.sections.extend(sections)
    item.stash[SECTIONS_KEY] = []
    return report
