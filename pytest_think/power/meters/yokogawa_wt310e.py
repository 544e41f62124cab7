"""Yokogawa WT310E digital power meter: numeric updates at its update rate (100 ms … 20 s).

The WT310E keeps no trace: the driver follows its updates as they happen, as PTDaemon does
for MLPerf Power. It watches the extended event register (``:STAT:EESR?``, bit 0 UPD) and
reads ``:NUM:NORM:VAL?`` (U, I, P) at each update, stamping it with the host's clock; the
update's end lies between the previous poll and this one, which is the time stamps'
uncertainty. Over-range readings are 9.9E+37.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Any

import numpy as np
import pyvisa

from pytest_think.boards import MeterConfig
from pytest_think.power.meters import SCPI_OVERFLOW, MeterError, Trace

RATES_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
POLL_S = 0.005


class YokogawaWT310E:
    model = "WT310"

    def __init__(self, config: MeterConfig, what: str, device: Any = None) -> None:
        self.config = config
        self.where = f"{what} ({config.resource})"
        try:
            self.rm = pyvisa.ResourceManager("@py")
            inst: Any = self.rm.open_resource(
                config.resource,
                read_termination="\n",
                write_termination="\n",
                timeout=int(config.timeout_s * 1000),
            )
            self.inst = inst
            self.idn = str(inst.query("*IDN?")).strip()
        except (pyvisa.Error, OSError, ValueError) as exc:
            raise MeterError(f"{self.where}: cannot reach it: {exc}") from None
        if self.model not in self.idn:
            inst.close()
            raise MeterError(
                f"{self.where}: answers *IDN? with '{self.idn}', not a Yokogawa {self.model}E; "
                "check meter.driver and meter.resource"
            )
        for command in (
            "*CLS",
            ":COMM:HEAD OFF",
            ":NUM:FORM ASC",
            ":NUM:NORM:NUM 3",
            ":NUM:NORM:ITEM1 U,1",
            ":NUM:NORM:ITEM2 I,1",
            ":NUM:NORM:ITEM3 P,1",
        ):
            self._command(command)
        self.rate = RATES_S[0]
        self.samples: list[tuple[int, int, float]] = []  # (previous poll, seen, watts)
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def _command(self, text: str) -> None:
        self.inst.write(text)
        error = str(self.inst.query(":SYST:ERR?")).strip()
        if not error.startswith(("0,", "+0,")):
            raise MeterError(f"{self.where}: '{text}' refused: {error}")

    def arm(self, duration_s: float, max_rate_hz: float | None = None) -> None:
        slowest_ok = 1 / max_rate_hz if max_rate_hz else RATES_S[0]
        self.rate = next((r for r in RATES_S if r >= slowest_ok - 1e-9), RATES_S[-1])
        self._command(f":RATE {round(self.rate * 1000)}MS")
        self.inst.query(":STAT:EESR?")  # clear the update flag
        self.samples = []
        self.error = None
        deadline = time.time_ns() + int(duration_s * 1e9)
        self.thread = threading.Thread(target=self._follow, args=(deadline,), daemon=True)
        self.thread.start()

    def _follow(self, deadline_ns: int) -> None:
        try:
            previous = time.time_ns()
            while time.time_ns() < deadline_ns:
                if str(self.inst.query(":STAT:EESR?")).strip() == "1":
                    seen = time.time_ns()
                    values = [float(v) for v in str(self.inst.query(":NUM:NORM:VAL?")).split(",")]
                    self.samples.append((previous, seen, values[2]))
                previous = time.time_ns()
                time.sleep(POLL_S)
        except (pyvisa.Error, ValueError, IndexError) as exc:
            self.error = exc

    def fetch(self) -> Trace:
        if self.thread is not None:
            self.thread.join()
        if self.error is not None:
            raise MeterError(f"{self.where}: reading updates failed: {self.error}")
        if not self.samples:
            return Trace(np.zeros(0, np.int64), np.zeros(0), self.rate, 0, False)
        previous = np.array([s[0] for s in self.samples], dtype=np.int64)
        seen = np.array([s[1] for s in self.samples], dtype=np.int64)
        watts = np.array([s[2] for s in self.samples])
        uncertainty = math.ceil(float((seen - previous).max()) / 2)
        times = ((previous + seen) // 2).astype(np.int64)
        overflow = bool((np.abs(watts) >= SCPI_OVERFLOW).any())
        return Trace(times, watts, self.rate, uncertainty, overflow)

    def close(self) -> None:
        if self.thread is not None:
            self.thread.join()
        with contextlib.suppress(pyvisa.Error):
            self.inst.close()
