"""The twin of the ``onboard`` meter driver: no instrument, the board's own monitors (the
board twin's ``twin.power``) are the meter; what it measures is the sum of the named rails."""

from __future__ import annotations

from pytest_think.boards import BoardConfig
from pytest_think.emulator.activity import TwinPowerModel
from pytest_think.emulator.config import TwinConfig
from pytest_think.emulator.parts import NoSection, TwinPart
from pytest_think.emulator.power.onboard import rails_model
from pytest_think.power.meters import meter_options


class OnboardMeterTwin(TwinPart[NoSection]):
    imitates = "meter"
    Section = NoSection

    def measured_power(
        self, board: BoardConfig, twin: TwinConfig, model: TwinPowerModel | None
    ) -> TwinPowerModel | None:
        if twin.power is None:
            return model
        rails = meter_options(board).rails
        measured = [r for r in twin.power.rails if r.label in rails]
        return rails_model(measured) if measured else None
