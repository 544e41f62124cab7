"""The N6705 twin's data logger: long, averaged records written to the instrument's files.

Commands (DESIGN part 2, and as lab scripts drive the real instrument):
``SENS:DLOG:FUNC:VOLT|CURR ON|OFF,(@ch)``, ``SENS:DLOG:PER <s>``, ``SENS:DLOG:TIME <s>``,
``TRIG:DLOG:SOUR BUS|IMM``, ``INIT:DLOG "internal:\\name.dlog"``, ``*TRG``, ``ABOR:DLOG``;
then ``MMEM:EXP:DLOG "internal:\\name.csv"`` exports the log to CSV,
``MMEM:DATA? "…"`` returns a file as an IEEE 488.2 block and ``MMEM:DEL "…"`` removes it.

Unlike the digitizer, each logged value is the *average* over its whole period (so long
windows are not sampled sparsely): record i covers [trigger + i·period, trigger + (i+1)·period].
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pytest_think.emulator.servers.scpi import Handler, ScpiError, channel_list, ieee_block

PERIOD_STEP_S = 20.48e-6
MAX_TIME_S = 99_999 * 3600.0  # the instrument logs for up to 99,999 hours


@dataclass
class DatalogRun:
    period_ns: int
    duration_ns: int
    functions: dict[int, tuple[bool, bool]]  # channel → (volts logged, current logged)
    trigger_ns: int | None = None
    aborted_ns: int | None = None

    def end_ns(self) -> int | None:
        if self.trigger_ns is None:
            return None
        end = self.trigger_ns + self.duration_ns
        return end if self.aborted_ns is None else min(end, self.aborted_ns)


@dataclass
class N6705Datalogger:
    """The data logger of one twin; `levels` gives (volts, amps) arrays for a channel over
    the periods ending at the given times."""

    levels: Callable[[int, np.ndarray, int], tuple[np.ndarray, np.ndarray]]
    period_s: float = 0.1
    duration_s: float = 30.0
    source: str = "IMM"
    functions: dict[int, list[bool]] = field(
        default_factory=lambda: {c: [True, True] for c in range(1, 5)}
    )
    run: DatalogRun | None = None  # the log being taken, or the last one taken
    files: dict[str, bytes] = field(default_factory=dict)

    def reset(self) -> None:
        """*RST: default settings; the files on the instrument stay."""
        self.period_s, self.duration_s, self.source = 0.1, 30.0, "IMM"
        self.functions = {c: [True, True] for c in range(1, 5)}
        self.run = None

    def commands(self) -> list[tuple[str, Handler]]:
        return [
            ("[SENSe:]DLOG:FUNCtion:VOLTage", lambda v, ch=None: self._function(0, v, ch)),
            ("[SENSe:]DLOG:FUNCtion:CURRent", lambda v, ch=None: self._function(1, v, ch)),
            ("[SENSe:]DLOG:PERiod", self.set_period),
            ("[SENSe:]DLOG:PERiod?", lambda: f"{self.period_s:.8E}"),
            ("[SENSe:]DLOG:TIME", self.set_time),
            ("[SENSe:]DLOG:TIME?", lambda: f"{self.duration_s:.8E}"),
            ("TRIGger:DLOG:SOURce", self.set_source),
            ("INITiate[:IMMediate]:DLOG", self.initiate),
            ("ABORt:DLOG", self.abort),
            ("MMEMory:EXPort:DLOG", self.export),
            ("MMEMory:DATA?", self.data),
            ("MMEMory:DELete", self.delete),
        ]

    # -- settings -------------------------------------------------------------------------

    def _function(self, index: int, value: str, channels: str | None) -> None:
        state = value.upper()
        if state not in ("ON", "OFF", "1", "0"):
            raise ScpiError(-224, "Illegal parameter value")
        for c in channel_list(channels) if channels else [1]:
            if c not in self.functions:
                raise ScpiError(-222, "Data out of range")
            self.functions[c][index] = state in ("ON", "1")

    def set_period(self, value: str) -> None:
        seconds = float(value)
        if not PERIOD_STEP_S <= seconds <= 60.0:
            raise ScpiError(-222, "Data out of range")
        self.period_s = max(1, round(seconds / PERIOD_STEP_S)) * PERIOD_STEP_S

    def set_time(self, value: str) -> None:
        seconds = float(value)
        if not 1.0 <= seconds <= MAX_TIME_S:
            raise ScpiError(-222, "Data out of range")
        self.duration_s = seconds

    def set_source(self, value: str) -> None:
        source = value.upper()
        if source not in ("BUS", "IMM", "IMMEDIATE", "EXT", "EXTERNAL"):
            raise ScpiError(-224, "Illegal parameter value")
        self.source = source[:3]

    # -- a log ----------------------------------------------------------------------------

    def running(self) -> bool:
        if self.run is None:
            return False
        end = self.run.end_ns()
        return end is None or time.time_ns() < end

    def initiate(self, name: str = "") -> None:
        path = _file_name(name)
        if not path.lower().endswith(".dlog"):
            raise ScpiError(-257, "File name error")
        if self.running():
            raise ScpiError(-213, "Init ignored")
        functions = {c: (f[0], f[1]) for c, f in self.functions.items() if any(f)}
        if not functions:
            raise ScpiError(-221, "Settings conflict")
        self.run = DatalogRun(round(self.period_s * 1e9), round(self.duration_s * 1e9), functions)
        self.files[path] = b""  # the .dlog exists from INIT on; its format is the instrument's
        if self.source == "IMM":
            self.run.trigger_ns = time.time_ns()

    def waiting_for_trigger(self) -> bool:
        return self.run is not None and self.run.trigger_ns is None

    def trigger(self) -> None:
        assert self.run is not None
        self.run.trigger_ns = time.time_ns()

    def abort(self) -> None:
        if self.run is not None and self.running():
            self.run.aborted_ns = time.time_ns()
            if self.run.trigger_ns is None:
                self.run = None

    def export(self, name: str = "") -> None:
        path = _file_name(name)
        if not path.lower().endswith(".csv"):
            raise ScpiError(-257, "File name error")
        if self.run is None or self.run.trigger_ns is None:
            raise ScpiError(-230, "Data corrupt or stale")
        if self.running():
            raise ScpiError(-221, "Settings conflict")  # still logging
        self.files[path] = self._csv(self.run)

    def data(self, name: str = "") -> bytes:
        path = _file_name(name)
        if path not in self.files:
            raise ScpiError(-256, "File name not found")
        return ieee_block(self.files[path])

    def delete(self, name: str = "") -> None:
        path = _file_name(name)
        if self.files.pop(path, None) is None:
            raise ScpiError(-256, "File name not found")

    def _csv(self, run: DatalogRun) -> bytes:
        end = run.end_ns()
        assert run.trigger_ns is not None and end is not None
        count = (end - run.trigger_ns) // run.period_ns
        times = run.trigger_ns + (np.arange(count, dtype=np.int64) + 1) * run.period_ns
        header, columns = ["Sample"], [np.arange(1, count + 1).astype(np.float64)]
        for channel, (volts_on, amps_on) in sorted(run.functions.items()):
            volts, amps = self.levels(channel, times, run.period_ns)
            if volts_on:
                header.append(f"Volt avg {channel}")
                columns.append(volts)
            if amps_on:
                header.append(f"Curr avg {channel}")
                columns.append(amps)
        table = np.column_stack(columns)
        lines = [f"Sample interval: {run.period_ns / 1e9:.8E}", ",".join(header)]
        fmt = "%d" + ",%+.6E" * (len(columns) - 1)
        lines.extend(fmt % tuple(row) for row in table)
        return ("\n".join(lines) + "\n").encode()


def _file_name(text: str) -> str:
    """`"internal:\\data1.dlog"` → `internal:\\data1.dlog` (the instrument's drive is kept)."""
    name = text.strip()
    if len(name) < 2 or name[0] not in "\"'" or name[-1] != name[0]:
        raise ScpiError(-151, "Invalid string data")
    name = name[1:-1]
    if ":" not in name:
        name = "internal:\\" + name.lstrip("\\/")
    drive = name.split(":", 1)[0].lower()
    if drive not in ("internal", "external"):
        raise ScpiError(-257, "File name error")
    return name
