"""Twin of a Keysight N6705B DC power analyzer supplying the board twin.

Serves the command subset a harness uses (DESIGN part 2): output voltage and state,
MEASure, and the digitizer — ``SENS:SWE:TINT`` (multiples of 20.48 µs), ``SENS:SWE:POIN``,
``SENS:SWE:OFFS:POIN``, ``TRIG:ACQ:SOUR BUS``, ``INIT:ACQ``, ``*TRG``, ``FETC:ARR:CURR?`` /
``FETC:ARR:VOLT?`` in ASCII or as IEEE 488.2 binary blocks (``FORM REAL``, ``FORM:BORD``).
A fetch waits, as on the instrument, until the acquisition is complete. Samples come from
the board twin's power model over what its device really did; a current above the range
reads 9.91E37, the SCPI overflow value. Turning the board's output off powers the board
down. The data logger is in `keysight_n6705_datalog`.
"""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np

from pytest_think.emulator.activity import DeviceActivity
from pytest_think.emulator.meters.base import MeterInstrument, ScpiMeterTwin, TwinMeter
from pytest_think.emulator.meters.keysight_n6705_datalog import N6705Datalogger
from pytest_think.emulator.servers.scpi import Handler, ScpiError, channel_list, ieee_block
from pytest_think.power.meters.scpi import VisaOptions

TINT_STEP_S = 20.48e-6
MAX_POINTS = 512 * 1024
OVERFLOW = 9.91e37


