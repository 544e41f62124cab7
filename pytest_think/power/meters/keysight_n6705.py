"""Keysight N6705B/C DC power analyzer: the board's supply, measured with the digitizer for
short acquisitions and with the data logger for long ones.

Digitizer: a triggered sweep on the board's output: ``SENS:SWE:TINT`` (20.48 µs steps) and
``SENS:SWE:POIN`` chosen to cover the window within the point budget, ``TRIG:ACQ:SOUR BUS``,
``INIT:ACQ``, then ``*TRG``; current and voltage arrays come back as big-endian IEEE 754
binary blocks (``FORM REAL``, ``FORM:BORD NORM``). Its points are instantaneous, so over long
windows at coarse intervals they sample the load sparsely.

Data logger (acquisitions longer than ``meter.datalog_above_s``): ``SENS:DLOG:FUNC:VOLT/CURR``
on the board's output only, ``SENS:DLOG:PER``, ``SENS:DLOG:TIME``, ``TRIG:DLOG:SOUR BUS``,
``INIT:DLOG "internal:\\think.dlog"`` and ``*TRG``. Each logged value averages its whole period.
The log is exported to CSV on the instrument (``MMEM:EXP:DLOG``), read back as a block
(``MMEM:DATA?``) and both files are deleted. The CSV layout (a ``Sample interval:`` line, a
header, then one row per period: sample number, then volts and amps per logged channel) is
read by column name where the header names them.

Either way the trigger's host time is bracketed by the ``*TRG;*OPC?`` round trip.
"""

from __future__ import annotations

import io
import math
import time
from typing import Any, ClassVar

import numpy as np
import pyvisa
from pydantic import Field

from pytest_think.power.meters import SCPI_OVERFLOW, MeterError, MeterOptions, Trace
from pytest_think.power.meters.scpi import ScpiMeter, VisaOptions

TINT_STEP_S = 20.48e-6
POINT_BUDGET = 200_000  # of the 512 K the instrument holds: fast enough to fetch
DLOG_FILE = "internal:\\think.dlog"
DLOG_CSV = "internal:\\think.csv"
# Writing the log out as CSV and sending it back takes time in proportion to its rows: the
# wait for both follows the record count (an allowance of 2,000 rows a second), not the
# timeout of a single query.
EXPORT_ROWS_PER_S = 2_000


class KeysightN6705Options(VisaOptions):
    datalog_above_s: float = Field(
        60.0,
        gt=0,
        description="longer acquisitions use the data logger (period averages) instead of the "
        "digitizer (point samples)",
    )


