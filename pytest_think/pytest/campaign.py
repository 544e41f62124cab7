"""Many boards in one session: the campaign's test ids, and boards handed to xdist workers.

In the default *campaign* mode every board runs every test that uses a board: the session
fixture ``board_spec`` is parametrized with the boards' names, so a node id carries its board
(``test_digits.py::test_accuracy[fpga-zcu102]``, the board's id first when the test has other
parameters). In *pool* mode the boards are interchangeable: node ids do not carry a board, and
each test runs on whichever board is free.

A worker is handed its board as data (`board_payload`) so that it reaches exactly the board the
controller chose, without asking a provider (a farm's coordinator) again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_think.boards import BoardConfig

__all__ = [
    "BOARD_MODES",
    "CAMPAIGN",
    "POOL",
    "board_from_payload",
    "board_in_nodeid",
    "board_payload",
    "campaign_parametrize",
    "without_board",
]

CAMPAIGN = "campaign"
POOL = "pool"
BOARD_MODES = (CAMPAIGN, POOL)
BOARD_FIXTURE = "board_spec"


def board_payload(config: BoardConfig) -> dict[str, Any]:
    """`config` as plain data for a worker's `workerinput`."""
    source = str(config.source) if config.source is not None else None
    return {"config": config.model_dump(mode="json"), "source": source}


def board_from_payload(payload: dict[str, Any]) -> BoardConfig:
    """The board a controller handed this worker (`board_payload`), validated again, with the
    name its provider gave it (a place's name may carry characters a board file's may not)."""
    source = payload.get("source")
    data = payload["config"]
    config = BoardConfig.model_validate(
        {**data, "name": "handed", "source": Path(source) if source else None}
    )
    return config.model_copy(update={"name": data["name"]})


def _parametrizes(metafunc: pytest.Metafunc, name: str) -> bool:
    for mark in metafunc.definition.iter_markers("parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        names = argnames.split(",") if isinstance(argnames, str) else list(argnames)
        if name in (n.strip() for n in names):
            return True
    return False


def campaign_parametrize(metafunc: pytest.Metafunc, names: Sequence[str]) -> None:
    """Run the test once per board: `board_spec` parametrized with the boards' names (tests
    that parametrize `board_spec` themselves keep their own boards)."""
    if len(names) < 2 or BOARD_FIXTURE not in metafunc.fixturenames:
        return
    if _parametrizes(metafunc, BOARD_FIXTURE):
        return
    metafunc.parametrize(BOARD_FIXTURE, list(names), ids=list(names), scope="session")


def _split(nodeid: str) -> tuple[str, str] | None:
    if not nodeid.endswith("]") or "[" not in nodeid:
        return None
    base, _, inner = nodeid[:-1].partition("[")
    return base, inner


def board_in_nodeid(nodeid: str, names: Sequence[str], collection: Collection[str]) -> str | None:
    """The campaign board `nodeid` runs on, or None (a test without a board of the campaign).

    The campaign's board id leads the test's ids; it is recognized when the same test exists
    for every board of the campaign (which tells ``[a-b]`` of board ``a-b`` from board ``a``
    with parameter ``b``). Failing that, a board named anywhere among the ids (a test that
    parametrizes `board_spec` itself) is the test's board."""
    split = _split(nodeid)
    if split is None:
        return None
    base, inner = split
    leading = [n for n in names if inner == n or inner.startswith(n + "-")]
    confirmed = [
        n
        for n in leading
        if all(f"{base}[{other}{inner[len(n) :]}]" in collection for other in names)
    ]
    padded = f"-{inner}-"
    named = confirmed or [n for n in names if f"-{n}-" in padded]
    return max(named, key=len) if named else None


def without_board(nodeid: str, board: str) -> str:
    """`nodeid` with the campaign board's id taken out: the same test on every board."""
    split = _split(nodeid)
    if split is None:
        return nodeid
    base, inner = split
    if inner == board:
        return base
    if inner.startswith(board + "-"):
        return f"{base}[{inner[len(board) + 1 :]}]"
    return nodeid
