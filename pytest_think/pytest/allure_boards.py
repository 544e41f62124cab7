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

from pytest_think.boards import BoardConfig
from pytest_think.errors import ThinkError
from pytest_think.pytest.campaign import BOARD_FIXTURE, POOL
from pytest_think.pytest.session import think_session
from pytest_think.pytest.session_boards import SessionBoard
from pytest_think.report import allure_report

__all__ = ["BoardNames", "board_title", "identify_before_setup", "label_board", "label_pool"]

PLACE_FACT = "labgrid_place"
NAMED_KEY = pytest.StashKey[str]()  # the board a test's Allure name is to carry
PARAMETER_KEY = pytest.StashKey[bool]()  # the test has its board parameter
LABELS_KEY = pytest.StashKey[set[tuple[str, str]]]()  # the labels a test has


def _label(item: pytest.Item, pairs: list[tuple[str, str]]) -> None:
    """Labels of `item` it does not have yet (a pool test may name its board twice)."""
    seen = item.stash.setdefault(LABELS_KEY, set())
    allure_report.labels([p for p in dict.fromkeys(pairs) if p not in seen])
    seen.update(pairs)


def _campaign_params(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    params: dict[str, Any] = callspec.params if callspec is not None else {}
    return {k: v for k, v in params.items() if k == BOARD_FIXTURE}


def _identify(item: pytest.Item, config: BoardConfig, place: str | None = None) -> None:
    """`config` as the board of the test `item`: its labels and, outside pool mode, its
    parameter and name (once, however many times it is said)."""
    pairs = [("parentSuite", config.name), ("board", config.name), ("family", config.family)]
    _label(item, [*pairs, *([("place", place)] if place else []), ("tag", config.family)])
    if think_session(item.config).mode == POOL or item.stash.get(PARAMETER_KEY, False):
        return
    item.stash[PARAMETER_KEY] = True
    campaign = _campaign_params(item)
    allure_report.board_parameter(config.name, campaign)
    if not campaign:
        item.stash[NAMED_KEY] = config.name


def identify_before_setup(item: pytest.Item) -> None:
    """The board of a test that uses one, known before it sets up (a campaign's board, or the
    session's one board), so that a test skipped before its fixtures is that board's too.
    In pool mode the board is known only once the test has it (`label_board`)."""
    if BOARD_FIXTURE not in getattr(item, "fixturenames", ()):
        return
    session = think_session(item.config)
    spec = _campaign_params(item).get(BOARD_FIXTURE)
    if spec is None and session.mode == POOL:
        return
    try:
        config = session.boards.resolve(str(spec if spec is not None else session.board_spec))
    except ThinkError:
        return  # the `board` fixture says what is wrong, in the test's report
    _identify(item, config)


def label_board(item: pytest.Item, board: SessionBoard) -> None:
    """`board` as the board of the test `item`, from the `board` fixture: with its place
    (a farm's labgrid place), known once the board is reached."""
    place = board.reached.facts.get(PLACE_FACT) if board.reached is not None else None
    _identify(item, board.connection.config, str(place) if place else None)


def label_pool(item: pytest.Item, boards: list[SessionBoard]) -> None:
    """The boards of a test over a pool (`dut_pool`): one board's devices make it that
    board's test; a pool of several boards is one result with a label for each."""
    if len(boards) == 1:
        label_board(item, boards[0])  # a session of one board: a pool of its devices
        return
    configs = [b.connection.config for b in boards]
    _label(item, [("board", c.name) for c in configs] + [("family", c.family) for c in configs])


def board_title(name: str, board: str) -> str:
    """A test's name with its board's id first, as a campaign names it."""
    if name.endswith("]") and "[" in name:
        base, _, ids = name[:-1].partition("[")
        return f"{base}[{board}-{ids}]"
    return f"{name}[{board}]"


class BoardNames:
    """The plug-in that gives each result the name `board_title` makes (registered by the
    plug-in's pytest_configure): after allure-pytest has named the test."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        try:
            return (yield)
        finally:
            board = item.stash.get(NAMED_KEY, None)
            titled = getattr(getattr(item, "obj", None), "__allure_display_name__", None)
            if board is not None and titled is None:
                allure_report.title(board_title(item.name, board))