class KeysightN6705(ScpiMeter):
    """A `SupplyOutput`: the board runs from one of its outputs."""

    model = "N6705"
    vendor = "Keysight"
    Options: ClassVar[type[MeterOptions]] = KeysightN6705Options
    config: KeysightN6705Options

    def __init__(self, config: KeysightN6705Options, what: str, device: Any = None) -> None:
        super().__init__(config, what, device)
        self.channel = f"(@{config.channel})"
        self.command("*CLS")
        self.tint = TINT_STEP_S
        self.points = 0
        self.trigger_window: tuple[int, int] = (0, 0)
        self.logging = False  # the acquisition under way is the data logger's

    def set_output(self, on: bool) -> None:
        """Turn the board's supply output on or off (power-cycling a hung board)."""
        self.command(f"OUTP {'ON' if on else 'OFF'},{self.channel}")

    def arm(self, duration_s: float, max_rate_hz: float | None = None) -> None:
        self.logging = duration_s > self.config.datalog_above_s
        if self.logging:
            self._arm_datalog(duration_s, max_rate_hz)
            return
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
            self._trigger()
        except pyvisa.Error as exc:
            raise MeterError(f"{self.where}: arming the digitizer failed: {exc}") from None

    def _trigger(self) -> None:
        before = time.time_ns()
        self.inst.query("*TRG;*OPC?")
        self.trigger_window = (before, time.time_ns())

    def _arm_datalog(self, duration_s: float, max_rate_hz: float | None) -> None:
        period = max(duration_s / POINT_BUDGET, TINT_STEP_S)
        if max_rate_hz is not None:
            period = max(period, 1 / max_rate_hz)
        period = math.ceil(period / TINT_STEP_S - 1e-9) * TINT_STEP_S
        try:
            for c in range(1, 5):
                on = "ON" if c == self.config.channel else "OFF"
                self.command(f"SENS:DLOG:FUNC:VOLT {on},(@{c})")
                self.command(f"SENS:DLOG:FUNC:CURR {on},(@{c})")
            self.command(f"SENS:DLOG:PER {period:.8g}")
            # The log runs a little past the window; fetch stops it when the window is over.
            self.command(f"SENS:DLOG:TIME {max(1.0, duration_s + 1.0):.6g}")
            self.tint = float(self.inst.query("SENS:DLOG:PER?"))
            self.points = math.ceil(duration_s / self.tint)
            self.command("TRIG:DLOG:SOUR BUS")
            self.command(f'INIT:DLOG "{DLOG_FILE}"')
            self._trigger()
        except (pyvisa.Error, ValueError) as exc:
            raise MeterError(f"{self.where}: starting the data logger failed: {exc}") from None

    def fetch(self) -> Trace:
        if self.logging:
            return self._fetch_datalog()
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

    def _fetch_datalog(self) -> Trace:
        start, end = self.trigger_window
        # The instrument triggered by `end` at the latest: wait for its last period to close.
        remaining = (end + (self.points + 1) * self.tint * 1e9 - time.time_ns()) / 1e9
        if remaining > 0:
            time.sleep(remaining)
        try:
            self.command("ABOR:DLOG")
            self.inst.timeout = int(self.export_timeout_s() * 1000)
            try:
                self.command(f'MMEM:EXP:DLOG "{DLOG_CSV}"')
                raw = self._file(DLOG_CSV)
            finally:
                self.inst.timeout = int(self.config.timeout_s * 1000)
            for name in (DLOG_CSV, DLOG_FILE):
                self.command(f'MMEM:DEL "{name}"')
        except pyvisa.Error as exc:
            raise MeterError(f"{self.where}: reading the data log failed: {exc}") from None
        interval, volts, amps = parse_datalog_csv(raw, self.config.channel, self.where)
        count = min(len(amps), self.points)
        if count < self.points:
            raise MeterError(
                f"{self.where}: the data log holds {len(amps)} periods, {self.points} were "
                "asked for"
            )
        volts, amps = volts[:count], amps[:count]
        overflow = bool((np.abs(amps) >= SCPI_OVERFLOW).any())
        step = interval * 1e9
        trigger = (start + end) / 2
        times = (trigger + (np.arange(count) + 1) * step).astype(np.int64)
        return Trace(times, amps * volts, interval, int((end - start) / 2), overflow)

    def export_timeout_s(self) -> float:
        """How long exporting and reading back the data log may take: its rows at
        `EXPORT_ROWS_PER_S`, on top of the meter's timeout."""
        return self.config.timeout_s + self.points / EXPORT_ROWS_PER_S

    def _file(self, name: str) -> bytes:
        """A file on the instrument (``MMEM:DATA?``: an IEEE 488.2 definite-length block).

        The block is read in large chunks with the termination character ignored: the CSV
        inside is full of newlines, and stopping at each would take one read per line."""
        self.inst.write(f'MMEM:DATA? "{name}"')
        self.inst.set_visa_attribute(pyvisa.constants.VI_ATTR_TERMCHAR_EN, False)
        try:
            head = self.inst.read_bytes(2)
            if head[:1] != b"#" or not head[1:2].isdigit() or head[1:2] == b"0":
                raise MeterError(f"{self.where}: MMEM:DATA? did not answer a definite block")
            length = int(self.inst.read_bytes(int(head[1:2])))
            data: bytes = self.inst.read_bytes(length + 1, chunk_size=1 << 20)  # + the LF
        finally:
            self.inst.set_visa_attribute(pyvisa.constants.VI_ATTR_TERMCHAR_EN, True)
        return data[:length]

    def _array(self, query: str) -> np.ndarray:
        values = self.inst.query_binary_values(
            query, datatype="f", is_big_endian=True, container=np.array
        )
        return np.asarray(values, dtype=np.float64)


def parse_datalog_csv(
    data: bytes, channel: int, where: str
) -> tuple[float, np.ndarray, np.ndarray]:
    """(sample interval, volts, amps) of `channel` from an exported data log.

    Rows whose first field is a number are records; the header row names the columns
    (``Volt avg 1``, ``Curr avg 1``); without one, volts and amps are the first two columns
    after the sample number (the only channel this driver logs)."""
    text = data.decode("ascii", errors="replace")
    interval: float | None = None
    volt_col, curr_col = 1, 2
    rows: list[str] = []
    for line in text.splitlines():
        head = line.split(",", 1)[0].strip()
        if head.lower().startswith("sample interval"):
            interval = float(head.split(":", 1)[1].split()[0])
        elif _is_number(head):
            rows.append(line)
        elif "," in line:  # the header row
            names = [f.strip().lower() for f in line.split(",")]
            volt_col = _column(names, "volt", channel, volt_col)
            curr_col = _column(names, "curr", channel, curr_col)
    if interval is None or not rows:
        raise MeterError(f"{where}: the exported data log has no sample interval or no records")
    try:
        table = np.loadtxt(
            io.StringIO("\n".join(rows)), delimiter=",", usecols=(volt_col, curr_col), ndmin=2
        )
    except (ValueError, IndexError):
        raise MeterError(f"{where}: the exported data log has a malformed record") from None
    return interval, table[:, 0], table[:, 1]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column(names: list[str], kind: str, channel: int, default: int) -> int:
    for i, name in enumerate(names):
        words = name.split()
        if name.startswith(kind) and words and words[-1] == str(channel):
            return i
    return default