class N6705Instrument(MeterInstrument):
    idn = "Keysight Technologies,N6705C,MY56004321,D.03.02"

    def __init__(self, activity: DeviceActivity, config: TwinMeter, meter: VisaOptions) -> None:
        self.datalog = N6705Datalogger(self._levels)
        super().__init__(activity, config, meter)

    def instrument_commands(self) -> list[tuple[str, Handler]]:
        return [
            *self.datalog.commands(),
            ("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]", self.set_voltage),
            ("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]?", self.get_voltage),
            ("OUTPut[:STATe]", self.set_output),
            ("OUTPut[:STATe]?", self.get_output),
            ("MEASure[:SCALar]:VOLTage[:DC]?", self.measure_voltage),
            ("MEASure[:SCALar]:CURRent[:DC]?", self.measure_current),
            ("[SENSe:]SWEep:TINTerval", self.set_tint),
            ("[SENSe:]SWEep:TINTerval?", lambda *ch: f"{self.tint:.8E}"),
            ("[SENSe:]SWEep:POINts", self.set_points),
            ("[SENSe:]SWEep:POINts?", lambda *ch: str(self.points)),
            ("[SENSe:]SWEep:OFFSet:POINts", self.set_offset),
            ("TRIGger:ACQuire:SOURce", self.set_trigger_source),
            ("INITiate[:IMMediate]:ACQuire", self.initiate),
            ("*TRG", self.trigger),
            ("TRIGger:ACQuire[:IMMediate]", self.trigger_acquisition),
            ("FETCh[:SCALar]:ARRay:CURRent[:DC]?", self.fetch_current),
            ("FETCh[:SCALar]:ARRay:VOLTage[:DC]?", self.fetch_voltage),
            ("FORMat[:DATA]", self.set_format),
            ("FORMat:BORDer", self.set_border),
        ]

    def reset(self) -> None:
        self.volts = {c: 0.0 for c in range(1, 5)}
        self.volts[self.channel] = self.config.volts
        self.output = {c: c == self.channel for c in range(1, 5)}
        self.tint = TINT_STEP_S
        self.points = 1024
        self.offset = 0
        self.source = "IMM"
        self.armed = False
        self.trigger_ns: int | None = None
        self.real = False
        self.swapped = False
        self.datalog.reset()

    # -- helpers --------------------------------------------------------------------------

    def _channels(self, text: str | None) -> list[int]:
        channels = channel_list(text) if text else [1]
        if any(c < 1 or c > 4 for c in channels):
            raise ScpiError(-222, "Data out of range")
        return channels

    def _one(self, text: str | None) -> int:
        return self._channels(text)[0]

    def _number(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            raise ScpiError(-224, "Illegal parameter value") from None

    def _board_current(self, power_w: np.ndarray) -> np.ndarray:
        current = power_w / self.volts[self.channel]
        return np.where(current > self.config.current_range_a, OVERFLOW, current)

    def _values(self, values: np.ndarray) -> str | bytes:
        if self.real:
            data = values.astype("<f4" if self.swapped else ">f4").tobytes()
            return ieee_block(data)
        return ",".join(f"{v:+.6E}" for v in values)

    # -- source ---------------------------------------------------------------------------

    def set_voltage(self, value: str, channels: str | None = None) -> None:
        for c in self._channels(channels):
            self.volts[c] = self._number(value)

    def get_voltage(self, channels: str | None = None) -> str:
        return ",".join(f"{self.volts[c]:+.6E}" for c in self._channels(channels))

    def set_output(self, state: str, channels: str | None = None) -> None:
        on = state.upper() in ("ON", "1")
        if state.upper() not in ("ON", "OFF", "1", "0"):
            raise ScpiError(-224, "Illegal parameter value")
        for c in self._channels(channels):
            self.output[c] = on
            if c == self.channel:
                self.activity.set_powered(on)  # the board goes down with its supply

    def get_output(self, channels: str | None = None) -> str:
        return ",".join("1" if self.output[c] else "0" for c in self._channels(channels))

    def _now_power(self) -> float:
        now = time.time_ns()
        return float(self.activity.sample_power_w(np.array([now]), 20_480_000)[0])

    def measure_voltage(self, channels: str | None = None) -> str:
        c = self._one(channels)
        return f"{self.volts[c] if self.output[c] else 0.0:+.6E}"

    def measure_current(self, channels: str | None = None) -> str:
        c = self._one(channels)
        if c != self.channel or not self.output[c]:
            return f"{0.0:+.6E}"
        return f"{self._board_current(np.array([self._now_power()]))[0]:+.6E}"

    # -- digitizer ------------------------------------------------------------------------

    def set_tint(self, value: str, channels: str | None = None) -> None:
        seconds = self._number(value)
        if not TINT_STEP_S <= seconds <= 40_000:
            raise ScpiError(-222, "Data out of range")
        self.tint = max(1, round(seconds / TINT_STEP_S)) * TINT_STEP_S

    def set_points(self, value: str, channels: str | None = None) -> None:
        points = int(self._number(value))
        if not 1 <= points <= MAX_POINTS:
            raise ScpiError(-222, "Data out of range")
        self.points = points

    def set_offset(self, value: str, channels: str | None = None) -> None:
        offset = int(self._number(value))
        if not -(MAX_POINTS - 1) <= offset <= 2_000_000_000:
            raise ScpiError(-222, "Data out of range")
        self.offset = offset

    def set_trigger_source(self, value: str, channels: str | None = None) -> None:
        source = value.upper()
        if source not in ("BUS", "IMM", "IMMEDIATE"):
            raise ScpiError(-224, "Illegal parameter value")
        self.source = source[:3]

    def initiate(self, channels: str | None = None) -> None:
        self.armed = True
        self.trigger_ns = time.time_ns() if self.source == "IMM" else None

    def trigger_acquisition(self, *channels: str) -> None:
        if not self.armed:
            raise ScpiError(-211, "Trigger ignored")
        self.trigger_ns = time.time_ns()
        self.armed = False

    def trigger(self, *channels: str) -> None:
        """*TRG starts whatever waits for a bus trigger: the digitizer, the data logger."""
        waiting_log = self.datalog.waiting_for_trigger() and self.datalog.source == "BUS"
        if not (self.armed or waiting_log):
            raise ScpiError(-211, "Trigger ignored")
        if self.armed:
            self.trigger_acquisition()
        if waiting_log:
            self.datalog.trigger()

    async def _acquired(self) -> np.ndarray:
        """Sample times (unix ns) of the completed acquisition, waiting for it as FETC does."""
        if self.trigger_ns is None:
            raise ScpiError(-230, "Data corrupt or stale")
        step = round(self.tint * 1e9)
        first = self.trigger_ns + self.offset * step
        end = first + self.points * step
        wait = (end - time.time_ns()) / 1e9
        if wait > 0:
            await asyncio.sleep(wait)
        # Each sample integrates the interval before its time stamp.
        return first + (np.arange(self.points, dtype=np.int64) + 1) * step

    def _levels(
        self, channel: int, times: np.ndarray, step_ns: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """A channel's average volts and amps over the periods of `step_ns` ending at `times`."""
        if not self.output[channel]:
            return np.zeros(len(times)), np.zeros(len(times))
        volts = np.full(len(times), self.volts[channel])
        if channel != self.channel:
            return volts, np.zeros(len(times))
        return volts, self._board_current(self.activity.sample_power_w(times, step_ns))

    async def fetch_current(self, channels: str | None = None) -> str | bytes:
        c = self._one(channels)
        times = await self._acquired()
        return self._values(self._levels(c, times, round(self.tint * 1e9))[1])

    async def fetch_voltage(self, channels: str | None = None) -> str | bytes:
        c = self._one(channels)
        times = await self._acquired()
        return self._values(self._levels(c, times, round(self.tint * 1e9))[0])

    def set_format(self, value: str) -> None:
        kind = value.upper()
        if kind not in ("ASC", "ASCII", "ASCI", "REAL"):
            raise ScpiError(-224, "Illegal parameter value")
        self.real = kind == "REAL"

    def set_border(self, value: str) -> None:
        order = value.upper()
        if order not in ("NORM", "NORMAL", "SWAP", "SWAPPED"):
            raise ScpiError(-224, "Illegal parameter value")
        self.swapped = order.startswith("SWAP")


def tint_for(window_s: float, max_points: int = MAX_POINTS) -> float:
    """The finest digitizer interval that covers `window_s` within the point budget."""
    return max(1, math.ceil(window_s / max_points / TINT_STEP_S)) * TINT_STEP_S


class KeysightN6705Twin(ScpiMeterTwin):
    """The keysight-n6705 driver's twin."""

    Instrument = N6705Instrument
