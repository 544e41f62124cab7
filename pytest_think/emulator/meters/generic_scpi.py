"""Twin of a meter described entirely in the board file (the `generic-scpi` driver).

Answers ``*IDN?`` with the board file's expected identity, accepts its setup commands, and
answers its power query with the board twin's power, updated every ``update_s``.
"""

from __future__ import annotations

from pytest_think.emulator.activity import DeviceActivity
from pytest_think.emulator.meters.base import MeterInstrument, ScpiMeterTwin, TwinMeter
from pytest_think.emulator.servers.scpi import Handler
from pytest_think.power.meters.generic_scpi import GenericScpiOptions


class GenericScpiInstrument(MeterInstrument):
    meter: GenericScpiOptions

    def __init__(
        self, activity: DeviceActivity, config: TwinMeter, meter: GenericScpiOptions
    ) -> None:
        self.idn = f"{meter.idn},TWIN0001,1.0"
        self.update_ns = int(meter.update_s * 1e9)
        super().__init__(activity, config, meter)

    def instrument_commands(self) -> list[tuple[str, Handler]]:
        accepted: list[tuple[str, Handler]] = [
            (command.split(" ", 1)[0], lambda *args: None) for command in self.meter.setup
        ]
        return [*accepted, (self.meter.power_query, self.power)]

    def power(self, *args: str) -> str:
        end = self.latest_update(self.update_ns)
        watts, _, _ = self.reading(end, self.update_ns)
        return f"{watts:.6E}"


class GenericScpiTwin(ScpiMeterTwin):
    """The generic-scpi driver's twin."""

    Instrument = GenericScpiInstrument
