"""Keysight N6705B/C DC power analyzer: the board's supply, measured with the digitizer.

Each acquisition is a triggered digitizer sweep on the board's output: ``SENS:SWE:TINT``
(20.48 µs steps) and ``SENS:SWE:POIN`` chosen to cover the window within the point budget,
``TRIG:ACQ:SOUR BUS``, ``INIT:ACQ``, then ``*TRG``; current and voltage arrays come back as
big-endian IEEE 754 binary blocks (``FORM REAL``, ``FORM:BORD NORM``). The trigger's host time
is bracketed by the ``*TRG;*OPC?`` round trip.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pyvisa

from pytest_think.boards import MeterConfig
from pytest_think.power.meters import SCPI_OVERFLOW, MeterError, Trace
from pytest_think.power.meters.scpi import ScpiMeter

TINT_STEP_S = 20.48e-6
POINT_BUDGET = 200_000  # of the 512 K the instrument holds: fast enough to fetch


class KeysightN6705(ScpiMeter):
    model = "N6705"
    vendor = "Keysight"

    def __init__(self, config: MeterConfig, what: str, device: Any = None) -> None:
        super().__init__(config, what, device)
        self.channel = f"(@{config.channel})"
        self.command("*CLS")
        self.tint = TINT_STEP_S
        self.points = 0
        self.trigger_window: tuple[int, int] = (0, 0)

    def set_output(self, on: bool) -> None:
        """Turn the board's supply output on or off (power-cycling a hung board)."""
        self.command(f"OUTP {'ON' if on else 'OFF'},{self.channel}")

    def arm(self, duration_s: float, max_rate_hz: float | None = None) -> None:
        steps = max(1, math.ceil(duration_s / POINT_BUDGET / TINT_STEP_S))
        if max_rate_hz is not None:
            steps = max(steps, math.ceil(1 / max_rate_hz / TINT_STEP_S - 1e-9))
        self.tint = steps * TINT_STEP_S
        self.points = min(512 * 1024, math.ceil(duration_s / self.tint))
        try:
            for command in (
                f"SENS:SWE:TINT {self.tint:.8g},{self.channel}",
                f"SENS:SWE:POIN {self.points},{self.channel}",
                f"SENS:SWE:OFFS:POIN 0,{self.channel}",
                "FORM REAL",
                "FORM:BORD NORM",
                f"TRIG:ACQ:SOUR BUS,{self.channel}",
                f"INIT:ACQ {self.channel}",
            ):
                self.command(command)
            before = time.time_ns()
            self.inst.query("*TRG;*OPC?")
            self.trigger_window = (before, time.time_ns())
        except pyvisa.Error as exc:
            raise MeterError(f"{self.where}: arming the digitizer failed: {exc}") from None

    def fetch(self) -> Trace:
        start, end = self.trigger_window
        remaining = (start + self.points * self.tint * 1e9 - time.time_ns()) / 1e9
        self.inst.timeout = int((max(0.0, remaining) + self.config.timeout_s) * 1000)
        try:
            current = self._array(f"FETC:ARR:CURR? {self.channel}")
            volts = self._array(f"FETC:ARR:VOLT? {self.channel}")
        except pyvisa.Error as exc:
            raise MeterError(f"{self.where}: fetching the acquisition failed: {exc}") from None
        finally:
            self.inst.timeout = int(self.config.timeout_s * 1000)
        if len(current) != self.points or len(volts) != self.points:
            raise MeterError(
                f"{self.where}: sent {len(current)} current and {len(volts)} voltage points, "
                f"{self.points} were asked for"
            )
        overflow = bool((np.abs(current) >= SCPI_OVERFLOW).any())
        step = self.tint * 1e9
        trigger = (start + end) / 2
        times = (trigger + (np.arange(self.points) + 1) * step).astype(np.int64)
        watts = current * volts
        return Trace(times, watts, self.tint, int((end - start) / 2), overflow)

    def _array(self, query: str) -> np.ndarray:
        values = self.inst.query_binary_values(
            query, datatype="f", is_big_endian=True, container=np.array
        )
        return np.asarray(values, dtype=np.float64)
