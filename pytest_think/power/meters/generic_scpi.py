"""A meter described in the board file, for instruments without a driver here::

    meter:
      driver: generic-scpi
      resource: TCPIP::10.0.0.9::5025::SOCKET
      idn: "ACME,PM-1000"          # what *IDN? must contain
      setup: ["CONF:POW:DC", "SENS:AVER 4"]
      power_query: "MEAS:POW?"     # answers watts (its first number)
      update_s: 0.1                # how often the reading changes

Readings are followed by polling every ``update_s``, stamped as for the other polled meters.
"""

from __future__ import annotations

from typing import Any

from pytest_think.boards import MeterConfig
from pytest_think.power.meters import MeterError
from pytest_think.power.meters.scpi import PolledMeter


class GenericScpiMeter(PolledMeter):
    vendor = "meter matching"
    update_flag = False

    def __init__(self, config: MeterConfig, what: str, device: Any = None) -> None:
        if not config.idn:
            raise MeterError(f"{what}: field 'meter.idn' is empty; say what *IDN? must contain")
        self.model = config.idn
        self.rates_s = (config.update_s,)
        super().__init__(config, what, device)
        for command in config.setup:
            self.command(command)

    def read_watts(self) -> float:
        return float(str(self.inst.query(self.config.power_query)).split(",")[0])
