"""A hung board brought back after its test, and a board that could not be stopping its
remaining tests (the `board` and `pool_members` fixtures call these)."""

from __future__ import annotations

from typing import cast

import pytest

from pytest_think.errors import BoardDown
from pytest_think.pytest.recording import record_of
from pytest_think.pytest.schema import HangJson, RecoveryJson
from pytest_think.pytest.session_boards import SessionBoard
from pytest_think.recovery import RecoveryStrategy
from pytest_think.report import allure_report

__all__ = ["check_not_down", "recover_if_hung"]


def check_not_down(held: SessionBoard) -> None:
    """BoardDown, one line, when an earlier hang left the board unrecoverable."""
    if held.down is not None:
        raise BoardDown(f"board '{held.connection.name}' is down, test not run: {held.down}")


def recover_if_hung(request: pytest.FixtureRequest, held: SessionBoard) -> None:
    """When the board's watchdog tripped during the test: the recovery strategy, its report
    in the test's record and report; a board not brought back is marked down."""
    board = held.connection
    hang = board.watchdog.tripped
    if hang is None or held.down is not None:
        return
    device = held.opened_device
    with allure_report.step(f"recover board '{board.name}' ({hang})"):
        report = RecoveryStrategy(board, [device] if device is not None else []).recover()
    record = record_of(request.node)
    record.hang = cast(HangJson, hang.as_json())
    record.recovery = cast(RecoveryJson, report.as_json())
    request.node.add_report_section("teardown", "think recovery", f"{hang}\n{report.line()}")
    if report.error is not None:
        held.down = report.error
