"""Twin of a Yokogawa WT310E digital power meter on the board's mains input.

Serves the numeric and integration subset a harness uses (DESIGN part 2): ``:RATE`` (update
interval 100 ms … 20 s), ``:NUM:NORM:NUM`` and ``:NUM:NORM:ITEM<n> <function>,1`` (U, I, P,
WH, TIME), ``:NUM:NORM:VAL?`` (the latest completed update, ASCII), ``:COMM:HEAD OFF``, and
the integrator (``:INTEG:MODE``, ``:INTEG:STAR``, ``:INTEG:STOP``, ``:INTEG:RES``,
``:INTEG:STAT?``), and ``:STAT:EESR?`` whose bit 0 (UPD) says an update completed. Updates
happen every interval from power-on, as on the instrument; each
reports the average over that interval of the board twin's power model. Above the current
range a reading is 9.9E+37, the meter's over-range value.
"""

from __future__ import annotations

from pytest_think.emulator.meters.base import Integrator, MeterInstrument, ScpiMeterTwin
from pytest_think.emulator.servers.scpi import Handler, ScpiError

RATES_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
OVER_RANGE = 9.9e37
FUNCTIONS = ("U", "I", "P", "WH", "TIME")


def parse_rate(text: str) -> float:
    """`100MS`, `0.25`, `1S` … → seconds, one of the instrument's update rates."""
    value = text.strip().upper()
    scale = 1e-3 if value.endswith("MS") else 1.0
    number = float(value.rstrip("MS") or "nan") * scale
    for rate in RATES_S:
        if abs(rate - number) < 1e-9:
            return rate
    raise ScpiError(-224, "Illegal parameter value")


class WT310EInstrument(MeterInstrument):
    idn = "YOKOGAWA,WT310E,C3UF12345,F1.03"

    def instrument_commands(self) -> list[tuple[str, Handler]]:
        return [
            ("COMMunicate:HEADer", self.set_header),
            ("COMMunicate:VERBose", lambda value: None),
            ("RATE", self.set_rate),
            ("RATE?", lambda: f"{self.rate:g}"),
            ("NUMeric:FORMat", self.set_format),
            ("NUMeric[:NORMal]:NUMber", self.set_number),
            ("NUMeric[:NORMal]:ITEM<n>", self.set_item),
            ("NUMeric[:NORMal]:VALue?", self.values),
            ("INTEGrate:MODE", self.set_integration_mode),
            ("INTEGrate:STARt", lambda: self.integrator.start()),
            ("INTEGrate:STOP", lambda: self.integrator.stop()),
            ("INTEGrate:RESet", lambda: self.integrator.reset()),
            ("INTEGrate:STATe?", lambda: self.integrator.state),
            ("STATus:EESR?", self.eesr),
        ]

    def reset(self) -> None:
        self.rate = 0.25
        self.items = ["U", "I", "P"]
        self.header = False
        self.integrator = Integrator()
        self.reported_update = 0

    def eesr(self) -> str:
        """The extended event register; bit 0 (UPD): an update completed since the last read."""
        _, end = self._last_update()
        updated = end > self.reported_update
        self.reported_update = end
        return "1" if updated else "0"

    def set_header(self, value: str) -> None:
        self.header = value.upper() in ("ON", "1")

    def set_rate(self, value: str) -> None:
        self.rate = parse_rate(value)

    def set_format(self, value: str) -> None:
        if value.upper() not in ("ASC", "ASCII", "ASCI"):
            raise ScpiError(-224, "Illegal parameter value")  # only ASCII in this twin

    def set_number(self, value: str) -> None:
        n = int(value)
        if not 1 <= n <= 10:
            raise ScpiError(-222, "Data out of range")
        self.items = (self.items + ["U"] * n)[:n]

    def set_item(self, index: str, function: str, element: str = "1") -> None:
        n = int(index)
        if not 1 <= n <= len(self.items) or function.upper() not in FUNCTIONS:
            raise ScpiError(-224, "Illegal parameter value")
        if element.strip() not in ("1",):
            raise ScpiError(-222, "Data out of range")
        self.items[n - 1] = function.upper()

    def set_integration_mode(self, value: str) -> None:
        if value.upper() not in ("NORM", "NORMAL", "CONT", "CONTINUOUS"):
            raise ScpiError(-224, "Illegal parameter value")

    def _last_update(self) -> tuple[int, int]:
        """The latest completed update interval [start, end] (unix ns)."""
        step = int(self.rate * 1e9)
        end = self.latest_update(step)
        return end - step, end

    def values(self) -> str:
        start, end = self._last_update()
        power, current, over = self.reading(end, end - start)
        wh, seconds = self.integrator.reading(self.activity, end)
        readings = {
            "U": self.config.volts,
            "I": OVER_RANGE if over else current,
            "P": OVER_RANGE if over else power,
            "WH": wh,
            "TIME": seconds,
        }
        return ",".join(f"{readings[item]:.5E}" for item in self.items)


class YokogawaWT310ETwin(ScpiMeterTwin):
    """The yokogawa-wt310e driver's twin."""

    Instrument = WT310EInstrument
