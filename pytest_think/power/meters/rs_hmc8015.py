"""Rohde & Schwarz HMC8015 power analyzer: numeric readings every 100 ms, followed by polling.

``CHAN1:MEAS:FUNC URMS,IRMS,P,WH,TIME`` then ``CHAN1:MEAS:DATA?`` once per update interval;
with no update flag to watch, a reading's interval ends somewhere in the 100 ms before it was
read, which is the time stamps' uncertainty. The instrument's integrator (``INT:STAT ON``,
``INT:RES``, ``INT:STAR``, ``INT:STOP``; its WH and TIME functions) runs across each trial as
a cross-check, as the WT310E's does.
"""

from __future__ import annotations

from typing import Any

from pytest_think.power.meters.scpi import IntegratingMeter, VisaOptions


class RsHMC8015(IntegratingMeter):
    model = "HMC8015"
    vendor = "Rohde & Schwarz"
    update_flag = False

    integrator_commands = ("INT:RES", "INT:STAR", "INT:STOP")
    integrator_query = "CHAN1:MEAS:DATA?"

    def __init__(self, config: VisaOptions, what: str, device: Any = None) -> None:
        super().__init__(config, what, device)
        self.command("*CLS")
        self.command("CHAN1:MEAS:FUNC URMS,IRMS,P,WH,TIME")
        self.command("INT:STAT ON")

    def read_watts(self) -> float:
        return float(str(self.inst.query("CHAN1:MEAS:DATA?")).split(",")[2])
