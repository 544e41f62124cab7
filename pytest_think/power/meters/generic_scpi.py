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

from typing import Any, ClassVar

from pydantic import Field

from pytest_think.power.meters import MeterError, MeterOptions
from pytest_think.power.meters.scpi import PolledMeter, VisaOptions


class GenericScpiOptions(VisaOptions):
    """The instrument described in the board file rather than in a driver."""

    idn: str = Field("", description="what *IDN? must contain")
    setup: list[str] = Field(default_factory=list, description="commands sent first")
    power_query: str = Field("MEAS:POW?", description="query answering watts")
    update_s: float = Field(0.1, gt=0, description="how often readings update")


class GenericScpiMeter(PolledMeter):
    vendor = "meter matching"
    update_flag = False
    Options: ClassVar[type[MeterOptions]] = GenericScpiOptions
    config: GenericScpiOptions

    def __init__(self, config: GenericScpiOptions, what: str, device: Any = None) -> None:
        if not config.idn:
            raise MeterError(f"{what}: field 'meter.idn' is empty; say what *IDN? must contain")
        self.model = config.idn
        self.rates_s = (config.update_s,)
        super().__init__(config, what, device)
        for command in config.setup:
            self.command(command)

    def read_watts(self) -> float:
        return float(str(self.inst.query(self.config.power_query)).split(",")[0])
