"""The board's own power monitors (INA226, INA3221 in sysfs) as a meter, sampled by the agent.

``meter: {driver: onboard, rails: [VDD_IN]}``: the board's power is the sum of those rails.
The agent reads their files every ``period_s`` on the board and sends the readings back with
the device's clock (no SSH round trip per sample); the device-host offset is bounded by the
SAMPLE / SAMPLING exchange, as NTP does.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from pytest_think.errors import ThinkError
from pytest_think.power.meters import MeterError, MeterOptions, Trace


class OnboardOptions(MeterOptions):
    rails: list[str] = Field(
        default_factory=list, description="the rails whose sum is the board's power"
    )
    period_s: float = Field(0.01, gt=0, description="the agent's sampling period")
    source: Literal["sysfs", "tegrastats"] = Field(
        "sysfs", description="read the monitors' sysfs files, or Jetson's tegrastats"
    )


class OnboardMeter:
    Options: ClassVar[type[MeterOptions]] = OnboardOptions

    def __init__(self, config: OnboardOptions, what: str, device: Any) -> None:
        self.config = config
        self.where = what
        self.device = device
        conn = device.board
        self.period = config.period_s
        self.armed: tuple[int, float, float, float] | None = None  # start, offset, ± ns, s
        if not config.rails:
            raise MeterError(f"{what}: an onboard meter needs 'meter.rails'")
        if config.source == "tegrastats":
            # The rails are checked against tegrastats' first line when sampling starts.
            self.sensors = []
            self.idn = f"tegrastats: {' + '.join(config.rails)}"
            return
        sensors = conn.power_sensors
        by_rail = {s.rail: s for s in sensors}
        missing = [r for r in config.rails if r not in by_rail]
        if missing:
            raise MeterError(
                f"{what}: rails {', '.join(missing)} are not on the board (it has: "
                f"{', '.join(by_rail) or 'no power monitors'})"
            )
        self.sensors = [by_rail[r] for r in config.rails]
        self.idn = f"onboard monitors: {' + '.join(config.rails)}"

    def arm(self, duration_s: float, max_rate_hz: float | None = None) -> None:
        self.period = max(self.config.period_s, 1 / max_rate_hz if max_rate_hz else 0.0)
        files = [f for s in self.sensors for f in s.files]
        command = None
        if self.config.source == "tegrastats":
            command = ["tegrastats", "--interval", str(max(1, round(self.period * 1000)))]
        agent = self.device.ensure_agent()
        sent = time.time_ns()
        try:
            stamps = agent.sample_start(
                files, self.period, duration_s * 2 + 60, command=command, rails=self.config.rails
            )
        except ThinkError as exc:
            raise MeterError(f"{self.where}: the agent cannot sample: {exc}") from None
        received = time.time_ns()
        low = int(stamps["done_unix_ns"]) - received
        high = int(stamps["received_unix_ns"]) - sent
        self.armed = (sent, (low + high) / 2, max(0.0, (high - low) / 2), duration_s)

    def fetch(self) -> Trace:
        if self.armed is None:
            raise MeterError(f"{self.where}: fetch before arm")
        start, offset, slack, duration = self.armed
        remaining = (start + duration * 1e9 - time.time_ns()) / 1e9
        if remaining > 0:
            time.sleep(remaining)
        try:
            samples = self.device.ensure_agent().sample_end()
        except ThinkError as exc:
            raise MeterError(f"{self.where}: collecting samples failed: {exc}") from None
        if samples.get("error"):
            raise MeterError(f"{self.where}: {samples['error']}")
        watts = self._watts(samples["values"])
        times = (np.asarray(samples["t_unix_ns"], dtype=np.float64) - offset).astype(np.int64)
        return Trace(times, watts, self.period, int(slack), overflow=False)

    def _watts(self, rows: list[list[float]]) -> np.ndarray:
        if self.config.source == "tegrastats":  # each rail's instantaneous mW
            milliwatts = np.asarray(rows, dtype=np.float64).reshape(-1, len(self.config.rails))
            total: np.ndarray = milliwatts.sum(axis=1) / 1e3
            return total
        width = sum(len(s.files) for s in self.sensors)
        values = np.asarray(rows, dtype=np.float64).reshape(-1, width)
        watts = np.zeros(len(values))
        column = 0
        for sensor in self.sensors:
            span = values[:, column : column + len(sensor.files)]
            watts += np.array([sensor.watts(list(row)) for row in span])
            column += len(sensor.files)
        return watts

    def close(self) -> None:
        """Nothing held: the sampler lives and dies with the agent."""
