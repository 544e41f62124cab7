"""The fixtures tests use: board_spec, emulate, think_json, board, console, dut, reference,
vectors.

Every command-line option is also a session fixture (`board_spec`, `emulate`, `think_json`),
so a test module can parametrize them, e.g. to run one test on two boards::

    @pytest.mark.parametrize("board_spec", ["sim", "fpga-zcu102"], scope="session")

Relative model and vector paths are taken from the rootdir.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_think.connection import Board
from pytest_think.device import Device, Run
from pytest_think.flashing import FlashReport
from pytest_think.reference import CompareReport, Tolerance, compare
from pytest_think.report import allure_report
from pytest_think.report.progress import Progress
from pytest_think.results import TestRecord
from pytest_think.transport.console import SerialConsole
from pytest_think.trtexec import TrtexecSummary
from pytest_think.vectors import VectorSet, load_vectors


def _session(request: pytest.FixtureRequest) -> Any:
    from pytest_think.plugin import get_session

    return get_session(request.config)


def _record(request: pytest.FixtureRequest) -> TestRecord:
    from pytest_think.plugin import RECORD_KEY

    record: TestRecord | None = request.node.stash.get(RECORD_KEY, None)
    if record is None:  # a test collected by another runner: keep its runs all the same
        record = TestRecord(request.node.nodeid)
        request.node.stash[RECORD_KEY] = record
    return record


def _path(request: pytest.FixtureRequest, path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else request.config.rootpath / p


@pytest.fixture(scope="session")
def board_spec(request: pytest.FixtureRequest) -> str:
    """The board under test (--board / THINK_BOARD / 'sim')."""
    spec: str = _session(request).board_spec
    return spec


@pytest.fixture(scope="session")
def emulate(request: pytest.FixtureRequest) -> bool:
    """Whether boards are reached through their twins (--emulate)."""
    value: bool = _session(request).emulate_option
    return value


@pytest.fixture(scope="session")
def think_json(request: pytest.FixtureRequest) -> Path | None:
    """Where the results JSON goes (--think-json), or None."""
    path: Path | None = _session(request).json_path
    return path


@pytest.fixture
def board(request: pytest.FixtureRequest, board_spec: str, emulate: bool) -> Board:
    """The connected board: config, SSH transport and identity (one per session and board).

    Function-scoped on purpose: the connection itself is kept for the session, and a test that
    parametrizes `board_spec` must get its own board, which a cached session value is not."""
    with allure_report.step(f"connect to board '{board_spec}' and identify it"):
        conn: Board = _session(request).connection(board_spec, emulate)
    allure_report.board_labels(conn.config)
    allure_report.attach_text(
        "board file (secrets redacted)", allure_report.redacted_board(conn.config), "json"
    )
    return conn


class TestDut:
    """The device under test as a test sees it: runs are recorded for the reports."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, device: Device, record: TestRecord, request: pytest.FixtureRequest):
        self.device = device
        self.record = record
        self.request = request

    @property
    def board(self) -> Board:
        return self.device.board

    def __repr__(self) -> str:
        conn = self.device.board
        return f"<dut board '{conn.config.name}' ({'twin' if conn.emulated else 'hardware'})>"

    def run(
        self,
        model: str | Path,
        vectors: str | Path | VectorSet,
        *,
        label: str | None = None,
        **options: Any,
    ) -> Run:
        """Stream `vectors` through `model` on the board; see Device.run for options.

        `label` names the run in reports when a test runs several (variants of a model)."""
        if not isinstance(vectors, VectorSet):
            vectors = _path(self.request, vectors)
        model_path = _path(self.request, model)
        progress = Progress(self.request.config, f"streaming through {model_path.name}")
        options.setdefault("progress", progress.vectors)
        with allure_report.step(f"deploy {model_path.name} and stream the vectors through it"):
            run = self.device.run(model_path, vectors, **options)
        self._recorded(run, label)
        return run

    def _recorded(self, run: Run, label: str | None) -> None:
        """The run into the test's record, its latency plot into Allure, and its board,
        sha256 and headline figures as JUnit properties (CI dashboards read them)."""
        self._attach_latency(run)
        self.record.record_for(run).label = label
        stats = run.latency()["device_ns"]
        node = self.request.node
        node.user_properties.append(("think_board", run.board))
        node.user_properties.append(("model_sha256", run.model_sha256))
        node.user_properties.append(("vectors", run.count))
        node.user_properties.append(("device_p50_us", round(stats["p50"] / 1e3, 3)))
        node.user_properties.append(("device_p99_us", round(stats["p99"] / 1e3, 3)))
        node.user_properties.append(("throughput_per_s", round(run.throughput_per_s, 1)))

    def run_design(
        self,
        design: str | Path,
        vectors: str | Path | VectorSet,
        *,
        label: str | None = None,
        **options: Any,
    ) -> Run:
        """Load a design (design.yaml) unless already loaded, then stream `vectors` through it.

        ``reference.check(run)`` then compares with the model the design implements. The run
        is labelled with the design's name unless `label` says otherwise."""
        if not isinstance(vectors, VectorSet):
            vectors = _path(self.request, vectors)
        options.setdefault("force_flash", bool(self.request.config.getoption("--force-flash")))
        design_path = _path(self.request, design)
        with allure_report.step(f"flash design {design_path} and stream the vectors through it"):
            run, flash = self.device.run_design(design_path, vectors, **options)
        allure_report.attach_text(f"flash {flash.design}", "\n".join(flash.log) or "(skipped)")
        self.record.flashes.append(flash.as_json())
        # What ran is the design: its sha256 identifies the run, as a model's does.
        self._recorded(run, label or flash.design)
        self.request.node.user_properties.append(("design_sha256", run.model_sha256))
        return run

    def flash(self, design: str | Path, *, force: bool | None = None) -> FlashReport:
        """Load a design (design.yaml) onto the board unless it already runs it.

        `force` defaults to the --force-flash option."""
        if force is None:
            force = bool(self.request.config.getoption("--force-flash"))
        with allure_report.step(f"flash design {design}"):
            report = self.device.flash(_path(self.request, design), force=force)
        allure_report.attach_text(
            f"flash {report.design}",
            "\n".join(report.log) or "(already running this design: nothing flashed)",
        )
        self.record.flashes.append(report.as_json())
        self.request.node.user_properties.append(("design_sha256", report.sha256))
        return report

    def _attach_latency(self, run: Run) -> None:
        import numpy as np

        device = np.asarray(run.result.device_ns, dtype=np.float64)
        host = np.asarray(run.result.host_ns, dtype=np.float64)
        title = f"{run.model.name} on {run.board}: {run.count} vectors"
        allure_report.attach_png(
            "latency (device vs host)", allure_report.latency_png(device, host, title)
        )

    def trtexec(self, design: str | Path, **options: Any) -> TrtexecSummary:
        """Benchmark a design's TensorRT engine with trtexec (Jetson boards)."""
        summary = self.device.trtexec(_path(self.request, design), **options)
        self.record.trtexec.append(summary.as_json())
        return summary

    def device_loop(self, model: str | Path, vectors: str | Path, **options: Any) -> dict[str, Any]:
        return self.device.device_loop(
            _path(self.request, model), _path(self.request, vectors), **options
        )


