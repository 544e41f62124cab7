"""pytest-xdist: every worker holds one board for its life (the controller's side).

The controller hands each worker one board of the session through ``workerinput``; the
scheduler (`board_scheduler.BoardScheduling`) sends a board's tests to the worker holding it
(campaign mode) or any test to any worker (pool mode). A worker that dies holding a board gives
it back through the board's provider (`release_orphan`), and xdist's replacement worker takes
it again. No board is ever handed to two workers.

The number of workers is the number of boards: ``-n auto`` starts one per board, and ``-n N``
with another number of boards stops with one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_think.errors import ThinkError
from pytest_think.pytest.campaign import board_payload
from pytest_think.pytest.session import WORKER_INPUT, ensure_session, think_session

if TYPE_CHECKING:
    from xdist.workermanage import WorkerController

__all__ = ["BoardHolders"]


class BoardHolders:
    """Which worker holds which board: each board one worker at most, for the worker's life.

    A board whose worker ended normally is done (its tests ran); one whose worker died is
    orphaned, and the next worker to start (xdist's replacement) takes it, never a done board
    — a replacement that took a finished board would leave the dead worker's tests unrun."""

    def __init__(self, boards: list[str]) -> None:
        self.boards = list(boards)
        self._holder: dict[str, str] = {}  # board -> worker id
        self._orphans: list[str] = []  # boards whose worker died, oldest first
        self.had: dict[str, str] = {}  # worker id -> the board it held, also once it ended

    def take(self, worker: str) -> str:
        """A board for a starting `worker`: an orphaned one first, else the first never held
        (in --board order)."""
        never = [b for b in self.boards if b not in self.had.values()]
        free = self._orphans[:1] or never[:1]
        if not free:
            held = ", ".join(f"{b} by {w}" for b, w in self._holder.items())
            raise ThinkError(f"worker {worker}: every board is held or done ({held})")
        board = free[0]
        if board in self._orphans:
            self._orphans.remove(board)
        self._holder[board] = worker
        self.had[worker] = board
        return board

    def board_of(self, worker: str) -> str | None:
        return next((b for b, w in self._holder.items() if w == worker), None)

    def give_back(self, worker: str, died: bool = False) -> str | None:
        """`worker`'s board (None: it held none): done, or orphaned when the worker `died`."""
        board = self.board_of(worker)
        if board is not None:
            del self._holder[board]
            if died:
                self._orphans.append(board)
        return board


HOLDERS_KEY = pytest.StashKey[BoardHolders]()


def _holders(config: pytest.Config) -> BoardHolders:
    holders = config.stash.get(HOLDERS_KEY, None)
    if holders is None:
        holders = config.stash[HOLDERS_KEY] = BoardHolders(
            [b.name for b in think_session(config).campaign]
        )
    return holders


def distributing(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist controller that starts workers."""
    return (
        not hasattr(config, "workerinput")
        and config.getoption("dist", "no") != "no"
        and bool(config.getoption("tx", None))
    )


@pytest.hookimpl(trylast=True)  # after the plug-in's pytest_configure made the session
def pytest_configure(config: pytest.Config) -> None:
    """One worker per board, or one line saying so."""
    if not distributing(config):
        return
    workers = len(config.getoption("tx"))
    boards = [b.name for b in think_session(config).campaign]
    if workers != len(boards):
        raise pytest.UsageError(
            f"-n {workers} with {len(boards)} board(s) ({', '.join(boards)}): every "
            f"pytest-xdist worker holds one board for its life; use -n {len(boards)} "
            "(or -n auto), or one --board per worker"
        )


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per board."""
    try:
        return len(ensure_session(config).campaign)
    except ThinkError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: WorkerController) -> None:
    """Hand the starting worker a free board (a replacement takes its predecessor's)."""
    session = think_session(node.config)
    board = _holders(node.config).take(str(node.gateway.id))
    node.workerinput[WORKER_INPUT] = {
        "boards": [board_payload(b) for b in session.campaign],
        "board": board,
    }


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: WorkerController, error: Any) -> None:
    """A worker ended: the boards it met into the results, its board free again (given
    back by its provider when the worker died holding it)."""
    session = think_session(node.config)
    data = getattr(node, "workeroutput", {}).get(WORKER_INPUT)
    if data:
        session.results.add_boards(data["boards"])
    board = _holders(node.config).give_back(str(node.gateway.id), died=error is not None)
    if error is not None and board is not None:
        session.release_orphan(board)
        reporter = node.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"think: worker {node.gateway.id} died holding board {board}; "
                "board released for its replacement"
            )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """The controller: a worker's test record, arrived with the test's last report."""
    node = getattr(report, "node", None)  # the worker, set by xdist on the controller
    data = getattr(report, "think", None)
    if node is not None and data:
        think_session(node.config).results.add_worker_test(data)


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport, sched: Any) -> None:
    """The test a dead worker was running: failed, on the board that worker held."""
    node: WorkerController = report.node  # set by xdist
    board = _holders(node.config).had.get(str(node.gateway.id))
    think_session(node.config).results.add_crash(crashitem, str(report.longrepr), board)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from pytest_think.pytest.board_scheduler import BoardScheduling

    session = think_session(config)
    return BoardScheduling(config, session.campaign_names, log)
