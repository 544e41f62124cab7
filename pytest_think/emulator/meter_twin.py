"""What the meter twins share: the board twin's activity they measure, their settings, and
instrument time that ticks in whole update intervals from power-on."""

from __future__ import annotations

import time

from pytest_think.boards import MeterConfig, TwinMeter
from pytest_think.emulator.activity import DeviceActivity
from pytest_think.emulator.scpi import Handler, ScpiInstrument


class MeterTwin(ScpiInstrument):
    def __init__(self, activity: DeviceActivity, config: TwinMeter, meter: MeterConfig) -> None:
        super().__init__()
        self.activity = activity
        self.config = config
        self.meter = meter  # the board file's view of the instrument
        self.channel = meter.channel  # the output or element the board hangs on
        self.epoch_ns = time.time_ns()  # updates tick from power-on
        self.reset()
        for spec, handler in self.instrument_commands():
            self.add(spec, handler)

    def instrument_commands(self) -> list[tuple[str, Handler]]:
        """The instrument's own commands, beyond the IEEE 488.2 common ones."""
        return []

    def latest_update(self, interval_ns: int) -> int:
        """The end (unix ns) of the latest completed update interval."""
        return self.epoch_ns + (time.time_ns() - self.epoch_ns) // interval_ns * interval_ns
