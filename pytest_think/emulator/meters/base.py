"""What the meter twins share: the board twin's activity they measure, their settings,
instrument time that ticks in whole update intervals from power-on, and the twin part that
serves an instrument on loopback for the board's meter driver."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from pytest_think.emulator.activity import DeviceActivity
from pytest_think.emulator.meters.vanish import TwinMeterVanish, Vanishing
from pytest_think.emulator.parts import NoSection, TwinModel, TwinPart
from pytest_think.emulator.servers import scpi
from pytest_think.emulator.servers.scpi import Handler, ScpiError, ScpiInstrument
from pytest_think.errors import TwinError
from pytest_think.power.meters import meter_options
from pytest_think.power.meters.scpi import VisaOptions

if TYPE_CHECKING:
    from pytest_think.emulator.board import BoardTwin


class TwinMeter(TwinModel):
    """The twin of the board's meter: the supply it imitates."""

    volts: float = Field(12.0, gt=0, description="the supply voltage the board runs from")
    current_range_a: float = Field(
        3.06, gt=0, description="readings above it overflow (9.91E37), as on the instrument"
    )
    vanish: TwinMeterVanish | None = Field(
        None, description="a fault: the meter closes its socket or stops answering"
    )


class MeterInstrument(ScpiInstrument):
    def __init__(self, activity: DeviceActivity, config: TwinMeter, meter: VisaOptions) -> None:
        super().__init__()
        self.activity = activity
        self.config = config
        self.meter = meter  # the board file's view of the instrument, as its driver reads it
        self.channel = meter.channel  # the output or element the board hangs on
        self.epoch_ns = time.time_ns()  # updates tick from power-on
        self.reset()
        for spec, handler in self.instrument_commands():
            self.add(spec, handler)

    def instrument_commands(self) -> list[tuple[str, Handler]]:
        """The instrument's own commands, beyond the IEEE 488.2 common ones."""
        return []

    def latest_update(self, interval_ns: int) -> int:
        """The end (unix ns) of the latest completed update interval."""
        return self.epoch_ns + (time.time_ns() - self.epoch_ns) // interval_ns * interval_ns

    def reading(self, end_ns: int, interval_ns: int) -> tuple[float, float, bool]:
        """(watts, amps, over range) of the board's supply averaged over the interval that
        ends at `end_ns`, at the twin's supply voltage."""
        watts = float(self.activity.sample_power_w(np.array([end_ns]), interval_ns)[0])
        amps = watts / self.config.volts
        return watts, amps, amps > self.config.current_range_a


@dataclass
class Integrator:
    """A power analyzer's energy integrator: reset, started and stopped by command. What it
    shows is the board twin's true energy over the time it ran."""

    state: str = "RESET"  # RESET, START or STOP, as the WT310E's :INTEG:STAT? names them
    started: int | None = None
    stopped: int | None = None

    def start(self) -> None:
        if self.state not in ("RESET", "STOP"):
            raise ScpiError(-221, "Settings conflict")
        self.started, self.stopped, self.state = time.time_ns(), None, "START"

    def stop(self) -> None:
        if self.state != "START":
            raise ScpiError(-221, "Settings conflict")
        self.stopped, self.state = time.time_ns(), "STOP"

    def reset(self) -> None:
        self.state, self.started, self.stopped = "RESET", None, None

    def reading(self, activity: DeviceActivity, now_ns: int) -> tuple[float, float]:
        """(watt-hours, seconds) integrated up to `now_ns` or to the stop."""
        if self.started is None:
            return 0.0, 0.0
        stop = max(self.started, self.stopped if self.stopped is not None else now_ns)
        return activity.energy_j(self.started, stop) / 3600, (stop - self.started) / 1e9


class ScpiMeterTwin(TwinPart[NoSection]):
    """The twin of a SCPI meter driver: its instrument, served on loopback, measuring the
    board twin's activity (``twin.meter``: the supply it imitates)."""

    imitates = "meter"
    Section = NoSection
    Instrument: Any  # the MeterInstrument class, built with (activity, TwinMeter, options)
    server: asyncio.Server | None = None

    async def serve(self, board: BoardTwin) -> dict[str, str]:
        if board.activity is None:
            raise TwinError(
                f"board '{board.board.name}' has a meter but its twin has no 'power_model' "
                "to measure"
            )
        instrument: MeterInstrument = self.Instrument(
            board.activity, board.twin.meter, meter_options(board.board)
        )
        vanish = board.twin.meter.vanish
        fault = Vanishing(vanish, board.activity) if vanish is not None else None
        self.server = await scpi.serve(instrument, fault=fault)
        port = self.server.sockets[0].getsockname()[1]
        return {"meter": f"TCPIP::127.0.0.1::{port}::SOCKET"}
