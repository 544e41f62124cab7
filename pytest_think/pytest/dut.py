"""`Dut`, what the `dut` fixture returns: the session's Device, with runs recorded for the
reports (results JSON, JUnit properties, Allure steps and attachments)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from pytest_think.connection import Board
from pytest_think.device import Device, Run
from pytest_think.expected import ExpectedReport, compare_expected
from pytest_think.flashing import FlashReport
from pytest_think.pytest import benchmarks
from pytest_think.pytest.records import TestRecord
from pytest_think.pytest.schema import ExpectedJson
from pytest_think.pytest.session import think_session
from pytest_think.report import allure_report
from pytest_think.report.progress import Progress
from pytest_think.trtexec import TrtexecSummary
from pytest_think.vectors import VectorSet

if TYPE_CHECKING:
    import numpy as np


class Dut:
    """The device under test as a test sees it (the `dut` fixture): runs are recorded for the
    reports."""

    def __init__(self, device: Device, record: TestRecord, request: pytest.FixtureRequest):
        self.device = device
        self.record = record
        self.request = request
        self._path = think_session(request.config).path

    @property
    def board(self) -> Board:
        return self.device.board

    def __repr__(self) -> str:
        return f"<dut {self.board}>"

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
            vectors = self._path(vectors)
        model_path = self._path(model)
        variant = f"{model_path.name} [{label}]" if label else model_path.name
        progress = Progress(
            self.request.config, f"streaming through {variant}", self.request.node.nodeid
        )
        options.setdefault("progress", progress.vectors)
        with allure_report.step(f"deploy {model_path.name} and stream the vectors through it"):
            run = self.device.run(model_path, vectors, **options)
        self._recorded(run, label)
        return run

    def expect(
        self,
        run: Run,
        expected: Sequence[np.ndarray],
        *,
        against: str,
        rtol: float = 1e-3,
        atol: float = 1e-7,
    ) -> ExpectedReport:
        """Judge `run`'s first vector against `expected` outputs given with the model (in its
        output order), as a backend test does; recorded as what the run was checked against
        (`against`, e.g. "ONNX expected outputs") in the results and the summary row."""
        got = [run.outputs[name][0] for name in run.result.output_names]
        report = compare_expected(got, expected, against, rtol, atol)
        self.record.record_for(run).expected = cast(ExpectedJson, report.as_json())
        allure_report.attach_text(f"checked against {against}", report.summary())
        return report

    def _recorded(self, run: Run, label: str | None) -> None:
        record_run(self.request, self.record, run, label)

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
            vectors = self._path(vectors)
        options.setdefault("force_flash", bool(self.request.config.getoption("--force-flash")))
        design_path = self._path(design)
        with allure_report.step(f"flash design {design_path} and stream the vectors through it"):
            run, flash = self.device.run_design(design_path, vectors, **options)
        allure_report.attach_text(f"flash {flash.design}", "\n".join(flash.log) or "(skipped)")
        self.record.add_flash(flash, design_path)
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
            report = self.device.flash(design_path := self._path(design), force=force)
        allure_report.attach_text(
            f"flash {report.design}",
            "\n".join(report.log) or "(already running this design: nothing flashed)",
        )
        self.record.add_flash(report, design_path)
        self.request.node.user_properties.append(("design_sha256", report.sha256))
        return report

    def trtexec(self, design: str | Path, **options: Any) -> TrtexecSummary:
        """Benchmark a design's TensorRT engine with trtexec (Jetson boards)."""
        summary = self.device.trtexec(self._path(design), **options)
        self.record.trtexec.append(summary.as_json())
        return summary

    def device_loop(self, model: str | Path, vectors: str | Path, **options: Any) -> dict[str, Any]:
        return self.device.device_loop(self._path(model), self._path(vectors), **options)


def record_run(
    request: pytest.FixtureRequest, record: TestRecord, run: Run, label: str | None
) -> None:
    """A run into the test's record, its latency plot into Allure, and its sha256 and headline
    figures as JUnit properties (CI dashboards read them; the board fixture adds the board),
    and its device and host times as pytest-benchmark entries."""
    _attach_latency(run)
    _attach_resumes(run)
    _attach_load(run)
    record.record_for(run).label = label
    stats = run.latency()["device_ns"]
    node = request.node
    node.user_properties.append(("model_sha256", run.model_sha256))
    node.user_properties.append(("vectors", run.count))
    node.user_properties.append(("device_p50_us", round(stats["p50"] / 1e3, 3)))
    node.user_properties.append(("device_p99_us", round(stats["p99"] / 1e3, 3)))
    node.user_properties.append(("throughput_per_s", round(run.throughput_per_s, 1)))
    node.user_properties.append(("reconnects", run.result.reconnects))
    if run.load is not None and run.load.device_ns is not None:
        node.user_properties.append(("model_load_ms", round(run.load.device_ns / 1e6, 3)))
    benchmarks.add_run(request, run, label)


def _attach_latency(run: Run) -> None:
    import numpy as np

    device = np.asarray(run.result.device_ns, dtype=np.float64)
    host = np.asarray(run.result.host_ns, dtype=np.float64)
    title = f"{run.model.name} on {run.board}: {run.count} vectors"
    allure_report.attach_png(
        "latency (device vs host)", allure_report.latency_png(device, host, title)
    )


def _attach_load(run: Run) -> None:
    """The model's load (a switch, when the agent held another one) as an Allure step."""
    load = run.load
    if load is None:
        return
    if not load.loaded:
        title = f"{run.model.name} was loaded on {run.board} already: no LOAD"
    else:
        device = f"{load.device_ns / 1e6:.1f} ms" if load.device_ns is not None else "unmeasured"
        host = f"{load.host_ns / 1e6:.1f} ms" if load.host_ns is not None else "unmeasured"
        title = f"load {run.model.name} on {run.board}: {device} on the board ({host} round trip)"
    with allure_report.step(title):
        pass


def _attach_resumes(run: Run) -> None:
    """The dropped SSH connections the run came back from, as an Allure step of their own."""
    resumes = run.result.resumes
    if not resumes:
        return
    n = len(resumes)
    with allure_report.step(
        f"resumed after {n} dropped SSH connection{'s' if n > 1 else ''} on {run.board}"
    ):
        lines = [
            f"{k}: {r.after_vectors} of {run.count} vectors done, {r.resent} in flight sent again; "
            f"{r.tries} reconnection tr{'y' if r.tries == 1 else 'ies'}, {r.uploaded} files "
            f"uploaded again, {r.seconds:.2f} s; cause: {r.cause}"
            for k, r in enumerate(resumes, 1)
        ]
        allure_report.attach_text("dropped connections", "\n".join(lines))
