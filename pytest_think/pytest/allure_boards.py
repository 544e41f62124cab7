"""A test's board in Allure: what tells the same test on N boards apart as N results.

Allure 3 takes a result for a retry of another when both have the same test case (the test's
full name) and the same parameters. A campaign's ``board_spec`` is a pytest parameter, but a
session of one board has none, so the runs of one suite on three boards, each session into
the same ``--alluredir``, made one test with two retries. So the board is the parameter
``board`` of every test on a board, in every kind of session (``board_spec`` is then hidden
and left out of the history id: a board's history is the same whether it ran alone or in a
campaign), and the result's name carries the board as a campaign's node id does
(``test_digits[sim]``). In pool mode the boards are interchangeable: the board that ran a
test is a label, not part of its identity.

Labels: ``board``, ``family``, ``place`` (a farm's labgrid place) and ``parentSuite`` (the
board).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_think.pytest.campaign import BOARD_FIXTURE, POOL
from pytest_think.pytest.session import think_session
from pytest_think.pytest.session_boards import SessionBoard
from pytest_think.report import allure_report

__all__ = ["board_title", "label_board"]

PLACE_FACT = "labgrid_place"
NAMED_KEY = pytest.StashKey[str]()  # the board a test's Allure name is to carry


def _campaign_params(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    params: dict[str, Any] = callspec.params if callspec is not None else {}
    return {k: v for k, v in params.items() if k == BOARD_FIXTURE}


def label_board(item: pytest.Item, board: SessionBoard) -> None:
    """`board`'s labels and, outside pool mode, its parameter, on the test `item` (from the
    `board` fixture, while the test sets up)."""
    config = board.connection.config
    facts = board.reached.facts if board.reached is not None else {}
    allure_report.board_labels(config, facts.get(PLACE_FACT))
    if think_session(item.config).mode == POOL:
        return
    campaign = _campaign_params(item)
    allure_report.board_parameter(config.name, campaign)
    if not campaign:
        item.stash[NAMED_KEY] = config.name


def board_title(name: str, board: str) -> str:
    """A test's name with its board's id first, as a campaign names it."""
    if name.endswith("]") and "[" in name:
        base, _, ids = name[:-1].partition("[")
        return f"{base}[{board}-{ids}]"
    return f"{name}[{board}]"


@pytest.hookimpl(wrapper=True, tryfirst=True)  # after allure-pytest names the test
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        board = item.stash.get(NAMED_KEY, None)
        titled = getattr(getattr(item, "obj", None), "__allure_display_name__", None)
        if board is not None and titled is None:
            allure_report.title(board_title(item.name, board))
