"""Twin of a Rohde & Schwarz HMC8015 power analyzer on the board's input.

Serves ``CHAN1:MEAS:FUNC <f>,…`` (URMS, IRMS, P, S, Q, LAMB) and ``CHAN1:MEAS:DATA?`` (the
latest values of those functions, updated every 100 ms from power-on as on the instrument).
Readings above the current range are 9.91E37.
"""

from __future__ import annotations

import numpy as np

from pytest_think.emulator.meter_twin import MeterTwin
from pytest_think.emulator.scpi import Handler, ScpiError

UPDATE_NS = 100_000_000
FUNCTIONS = ("URMS", "IRMS", "P", "S", "Q", "LAMB")
OVERFLOW = 9.91e37


class HMC8015Twin(MeterTwin):
    idn = "Rohde&Schwarz,HMC8015,021345678,FW:1.403"

    def reset(self) -> None:
        self.functions = ["URMS", "IRMS", "P"]

    def instrument_commands(self) -> list[tuple[str, Handler]]:
        return [
            ("CHANnel<n>:MEASurement:FUNCtions", self.set_functions),
            ("CHANnel<n>:MEASurement:DATA?", self.data),
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
        power = float(self.activity.sample_power_w(np.array([end]), UPDATE_NS)[0])
        current = power / self.config.volts
        over = current > self.config.current_range_a
        values = {
            "URMS": self.config.volts,
            "IRMS": OVERFLOW if over else current,
            "P": OVERFLOW if over else power,
            "S": OVERFLOW if over else power,
            "Q": 0.0,
            "LAMB": 1.0,
        }
        return ",".join(f"{values[f]:.6E}" for f in self.functions)
