"""Yokogawa WT310E digital power meter: numeric updates at its update rate (100 ms … 20 s).

The WT310E keeps no trace: the driver follows its updates as they happen, as PTDaemon does
for MLPerf Power. It watches the extended event register (``:STAT:EESR?``, bit 0 UPD) and
reads ``:NUM:NORM:VAL?`` (U, I, P, WH, TIME) at each update, stamping it with the host's
clock; the update's end lies between the previous poll and this one, which is the time
stamps' uncertainty. Over-range readings are 9.9E+37. The instrument's integrator
(``:INTEG:STAR`` / ``:INTEG:STOP``, WH and TIME) runs across each trial as a cross-check.
"""

from __future__ import annotations

from typing import Any

from pytest_think.power.meters.scpi import IntegratingMeter, VisaOptions


class YokogawaWT310E(IntegratingMeter):
    model = "WT310"
    vendor = "Yokogawa"
    error_query = ":SYST:ERR?"
    rates_s = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
    update_flag = True

    integrator_commands = (":INTEG:RES", ":INTEG:STAR", ":INTEG:STOP")
    integrator_query = ":NUM:NORM:VAL?"

    def __init__(self, config: VisaOptions, what: str, device: Any = None) -> None:
        super().__init__(config, what, device)
        for command in (
            "*CLS",
            ":COMM:HEAD OFF",
            ":NUM:FORM ASC",
            ":NUM:NORM:NUM 5",
            ":NUM:NORM:ITEM1 U,1",
            ":NUM:NORM:ITEM2 I,1",
            ":NUM:NORM:ITEM3 P,1",
            ":NUM:NORM:ITEM4 WH,1",
            ":NUM:NORM:ITEM5 TIME,1",
            ":INTEG:MODE NORM",
        ):
            self.command(command)

    def set_rate(self, seconds: float) -> None:
        self.command(f":RATE {round(seconds * 1000)}MS")

    def updated(self) -> bool:
        return str(self.inst.query(":STAT:EESR?")).strip() == "1"

    def read_watts(self) -> float:
        return float(str(self.inst.query(":NUM:NORM:VAL?")).split(",")[2])
