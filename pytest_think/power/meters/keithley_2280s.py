"""Keithley 2280S precision measurement DC supply: a triggered trace of up to 2500 readings.

The integration time (``SENS1:CURR:DC:NPLC``, in 50 Hz power-line cycles) is chosen so the
trace covers the acquisition; ``TRIG:SEQ1:SOUR BUS``, ``TRIG:SEQ1:SAMP:COUN``, ``INIT``,
``*TRG``; ``TRAC:DATA? "READ,SOUR,REL"`` gives current, voltage and the instrument's own time
since the trigger for each reading, so only the trigger needs placing in host time.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pyvisa

from pytest_think.power.meters import SCPI_OVERFLOW, MeterError, Trace
from pytest_think.power.meters.scpi import ScpiMeter, VisaOptions

LINE_HZ = 50.0
MAX_SAMPLES = 2500


class Keithley2280S(ScpiMeter):
    """A `SupplyOutput`: the board runs from its output."""

    model = "2280S"
    vendor = "Keithley"

    def __init__(self, config: VisaOptions, what: str, device: Any = None) -> None:
        super().__init__(config, what, device)
        self.command("*CLS")
        self.command('SENS1:FUNC "CURR:DC"')
        self.nplc = 1.0
        self.count = 1
        self.trigger_window = (0, 0)

    def set_output(self, on: bool) -> None:
        """Turn the board's supply output on or off (power-cycling a hung board)."""
        self.command(f"OUTP {'ON' if on else 'OFF'}")

    def arm(self, duration_s: float, max_rate_hz: float | None = None) -> None:
        period = max(duration_s / MAX_SAMPLES, 0.002 / LINE_HZ)
        if max_rate_hz:
            period = max(period, 1 / max_rate_hz)
        self.nplc = round(period * LINE_HZ, 3)
        self.count = min(MAX_SAMPLES, math.ceil(duration_s / (self.nplc / LINE_HZ)))
        for command in (
            f"SENS1:CURR:DC:NPLC {self.nplc:g}",
            "TRIG:SEQ1:SOUR BUS",
            f"TRIG:SEQ1:SAMP:COUN {self.count}",
            "TRAC:CLE",
            "INIT",
        ):
            self.command(command)
        before = time.time_ns()
        self.inst.query("*TRG;*OPC?")
        self.trigger_window = (before, time.time_ns())

    def fetch(self) -> Trace:
        period = self.nplc / LINE_HZ
        start, end = self.trigger_window
        remaining = (start - time.time_ns()) / 1e9 + self.count * period
        self.inst.timeout = int((max(0.0, remaining) + self.config.timeout_s) * 1000)
        try:
            text = str(self.inst.query('TRAC:DATA? "READ,SOUR,REL"'))
        except pyvisa.Error as exc:
            raise MeterError(f"{self.where}: reading the trace failed: {exc}") from None
        finally:
            self.inst.timeout = int(self.config.timeout_s * 1000)
        values = np.array([float(v) for v in text.split(",")]).reshape(-1, 3)
        current, volts, rel = values[:, 0], values[:, 1], values[:, 2]
        overflow = bool((np.abs(current) >= SCPI_OVERFLOW).any())
        times = ((start + end) / 2 + rel * 1e9).astype(np.int64)
        return Trace(times, current * volts, period, int((end - start) / 2), overflow)
