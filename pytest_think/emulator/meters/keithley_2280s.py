"""Twin of a Keithley 2280S precision measurement DC supply powering the board.

Serves the trace subset (DESIGN part 2): ``SENS1:FUNC "CURR:DC"``, ``SENS1:CURR:DC:NPLC``
(integration time in power-line cycles, 50 Hz), ``TRIG:SEQ1:SOUR IMM|BUS``,
``TRIG:SEQ1:SAMP:COUN`` (≤ 2500), ``INIT``, ``*TRG``, ``TRAC:CLE`` and
``TRAC:DATA? "READ,SOUR,REL"``: current, source voltage and time since the trigger for
each reading, comma-separated. The query waits for the acquisition to complete.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from pytest_think.emulator.meters.base import MeterInstrument, ScpiMeterTwin
from pytest_think.emulator.servers.scpi import Handler, ScpiError

LINE_HZ = 50.0
MAX_SAMPLES = 2500
OVERFLOW = 9.91e37


class K2280SInstrument(MeterInstrument):
    idn = "KEITHLEY INSTRUMENTS,MODEL 2280S-32-6,4404123,1.06"

    def instrument_commands(self) -> list[tuple[str, Handler]]:
        return [
            ("SENSe<n>:FUNCtion", self.set_function),
            ("SENSe<n>:CURRent[:DC]:NPLCycles", self.set_nplc),
            ("SENSe<n>:CURRent[:DC]:NPLCycles?", lambda n: f"{self.nplc:g}"),
            ("TRIGger:SEQuence<n>:SOURce", self.set_source),
            ("TRIGger:SEQuence<n>:SAMPle:COUNt", self.set_count),
            ("INITiate[:IMMediate]", self.initiate),
            ("*TRG", self.trigger),
            ("TRACe:CLEar", self.clear),
            ("TRACe:DATA?", self.data),
            ("OUTPut[:STATe]", self.set_output),
        ]

    def reset(self) -> None:
        self.nplc = 1.0
        self.count = 1
        self.source = "IMM"
        self.armed = False
        self.trigger_ns: int | None = None

    def set_function(self, n: str, function: str) -> None:
        if function.strip("\"'").upper() not in ("CURR:DC", "CURR", "CONC"):
            raise ScpiError(-224, "Illegal parameter value")

    def set_nplc(self, n: str, value: str) -> None:
        nplc = float(value)
        if not 0.002 <= nplc <= 15:
            raise ScpiError(-222, "Data out of range")
        self.nplc = nplc

    def set_source(self, n: str, value: str) -> None:
        if value.upper() not in ("IMM", "IMMEDIATE", "BUS"):
            raise ScpiError(-224, "Illegal parameter value")
        self.source = value.upper()[:3]

    def set_count(self, n: str, value: str) -> None:
        count = int(value)
        if not 1 <= count <= MAX_SAMPLES:
            raise ScpiError(-222, "Data out of range")
        self.count = count

    def initiate(self) -> None:
        self.armed = True
        self.trigger_ns = time.time_ns() if self.source == "IMM" else None

    def trigger(self) -> None:
        if not self.armed:
            raise ScpiError(-211, "Trigger ignored")
        self.trigger_ns = time.time_ns()
        self.armed = False

    def clear(self) -> None:
        self.trigger_ns = None

    def set_output(self, state: str) -> None:
        self.activity.set_powered(state.upper() in ("ON", "1"))

    async def data(self, elements: str = '"READ"') -> str:
        if self.trigger_ns is None:
            raise ScpiError(-230, "Data corrupt or stale")
        period = int(self.nplc / LINE_HZ * 1e9)
        ends = self.trigger_ns + (np.arange(self.count, dtype=np.int64) + 1) * period
        wait = (int(ends[-1]) - time.time_ns()) / 1e9
        if wait > 0:
            await asyncio.sleep(wait)
        current = self.activity.sample_power_w(ends, period) / self.config.volts
        current = np.where(current > self.config.current_range_a, OVERFLOW, current)
        rel = (ends - self.trigger_ns) / 1e9
        fields = [f.strip() for f in elements.strip("\"'").upper().split(",")]
        columns = {"READ": current, "SOUR": np.full(self.count, self.config.volts), "REL": rel}
        if not fields or any(f not in columns for f in fields):
            raise ScpiError(-224, "Illegal parameter value")
        rows = zip(*(columns[f] for f in fields))
        return ",".join(f"{v:+.6E}" for row in rows for v in row)


class Keithley2280STwin(ScpiMeterTwin):
    """The keithley-2280s driver's twin."""

    Instrument = K2280SInstrument
