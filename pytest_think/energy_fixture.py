"""The `energy` fixture: energy per inference of a model on the board, from its power meter.

    def test_energy(energy):
        report = energy.measure(MODEL, VECTORS)      # invalid measurements fail, with why
        assert report.mj_per_inference < 0.5

Defaults come from, in order: the call's arguments, the test's ``@pytest.mark.energy(...)``,
``--energy-window`` / ``--energy-trials``, then the method's (10 s, 5 trials). Boards without a
``meter`` section skip energy tests, or fail them under ``--require-power``.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest

from pytest_think.connection import Board
from pytest_think.errors import ThinkError
from pytest_think.hashing import sha256_file
from pytest_think.power.energy import EnergyReport, EnergySettings, measure_energy
from pytest_think.report import allure_report
from pytest_think.report.progress import Progress


class EnergyInvalid(ThinkError):
    """The measurement does not meet the method's validity rules; no number is reported."""


class EnergyMeasurer:
    def __init__(self, request: pytest.FixtureRequest, board_spec: str, emulate: bool) -> None:
        from pytest_think.fixtures import _path, _record, _session

        self.request = request
        self.session = _session(request)
        self.board_spec, self.emulate = board_spec, emulate
        self.device = self.session.device(board_spec, emulate)
        self.record = _record(request)
        self._path = _path

    def __repr__(self) -> str:
        return f"<energy on board '{self.device.config.name}'>"

    def settings(self, **overrides: Any) -> EnergySettings:
        values: dict[str, Any] = {}
        config = self.request.config
        if config.getoption("--energy-window") is not None:
            values["window_s"] = config.getoption("--energy-window")
        if config.getoption("--energy-trials") is not None:
            values["trials"] = config.getoption("--energy-trials")
        marker = self.request.node.get_closest_marker("energy")
        if marker is not None:
            values.update(marker.kwargs)
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return EnergySettings(**values)
        except TypeError as exc:
            raise pytest.UsageError(f"energy settings: {exc}") from None

    def measure(
        self,
        model: str | Path,
        vectors: str | Path,
        *,
        count: int = 64,
        label: str | None = None,
        **settings: Any,
    ) -> EnergyReport:
        """Idle baseline, then trials of the model looping on the device; see docs/energy.md.

        `label` names the measurement in reports when a test measures several variants."""
        __tracebackhide__ = True
        chosen = self.settings(**settings)
        model_path = self._path(self.request, model)
        vectors_path = self._path(self.request, vectors)

        progress = Progress(self.request.config, f"energy on '{self.device.config.name}'")
        trial = [0]

        def run_loop(min_seconds: float, warmup: int) -> dict[str, Any]:
            trial[0] += 1
            progress.say(f"trial {trial[0]}/{chosen.trials}: {min_seconds:g} s window", force=True)
            done: dict[str, Any] = self.device.device_loop(
                model_path, vectors_path, count=count, min_seconds=min_seconds, warmup=warmup
            )
            return done

        name = self.device.config.name
        with allure_report.step(
            f"measure energy on '{name}': {chosen.trials} trials of {chosen.window_s:g} s"
        ):
            report = measure_energy(self.device.meter, run_loop, chosen)
        if report.plot is not None:
            seconds, watts, window = report.plot
            title = f"{Path(model).name} on {name}, last trial ({report.meter})"
            png = allure_report.power_png(seconds, watts, window, report.idle_power_w, title)
            allure_report.attach_png("power trace", png)
        truth = {
            t["start_unix_ns"]: t for t in self.session.twin_truth(self.board_spec, self.emulate)
        }
        known = [
            truth[t.start_unix_ns]["mj_per_inference"]
            for t in report.trials
            if t.start_unix_ns in truth
        ]
        if known and len(known) == len(report.trials):
            report.twin_truth_mj_per_inference = statistics.median(known)
        self.record.energies.append(
            {
                "board": name,
                "model": str(model_path),
                "model_sha256": sha256_file(model_path),
                **({"label": label} if label else {}),
                **report.as_json(),
            }
        )
        if report.mj_per_inference is not None:
            self.request.node.user_properties.append(("mj_per_inference", report.mj_per_inference))
        if not report.valid:
            raise EnergyInvalid(
                f"energy on board '{self.device.config.name}' is invalid: {report.reason}"
            )
        return report


@pytest.fixture
def energy(
    request: pytest.FixtureRequest, board: Board, board_spec: str, emulate: bool
) -> EnergyMeasurer:
    """Measures energy per inference with the board's power meter (``meter`` in its file)."""
    if board.config.meter is None:
        reason = (
            f"board '{board.config.name}' has no power meter (no 'meter' section in "
            f"{board.config.source})"
        )
        if request.config.getoption("--require-power"):
            pytest.fail(reason + " and --require-power is set", pytrace=False)
        pytest.skip(reason)
    return EnergyMeasurer(request, board_spec, emulate)
