"""The pytest-xdist scheduler of a session's boards: a board's tests go to the worker holding it.

Each worker holds one board (its ``workerinput``, see `workers`). A test whose node id carries
a campaign board waits for that board's worker; any other test (pool mode, a test that uses no
board of the campaign) goes to whichever worker has room. A worker that dies gives its unfinished
tests back to its board's queue, where its replacement, holding the same board, finds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from xdist.remote import Producer
from xdist.report import report_collection_diff
from xdist.workermanage import WorkerController, parse_tx_spec_config

from pytest_think.pytest.campaign import board_in_nodeid
from pytest_think.pytest.session import WORKER_INPUT

__all__ = ["BoardScheduling"]

ANY_BOARD = None
MIN_PENDING = 2  # a worker runs an item once it knows the next one (or that there is none)


class BoardScheduling:
    """xdist's `Scheduling` protocol, tests bound to the worker holding their board."""

    def __init__(self, config: pytest.Config, boards: Sequence[str], log: Any = None) -> None:
        self.numnodes = len(parse_tx_spec_config(config))
        self.boards = list(boards)
        self.config = config
        self.log = (log or Producer("boardsched")).boardsched
        self.node2collection: dict[WorkerController, list[str]] = {}
        self.node2pending: dict[WorkerController, list[int]] = {}
        self.queues: dict[str | None, list[int]] = {}  # board (None: any) -> test indices
        self.board_of_test: list[str | None] = []
        self.collection: list[str] | None = None

    @property
    def nodes(self) -> list[WorkerController]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        return len(self.node2collection) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or any(self.queues.values()):
            return False
        return all(len(p) < MIN_PENDING for p in self.node2pending.values())

    @property
    def has_pending(self) -> bool:
        return any(self.queues.values()) or any(self.node2pending.values())

    def add_node(self, node: WorkerController) -> None:
        assert node not in self.node2pending
        self.node2pending[node] = []

    def add_node_collection(self, node: WorkerController, collection: Sequence[str]) -> None:
        assert node in self.node2pending
        # A replacement of a worker that died must have collected the same tests.
        if self.collection is not None and list(collection) != self.collection:
            first = next(iter(self.node2collection))
            self.log(
                report_collection_diff(
                    self.collection, collection, first.gateway.id, node.gateway.id
                )
            )
            return
        self.node2collection[node] = list(collection)

    def mark_test_complete(
        self, node: WorkerController, item_index: int, duration: float = 0
    ) -> None:
        self.node2pending[node].remove(item_index)
        self._fill(node)

    def mark_test_pending(self, item: str) -> None:
        assert self.collection is not None
        index = self.collection.index(item)
        self.queues.setdefault(self.board_of_test[index], []).insert(0, index)
        for node in self.nodes:
            self._fill(node)

    def remove_pending_tests_from_node(
        self, node: WorkerController, indices: Sequence[int]
    ) -> None:
        raise NotImplementedError()

    def remove_node(self, node: WorkerController) -> str | None:
        """A worker left; if it died, the test it ran is returned and the rest queued again."""
        pending = self.node2pending.pop(node)
        if not pending:
            return None
        assert self.collection is not None
        crashitem = self.collection[pending.pop(0)]
        for index in reversed(pending):
            self.queues.setdefault(self.board_of_test[index], []).insert(0, index)
        for other in self.nodes:
            self._fill(other)
        return crashitem

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is None:
            collections = list(self.node2collection.values())
            if any(c != collections[0] for c in collections[1:]):
                self._report_different_collections()
                return
            self.collection = collections[0]
            known = set(self.collection)
            self.board_of_test = [
                board_in_nodeid(nodeid, self.boards, known) for nodeid in self.collection
            ]
            for index, board in enumerate(self.board_of_test):
                self.queues.setdefault(board, []).append(index)
        for node in self.nodes:
            self._fill(node)

    def _fill(self, node: WorkerController) -> None:
        """Send `node` its board's tests, and tests for any board while it has room."""
        if node.shutting_down:
            return
        own = self.queues.get(node.workerinput[WORKER_INPUT]["board"], [])
        shared = self.queues.get(ANY_BOARD, [])
        send = own[:]
        del own[:]
        room = MIN_PENDING - len(self.node2pending[node]) - len(send)
        if room > 0:
            send += shared[:room]
            del shared[:room]
        if send:
            self.node2pending[node].extend(send)
            node.send_runtest_some(send)
        if not own and not shared:
            node.shutdown()

    def _report_different_collections(self) -> None:
        (first, col), *others = self.node2collection.items()
        for node, collection in others:
            msg = report_collection_diff(col, collection, first.gateway.id, node.gateway.id)
            if msg:
                self.log(msg)
                self.config.hook.pytest_collectreport(
                    report=pytest.CollectReport(
                        nodeid=node.gateway.id, outcome="failed", longrepr=msg, result=[]
                    )
                )