@pytest.fixture
def console(request: pytest.FixtureRequest, board: Board) -> Iterator[SerialConsole]:
    """The board's serial console; what it prints during the test goes into the report.

    ``console.expect(r"login: $")``, ``console.login()``, ``console.run(["uname", "-r"])``."""
    from pytest_think.plugin import CONSOLE_KEY, format_console

    port = board.console
    mark = port.mark()
    request.node.stash[CONSOLE_KEY] = (port, mark)
    yield port
    allure_report.attach_text("console", format_console(port.lines_since(mark)))


@pytest.fixture
def dut(request: pytest.FixtureRequest, board: Board, board_spec: str, emulate: bool) -> TestDut:
    """Runs models on the board: ``run = dut.run(model, vectors)``."""
    device = _session(request).device(board_spec, emulate)
    return TestDut(device, _record(request), request)


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
    ) -> CompareReport:
        """Compare every output of every vector; raise AssertionError (with a table) on mismatch.

        For quantized hardware, allow a share of elements outside rtol/atol
        (`max_mismatch_fraction`) and judge on `min_top1_agreement` and `min_cosine`.
        `against` is the reference model when it is not the one the board ran: the float
        model a quantized or pruned variant was derived from."""
        __tracebackhide__ = True
        reference = _path(self.request, against) if against is not None else run.model
        model = _session(self.request).reference_model(reference)
        tolerance = Tolerance(
            rtol, atol, lsb, topk, min_top1_agreement, min_cosine, max_mismatch_fraction
        )
        with allure_report.step(f"compare {run.count} vectors with onnxruntime on the host"):
            report = compare(model, run.vectors, run.outputs, tolerance, worst)
        if report.worst:
            allure_report.attach_text("worst mismatches", allure_report.worst_csv(report), "csv")
        record = self.record.record_for(run)
        record.compare = report.as_json()
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
    return ReferenceChecker(request, _record(request))


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
        table: dict[str, Any] = {"name": name, "columns": columns, "rows": rows}
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
    return TableRecorder(_record(request))


@pytest.fixture
def vectors(request: pytest.FixtureRequest) -> Callable[[str | Path, str | Path], VectorSet]:
    """``vectors(path, model)``: load a vector file and check it fits `model`'s inputs."""

    def load(path: str | Path, model: str | Path) -> VectorSet:
        ref = _session(request).reference_model(_path(request, model))
        return load_vectors(_path(request, path), ref.signature)

    return load
