"""Twin of a Rohde & Schwarz HMC8015 power analyzer on the board's input.

Serves ``CHAN1:MEAS:FUNC <f>,…`` (URMS, IRMS, P, S, Q, LAMB, and the integrator's WH and
TIME) and ``CHAN1:MEAS:DATA?`` (the latest values of those functions, updated every 100 ms
from power-on as on the instrument). The integrator: ``INT:STAT ON|OFF`` enables it, then
``INT:RES``, ``INT:STAR``, ``INT:STOP``. Readings above the current range are 9.91E37.
"""

from __future__ import annotations

from pytest_think.emulator.meters.base import Integrator, MeterInstrument, ScpiMeterTwin
from pytest_think.emulator.servers.scpi import Handler, ScpiError

UPDATE_NS = 100_000_000
FUNCTIONS = ("URMS", "IRMS", "P", "S", "Q", "LAMB", "WH", "TIME")
OVERFLOW = 9.91e37


class HMC8015Instrument(MeterInstrument):
    idn = "Rohde&Schwarz,HMC8015,021345678,FW:1.403"

    def reset(self) -> None:
        self.functions = ["URMS", "IRMS", "P"]
        self.integrator = Integrator()
        self.integrating = False  # INT:STAT: integrator mode enabled

    def _integrator(self) -> Integrator:
        if not self.integrating:
            raise ScpiError(-221, "Settings conflict")  # INT:STAT ON first
        return self.integrator

    def set_integration(self, value: str) -> None:
        if value.upper() not in ("ON", "OFF", "1", "0"):
            raise ScpiError(-224, "Illegal parameter value")
        self.integrating = value.upper() in ("ON", "1")

    def instrument_commands(self) -> list[tuple[str, Handler]]:
        return [
            ("CHANnel<n>:MEASurement:FUNCtions", self.set_functions),
            ("CHANnel<n>:MEASurement:DATA?", self.data),
            ("INTegrator[:STATe]", self.set_integration),
            ("INTegrator[:STATe]?", lambda: "1" if self.integrating else "0"),
            ("INTegrator:RESet", lambda: self._integrator().reset()),
            ("INTegrator:STARt", lambda: self._integrator().start()),
            ("INTegrator:STOP", lambda: self._integrator().stop()),
        ]

    def set_functions(self, n: str, *functions: str) -> None:
        chosen = [f.upper() for f in functions]
        if n not in ("", "1") or not chosen or any(f not in FUNCTIONS for f in chosen):
            raise ScpiError(-224, "Illegal parameter value")
        self.functions = chosen

    def data(self, n: str) -> str:
        if n not in ("", "1"):
            raise ScpiError(-114, "Header suffix out of range")
        end = self.latest_update(UPDATE_NS)
        power, current, over = self.reading(end, UPDATE_NS)
        wh, seconds = self.integrator.reading(self.activity, end)
        values = {
            "URMS": self.config.volts,
            "IRMS": OVERFLOW if over else current,
            "P": OVERFLOW if over else power,
            "S": OVERFLOW if over else power,
            "Q": 0.0,
            "LAMB": 1.0,
            "WH": wh,
            "TIME": seconds,
        }
        return ",".join(f"{values[f]:.6E}" for f in self.functions)


class RsHMC8015Twin(ScpiMeterTwin):
    """The rs-hmc8015 driver's twin."""

    Instrument = HMC8015Instrument
