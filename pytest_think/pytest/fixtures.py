"""The fixtures tests use: board_spec, board_mode, emulate, think_json, think_benchmark, board,
console, dut, reference, vectors, record_table (and `energy`, in pytest_think.pytest.energy).

The options that choose the board and where results go are session fixtures too
(`board_spec`, `emulate`, `think_json`), so a test module can parametrize them, e.g. to run
one test on two boards::

    @pytest.mark.parametrize("board_spec", ["sim", "fpga-zcu102"], scope="session")

With several --board values in campaign mode, the plug-in parametrizes `board_spec` so (the
campaign module); in pool mode `board_spec` is the board this process holds, and in one
process with several boards the next board in turn (then it is function-scoped).

Relative model and vector paths are taken from the rootdir.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_think.checking import CompareReport, Tolerance, compare
from pytest_think.connection import Board
from pytest_think.device import Run
from pytest_think.pytest import benchmarks
from pytest_think.pytest.allure_boards import label_board
from pytest_think.pytest.campaign import POOL
from pytest_think.pytest.console_trouble import watch_board
from pytest_think.pytest.dut import Dut
from pytest_think.pytest.recording import format_console, record_of, watch_console
from pytest_think.pytest.records import TestRecord
from pytest_think.pytest.recovering import check_not_down, recover_if_hung
from pytest_think.pytest.schema import CompareJson, TableJson
from pytest_think.pytest.session import think_session
from pytest_think.reference import reference_model
from pytest_think.report import allure_report
from pytest_think.transport.console import SerialConsole
from pytest_think.vectors import VectorSet, load_vectors


def _takes_turns(config: pytest.Config) -> bool:
    session = think_session(config)
    return session.mode == POOL and len(session.board_specs) > 1


def _board_spec_scope(fixture_name: str, config: pytest.Config) -> Any:
    return "function" if _takes_turns(config) else "session"


@pytest.fixture(scope=_board_spec_scope)
def board_spec(request: pytest.FixtureRequest) -> str:
    """The board under test (--board / THINK_BOARD / 'sim')."""
    session = think_session(request.config)
    return session.pool_board() if _takes_turns(request.config) else session.board_spec


@pytest.fixture(scope="session")
def board_mode(request: pytest.FixtureRequest) -> str:
    """How several boards share the tests (--board-mode): 'campaign' or 'pool'."""
    return think_session(request.config).mode


@pytest.fixture(scope="session")
def emulate(request: pytest.FixtureRequest) -> bool:
    """Whether boards are reached through their twins (--emulate)."""
    return think_session(request.config).emulate


@pytest.fixture(scope="session")
def think_json(request: pytest.FixtureRequest) -> Path | None:
    """Where the results JSON goes (--think-json), or None."""
    return think_session(request.config).json_path


@pytest.fixture(scope="session")
def think_benchmark(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The pytest-benchmark entries runs make (--think-benchmark): device, host, loop."""
    return benchmarks.chosen_kinds(request.config)


@pytest.fixture
def board(request: pytest.FixtureRequest, board_spec: str, emulate: bool) -> Iterator[Board]:
    """The connected board: config, SSH transport and identity (one per session and board).

    Function-scoped on purpose: the connection itself is kept for the session, and a test that
    parametrizes `board_spec` must get its own board, which a cached session value is not.
    A board that hung during the test is brought back after it (pytest_think.recovery); one
    that could not be stops the tests after it, one line each."""
    with allure_report.step(f"connect to board '{board_spec}' and identify it"):
        held = think_session(request.config).board_for(board_spec, emulate)
    recover_if_hung(request, held)  # a hang outside any `board` fixture, before this test
    check_not_down(held)
    conn = held.connection
    record_of(request.node).board = conn.config.name
    request.node.user_properties.append(("think_board", conn.config.name))
    label_board(request.node, held)
    watch_board(request.node, conn)
    allure_report.attach_text(
        "board file (secrets redacted)", allure_report.redacted_board(conn.config), "json"
    )
    yield conn
    recover_if_hung(request, held)


@pytest.fixture
def console(request: pytest.FixtureRequest, board: Board) -> Iterator[SerialConsole]:
    """The board's serial console; what it prints during the test goes into the report.

    ``console.expect(r"login: $")``, ``console.login()``, ``console.run(["uname", "-r"])``."""
    port = board.console
    mark = watch_console(request.node, port)
    yield port
    allure_report.attach_text("console", format_console(port.lines_since(mark)))


