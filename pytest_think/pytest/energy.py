"""The `energy` fixture: energy per inference of a model on the board, from its power meter.

    def test_energy(energy):
        report = energy.measure(MODEL, VECTORS)      # invalid measurements fail, with why
        assert report.mj_per_inference < 0.5

Defaults come from, in order: the call's arguments, the test's ``@pytest.mark.energy(...)``,
``--energy-window`` / ``--energy-trials``, then the method's (10 s, 5 trials). Boards without a
``meter`` section skip energy tests, or fail them under ``--require-power``. Each measurement
extends its test's time limit by what its method needs (`time_allowed`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from pytest_think.connection import Board
from pytest_think.errors import ThinkError
from pytest_think.hashing import sha256_file
from pytest_think.power.energy import EnergyReport, EnergySettings, measure_energy
from pytest_think.pytest import benchmarks, time_limits
from pytest_think.pytest.recording import record_of
from pytest_think.pytest.schema import EnergyJson
from pytest_think.pytest.session import think_session
from pytest_think.report import allure_report
from pytest_think.report.progress import Progress

# What one measurement adds to its test's time limit (pytest-timeout's, see time_limits): its
# method's nominal time (idle baseline + trials × window) LIMIT_FACTOR times over, and per
# acquisition (the baseline and each trial) what arming the meter, the warm-up and fetching the
# trace may take. A test measuring four variants gets four allowances.
LIMIT_FACTOR = 2.0
SETUP_PER_ACQUISITION_S = 10.0


def time_allowed(settings: EnergySettings) -> float:
    """Seconds a measurement with `settings` may take before its test's limit runs out."""
    return LIMIT_FACTOR * settings.nominal_s + SETUP_PER_ACQUISITION_S * (settings.trials + 1)


class EnergyInvalid(ThinkError):
    """The measurement does not meet the method's validity rules; no number is reported."""


class EnergyMeasurer:
    """The `energy` fixture: ``energy.measure(model, vectors)`` with the board's meter."""

    def __init__(self, request: pytest.FixtureRequest, board_spec: str, emulate: bool) -> None:
        self.request = request
        self.session = think_session(request.config)
        self.device = self.session.board_for(board_spec, emulate).device
        self.record = record_of(request.node)

    def __repr__(self) -> str:
        return f"<energy on board '{self.device.config.name}'>"

    @property
    def last_record(self) -> EnergyJson:
        """The last measurement's energy record, as the results JSON has it (with what
        plug-ins added, e.g. a twin's `twin_truth_mj_per_inference`)."""
        if not self.record.energies:
            raise LookupError("no energy measured yet in this test")
        return self.record.energies[-1]

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
        model_path = self.session.path(model)
        vectors_path = self.session.path(vectors)

        variant = f"{model_path.name} [{label}]" if label else model_path.name
        progress = Progress(
            self.request.config,
            f"energy of {variant} on '{self.device.config.name}'",
            self.request.node.nodeid,
        )
        trial = [0]
        # Deployed and loaded before any acquisition: the trials hold only the loops.
        loop = self.device.prepare_loop(model_path, vectors_path, count=count)

        def run_loop(min_seconds: float, warmup: int) -> dict[str, Any]:
            trial[0] += 1
            progress.say(f"trial {trial[0]}/{chosen.trials}: {min_seconds:g} s window", force=True)
            return loop(min_seconds, warmup)

        def probe() -> dict[str, Any]:  # one inference: an exchange that bounds the clocks
            return loop(0.0, 0, 1)

        name = self.device.config.name
        time_limits.extend(self.request.node, time_allowed(chosen))
        with allure_report.step(
            f"measure energy on '{name}': {chosen.trials} trials of {chosen.window_s:g} s"
        ):
            report = measure_energy(self.device.meter, run_loop, chosen, probe)
        if report.meter_lost:  # the next measurement opens it again
            self.device.close_meter()
        if report.plot is not None:
            seconds, watts, window = report.plot
            title = f"{Path(model).name} on {name}, last trial ({report.meter})"
            png = allure_report.power_png(seconds, watts, window, report.idle_power_w, title)
            allure_report.attach_png("power trace", png)
        record: dict[str, Any] = {
            "board": name,
            "model": str(model_path),
            "model_sha256": sha256_file(model_path),
            **({"label": label} if label else {}),
            **report.as_json(),
        }
        # What other plug-ins know of this measurement (a twin: the true energy).
        hook = self.request.config.hook
        for fields in hook.pytest_think_energy_measured(board=self.device.board, report=report):
            record.update(fields)
        self.record.energies.append(cast(EnergyJson, record))
        benchmarks.add_energy_loop(self.request, record, report)
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
