"""`dut_pool`: one vector set sharded over the session's boards, or the devices of one board.

The members are the session's boards (``--board`` given several times: each board one
member), or, with one board whose file lists several devices (a multi-TPU card's
``options.devices``, a GPU board's ``agent.devices``), one agent session bound to each of
its devices; a board with neither is a pool of one. A test module may override the
`pool_members` fixture to choose them. The streaming, merging and drop-outs are
`pytest_think.pool`'s; this module records the merged run as `dut` records any run, with the
pool's account (members, throughput, drop-outs) in the run's ``pool`` entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_think.device import Device
from pytest_think.pool import DevicePool, PoolMember, PoolRun
from pytest_think.pytest.allure_boards import label_pool
from pytest_think.pytest.console_trouble import watch_board
from pytest_think.pytest.dut import record_run
from pytest_think.pytest.recording import record_of
from pytest_think.pytest.records import TestRecord
from pytest_think.pytest.recovering import check_not_down, recover_if_hung
from pytest_think.pytest.session import think_session
from pytest_think.pytest.session_boards import SessionBoard
from pytest_think.report import allure_report
from pytest_think.report.progress import Progress
from pytest_think.vectors import VectorSet

__all__ = ["DutPool", "dut_pool", "pool_members"]


class DutPool:
    """One vector set over several boards or devices at once (the `dut_pool` fixture)."""

    def __init__(
        self, members: list[PoolMember], record: TestRecord, request: pytest.FixtureRequest
    ) -> None:
        self.pool = DevicePool(members)
        self.record = record
        self.request = request
        self._path = think_session(request.config).path

    @property
    def members(self) -> list[PoolMember]:
        return self.pool.members

    def __repr__(self) -> str:
        return f"<dut_pool {', '.join(m.name for m in self.members)}>"

    def __len__(self) -> int:
        return len(self.members)

    def run(
        self,
        model: str | Path,
        vectors: str | Path | VectorSet,
        *,
        label: str | None = None,
        **options: Any,
    ) -> PoolRun:
        """Stream `vectors` through `model` on every member at once; the merged run, in vector
        order. Options as `dut.run` (device_batch, window, vectors_per_frame, backend_options)."""
        if not isinstance(vectors, VectorSet):
            vectors = self._path(vectors)
        model_path = self._path(model)
        options.setdefault("progress", self._progress(model_path.name))
        self._free_devices()
        with allure_report.step(f"stream the vectors through {model_path.name} on {self}"):
            run = self.pool.run(model_path, vectors, **options)
        self._recorded(run, label)
        return run

    def run_design(
        self,
        design: str | Path,
        vectors: str | Path | VectorSet,
        *,
        label: str | None = None,
        **options: Any,
    ) -> PoolRun:
        """Bring every member's board to `design` (one member per device: each session runs it
        on its own device), then stream `vectors` over all at once."""
        if not isinstance(vectors, VectorSet):
            vectors = self._path(vectors)
        options.setdefault("force_flash", bool(self.request.config.getoption("--force-flash")))
        design_path = self._path(design)
        options.setdefault("progress", self._progress(design_path.name))
        self._free_devices()
        with allure_report.step(f"flash {design_path} and stream the vectors on {self}"):
            run, flashes = self.pool.run_design(design_path, vectors, **options)
        seen: set[tuple[str, str]] = set()
        for member, flash in zip(self.members, flashes):
            if (member.board, flash.sha256) not in seen:  # once per board
                seen.add((member.board, flash.sha256))
                self.record.add_flash(flash, design_path)
        self._recorded(run, label or (flashes[0].design if flashes else None))
        self.request.node.user_properties.append(("design_sha256", run.model_sha256))
        return run

    def _free_devices(self) -> None:
        """Close the agents of boards whose devices the members are bound to (the `dut`'s):
        they may hold a device a member needs, as a loaded Edge TPU delegate does."""
        bound = [m.device.board for m in self.members if m.bound_to is not None]
        mine = [m.device for m in self.members]
        for held in think_session(self.request.config).boards.opened().values():
            device = held.opened_device
            if device is not None and device not in mine and held.connection in bound:
                device.close_agent()

    def _progress(self, what: str) -> Any:
        progress = Progress(
            self.request.config,
            f"streaming through {what} on {len(self)}",
            self.request.node.nodeid,
        )
        return progress.vectors

    def _recorded(self, run: PoolRun, label: str | None) -> None:
        record_run(self.request, self.record, run, label)
        pool = run.pool.as_json()
        allure_report.attach_text("pool", json.dumps(pool, indent=2), "json")
        node = self.request.node
        node.user_properties.append(("pool_members", len(pool["members"])))
        node.user_properties.append(("pool_dropped", len(pool["dropped"])))


@pytest.fixture
def pool_members(request: pytest.FixtureRequest) -> Iterator[list[PoolMember]]:
    """The pool's members: the session's boards, or the devices of its one board.

    A device is held by one agent at a time (as libedgetpu holds a TPU), so the members'
    agents are closed at the end of the test, and the board's own agent (the `dut`'s) before
    each pool run; whoever runs next starts its agent again."""
    session = think_session(request.config)
    emulate = session.emulate
    boards = [session.board_for(spec, emulate) for spec in session.board_specs]
    for held in boards:
        check_not_down(held)
    label_pool(request.node, boards)
    for held in boards:
        watch_board(request.node, held.connection)
    members = _members(boards)
    try:
        yield members
    finally:
        if len(boards) == 1 and len(members) > 1:  # bound to the board's devices: their own
            for member in members:
                member.device.close()
        for held in boards:  # a member that hung dropped out; its board is brought back
            recover_if_hung(request, held)


def _members(boards: list[SessionBoard]) -> list[PoolMember]:
    if len(boards) > 1:
        return [PoolMember(b.connection.name, b.device) for b in boards]
    (board,) = boards
    devices = board.connection.devices
    if len(devices) < 2:
        return [PoolMember(board.connection.name, board.device)]
    name = board.connection.name
    return [PoolMember(f"{name}[{d}]", Device(board.connection), d) for d in devices]


@pytest.fixture
def dut_pool(request: pytest.FixtureRequest, pool_members: list[PoolMember]) -> DutPool:
    """One vector set over the pool: ``run = dut_pool.run(model, vectors)``, in vector order."""
    return DutPool(pool_members, record_of(request.node), request)