@pytest.fixture
def dut(request: pytest.FixtureRequest, board: Board, board_spec: str, emulate: bool) -> Dut:
    """Runs models on the board: ``run = dut.run(model, vectors)``."""
    device = think_session(request.config).board_for(board_spec, emulate).device
    return Dut(device, record_of(request.node), request)


class ReferenceChecker:
    """Checks board runs against onnxruntime on the host; failures show the worst mismatches."""

    def __init__(self, request: pytest.FixtureRequest, record: TestRecord) -> None:
        self.request = request
        self.record = record

    def __repr__(self) -> str:
        return "<reference onnxruntime on the host>"

    def check(
        self,
        run: Run,
        *,
        rtol: float = 1e-3,
        atol: float = 1e-7,
        lsb: int = 0,
        topk: int = 5,
        min_top1_agreement: float | None = None,
        min_cosine: float | None = None,
        max_mismatch_fraction: float = 0.0,
        worst: int = 10,
        against: str | Path | None = None,
        scores: str | None = None,
    ) -> CompareReport:
        """Compare every output of every vector; raise AssertionError (with a table) on mismatch.

        For quantized hardware, allow a share of elements outside rtol/atol
        (`max_mismatch_fraction`) and judge on `min_top1_agreement` and `min_cosine`.
        `against` is the reference model when it is not the one the board ran: the float
        model a quantized or pruned variant was derived from. `scores` is the output whose
        class scores give the run's accuracy (the results JSON's ``accuracy``) when the model
        has several, such as the exits of an early-exit network; by default the first."""
        __tracebackhide__ = True
        session = think_session(self.request.config)
        model = reference_model(session.path(against) if against is not None else run.model)
        tolerance = Tolerance(
            rtol, atol, lsb, topk, min_top1_agreement, min_cosine, max_mismatch_fraction
        )
        with allure_report.step(f"compare {run.count} vectors with onnxruntime on the host"):
            report = compare(model, run.vectors, run.outputs, tolerance, worst, scores)
        if report.worst:
            allure_report.attach_text("worst mismatches", allure_report.worst_csv(report), "csv")
        record = self.record.record_for(run)
        record.compare = cast(CompareJson, report.as_json())
        if report.top1_agreement is not None:
            self.request.node.user_properties.append(("top1_agreement", report.top1_agreement))
        record.accuracy = report.accuracy
        if not report.passed:
            raise AssertionError(
                f"board {run.board} disagrees with the reference\n{report.summary()}"
            )
        return report


@pytest.fixture
def reference(request: pytest.FixtureRequest) -> ReferenceChecker:
    """``reference.check(run, rtol=..., atol=...)`` against onnxruntime on the host."""
    return ReferenceChecker(request, record_of(request.node))


class TableRecorder:
    """Tables of a test's figures (a threshold sweep, variants against N …) for the reports."""

    def __init__(self, record: TestRecord) -> None:
        self.record = record

    def __repr__(self) -> str:
        return "<record_table>"

    def __call__(
        self,
        name: str,
        columns: list[str],
        rows: list[list[Any]],
        *,
        plot: tuple[str, list[str]] | None = None,
    ) -> None:
        """Record `rows` under `columns` in the results JSON (``tables``) and Allure (CSV);
        `plot` = (x column, [y columns]) also attaches a trade-off plot."""
        widths = {len(r) for r in rows}
        if widths - {len(columns)}:
            raise ValueError(
                f"table '{name}': rows of {sorted(widths)} values, {len(columns)} columns"
            )
        table: TableJson = {"name": name, "columns": columns, "rows": rows}
        if plot is not None:
            table["plot"] = {"x": plot[0], "y": list(plot[1])}
        self.record.tables.append(table)
        csv = "\n".join(",".join(str(v) for v in row) for row in [columns, *rows])
        allure_report.attach_text(name, csv, "csv")
        if plot is not None:
            x, ys = plot
            allure_report.attach_png(name, allure_report.table_png(name, columns, rows, x, ys))


@pytest.fixture
def record_table(request: pytest.FixtureRequest) -> TableRecorder:
    """``record_table(name, columns, rows, plot=(x, [ys]))``: a table for the reports."""
    return TableRecorder(record_of(request.node))


@pytest.fixture
def vectors(request: pytest.FixtureRequest) -> Callable[[str | Path, str | Path], VectorSet]:
    """``vectors(path, model)``: load a vector file and check it fits `model`'s inputs."""

    def load(path: str | Path, model: str | Path) -> VectorSet:
        session = think_session(request.config)
        ref = reference_model(session.path(model))
        return load_vectors(session.path(path), ref.signature)

    return load
