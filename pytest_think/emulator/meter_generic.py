"""Twin of a meter described entirely in the board file (the `generic-scpi` driver).

Answers ``*IDN?`` with the board file's expected identity, accepts its setup commands, and
answers its power query with the board twin's power, updated every ``update_s``.
"""

from __future__ import annotations

import time

import numpy as np

from pytest_think.boards import MeterConfig, TwinMeter
from pytest_think.emulator.activity import DeviceActivity
from pytest_think.emulator.scpi import ScpiInstrument


class GenericMeterTwin(ScpiInstrument):
    def __init__(self, activity: DeviceActivity, config: TwinMeter, meter: MeterConfig) -> None:
        super().__init__()
        self.activity = activity
        self.idn = f"{meter.idn},TWIN0001,1.0"
        self.update_ns = int(meter.update_s * 1e9)
        self.epoch_ns = time.time_ns()
        for command in meter.setup:
            header = command.split(" ", 1)[0]
            self.add(header, lambda *args: None)
        self.add(meter.power_query, self.power)

    def power(self, *args: str) -> str:
        end = self.epoch_ns + (time.time_ns() - self.epoch_ns) // self.update_ns * self.update_ns
        watts = float(self.activity.sample_power_w(np.array([end]), self.update_ns)[0])
        return f"{watts:.6E}"
